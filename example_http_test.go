//go:build !js && !wasip1

package qsessions_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// A login flow over real HTTP: sign in from two browsers, list the
// sessions, and sign out everywhere else.
func Example_loginFlow() {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// Check the password here; then bind the session to the user.
		// Login rotates the token, so a token planted before is worthless.
		if err := qsessions.FromContext(r.Context()).Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, "sign-in failed", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if s.UserID() == "" {
			fmt.Fprintln(w, "hello, stranger")
			return
		}
		infos, _ := st.Sessions(r.Context(), s.UserID())
		fmt.Fprintf(w, "hello, %s: %d sessions\n", s.UserID(), len(infos))
	})
	mux.HandleFunc("POST /logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		n, _ := st.RevokeUser(r.Context(), s.UserID(), s.ID())
		fmt.Fprintf(w, "signed out %d other sessions\n", n)
	})
	srv := httptest.NewServer(st.Middleware(mux))
	defer srv.Close()

	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	show := func(resp *http.Response, err error) {
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Print(string(b))
	}
	laptop, phone := browser(), browser()
	show(laptop.Get(srv.URL))
	laptop.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	phone.PostForm(srv.URL+"/login", url.Values{"user": {"alice"}})
	show(laptop.Get(srv.URL))
	show(laptop.Post(srv.URL+"/logout-others", "", strings.NewReader("")))
	show(phone.Get(srv.URL))
	show(laptop.Get(srv.URL))
	// Output:
	// hello, stranger
	// hello, alice: 2 sessions
	// signed out 1 other sessions
	// hello, stranger
	// hello, alice: 1 sessions
}
