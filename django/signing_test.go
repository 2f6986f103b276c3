package django

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// vectors are testdata/vectors.json, made by the real Django 3.2 with
// testdata/mkvectors.py.
type vectors struct {
	Django   string `json:"django"`
	Salt     string `json:"salt"`
	Sessions []struct {
		Name        string          `json:"name"`
		Secret      string          `json:"secret"`
		Fallbacks   []string        `json:"fallbacks"`
		SessionData string          `json:"session_data"`
		Valid       bool            `json:"valid"`
		Django      json.RawMessage `json:"django"`
		Values      json.RawMessage `json:"values"`
		JSON        *string         `json:"json"`
		Timestamp   int64           `json:"timestamp"`
	} `json:"sessions"`
	AuthHashes []struct {
		Secret, Password, SHA256, SHA1 string
	} `json:"auth_hashes"`
}

func loadVectors(tb testing.TB) vectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// Go accepts exactly the session_data that Django 3.2 accepts (and, with
// SECRET_KEY_FALLBACKS, what Django 4.1 accepts with them), and reads the
// same values from it.
func TestDecodeDjangoVectors(t *testing.T) {
	v := loadVectors(t)
	if v.Salt != sessionSalt {
		t.Fatalf("Django's session salt is %q; the Go code uses %q", v.Salt, sessionSalt)
	}
	for _, c := range v.Sessions {
		t.Run(c.Name, func(t *testing.T) {
			s := newSigner(append([]string{c.Secret}, c.Fallbacks...))
			payload, err := s.decode(c.SessionData)
			if !c.Valid {
				if err == nil {
					t.Fatalf("decode accepted %q, which is not validly signed (Django 3.2 reads %s)", c.SessionData, c.Django)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode of %q: %v", c.SessionData, err)
			}
			if !sameJSON(t, payload, c.Values) {
				t.Errorf("decode = %s; Django reads %s", payload, c.Values)
			}
			if len(c.Fallbacks) == 0 && c.Django[0] == '{' && !sameJSON(t, payload, c.Django) {
				t.Errorf("decode = %s; Django 3.2's SessionStore.decode returns %s", payload, c.Django)
			}
		})
	}
}

// What Go signs is what Django signs: for a payload that is not
// compressed, byte for byte at the same second; compressed, Go's zlib
// stream differs from Python's, so it is checked by decoding.
func TestEncodeAsDjango(t *testing.T) {
	v := loadVectors(t)
	n := 0
	for _, c := range v.Sessions {
		if c.JSON == nil {
			continue
		}
		s := newSigner([]string{c.Secret})
		got := s.encode([]byte(*c.JSON), time.Unix(c.Timestamp, 0))
		if !strings.HasPrefix(c.SessionData, ".") {
			n++
			if got != c.SessionData {
				t.Errorf("%s: encode = %q; Django writes %q", c.Name, got, c.SessionData)
			}
		} else if !strings.HasPrefix(got, ".") {
			t.Errorf("%s: Go did not compress what Django compressed: %q", c.Name, got)
		}
		back, err := s.decode(got)
		if err != nil || !bytes.Equal(back, []byte(*c.JSON)) {
			t.Errorf("%s: decode(encode(x)) = %s, %v; want %s", c.Name, back, err, *c.JSON)
		}
	}
	if n == 0 {
		t.Fatal("no uncompressed vector to compare byte for byte")
	}
}

// The _auth_user_hash Go makes for a user is Django's
// get_session_auth_hash, and the legacy SHA-1 one is accepted too.
func TestAuthHash(t *testing.T) {
	for _, c := range loadVectors(t).AuthHashes {
		if got := authHash(sha256.New, c.Secret, c.Password); got != c.SHA256 {
			t.Errorf("authHash(%q) = %s; Django: %s", c.Password, got, c.SHA256)
		}
		if got := authHash(sha1.New, c.Secret, c.Password); got != c.SHA1 {
			t.Errorf("legacy authHash(%q) = %s; Django: %s", c.Password, got, c.SHA1)
		}
		s := signer{keys: []string{"other", c.Secret}}
		for _, h := range []string{c.SHA256, c.SHA1} {
			if !s.verifyAuthHash(h, c.Password) {
				t.Errorf("verifyAuthHash(%s) = false with the key among the fallbacks", h)
			}
		}
		if s.verifyAuthHash(c.SHA256, c.Password+"x") || s.verifyAuthHash("", c.Password) {
			t.Error("verifyAuthHash accepted the hash of another password, or an empty hash")
		}
	}
}

func TestBase62(t *testing.T) {
	for _, n := range []int64{0, 1, 61, 62, 1767225600, -5, 1 << 40} {
		s := encodeBase62(n)
		if got, ok := decodeBase62(s); !ok || got != n {
			t.Errorf("decodeBase62(encodeBase62(%d) = %q) = %d, %v", n, s, got, ok)
		}
	}
	if got := encodeBase62(1767225600); got != "1vb66i" {
		t.Errorf("encodeBase62(1767225600) = %q; Django: 1vb66i", got)
	}
	for _, bad := range []string{"", "-", "!!", "a b", "123456789012"} {
		if _, ok := decodeBase62(bad); ok {
			t.Errorf("decodeBase62(%q) accepted", bad)
		}
	}
}
