package django_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/django"
)

var ctx = context.Background()

// newStore returns a Store over p, as an application makes one: no Go
// cache.
func newStore(t *testing.T, p *django.Persister) *qsessions.Store {
	t.Helper()
	st, err := qsessions.New(nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// saved returns a stored session of st holding values, signed in as user
// when user is not "".
func saved(t *testing.T, st *qsessions.Store, user string, values map[string]any) *qsessions.Session {
	t.Helper()
	s, err := st.Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		if err := s.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if user != "" {
		if err := s.Login(ctx, user); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// reload loads key through st and fails unless it is a stored session.
func reload(t *testing.T, st *qsessions.Store, key string) *qsessions.Session {
	t.Helper()
	s, err := st.Load(ctx, key)
	if err != nil || s.IsNew() {
		t.Fatalf("Load of a stored session: new %v, %v", s.IsNew(), err)
	}
	return s
}

func addUser(db testDB, id int, password string, active bool) {
	db.exec(`INSERT INTO auth_user (id, password, is_active) VALUES ($1, $2, $3)`, id, password, active)
}

// djangoAuthHash is get_session_auth_hash, written out.
func djangoAuthHash(secret, password string) string {
	k := sha256.Sum256([]byte("django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash" + secret))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(password))
	return hex.EncodeToString(m.Sum(nil))
}

// New never migrates: it refuses a table that is missing or lacks a
// column, and bad Options, with a clear error.
func TestNewRefusesTables(t *testing.T) {
	db := sqliteDB(t, django.DjangoSessions, false)
	before := schemaOf(t, db)
	for _, c := range []struct {
		name string
		o    *django.Options
		want string
	}{
		{"nil options", nil, "SecretKey is required"},
		{"no secret", &django.Options{}, "SecretKey is required"},
		{"qsessions columns", &django.Options{SecretKey: "k", TableName: "django_session", NoUserTable: true},
			"lacks the column(s) user_id, user_agent, created_at, updated_at, ip"},
		{"no table", &django.Options{SecretKey: "k", NoUserTable: true}, "table qsessions_session does not exist"},
		{"no user table", &django.Options{SecretKey: "k", Table: django.DjangoSessions}, "table auth_user does not exist"},
		{"bad table name", &django.Options{SecretKey: "k", TableName: "x; DROP TABLE y"}, "ASCII letters"},
		{"schema on SQLite", &django.Options{SecretKey: "k", Schema: "public"}, "PostgreSQL"},
		{"empty fallback", &django.Options{SecretKey: "k", SecretKeyFallbacks: []string{""}}, "empty SecretKeyFallbacks"},
	} {
		_, err := django.NewSQLite(ctx, db, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: NewSQLite error %v; want one saying %q", c.name, err, c.want)
		}
		if strings.Contains(c.want, "column") || strings.Contains(c.want, "exist") {
			if !errors.Is(err, django.ErrSchema) {
				t.Errorf("%s: %v does not wrap ErrSchema", c.name, err)
			}
		}
	}
	if got := schemaOf(t, db); got != before {
		t.Errorf("New changed the schema:\n%s\nwas\n%s", got, before)
	}
	if _, err := django.NewSQLite(ctx, db, &django.Options{SecretKey: "k", Table: django.DjangoSessions, NoUserTable: true}); err != nil {
		t.Errorf("NewSQLite over Django's django_session: %v", err)
	}

	t.Run("postgres", func(t *testing.T) {
		pool, schema := pgSchema(t, django.DjangoSessions, false, false)
		_, err := django.NewPostgres(ctx, pool, &django.Options{SecretKey: "k", Schema: schema, NoUserTable: true})
		if !errors.Is(err, django.ErrSchema) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("NewPostgres over a schema without qsessions_session: %v", err)
		}
		_, err = django.NewPostgres(ctx, pool, &django.Options{SecretKey: "k", Schema: schema, TableName: "django_session", NoUserTable: true})
		if !errors.Is(err, django.ErrSchema) || !strings.Contains(err.Error(), "lacks the column(s) user_id") {
			t.Errorf("NewPostgres of the qsessions flavour over django_session: %v", err)
		}
		if _, err := django.NewPostgres(ctx, pool, &django.Options{SecretKey: "k", Schema: schema, Table: django.DjangoSessions, NoUserTable: true}); err != nil {
			t.Errorf("NewPostgres over Django's django_session: %v", err)
		}
	})
}

func schemaOf(t *testing.T, db *sql.DB) string {
	var s string
	if err := db.QueryRow(`SELECT group_concat(sql, ';') FROM sqlite_master`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Keys are Django's: the cookie's value is the session key, and new keys
// have the shape of get_random_string(32, VALID_KEY_CHARS).
func TestKeys(t *testing.T) {
	p, err := django.NewSQLite(ctx, sqliteDB(t, django.DjangoSessions, false), &django.Options{SecretKey: "k", Table: django.DjangoSessions, NoUserTable: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		want bool
	}{
		{"abcdefghijklmnopqrstuvwxyz012345", true},
		{"0123456789abcdef0123456789abcdef", true},
		{"abcdefghijklmnopqrstuvwxyz01234", false},
		{"abcdefghijklmnopqrstuvwxyz0123456", false},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", false},
		{"abcdefghijklmnopqrstuvwxyz01234-", false},
		{"abcdefghijklmnopqrstuvwxyz01234\x00", false},
		{"", false},
	} {
		if got := p.ValidKey(c.key); got != c.want {
			t.Errorf("ValidKey(%q) = %v", c.key, got)
		}
	}
	seen := map[string]bool{}
	counts := map[rune]int{}
	const n = 2000
	for range n {
		k := p.NewKey()
		if !p.ValidKey(k) || seen[k] {
			t.Fatalf("NewKey = %q: invalid or repeated", k)
		}
		seen[k] = true
		for _, c := range k {
			counts[c]++
		}
	}
	// Every one of the 36 characters, about equally often (the
	// expectation is n*32/36 each; a modulo bias would skew the first
	// characters by about 14%).
	want := float64(n*32) / 36
	for _, c := range "abcdefghijklmnopqrstuvwxyz0123456789" {
		if d := math.Abs(float64(counts[c])-want) / want; d > 0.1 {
			t.Errorf("NewKey drew %q %d times; want about %.0f", c, counts[c], want)
		}
	}
}

// Go's and Django's expiries translate both ways: the Store's absolute
// time becomes Django's age in seconds; Django's age (or none) is kept as
// it is when Go did not change it, and Go keeps to the expire_date that
// Django's write made of it.
func TestExpiryTranslation(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				p := db.open(django.Options{NoUserTable: true})
				st := newStore(t, p)
				s := saved(t, st, "", map[string]any{"k": "v"})
				key := s.Token()
				expiry := func() json.RawMessage {
					dict, _, err := p.RawSession(ctx, key)
					if err != nil {
						t.Fatal(err)
					}
					return dict["_session_expiry"]
				}
				if e := expiry(); e != nil {
					t.Errorf("a session with the default lifetime has _session_expiry %s", e)
				}
				s.SetMaxAge(2 * time.Hour)
				st.Save(ctx, s)
				var secs int64
				if err := json.Unmarshal(expiry(), &secs); err != nil || secs < 7199 || secs > 7201 {
					t.Errorf("after SetMaxAge(2h), Django's _session_expiry is %s; want 7200", expiry())
				}
				if got := time.Until(reload(t, st, key).Info().ExpiresAt); got < 7190*time.Second || got > 7200*time.Second {
					t.Errorf("after SetMaxAge(2h), Go reads an expiry in %v", got)
				}
				s.SetExpireAtBrowserClose(true)
				st.Save(ctx, s)
				if e := expiry(); string(e) != "0" {
					t.Errorf("after SetExpireAtBrowserClose, Django's _session_expiry is %s; want 0", e)
				}

				// Django sets its own age; Go reads the end it makes, and
				// keeps Django's age when it writes other things.
				if err := p.DjangoWrite(ctx, key, map[string]any{"_session_expiry": 600}); err != nil {
					t.Fatal(err)
				}
				s = reload(t, st, key)
				if got := time.Until(s.Info().ExpiresAt); got < 590*time.Second || got > 600*time.Second {
					t.Errorf("Django set its session to expire in 600s; Go reads %v", got)
				}
				s.Set("go", 1)
				if err := st.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
				if e := expiry(); string(e) != "600" {
					t.Errorf("a Go write that left the expiry alone changed Django's _session_expiry 600 to %s", e)
				}
				// And none stays none.
				if err := p.DjangoWrite(ctx, key, nil, "_session_expiry"); err != nil {
					t.Fatal(err)
				}
				s = reload(t, st, key)
				if got := time.Until(s.Info().ExpiresAt); got < 14*24*time.Hour-time.Minute || got > 14*24*time.Hour {
					t.Errorf("Django's session with the default age: Go reads an expiry in %v", got)
				}
				s.Set("go", 2)
				if err := st.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
				if e := expiry(); e != nil {
					t.Errorf("a Go write gave Django's session without an expiry the _session_expiry %s", e)
				}
				if got := time.Until(reload(t, st, key).Info().ExpiresAt); got < 14*24*time.Hour-time.Minute {
					t.Errorf("after Go's write, the session expires in %v", got)
				}
			})
		})
	}
}

