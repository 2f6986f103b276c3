package dbsc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
)

// A testKey is a key pair as a browser holds it: the private half signs
// proofs, the public half travels as a JWK.
type testKey struct {
	alg string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// newTestKey returns a fresh ES256 key, or one of two RSA-2048 keys made
// once per test binary (RSA key generation is slow).
func newTestKey(t testing.TB, alg string) *testKey {
	t.Helper()
	switch alg {
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &testKey{alg: ES256, ec: k}
	case RS256:
		rsaOnce.Do(func() {
			for i := range rsaKeys {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				rsaKeys[i] = k
			}
		})
		return &testKey{alg: RS256, rsa: rsaKeys[0]}
	}
	t.Fatalf("no test key for %q", alg)
	return nil
}

// otherRSAKey returns the second RSA test key.
func otherRSAKey(t testing.TB) *testKey {
	newTestKey(t, RS256)
	return &testKey{alg: RS256, rsa: rsaKeys[1]}
}

// jwk returns the public JWK of k, as Chrome writes it.
func (k *testKey) jwk() map[string]any {
	if k.ec != nil {
		pub := k.ec.PublicKey
		return map[string]any{
			"kty": "EC", "crv": "P-256",
			"x": b64.EncodeToString(pub.X.FillBytes(make([]byte, 32))),
			"y": b64.EncodeToString(pub.Y.FillBytes(make([]byte, 32))),
		}
	}
	return map[string]any{
		"kty": "RSA",
		"n":   b64.EncodeToString(k.rsa.N.Bytes()),
		"e":   b64.EncodeToString(big.NewInt(int64(k.rsa.E)).Bytes()),
	}
}

// public returns the public half of k, parsed from its JWK.
func (k *testKey) public(t testing.TB) *publicKey {
	t.Helper()
	raw, err := json.Marshal(k.jwk())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := parseJWK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// signature signs the JWS signing input with k, in the JWS format of k's
// algorithm (r||s for ES256).
func (k *testKey) signature(t testing.TB, input string) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte(input))
	if k.ec != nil {
		r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
	sig, err := rsa.SignPKCS1v15(nil, k.rsa, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// compact builds a compact JWS from a header and a payload, each a value
// to marshal or raw JSON bytes, signed with sign.
func compact(t testing.TB, header, payload any, sign func(input string) []byte) string {
	t.Helper()
	seg := func(v any) string {
		if b, ok := v.([]byte); ok {
			return b64.EncodeToString(b)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64.EncodeToString(b)
	}
	input := seg(header) + "." + seg(payload)
	return input + "." + b64.EncodeToString(sign(input))
}

// registrationProof is the proof a browser posts to register k.
func (k *testKey) registrationProof(t testing.TB, challenge, authorization string) string {
	t.Helper()
	payload := map[string]any{"jti": challenge}
	if authorization != "" {
		payload["authorization"] = authorization
	}
	return compact(t, map[string]any{"alg": k.alg, "typ": proofType, "jwk": k.jwk()}, payload,
		func(in string) []byte { return k.signature(t, in) })
}

// refreshProof is the proof a browser posts to refresh with k.
func (k *testKey) refreshProof(t testing.TB, challenge string) string {
	t.Helper()
	return compact(t, map[string]any{"alg": k.alg, "typ": proofType}, map[string]any{"jti": challenge},
		func(in string) []byte { return k.signature(t, in) })
}

// hs256 signs with HMAC-SHA256 under key: what an attacker tries when a
// verifier might use a public key as an HMAC secret.
func hs256(key []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

func noSignature(string) []byte { return nil }
