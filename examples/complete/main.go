// Command complete is the program of the README: sign in, list where you
// are signed in, sign out everywhere else.
//
//	go run ./examples/complete
package main

import (
	"fmt"
	"log"
	"net/http"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

func main() {
	// memory.NewPersister() keeps sessions in this process; use sqlite.Open
	// or postgres.Open for sessions that survive restarts.
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the password, then:
		s := qsessions.FromContext(r.Context())
		if err := s.LoginWith(r.Context(), r.FormValue("user"), "password"); err != nil {
			http.Error(w, "sign-in failed", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if s.UserID() == "" {
			fmt.Fprintln(w, "not signed in")
			return
		}
		infos, err := st.Sessions(r.Context(), s.UserID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, in := range infos {
			here := ""
			if in.ID == s.ID() {
				here = " (this device)"
			}
			fmt.Fprintf(w, "%s from %s, active %s%s\n", in.UserAgent, in.IP, in.UpdatedAt.Format("15:04"), here)
		}
	})
	mux.HandleFunc("POST /logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		n, err := st.RevokeUser(r.Context(), s.UserID(), s.ID()) // everywhere but here
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "signed out %d other sessions\n", n)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", st.Middleware(mux)))
}
