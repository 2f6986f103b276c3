package dbsc

import (
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
	b := &binding{V: bindingVersion, SID: strings.Repeat("A", 43), Alg: ES256}
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
	if len(b.Ck) != maxBoundCookies || b.validCookie(c1, later.Add(time.Minute)) || !b.validCookie(c3, later.Add(time.Minute)) {
		t.Fatalf("at most %d cookies, newest first: %+v", maxBoundCookies, b.Ck)
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

func TestDecodeBindingCorrupt(t *testing.T) {
	sid := strings.Repeat("A", 43)
	for _, raw := range []string{
		``, `null`, `[]`, `{`, `{"v":2,"sid":"` + sid + `","alg":"ES256"}`,
		`{"v":1,"sid":"short","alg":"ES256"}`,
		`{"v":1,"sid":"` + sid + `","alg":"none"}`,
		`{"v":1,"sid":"` + sid + `","alg":"ES256","ck":[{},{},{}]}`,
	} {
		if _, err := decodeBinding([]byte(raw)); !errors.Is(err, errBindingCorrupt) {
			t.Errorf("decodeBinding(%s) = %v", raw, err)
		}
	}
	if Bound(nil) || Bound([]byte{}) || !Bound([]byte("{}")) {
		t.Fatal("Bound is len > 0")
	}
}