// A write of Django's changes the version Go reads: an Update based on what
// was read before it conflicts, and what Go derives from Django's row
// (values, times, the client from the columns) is what Django wrote.
func TestVersionAfterDjangoWrite(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				p := db.open(django.Options{NoUserTable: true})
				// A second ago, so that Django's write, which stamps the
				// clock's time, is later even where the column holds
				// milliseconds.
				now := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Second)
				key := p.NewKey()
				meta := qsessions.EncodeMeta(qsessions.SessionInfo{IP: "192.0.2.7", UserAgent: "UA/1", CreatedAt: now.Add(-time.Hour),
					AuthenticatedAt: now.Add(-time.Minute), AuthMethod: "passkey"})
				r := qsessions.Record{ID: key, Version: 1, UserID: "42", UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
					Data: []byte(`{"a":1}`), Meta: meta}
				if err := p.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
				got, err := p.Load(ctx, key)
				if err != nil || got.Version != 1 || string(got.Data) != `{"a":1}` || string(got.Meta) != string(meta) {
					t.Fatalf("Load after Create = %+v, %v", got, err)
				}
				if _, state, _ := p.RawSession(ctx, key); state["d"] != nil {
					t.Errorf("Go kept a copy of Data that the dict gives back: %s", state["d"])
				}
				if err := p.DjangoWrite(ctx, key, map[string]any{"b": "\u00e9"}); err != nil {
					t.Fatal(err)
				}
				dj, err := p.Load(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if dj.Version == 1 || dj.Version >= 0 {
					t.Errorf("after Django's write, Version = %d; want a derived (negative) one", dj.Version)
				}
				if !strings.Contains(string(dj.Data), `"a":1`) || !strings.Contains(string(dj.Data), `"b":"é"`) {
					t.Errorf("after Django's write, Data = %s", dj.Data)
				}
				if dj.UserID != "42" {
					t.Errorf("after Django's write, UserID = %q", dj.UserID)
				}
				info, err := qsessions.DecodeMeta(dj.Meta)
				if err != nil || info.AuthMethod != "passkey" || !info.AuthenticatedAt.Equal(now.Add(-time.Minute)) ||
					!info.CreatedAt.Equal(now.Add(-time.Hour)) || info.IP != "192.0.2.7" || info.UserAgent != "UA/1" {
					t.Errorf("after Django's write, Meta = %+v, %v; want Go's, the same user's", info, err)
				}
				if !dj.UpdatedAt.After(now) || dj.ExpiresAt.Before(now.Add(13*24*time.Hour)) {
					t.Errorf("after Django's write, UpdatedAt %v, ExpiresAt %v; want Django's", dj.UpdatedAt, dj.ExpiresAt)
				}
				r.Data = []byte(`{"a":2}`)
				if err := p.Update(ctx, r); !errors.Is(err, qsessions.ErrConflict) {
					t.Errorf("Update at the version read before Django's write: %v; want ErrConflict", err)
				}
				next := dj
				next.Data = []byte(`{"a":3,"b":"é"}`)
				if err := p.Update(ctx, next); err != nil {
					t.Fatalf("Update at the derived version: %v", err)
				}
				back, err := p.Load(ctx, key)
				if err != nil || back.Version != dj.Version+1 || string(back.Data) != string(next.Data) {
					t.Errorf("Load after Update at version %d = %d %s, %v", dj.Version, back.Version, back.Data, err)
				}
				// Django signs someone else in: Go's record of the sign-in is
				// not theirs.
				if err := p.DjangoWrite(ctx, key, map[string]any{"_auth_user_id": "43"}); err != nil {
					t.Fatal(err)
				}
				other, _ := p.Load(ctx, key)
				if info, _ := qsessions.DecodeMeta(other.Meta); other.UserID != "43" || info.AuthMethod != "" {
					t.Errorf("after Django signed user 43 in: user %q, Meta %+v", other.UserID, info)
				}
			})
		})
	}
}

