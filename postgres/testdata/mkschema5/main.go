// Command mkschema5 writes the sessions of testdata/schema5.sql: with
// schema version 5 of package postgres and the Store of the same commit,
// six sessions with every field set, through the middleware, into the
// schema SCHEMA (which it creates); it prints each session's name, token
// and ID, which migrate_test.go lists as v5Sessions. Run it from a
// checkout of the last commit at version 5 (4ebd4d4), from the root of the
// module, after copying this directory to cmd/mkschema5 there (under
// testdata it is not part of the build):
//
//	QSESSIONS_POSTGRES_DSN=... go run ./cmd/mkschema5 SCHEMA
//	pg_dump "$QSESSIONS_POSTGRES_DSN" --schema=SCHEMA --inserts --no-owner --no-privileges --no-comments --no-tablespaces
//
// then, in the dump, leave out the psql commands and session settings
// (\restrict, SET, set_config) and replace SCHEMA with "{{schema}}".
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/postgres"
)

func main() {
	ctx := context.Background()
	schema := os.Args[1]
	p, err := postgres.Open(ctx, os.Getenv("QSESSIONS_POSTGRES_DSN"), &postgres.Options{Schema: schema})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	newStore := func(o qsessions.Options) *qsessions.Store {
		o.Clock = clock
		if o.Lifetime == 0 {
			o.Lifetime = 20 * 365 * 24 * time.Hour // still live when the tests run
		}
		st, err := qsessions.New(nil, p, &o)
		if err != nil {
			log.Fatal(err)
		}
		return st
	}
	st := newStore(qsessions.Options{})
	noIP := newStore(qsessions.Options{RecordIP: qsessions.SwitchOff, RecordUserAgent: qsessions.SwitchOff})
	short := newStore(qsessions.Options{Lifetime: time.Hour})

	// request runs h in one request through st's middleware, from addr
	// with the User-Agent ua, with the cookie token; it returns the token
	// the response sets (or token).
	request := func(st *qsessions.Store, token, addr, ua string, h func(r *http.Request, s *qsessions.Session) error) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		if ua != "" {
			r.Header.Set("User-Agent", ua)
		} else {
			r.Header.Del("User-Agent")
		}
		if token != "" {
			r.AddCookie(&http.Cookie{Name: "sessionid", Value: token})
		}
		w := httptest.NewRecorder()
		st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(r, qsessions.FromContext(r.Context())); err != nil {
				log.Fatal(err)
			}
		})).ServeHTTP(w, r)
		if w.Code != 200 {
			log.Fatalf("status %d: %s", w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == "sessionid" {
				return c.Value
			}
		}
		return token
	}
	tokens := map[string]string{}
	tick := func(d time.Duration) { now = now.Add(d) }

	firefox := "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 ✓ ünïcödé 用户"

	// alice-laptop: signed in with a password, values changed twice, then
	// device-bound (a binding of the size dbsc writes for an EC key).
	tok := request(st, "", "203.0.113.7:51000", firefox, func(r *http.Request, s *qsessions.Session) error {
		if err := s.Set("cart", []string{"book", "pen"}); err != nil {
			return err
		}
		return s.LoginWith(r.Context(), "alice", "password")
	})
	tick(7 * time.Minute)
	tok = request(st, tok, "203.0.113.8:51001", firefox, func(r *http.Request, s *qsessions.Session) error {
		return s.Set("theme", "dark")
	})
	tokens["alice-laptop"] = tok
	bind := make([]byte, 196)
	for i := range bind {
		bind[i] = byte(i*7 + 3)
	}
	if err := st.UpdateBinding(ctx, hashID(tok), func([]byte) ([]byte, error) { return bind, nil }); err != nil {
		log.Fatal(err)
	}

	// alice-phone: IPv6, a non-ASCII User-Agent, a passkey, then a
	// re-authentication an hour later.
	tick(3 * time.Minute)
	tok = request(st, "", "[2001:db8::7]:443", iphone, func(r *http.Request, s *qsessions.Session) error {
		if err := s.Set("n", 42); err != nil {
			return err
		}
		return s.LoginWith(r.Context(), "alice", "passkey")
	})
	tick(time.Hour)
	tok = request(st, tok, "[2001:db8::7]:443", iphone, func(r *http.Request, s *qsessions.Session) error {
		if err := s.Reauthenticate(r.Context(), "passkey"); err != nil {
			return err
		}
		return s.Set("n", 43)
	})
	tokens["alice-phone"] = tok

	// alice-private: neither IP nor User-Agent recorded, signed in
	// without a method.
	tok = request(noIP, "", "192.0.2.55:1234", "", func(r *http.Request, s *qsessions.Session) error {
		if err := s.Set("n", 1); err != nil {
			return err
		}
		return s.Login(r.Context(), "alice")
	})
	tokens["alice-private"] = tok

	// bob: OAuth, a User-Agent longer than the default maximum (cut to
	// 300 bytes).
	tick(time.Minute)
	long := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 " + strings.Repeat("Extension/1.0 ", 30)
	tok = request(st, "", "198.51.100.23:4000", long, func(r *http.Request, s *qsessions.Session) error {
		if err := s.Set("n", 7); err != nil {
			return err
		}
		return s.LoginWith(r.Context(), "bob", "oauth:github")
	})
	tokens["bob"] = tok

	// anon: anonymous, with values.
	tick(time.Minute)
	tokens["anon"] = request(st, "", "198.51.100.20:9999", "curl/8.5.0", func(r *http.Request, s *qsessions.Session) error {
		return s.Set("visits", 3)
	})

	// carol-expired: signed in, expired long before the tests run.
	tick(time.Minute)
	tokens["carol-expired"] = request(short, "", "203.0.113.99:1", firefox, func(r *http.Request, s *qsessions.Session) error {
		if err := s.Set("n", 5); err != nil {
			return err
		}
		return s.LoginWith(r.Context(), "carol", "password")
	})

	for _, name := range []string{"alice-laptop", "alice-phone", "alice-private", "bob", "anon", "carol-expired"} {
		fmt.Printf("%s %s %s\n", name, tokens[name], hashID(tokens[name]))
	}
}

// hashID is the Store's session ID of token.
func hashID(token string) string {
	raw, err := b64().DecodeString(token)
	if err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return b64().EncodeToString(sum[:])
}

func b64() *base64.Encoding { return base64.RawURLEncoding }
