package dbsc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadString(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"abc"`, "abc", true},
		{` "abc" `, "abc", true},
		{`"a\"b\\c"`, `a"b\c`, true},
		{`"abc";x=1`, "abc", true},
		{`abc`, "abc", true}, // Chrome's bare value
		{`eyJh.eyJq.c2ln`, "eyJh.eyJq.c2ln", true},
		{`abc;x=1`, "abc", true},
		{``, "", false},
		{`;`, "", false},
		{` ;x=1`, "", false},
		{`"abc`, "", false},
		{`"abc" x`, "", false},
		{`"a\nb"`, "", false},
		{`"a\qb"`, "", false},
		{"\"a\x01b\"", "", false},
		{`a b`, "", false},
		{`a"b`, "", false},
		{`"` + strings.Repeat("a", 20) + `"`, "", false},
		{strings.Repeat("a", 20), "", false},
	}
	for _, tt := range tests {
		got, err := readString(tt.in, 16)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("readString(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSFString(t *testing.T) {
	if got, ok := sfString(`a"b\c`); !ok || got != `"a\"b\\c"` {
		t.Fatalf("sfString = %q, %v", got, ok)
	}
	if _, ok := sfString("a\nb"); ok {
		t.Fatal("a newline in an sf-string")
	}
	if got, err := readString(`"a\"b\\c"`, 16); err != nil || got != `a"b\c` {
		t.Fatalf("round trip: %q, %v", got, err)
	}
}

func TestChallenge(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	sid := strings.Repeat("A", 43)
	now := time.Unix(1_800_000_000, 0)
	c := newChallenge(secret, forRefresh, sid, now)
	if _, ok := sfString(c); !ok || strings.ContainsAny(c, `"\;, `) {
		t.Fatalf("challenge %q is not a plain header value", c)
	}
	issued, err := checkChallenge(secret, c, forRefresh, sid, now.Add(time.Minute), 5*time.Minute)
	if err != nil || issued != now.UnixNano() {
		t.Fatalf("check = %d, %v", issued, err)
	}
	if c2 := newChallenge(secret, forRefresh, sid, now); c2 == c {
		t.Fatal("two challenges issued at once are equal")
	}
	flip := []byte(c)
	flip[len(flip)/2] ^= 1
	tests := []struct {
		name    string
		c       string
		purpose byte
		sid     string
		at      time.Time
		secret  []byte
		want    error
	}{
		{"other session", c, forRefresh, strings.Repeat("B", 43), now, secret, errChallengeInvalid},
		{"other purpose", c, forRegistration, sid, now, secret, errChallengeInvalid},
		{"other secret", c, forRefresh, sid, now, []byte(strings.Repeat("j", 32)), errChallengeInvalid},
		{"tampered", string(flip), forRefresh, sid, now, secret, errChallengeInvalid},
		{"truncated", c[:len(c)-1], forRefresh, sid, now, secret, errChallengeInvalid},
		{"empty", "", forRefresh, sid, now, secret, errChallengeInvalid},
		{"not base64", strings.Repeat("*", len(c)), forRefresh, sid, now, secret, errChallengeInvalid},
		{"expired", c, forRefresh, sid, now.Add(5*time.Minute + 1), secret, errChallengeExpired},
		{"from the future", c, forRefresh, sid, now.Add(-maxSkew - 1), secret, errChallengeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := checkChallenge(tt.secret, tt.c, tt.purpose, tt.sid, tt.at, 5*time.Minute); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBindingCookies(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b, err := newBinding(idOf(newToken()), newTestKey(t, ES256).public(t), now, 0)
	if err != nil {
		t.Fatal(err)
	}
	c1 := b.issueCookie(now, now.Add(10*time.Minute))
	if !b.validCookie(c1, now) || b.validCookie(c1, now.Add(10*time.Minute)) {
		t.Fatal("a bound cookie is valid exactly until its expiry")
	}
	later := now.Add(8 * time.Minute)
	c2 := b.issueCookie(later, later.Add(10*time.Minute))
	if !b.validCookie(c1, later) || !b.validCookie(c2, later) {
		t.Fatal("the cookie replaced by a refresh stays valid until its own expiry")
	}
	if b.validCookie(c1, now.Add(10*time.Minute)) || !b.validCookie(c2, now.Add(10*time.Minute)) {
		t.Fatal("the replaced cookie must die at its expiry, the new one live on")
	}
	c3 := b.issueCookie(later.Add(time.Minute), later.Add(11*time.Minute))
	if len(b.cookies()) != maxBoundCookies || b.validCookie(c1, later.Add(time.Minute)) || !b.validCookie(c3, later.Add(time.Minute)) {
		t.Fatalf("at most %d cookies, newest first: %+v", maxBoundCookies, b.cookies())
	}
	for _, bad := range []string{"", "x", c3[:len(c3)-1], c3 + "A", strings.Repeat("A", len(c3))} {
		if b.validCookie(bad, later) {
			t.Fatalf("%q is valid", bad)
		}
	}
	back, err := decodeBinding(b.encode())
	if err != nil || !back.validCookie(c3, later.Add(time.Minute)) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// TestBindingEncoding checks the blob's layout, and that it decodes to
// what was encoded, with either kind of key.
func TestBindingEncoding(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		key  *testKey
		size int
	}{{newTestKey(t, ES256), 196}, {newTestKey(t, RS256), 391}} {
		sid := idOf(newToken())
		key := tt.key.public(t)
		b, err := newBinding(sid, key, now, now.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		b.issueCookie(now, now.Add(time.Minute))
		b.issueCookie(now, now.Add(2*time.Minute))
		raw := b.encode()
		if len(raw) != tt.size || raw[0] != bindingVersion {
			t.Fatalf("%s: %d bytes, version %d; want %d bytes, version %d", key.alg, len(raw), raw[0], tt.size, bindingVersion)
		}
		back, err := decodeBinding(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.key()
		if err != nil {
			t.Fatal(err)
		}
		if back.sessionID() != sid || back.alg != key.alg || back.at != now.Unix() || back.ch != now.UnixNano() ||
			back.cookies()[1].x != now.Add(time.Minute).Unix() || string(got.jwk) != string(key.jwk) {
			t.Fatalf("%s: decoded %+v", key.alg, back)
		}
		if again := back.encode(); string(again) != string(raw) {
			t.Fatalf("%s: encoding the decoded binding gives %x, want %x", key.alg, again, raw)
		}
	}
}

// TestGuardCheckDoesNotAllocate pins the cost of a bound request: Guard
// decodes the binding where it lies and hashes the cookie on the stack.
func TestGuardCheckDoesNotAllocate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	raw, cookie := benchBinding(idOf(newToken()), now)
	allocs := testing.AllocsPerRun(100, func() {
		var bd binding
		if bd.decode(raw) != nil || !bd.validCookie(cookie, now) {
			t.Fatal("the bound cookie is not valid")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestDecodeBindingCorrupt(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good, _ := benchBinding(idOf(newToken()), now)
	with := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	tests := map[string][]byte{
		"empty":             nil,
		"JSON":              []byte(`{"v":1,"sid":"` + strings.Repeat("A", 43) + `","alg":"ES256"}`),
		"version 1":         with(0, 1),
		"version 3":         with(0, 3),
		"algorithm 0":       with(1, 0),
		"algorithm 3":       with(1, 3),
		"three cookies":     with(50, 3),
		"header only":       good[:bindingHeader],
		"cut in the cookie": good[:bindingHeader+boundCookieSize],
		"no key":            good[:bindingHeader+2*boundCookieSize],
	}
	for name, raw := range tests {
		if _, err := decodeBinding(raw); !errors.Is(err, errBindingCorrupt) {
			t.Errorf("%s: decodeBinding(%x) = %v", name, raw, err)
		}
	}
	// The layout is fine, the key is not.
	for name, raw := range map[string][]byte{
		"short key":    good[:len(good)-1],
		"not on curve": with(len(good)-1, good[len(good)-1]^1),
		"RSA":          with(1, algCodeRS256),
	} {
		b, err := decodeBinding(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := b.key(); !errors.Is(err, errBindingCorrupt) {
			t.Errorf("%s: key() = %v", name, err)
		}
	}
	if Bound(nil) || Bound([]byte{}) || !Bound([]byte{bindingVersion}) {
		t.Fatal("Bound is len > 0")
	}
}