// A user's sessions are checked as Django's get_user checks them: a
// session whose user is gone, inactive or has changed password is no
// session; a Go sign-in writes the hash Django checks.
func TestUsers(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				addUser(db, 7, "md5$salt$first", true)
				addUser(db, 8, "md5$salt$inactive", false)
				p := db.open(django.Options{})
				st := newStore(t, p)
				s := saved(t, st, "7", map[string]any{"v": 1})
				key := s.Token()
				dict, _, err := p.RawSession(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				var hash, backend, uid string
				json.Unmarshal(dict["_auth_user_hash"], &hash)
				json.Unmarshal(dict["_auth_user_backend"], &backend)
				json.Unmarshal(dict["_auth_user_id"], &uid)
				if uid != "7" || backend != django.DefaultAuthBackend || hash != djangoAuthHash(testSecret, "md5$salt$first") {
					t.Errorf("Go's sign-in wrote _auth_user_id %q, _auth_user_backend %q, _auth_user_hash %q", uid, backend, hash)
				}
				if list, err := st.Sessions(ctx, "7"); err != nil || len(list) != 1 {
					t.Errorf("Sessions(7) = %d, %v", len(list), err)
				}

				// Another SECRET_KEY, the old one as a fallback: the session
				// and its hash still verify.
				rotated := db.open(django.Options{SecretKey: "the new key", SecretKeyFallbacks: []string{testSecret}})
				if _, err := rotated.Load(ctx, key); err != nil {
					t.Errorf("Load with the session's key among the fallbacks: %v", err)
				}
				if _, err := db.open(django.Options{SecretKey: "the new key"}).Load(ctx, key); !errors.Is(err, qsessions.ErrNotFound) {
					t.Errorf("Load with another key and no fallback: %v; want ErrNotFound", err)
				}

				// A password change ends it.
				db.exec(`UPDATE auth_user SET password = $1 WHERE id = 7`, "md5$salt$second")
				if _, err := p.Load(ctx, key); !errors.Is(err, qsessions.ErrNotFound) {
					t.Errorf("Load after the user's password changed: %v; want ErrNotFound", err)
				}
				if s, _ := st.Load(ctx, key); !s.IsNew() {
					t.Error("the Store serves a session whose user changed password")
				}
				if list, err := p.ListByUser(ctx, "7"); err != nil || len(list) != 0 {
					t.Errorf("ListByUser after the password change = %d, %v; want none", len(list), err)
				}
				if ids, err := p.DeleteByUser(ctx, "7"); err != nil || !slices.Equal(ids, []string{key}) {
					t.Errorf("DeleteByUser after the password change = %v, %v; want the dead session", ids, err)
				}

				// Inactive and unknown users cannot sign in from Go.
				for _, u := range []string{"8", "9", "not-a-number"} {
					s, _ := st.Load(ctx, "")
					if err := s.Login(ctx, u); !errors.Is(err, django.ErrUnknownUser) {
						t.Errorf("Login(%q): %v; want ErrUnknownUser", u, err)
					}
				}
				// A session of an inactive user that Django made is no
				// session either.
				db.exec(`UPDATE auth_user SET is_active = $1 WHERE id = 7`, false)
				db.exec(`UPDATE auth_user SET password = $1 WHERE id = 7`, "md5$salt$first")
				if err := p.Create(ctx, qsessions.Record{ID: p.NewKey(), UserID: "7", ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, django.ErrUnknownUser) {
					t.Errorf("Create for an inactive user: %v; want ErrUnknownUser", err)
				}
			})
		})
	}
}

