// Command basic shows qsessions end to end without any setup: a web app on
// a loopback port, two browsers signing in as the same user, the "where
// you're signed in" list, and one browser signing the other out.
//
//	go run ./examples/basic
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

func main() {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := qsessions.FromContext(r.Context()).Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if s.UserID() == "" {
			fmt.Fprintln(w, "  (signed out)")
			return
		}
		infos, err := st.Sessions(r.Context(), s.UserID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, in := range infos {
			mark := " "
			if in.ID == s.ID() {
				mark = "*"
			}
			fmt.Fprintf(w, "  %s %s…  %-15s %-40.40s active %s\n", mark, in.ID[:8], in.IP, in.UserAgent, in.UpdatedAt.Format(time.TimeOnly))
		}
	})
	mux.HandleFunc("POST /logout-others", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		n, err := st.RevokeUser(r.Context(), s.UserID(), s.ID())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "  signed out %d other session(s)\n", n)
	})
	srv := httptest.NewServer(st.Middleware(mux))
	defer srv.Close()
	fmt.Println("app listening on", srv.URL)

	laptop := newBrowser(srv.URL, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/131.0 Safari/537.36")
	phone := newBrowser(srv.URL, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1")

	fmt.Println("\nlaptop and phone sign in as alice")
	laptop.do("POST", "/login", "user=alice")
	phone.do("POST", "/login", "user=alice")
	fmt.Println("\nalice's sessions, seen from the laptop (* = this device):")
	laptop.do("GET", "/sessions", "")
	fmt.Println("\nthe laptop signs out everywhere else:")
	laptop.do("POST", "/logout-others", "")
	fmt.Println("\nthe phone's next request:")
	phone.do("GET", "/sessions", "")
	fmt.Println("\nthe laptop's list now:")
	laptop.do("GET", "/sessions", "")
}

type browser struct {
	c   *http.Client
	url string
	ua  string
}

func newBrowser(base, ua string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Jar: jar}, url: base, ua: ua}
}

func (b *browser) do(method, path, form string) {
	req, err := http.NewRequest(method, b.url+path, strings.NewReader(form))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("User-Agent", b.ua)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	fmt.Print(string(body))
}
