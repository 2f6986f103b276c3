package dbsc_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/dbsc"
	"github.com/qsessions/qsessions/memory"
)

// Example wires a Binder into an application: Guard behind the session
// middleware, and Offer on the response to a sign-in, after Login. A
// browser with DBSC answers the offer and from then on keeps the session
// bound to its key; a browser without it, as here, ignores the offer and
// goes on with its session cookie.
func Example() {
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		log.Fatal(err)
	}
	// With several servers, give each the same Options.Secret.
	binder, err := dbsc.New(st, nil)
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		// ... check the password, then:
		s := qsessions.FromContext(r.Context())
		if err := s.Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, "sign-in failed", http.StatusInternalServerError)
			return
		}
		if err := binder.Offer(w, r); err != nil {
			log.Print(err) // the session works, unbound
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello,", qsessions.FromContext(r.Context()).UserID())
	})
	handler := st.Middleware(binder.Guard(mux)) // serve it over HTTPS

	// A browser signs in...
	rec := httptest.NewRecorder()
	signIn := httptest.NewRequest(http.MethodPost, "https://example.com/signin", strings.NewReader("user=alice"))
	signIn.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	handler.ServeHTTP(rec, signIn)
	offer, _, _ := strings.Cut(rec.Header().Get("Secure-Session-Registration"), ";challenge=")
	fmt.Println(rec.Code, offer)

	// ... and, without DBSC, goes on with its session cookie.
	home := httptest.NewRequest(http.MethodGet, "https://example.com/", nil)
	for _, c := range rec.Result().Cookies() {
		home.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, home)
	fmt.Print(rec.Body.String())
	// Output:
	// 303 (ES256 RS256);path="/dbsc/register"
	// hello, alice
}

// Bound tells from a session's binding state, as its Store keeps it,
// whether a browser bound the session to a key. On a sessions page,
// qsessions.SessionInfo.DeviceBound says the same.
func ExampleBound() {
	var unbound []byte // a session signed in from Firefox
	fmt.Println(dbsc.Bound(unbound))
	bound := []byte{2 /* ... */} // whatever the Binder wrote at registration
	fmt.Println(dbsc.Bound(bound))
	// Output:
	// false
	// true
}