// A recordingCache records what is deleted from it, and fails while fail
// is set.
type recordingCache struct {
	mu      sync.Mutex
	deleted []string
	fail    bool
}

func (c *recordingCache) Delete(_ context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("cache down")
	}
	c.deleted = append(c.deleted, keys...)
	return nil
}

func (c *recordingCache) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.deleted
	c.deleted = nil
	return d
}

func (c *recordingCache) setFail(on bool) {
	c.mu.Lock()
	c.fail = on
	c.mu.Unlock()
}

// Every write, revocation and deletion deletes Django's cache entry of
// the session, under the key Django's make_key gives it; a revocation
// whose cache entries cannot be deleted deletes nothing and says so.
func TestCacheInvalidation(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				cache := &recordingCache{}
				p := db.open(django.Options{NoUserTable: true, Cache: cache, CacheKeyPrefix: "site", CacheVersion: 3, SecondEviction: 50 * time.Millisecond})
				prefix := "site:3:" + django.QSessionsCachePrefix
				if flavour == django.DjangoSessions {
					prefix = "site:3:" + django.DjangoCachePrefix
				}
				st := newStore(t, p)
				want := func(what string, keys ...string) {
					t.Helper()
					var w []string
					for _, k := range keys {
						w = append(w, prefix+k)
					}
					if got := cache.take(); !slices.Equal(got, w) {
						t.Errorf("%s deleted the cache keys %q; want %q", what, got, w)
					}
				}
				s := saved(t, st, "1", map[string]any{"a": 1})
				key := s.Token()
				time.Sleep(150 * time.Millisecond) // the second deletions of the sign-in
				cache.take()
				s.Set("a", 2)
				if err := st.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
				want("an update", key)
				time.Sleep(150 * time.Millisecond)
				want("the second deletion after an update", key)

				// A revocation while the cache is down revokes nothing.
				cache.setFail(true)
				if err := st.Revoke(ctx, key); !errors.Is(err, django.ErrCacheInvalidation) {
					t.Errorf("Revoke while Django's cache is down: %v; want ErrCacheInvalidation", err)
				}
				cache.setFail(false)
				reload(t, st, key)
				if err := st.Revoke(ctx, key); err != nil {
					t.Fatal(err)
				}
				want("a revocation", key, key)
				time.Sleep(150 * time.Millisecond)
				want("the second deletion after a revocation", key)

				a, b := saved(t, st, "2", nil).Token(), saved(t, st, "2", nil).Token()
				time.Sleep(150 * time.Millisecond)
				cache.take()
				if n, err := st.RevokeUser(ctx, "2"); err != nil || n != 2 {
					t.Fatalf("RevokeUser = %d, %v", n, err)
				}
				got := cache.take()
				slices.Sort(got)
				w := []string{prefix + a, prefix + a, prefix + b, prefix + b}
				slices.Sort(w)
				if !slices.Equal(got, w) {
					t.Errorf("RevokeUser deleted the cache keys %q; want %q", got, w)
				}

				// DeleteExpired.
				now := time.Now()
				old := p.NewKey()
				if err := p.Create(ctx, qsessions.Record{ID: old, UpdatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute)}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond)
				cache.take()
				if n, err := st.DeleteExpired(ctx); err != nil || n != 1 {
					t.Fatalf("DeleteExpired = %d, %v", n, err)
				}
				want("DeleteExpired", old)

				// Close makes the second deletions that are still due.
				p2 := db.open(django.Options{NoUserTable: true, Cache: cache, CacheKeyPrefix: "site", CacheVersion: 3, SecondEviction: time.Hour})
				k := p2.NewKey()
				if err := p2.Create(ctx, qsessions.Record{ID: k, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				want("a create", k)
				p2.Close()
				want("Close", k)
			})
		})
	}
}

