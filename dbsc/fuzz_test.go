package dbsc

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParseProof checks that the proof parser never panics, refuses
// everything it does not accept with errMalformed, and accepts only
// proofs whose algorithm, type, key and claims are what the rest of the
// package relies on.
func FuzzParseProof(f *testing.F) {
	ec := newTestKey(f, ES256)
	rs := newTestKey(f, RS256)
	f.Add(ec.registrationProof(f, "challenge", "authorization"))
	f.Add(ec.refreshProof(f, "challenge"))
	f.Add(rs.registrationProof(f, "c", ""))
	f.Add(compact(f, map[string]any{"alg": "none", "typ": proofType}, map[string]any{"jti": "c"}, noSignature))
	f.Add(compact(f, []byte(`{"alg":"ES256","typ":"dbsc+jwt","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`), []byte(`{"jti":"c"}`), noSignature))
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := parseProof(s, bothAlgs)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if !slices.Contains(bothAlgs, pr.alg) || pr.jti == "" || len(s) > maxProof {
			t.Fatalf("accepted %+v", pr)
		}
		if pr.key != nil {
			if pr.key.alg != pr.alg {
				t.Fatalf("key of %s for a %s proof", pr.key.alg, pr.alg)
			}
			if _, err := parseJWK(pr.key.jwk); err != nil {
				t.Fatalf("the canonical JWK does not parse: %v", err)
			}
			pr.verify(pr.key) // must not panic, whatever the signature
		}
		if pr.verify(nil) == nil {
			t.Fatal("verified without a key")
		}
	})
}

// FuzzReadString checks the reader of the request headers: what it
// accepts is printable ASCII no longer than its bound.
func FuzzReadString(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, `"a\"b";x=1`, `eyJ.eyJ.sig`, `"`, `""`, "\"\x7f\"", ";"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := readString(v, 64)
		if err != nil {
			return
		}
		if s == "" && !strings.HasPrefix(strings.TrimSpace(v), `""`) {
			t.Fatalf("readString(%q) accepted an empty value", v)
		}
		if len(s) > 64 {
			t.Fatalf("readString(%q) = %d bytes", v, len(s))
		}
		if _, ok := sfString(s); !ok {
			t.Fatalf("readString(%q) = %q, not printable ASCII", v, s)
		}
	})
}

// FuzzCheckChallenge checks that no string but the challenges the secret
// issued passes.
func FuzzCheckChallenge(f *testing.F) {
	secret := []byte(strings.Repeat("s", 32))
	sid := strings.Repeat("A", 43)
	now := time.Unix(1_800_000_000, 0)
	f.Add(newChallenge(secret, forRefresh, sid, now))
	f.Add("")
	f.Fuzz(func(t *testing.T, c string) {
		if _, err := checkChallenge(secret, c, forRefresh, sid, now, time.Hour); err == nil {
			// Only an issued challenge verifies: its MAC is over the rest.
			raw, _ := b64.DecodeString(c)
			if !bytesEqual(challengeMAC(secret, raw[:10+nonceSize], sid), raw[10+nonceSize:]) {
				t.Fatalf("accepted %q", c)
			}
		}
	})
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// FuzzDecodeBinding checks the decoder of binding states: it never panics,
// what it accepts encodes back to the same bytes, and its key either
// parses or is refused as corrupt.
func FuzzDecodeBinding(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	ec, _ := benchBinding(idOf(newToken()), now)
	f.Add(ec)
	rs, err := newBinding(idOf(newToken()), newTestKey(f, RS256).public(f), now, 1)
	if err != nil {
		f.Fatal(err)
	}
	rs.issueCookie(now, now.Add(time.Minute))
	f.Add(rs.encode())
	f.Add([]byte{bindingVersion, algCodeRS256})
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := decodeBinding(raw)
		if err != nil {
			if !errors.Is(err, errBindingCorrupt) {
				t.Fatalf("error %v does not wrap errBindingCorrupt", err)
			}
			return
		}
		if again := b.encode(); !bytes.Equal(again, raw) {
			t.Fatalf("decoded and encoded again: %x, want %x", again, raw)
		}
		if k, err := b.key(); err != nil && !errors.Is(err, errBindingCorrupt) {
			t.Fatalf("key: %v", err)
		} else if err == nil && k.alg != b.alg {
			t.Fatalf("a %s key in a %s binding", k.alg, b.alg)
		}
		b.validCookie(strings.Repeat("A", cookieLen), now)
	})
}
