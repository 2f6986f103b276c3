package dbsc

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
)

var bothAlgs = []string{ES256, RS256}

func TestParseProofGood(t *testing.T) {
	for _, alg := range bothAlgs {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, alg)
			pr, err := parseProof(k.registrationProof(t, "chal", "auth"), bothAlgs)
			if err != nil {
				t.Fatal(err)
			}
			if pr.alg != alg || pr.jti != "chal" || pr.auth != "auth" || !pr.hasAuth || pr.key == nil {
				t.Fatalf("parsed %+v", pr)
			}
			if err := pr.verify(pr.key); err != nil {
				t.Fatalf("verify: %v", err)
			}
			pr, err = parseProof(k.refreshProof(t, "next"), []string{alg})
			if err != nil {
				t.Fatal(err)
			}
			if pr.key != nil || pr.hasAuth || pr.jti != "next" {
				t.Fatalf("parsed %+v", pr)
			}
		})
	}
}

// TestParseProofBad feeds the parser proofs that must be refused before
// any signature is checked.
func TestParseProofBad(t *testing.T) {
	ec := newTestKey(t, ES256)
	rs := newTestKey(t, RS256)
	sign := func(in string) []byte { return ec.signature(t, in) }
	hdr := func(changes map[string]any) map[string]any {
		h := map[string]any{"alg": ES256, "typ": proofType, "jwk": ec.jwk()}
		for k, v := range changes {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		return h
	}
	jwk := func(base map[string]any, changes map[string]any) map[string]any {
		j := maps.Clone(base)
		for k, v := range changes {
			if v == nil {
				delete(j, k)
			} else {
				j[k] = v
			}
		}
		return j
	}
	claims := map[string]any{"jti": "c"}
	good := compact(t, hdr(nil), claims, sign)
	parts := strings.Split(good, ".")
	shortN := b64.EncodeToString(make([]byte, 128)) // 1024 bits, with a leading zero byte
	n1024 := "w" + shortN[1:]                       // 1024 bits, no leading zero

	tests := []struct {
		name  string
		proof string
	}{
		{"empty", ""},
		{"one segment", "abc"},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", good + ".x"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"standard base64", strings.ReplaceAll(parts[0], "-", "+") + "+." + parts[1] + "." + parts[2]},
		{"header not JSON", b64.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]},
		{"header an array", compact(t, []byte(`["alg"]`), claims, sign)},
		{"trailing data", compact(t, []byte(`{"alg":"ES256","typ":"dbsc+jwt"} {}`), claims, sign)},
		{"duplicate alg", compact(t, []byte(`{"alg":"ES256","alg":"none","typ":"dbsc+jwt"}`), claims, sign)},
		{"deep nesting", compact(t, []byte(`{"alg":"ES256","typ":"dbsc+jwt","x":[[[[[1]]]]]}`), claims, sign)},
		{"alg none", compact(t, hdr(map[string]any{"alg": "none"}), claims, noSignature)},
		{"alg None", compact(t, hdr(map[string]any{"alg": "None"}), claims, noSignature)},
		{"alg HS256", compact(t, hdr(map[string]any{"alg": "HS256"}), claims, hs256([]byte("secret")))},
		{"alg ES384", compact(t, hdr(map[string]any{"alg": "ES384"}), claims, sign)},
		{"alg PS256", compact(t, hdr(map[string]any{"alg": "PS256"}), claims, sign)},
		{"alg missing", compact(t, hdr(map[string]any{"alg": nil}), claims, sign)},
		{"alg a number", compact(t, hdr(map[string]any{"alg": 256}), claims, sign)},
		{"typ jwt", compact(t, hdr(map[string]any{"typ": "jwt"}), claims, sign)},
		{"typ JWT", compact(t, hdr(map[string]any{"typ": "JWT"}), claims, sign)},
		{"typ missing", compact(t, hdr(map[string]any{"typ": nil}), claims, sign)},
		{"crit", compact(t, hdr(map[string]any{"crit": []string{"exp"}}), claims, sign)},
		{"jwk not an object", compact(t, hdr(map[string]any{"jwk": "key"}), claims, sign)},
		{"jwk kty oct", compact(t, hdr(map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}), claims, sign)},
		{"jwk kty OKP", compact(t, hdr(map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": parts[2][:43]}}), claims, sign)},
		{"jwk private", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"d": b64.EncodeToString(ec.ec.D.Bytes())})}), claims, sign)},
		{"jwk P-384", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"crv": "P-384"})}), claims, sign)},
		{"jwk x short", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"x": b64.EncodeToString(ec.ec.X.Bytes()[1:])})}), claims, sign)},
		{"jwk y missing", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"y": nil})}), claims, sign)},
		{"jwk not on curve", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"y": ec.jwk()["x"]})}), claims, sign)},
		{"jwk alg differs", compact(t, hdr(map[string]any{"jwk": jwk(ec.jwk(), map[string]any{"alg": "RS256"})}), claims, sign)},
		{"EC key with RS256", compact(t, hdr(map[string]any{"alg": RS256}), claims, sign)},
		{"RSA key with ES256", compact(t, hdr(map[string]any{"jwk": rs.jwk()}), claims, sign)},
		{"RSA 1024 bits", compact(t, hdr(map[string]any{"alg": RS256, "jwk": jwk(rs.jwk(), map[string]any{"n": n1024})}), claims, sign)},
		{"RSA n leading zero", compact(t, hdr(map[string]any{"alg": RS256, "jwk": jwk(rs.jwk(), map[string]any{"n": "AA" + rs.jwk()["n"].(string)})}), claims, sign)},
		{"RSA e even", compact(t, hdr(map[string]any{"alg": RS256, "jwk": jwk(rs.jwk(), map[string]any{"e": "AQAA"})}), claims, sign)},
		{"RSA e one", compact(t, hdr(map[string]any{"alg": RS256, "jwk": jwk(rs.jwk(), map[string]any{"e": "AQ"})}), claims, sign)},
		{"RSA e huge", compact(t, hdr(map[string]any{"alg": RS256, "jwk": jwk(rs.jwk(), map[string]any{"e": "AQAAAAAB"})}), claims, sign)},
		{"payload not JSON", parts[0] + "." + b64.EncodeToString([]byte("{")) + "." + parts[2]},
		{"jti missing", compact(t, hdr(nil), map[string]any{"authorization": "a"}, sign)},
		{"jti empty", compact(t, hdr(nil), map[string]any{"jti": ""}, sign)},
		{"jti a number", compact(t, hdr(nil), map[string]any{"jti": 7}, sign)},
		{"jti too long", compact(t, hdr(nil), map[string]any{"jti": strings.Repeat("c", maxClaimLen+1)}, sign)},
		{"authorization a number", compact(t, hdr(nil), map[string]any{"jti": "c", "authorization": 1}, sign)},
		{"oversized", compact(t, hdr(nil), map[string]any{"jti": "c", "pad": strings.Repeat("p", maxProof)}, sign)},
		{"oversized header", compact(t, hdr(map[string]any{"pad": strings.Repeat("p", maxHeader)}), claims, sign)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, err := parseProof(tt.proof, bothAlgs)
			if !errors.Is(err, errMalformed) {
				t.Fatalf("parseProof = %+v, %v; want an error wrapping errMalformed", pr, err)
			}
		})
	}
	if _, err := parseProof(good, bothAlgs); err != nil {
		t.Fatalf("the unchanged proof: %v", err)
	}
}