// CacheKey replaces the key function; the default cache_key_prefix follows
// the table.
func TestCacheKey(t *testing.T) {
	cache := &recordingCache{}
	p, err := django.NewSQLite(ctx, sqliteDB(t, django.QSessions, false), &django.Options{SecretKey: "k", NoUserTable: true, Cache: cache,
		CacheKey: func(k string) string { return "custom/" + k }, SecondEviction: -1})
	if err != nil {
		t.Fatal(err)
	}
	key := p.NewKey()
	p.Delete(ctx, key)
	// Before the deletion; not after, as there was no row to delete.
	if got := cache.take(); !slices.Equal(got, []string{"custom/" + key}) {
		t.Errorf("Delete with a CacheKey function deleted %q", got)
	}
	p, err = django.NewSQLite(ctx, sqliteDB(t, django.QSessions, false), &django.Options{SecretKey: "k", NoUserTable: true, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	p.Delete(ctx, key)
	if got := cache.take(); len(got) != 1 || got[0] != ":1:qsessions.q_cached_db"+key {
		t.Errorf("Delete with the default key function deleted %q; want %q", got, ":1:qsessions.q_cached_db"+key)
	}
	p.Close()
}

// A row whose session_data does not verify is no session, for every
// method: never an error that would make a request fail.
func TestTamperedRow(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				p := db.open(django.Options{NoUserTable: true})
				st := newStore(t, p)
				key := saved(t, st, "1", map[string]any{"a": 1}).Token()
				table := flavour.String()
				for _, data := range []string{"garbage", "", "e30:1vb66i:xxxx", "." + strings.Repeat("A", 40)} {
					db.exec(`UPDATE `+table+` SET session_data = $1 WHERE session_key = $2`, data, key)
					if _, err := p.Load(ctx, key); !errors.Is(err, qsessions.ErrNotFound) {
						t.Errorf("Load of session_data %q: %v; want ErrNotFound", data, err)
					}
					if s, err := st.Load(ctx, key); err != nil || !s.IsNew() {
						t.Errorf("Store.Load of session_data %q: new %v, %v", data, s.IsNew(), err)
					}
					if err := p.Update(ctx, qsessions.Record{ID: key, Version: 2}); !errors.Is(err, qsessions.ErrNotFound) {
						t.Errorf("Update over session_data %q: %v; want ErrNotFound", data, err)
					}
					if list, err := p.ListByUser(ctx, "1"); err != nil || len(list) != 0 {
						t.Errorf("ListByUser with session_data %q = %d, %v", data, len(list), err)
					}
				}
			})
		})
	}
}

