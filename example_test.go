package qsessions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/memory"
)

// Outside HTTP, Load and Save work with the token directly.
func ExampleStore_Load() {
	ctx := context.Background()
	st, _ := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)

	s, _ := st.Load(ctx, "") // no token: a new session
	s.Set("cart", []string{"book", "pen"})
	if err := st.Save(ctx, s); err != nil {
		panic(err)
	}
	token := s.Token() // what a cookie would carry

	again, _ := st.Load(ctx, token)
	var cart []string
	ok, _ := again.Get("cart", &cart)
	fmt.Println(ok, cart, again.IsNew())

	st.Revoke(ctx, again.ID())
	gone, _ := st.Load(ctx, token)
	fmt.Println(gone.IsNew())
	// Output:
	// true [book pen] false
	// true
}

// The clearsessions job: remove expired sessions from the Persister.
// Schedule it (hourly, say): the Store runs no sweep of its own.
func ExampleStore_DeleteExpired() {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, _ := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{
		Lifetime: time.Hour,
		Clock:    func() time.Time { return now },
	})
	for range 3 {
		s, _ := st.Load(ctx, "")
		s.Set("k", "v")
		st.Save(ctx, s)
	}
	now = now.Add(2 * time.Hour) // all three have expired
	n, err := st.DeleteExpired(ctx)
	fmt.Println(n, err)
	// Output: 3 <nil>
}

// Ask for the password again before a sensitive action when the last
// authentication is too old (GitHub's sudo mode).
func ExampleSession_AuthenticatedWithin() {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, _ := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{Clock: func() time.Time { return now }})
	s, _ := st.Load(ctx, "")
	s.LoginWith(ctx, "alice", "passkey")

	now = now.Add(30 * time.Minute)
	fmt.Println(s.AuthenticatedWithin(10*time.Minute), s.Info().AuthMethod)

	// The user entered their password again.
	s.Reauthenticate(ctx, "password")
	fmt.Println(s.AuthenticatedWithin(10*time.Minute), s.Info().AuthMethod)
	// Output:
	// false passkey
	// true password
}

// At most two sessions per user: a third sign-in signs out the least
// recently active one.
func ExampleOptions_maxSessionsPerUser() {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st, _ := qsessions.New(memory.NewCache(), memory.NewPersister(), &qsessions.Options{
		MaxSessionsPerUser: 2,
		Clock:              func() time.Time { return now },
	})
	for _, device := range []string{"laptop", "phone", "tablet"} {
		s, _ := st.Load(ctx, "")
		s.Set("device", device)
		s.Login(ctx, "alice")
		st.Save(ctx, s)
		now = now.Add(time.Minute)
	}
	infos, _ := st.Sessions(ctx, "alice")
	for _, i := range infos {
		fmt.Println("signed in at", i.AuthenticatedAt.Format("15:04"))
	}
	// Output:
	// signed in at 12:02
	// signed in at 12:01
}

// OnLogin hears of every sign-in once the response is saved, with whether
// the device and the location are new for the user: the hook for "new
// sign-in" e-mails. Hand the work to a queue; the hook runs on its own
// goroutine, and Wait waits for it at shutdown.
func ExampleOptions_onLogin() {
	mail := make(chan qsessions.LoginEvent, 100) // read by a mailer goroutine
	st, _ := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{
		OnLogin: func(ctx context.Context, e qsessions.LoginEvent) error {
			if e.NewDevice && e.OtherSessions > 0 {
				select {
				case mail <- e:
				default:
					return errors.New("mail queue full") // logged by the Store
				}
			}
			return nil
		},
	})
	signIn := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qsessions.FromContext(r.Context()).Login(r.Context(), "alice")
	}))
	for _, browser := range []string{"Firefox", "Firefox", "Safari"} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.Header.Set("User-Agent", browser)
		signIn.ServeHTTP(httptest.NewRecorder(), r)
	}
	st.Wait() // at shutdown; here, so that the output is settled
	close(mail)
	for e := range mail {
		fmt.Println("new sign-in from", e.Session.UserAgent)
	}
	// Output: new sign-in from Safari
}