// TestProofVerifyBad checks that well-formed proofs whose signature is not
// the key's are refused.
func TestProofVerifyBad(t *testing.T) {
	ec, ec2 := newTestKey(t, ES256), newTestKey(t, ES256)
	rs, rs2 := newTestKey(t, RS256), otherRSAKey(t)
	keyOf := func(k *testKey) *publicKey {
		raw, _ := json.Marshal(k.jwk())
		pk, err := parseJWK(raw)
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	tamper := func(s string) string {
		i := strings.LastIndexByte(s, '.')
		c := 'A'
		if s[i+1] == 'A' {
			c = 'B'
		}
		return s[:i+1] + string(c) + s[i+2:]
	}
	tests := []struct {
		name  string
		proof string
		key   *publicKey
	}{
		{"EC other key", ec.refreshProof(t, "c"), keyOf(ec2)},
		{"RSA other key", rs.refreshProof(t, "c"), keyOf(rs2)},
		{"EC tampered signature", tamper(ec.refreshProof(t, "c")), keyOf(ec)},
		{"RSA tampered signature", tamper(rs.refreshProof(t, "c")), keyOf(rs)},
		{"EC signature DER", compact(t, map[string]any{"alg": ES256, "typ": proofType}, map[string]any{"jti": "c"},
			func(in string) []byte { return append([]byte{0x30, 0x44, 0x02, 0x20}, ec.signature(t, in)...) }), keyOf(ec)},
		{"EC signature short", compact(t, map[string]any{"alg": ES256, "typ": proofType}, map[string]any{"jti": "c"},
			func(in string) []byte { return ec.signature(t, in)[:63] }), keyOf(ec)},
		{"EC signature zero", compact(t, map[string]any{"alg": ES256, "typ": proofType}, map[string]any{"jti": "c"},
			func(string) []byte { return make([]byte, 64) }), keyOf(ec)},
		{"RSA key, EC proof", ec.refreshProof(t, "c"), keyOf(rs)},
		{"payload swapped", func() string {
			a, b := strings.Split(ec.refreshProof(t, "c"), "."), strings.Split(ec.refreshProof(t, "d"), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}(), keyOf(ec)},
		{"no key", ec.refreshProof(t, "c"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, err := parseProof(tt.proof, bothAlgs)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := pr.verify(tt.key); !errors.Is(err, errSignature) {
				t.Fatalf("verify = %v, want errSignature", err)
			}
		})
	}
}

// TestParseProofAllowed checks that an algorithm outside the allowed list
// is refused even when the proof is otherwise good.
func TestParseProofAllowed(t *testing.T) {
	k := newTestKey(t, RS256)
	if _, err := parseProof(k.refreshProof(t, "c"), []string{ES256}); !errors.Is(err, errMalformed) {
		t.Fatalf("RS256 proof with only ES256 allowed: %v", err)
	}
}

func TestParseJWKCanonical(t *testing.T) {
	k := newTestKey(t, ES256)
	j := k.jwk()
	j["ext"], j["key_ops"], j["kid"], j["alg"] = true, []string{"verify"}, "1", ES256
	raw, _ := json.Marshal(j)
	pk, err := parseJWK(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"crv":"P-256","kty":"EC","x":"` + k.jwk()["x"].(string) + `","y":"` + k.jwk()["y"].(string) + `"}`
	if string(pk.jwk) != want {
		t.Fatalf("canonical JWK %s, want %s", pk.jwk, want)
	}
	// RFC 7638 section 3.1's example key and thumbprint.
	rfc := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	pk, err = parseJWK([]byte(rfc))
	if err != nil {
		t.Fatal(err)
	}
	tp := pk.thumbprint()
	if got := b64.EncodeToString(tp[:]); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", got)
	}
}