// Data round-trips byte for byte: the Store's JSON object spreads into
// Django's dict; anything else is kept as Go's copy.
func TestDataRoundTrip(t *testing.T) {
	eachDB(t, django.QSessions, func(t *testing.T, db testDB) {
		p := db.open(django.Options{NoUserTable: true})
		type item struct {
			Zeta  string  `json:"zeta"`
			Alpha float64 `json:"alpha"`
		}
		canonical, _ := json.Marshal(map[string]any{
			"html":    "<a href=\"x\">&</a>",
			"unicode": "caf\u00e9 \u2028 \U0001F600 \x01",
			"struct":  item{"z", 1.5e300},
			"nums":    []any{0, -1, 3.25, 1e21, json.Number("12345678901234567890")},
			"nil":     nil,
		})
		for _, c := range []struct {
			name     string
			data     []byte
			verbatim bool
		}{
			{"the Store's JSON", canonical, false},
			{"indented JSON", []byte("{\n  \"a\": 1\n}"), true},
			{"unsorted keys", []byte(`{"b":1,"a":2}`), true},
			{"a JSON string", []byte(`"just a string"`), true},
			{"bytes", []byte("\x00\xff\xfe binary"), true},
			{"empty object", []byte(`{}`), false},
			{"empty", []byte{}, true},
		} {
			now := time.Now().UTC().Truncate(time.Millisecond)
			r := qsessions.Record{ID: p.NewKey(), Version: 1, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Data: c.data}
			if err := p.Create(ctx, r); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got, err := p.Load(ctx, r.ID)
			if err != nil || string(got.Data) != string(c.data) {
				t.Errorf("%s: Load = %q, %v; want %q", c.name, got.Data, err, c.data)
			}
			dict, state, err := p.RawSession(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, has := state["d"]; has != c.verbatim {
				t.Errorf("%s: Go kept a copy of Data: %v; want %v", c.name, has, c.verbatim)
			}
			if c.name == "the Store's JSON" {
				for _, k := range []string{"html", "unicode", "struct", "nums", "nil"} {
					if _, ok := dict[k]; !ok {
						t.Errorf("Django's dict lacks the value %q", k)
					}
				}
			}
		}
		r := qsessions.Record{ID: p.NewKey(), ExpiresAt: time.Now().Add(time.Hour), Data: []byte(`{"_auth_user_hash":"x"}`)}
		if err := p.Create(ctx, r); !errors.Is(err, qsessions.ErrReservedKey) {
			t.Errorf("Create with Django's own key among the values: %v; want ErrReservedKey", err)
		}
	})
}

// What the session list shows comes from the columns django-qsessions
// writes: Go writes them from Meta (the User-Agent cut to django-qsessions'
// 300 characters), and reads them back after a Django write.
func TestClientColumns(t *testing.T) {
	eachDB(t, django.QSessions, func(t *testing.T, db testDB) {
		p := db.open(django.Options{NoUserTable: true})
		now := time.Now().UTC().Truncate(time.Millisecond)
		ua := strings.Repeat("\u00e9", 301) + "\x00"
		r := qsessions.Record{ID: p.NewKey(), Version: 1, UserID: "3", UpdatedAt: now, ExpiresAt: now.Add(time.Hour),
			Meta: qsessions.EncodeMeta(qsessions.SessionInfo{IP: "2001:db8::1", UserAgent: ua, CreatedAt: now})}
		if err := p.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		dict, _, _ := p.RawSession(ctx, r.ID)
		var ip, gotUA string
		json.Unmarshal(dict["_qsessions_ip"], &ip)
		json.Unmarshal(dict["_qsessions_user_agent"], &gotUA)
		if ip != "2001:db8::1" || gotUA != strings.Repeat("\u00e9", 300) {
			t.Errorf("_qsessions_ip %q, _qsessions_user_agent of %d characters", ip, len([]rune(gotUA)))
		}
		if got, _ := p.Load(ctx, r.ID); string(got.Meta) != string(r.Meta) {
			t.Error("Go's own Meta did not come back as it was")
		}
		db.exec(`UPDATE qsessions_session SET ip = NULL WHERE session_key = $1`, r.ID) // only Django's own writes change the columns; see DjangoWrite
		if err := p.DjangoWrite(ctx, r.ID, map[string]any{"x": 1}); err != nil {
			t.Fatal(err)
		}
		got, _ := p.Load(ctx, r.ID)
		info, err := qsessions.DecodeMeta(got.Meta)
		if err != nil || info.IP != "" || info.UserAgent != strings.Repeat("\u00e9", 300) || !info.CreatedAt.Equal(now) {
			t.Errorf("after a Django write, Meta from the columns: %+v, %v", info, err)
		}
	})
}

// Go's writes never overwrite a write of Django's that they did not see,
// however they interleave: two Stores (two Go processes) and a Django
// process write different keys of one session at the same time; every key
// that Django wrote and every key Go wrote after Django's last write
// survives. (Django's writes overwrite what Go wrote after Django read the
// session, as Django's writes overwrite each other.)
func TestRacingWrites(t *testing.T) {
	for _, flavour := range flavours {
		t.Run(flavour.String(), func(t *testing.T) {
			eachDB(t, flavour, func(t *testing.T, db testDB) {
				pa, pb := db.open(django.Options{NoUserTable: true}), db.open(django.Options{NoUserTable: true})
				sta, stb := newStore(t, pa), newStore(t, pb)
				key := saved(t, sta, "1", map[string]any{"start": true}).Token()
				const n = 8
				var wg sync.WaitGroup
				errs := make(chan error, 3*n)
				for name, st := range map[string]*qsessions.Store{"a": sta, "b": stb} {
					wg.Go(func() {
						for i := range n {
							s, err := st.Load(ctx, key)
							if err == nil {
								s.Set(fmt.Sprintf("%s%d", name, i), i)
								err = st.Save(ctx, s)
							}
							if err != nil {
								errs <- fmt.Errorf("Store %s: %w", name, err)
							}
						}
					})
				}
				wg.Go(func() {
					for i := range n {
						if err := pa.DjangoWrite(ctx, key, map[string]any{fmt.Sprintf("django%d", i): i}); err != nil {
							errs <- fmt.Errorf("Django: %w", err)
						}
					}
				})
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				s := reload(t, sta, key)
				for i := range n {
					if ok, _ := s.Get(fmt.Sprintf("django%d", i), new(int)); !ok {
						t.Errorf("Django's write django%d was lost to a Go write: the session holds %v", i, s.Keys())
					}
				}
				if s.UserID() != "1" {
					t.Errorf("the session's user is %q", s.UserID())
				}
				// With Django done, Go's writes from two Stores lose nothing.
				for i := range n {
					wg.Go(func() {
						st := []*qsessions.Store{sta, stb}[i%2]
						s, err := st.Load(ctx, key)
						if err == nil {
							s.Set(fmt.Sprintf("late%d", i), i)
							err = st.Save(ctx, s)
						}
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				s = reload(t, stb, key)
				for i := range n {
					if ok, _ := s.Get(fmt.Sprintf("late%d", i), new(int)); !ok {
						t.Errorf("Go's write late%d was lost to another Go write: %v", i, s.Keys())
					}
				}
			})
		})
	}
}
