package dbsc

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// The proofs a browser sends are JWTs in JWS compact serialization, signed
// with the session key (the draft's "DBSC proof"). This file verifies them
// with nothing but the standard library: ES256 (ECDSA P-256, SHA-256, the
// signature as r||s) and RS256 (RSASSA-PKCS1-v1_5, SHA-256). Everything
// else is refused, "none" and the HMAC algorithms first among them.

// Algorithm names, as the registration header and the JWS "alg" spell them.
const (
	ES256 = "ES256"
	RS256 = "RS256"
)

// proofType is the "typ" a DBSC proof carries.
const proofType = "dbsc+jwt"

// Bounds on what is parsed. A proof is a few hundred bytes with an EC key;
// an RSA-4096 key in the registration proof's header is the largest one can
// legitimately be.
const (
	maxProof        = 8 << 10 // the whole compact JWS
	maxHeader       = 4 << 10 // the header segment, base64url
	maxPayload      = 2 << 10 // the payload segment, base64url
	maxRSABits      = 4096
	minRSABits      = 2048
	es256SigSize    = 64
	p256CoordSize   = 32
	maxJSONDepth    = 4
	maxClaimLen     = 1 << 10 // jti, authorization
	maxJWKMemberLen = 1 << 10 // n of an RSA-4096 key is 683 characters
)

// errMalformed is the root of every reason a proof is refused before its
// signature is checked: shape, encoding, header, algorithm, key, claims.
var errMalformed = errors.New("dbsc: malformed proof")

// errSignature reports a proof whose signature does not verify with the
// key it is checked against.
var errSignature = errors.New("dbsc: proof signature does not verify")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
}

// b64 is strict unpadded base64url: no padding, no stray bits.
var b64 = base64.RawURLEncoding.Strict()

// A proof is a parsed, not yet verified, DBSC proof.
type proof struct {
	alg     string
	key     *publicKey // the header's jwk; nil when it has none
	jti     string
	auth    string // the authorization claim; "" when absent
	hasAuth bool
	signed  []byte // header.payload: what the signature covers
	sig     []byte
}

// parseProof parses a compact JWS that claims to be a DBSC proof and checks
// everything that can be checked without a key: size, encoding, typ, alg
// (which must be one of allowed), the jwk if there is one, and the claims.
// It does not verify the signature; see proof.verify.
func parseProof(s string, allowed []string) (*proof, error) {
	if len(s) > maxProof {
		return nil, malformed("%d bytes, more than %d", len(s), maxProof)
	}
	h, rest, ok := strings.Cut(s, ".")
	if !ok {
		return nil, malformed("not a compact JWS")
	}
	p, sg, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sg, ".") {
		return nil, malformed("not a compact JWS")
	}
	if len(h) > maxHeader || len(p) > maxPayload {
		return nil, malformed("header or payload too long")
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, malformed("header is not base64url")
	}
	pb, err := b64.DecodeString(p)
	if err != nil {
		return nil, malformed("payload is not base64url")
	}
	sig, err := b64.DecodeString(sg)
	if err != nil {
		return nil, malformed("signature is not base64url")
	}
	hdr, err := decodeObject(hb)
	if err != nil {
		return nil, malformed("header: %v", err)
	}
	pr := &proof{signed: []byte(s[:len(h)+1+len(p)]), sig: sig}
	typ, err := stringMember(hdr, "typ")
	if err != nil || typ != proofType {
		return nil, malformed("typ is not %q", proofType)
	}
	if pr.alg, err = stringMember(hdr, "alg"); err != nil {
		return nil, malformed("alg: %v", err)
	}
	if !slices.Contains(allowed, pr.alg) {
		return nil, malformed("alg %q is not accepted", pr.alg)
	}
	if _, ok := hdr["crit"]; ok {
		return nil, malformed("crit is not supported")
	}
	if raw, ok := hdr["jwk"]; ok {
		if pr.key, err = parseJWK(raw); err != nil {
			return nil, err
		}
		if pr.key.alg != pr.alg {
			return nil, malformed("a %s key cannot sign %s", pr.key.kty(), pr.alg)
		}
	}
	claims, err := decodeObject(pb)
	if err != nil {
		return nil, malformed("payload: %v", err)
	}
	if pr.jti, err = stringMember(claims, "jti"); err != nil || pr.jti == "" || len(pr.jti) > maxClaimLen {
		return nil, malformed("jti is missing or not a short string")
	}
	if _, ok := claims["authorization"]; ok {
		pr.hasAuth = true
		if pr.auth, err = stringMember(claims, "authorization"); err != nil || len(pr.auth) > maxClaimLen {
			return nil, malformed("authorization is not a short string")
		}
	}
	return pr, nil
}

// verify checks the proof's signature with key, which must be of the
// proof's algorithm.
func (pr *proof) verify(key *publicKey) error {
	if key == nil || key.alg != pr.alg {
		return errSignature
	}
	digest := sha256.Sum256(pr.signed)
	switch pr.alg {
	case ES256:
		if len(pr.sig) != es256SigSize {
			return errSignature
		}
		r := new(big.Int).SetBytes(pr.sig[:es256SigSize/2])
		s := new(big.Int).SetBytes(pr.sig[es256SigSize/2:])
		if !ecdsa.Verify(key.ec, digest[:], r, s) {
			return errSignature
		}
		return nil
	case RS256:
		if rsa.VerifyPKCS1v15(key.rsa, crypto.SHA256, digest[:], pr.sig) != nil {
			return errSignature
		}
		return nil
	}
	return errSignature
}

// A publicKey is a session's public key, parsed from a JWK and checked.
type publicKey struct {
	alg string // ES256 or RS256
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
	// jwk is the key's canonical JWK: only its required members, in the
	// lexicographic order of RFC 7638, so it is also the input of its
	// thumbprint.
	jwk []byte
}

func (k *publicKey) kty() string {
	if k.alg == ES256 {
		return "EC P-256"
	}
	return "RSA"
}

// thumbprint returns the key's RFC 7638 JWK thumbprint (SHA-256).
func (k *publicKey) thumbprint() [sha256.Size]byte { return sha256.Sum256(k.jwk) }

// privateMembers are the JWK members of private keys (RFC 7518 section 6)
// and of symmetric keys ("k"). A public JWK that carries one is refused.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// parseJWK parses a public JWK: an EC key on P-256 or an RSA key of 2048 to
// 4096 bits. Members other than the required ones are ignored (WebCrypto
// exports add "ext" and "key_ops"), except private-key members, which are
// refused, and "alg", which must agree with the key.
func parseJWK(raw json.RawMessage) (*publicKey, error) {
	m, err := decodeObject(raw)
	if err != nil {
		return nil, malformed("jwk: %v", err)
	}
	for _, name := range privateMembers {
		if _, ok := m[name]; ok {
			return nil, malformed("jwk carries the private member %q", name)
		}
	}
	kty, err := stringMember(m, "kty")
	if err != nil {
		return nil, malformed("jwk kty: %v", err)
	}
	var k *publicKey
	switch kty {
	case "EC":
		k, err = parseECJWK(m)
	case "RSA":
		k, err = parseRSAJWK(m)
	default:
		return nil, malformed("jwk kty %q is not supported", kty)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := m["alg"]; ok {
		if alg, err := stringMember(m, "alg"); err != nil || alg != k.alg {
			return nil, malformed("jwk alg does not match its key")
		}
	}
	return k, nil
}

func parseECJWK(m map[string]json.RawMessage) (*publicKey, error) {
	crv, err := stringMember(m, "crv")
	if err != nil || crv != "P-256" {
		return nil, malformed("jwk crv is not P-256")
	}
	x, err := bytesMember(m, "x")
	if err != nil {
		return nil, err
	}
	y, err := bytesMember(m, "y")
	if err != nil {
		return nil, err
	}
	// RFC 7518 section 6.2.1.2: the coordinates are exactly the size of
	// the field, leading zeros included.
	if len(x) != p256CoordSize || len(y) != p256CoordSize {
		return nil, malformed("jwk coordinates are not %d bytes", p256CoordSize)
	}
	point := make([]byte, 0, p256PointSize)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	return newECKey(point)
}

// p256PointSize is the size of an uncompressed P-256 point: 4, X, Y.
const p256PointSize = 1 + 2*p256CoordSize

// newECKey returns the ES256 key of an uncompressed P-256 point.
func newECKey(point []byte) (*publicKey, error) {
	if len(point) != p256PointSize {
		return nil, malformed("a P-256 point is %d bytes", p256PointSize)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, malformed("jwk is not a point on P-256")
	}
	x, y := point[1:1+p256CoordSize], point[1+p256CoordSize:]
	jwk := fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(x), b64.EncodeToString(y))
	return &publicKey{alg: ES256, ec: pub, jwk: jwk}, nil
}

func parseRSAJWK(m map[string]json.RawMessage) (*publicKey, error) {
	n, err := bytesMember(m, "n")
	if err != nil {
		return nil, err
	}
	e, err := bytesMember(m, "e")
	if err != nil {
		return nil, err
	}
	return newRSAKey(n, e)
}

// newRSAKey returns the RS256 key of modulus n and exponent e, unsigned
// big-endian integers in the fewest octets (RFC 7518 section 6.3.1).
func newRSAKey(n, e []byte) (*publicKey, error) {
	if len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 || len(e) > 4 {
		return nil, malformed("jwk n or e is not a minimal positive integer")
	}
	mod := new(big.Int).SetBytes(n)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, malformed("RSA key of %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	var exp uint64
	for _, b := range e {
		exp = exp<<8 | uint64(b)
	}
	if exp < 3 || exp&1 == 0 || exp > 1<<31-1 {
		return nil, malformed("RSA exponent %d is not an odd number from 3 to 2^31-1", exp)
	}
	jwk := fmt.Appendf(nil, `{"e":"%s","kty":"RSA","n":"%s"}`, b64.EncodeToString(e), b64.EncodeToString(n))
	return &publicKey{alg: RS256, rsa: &rsa.PublicKey{N: mod, E: int(exp)}, jwk: jwk}, nil
}

// appendBinary appends k as a binding keeps it: for ES256 the uncompressed
// point (65 bytes); for RS256 the length of e (one byte), e, then n, both
// big-endian in the fewest octets. parseBinaryKey reads it back.
func (k *publicKey) appendBinary(dst []byte) []byte {
	if k.alg == ES256 {
		point, err := k.ec.Bytes()
		if err != nil {
			panic("dbsc: encoding a checked P-256 key: " + err.Error())
		}
		return append(dst, point...)
	}
	e := big.NewInt(int64(k.rsa.E)).Bytes()
	dst = append(dst, byte(len(e)))
	dst = append(dst, e...)
	return append(dst, k.rsa.N.Bytes()...)
}

// parseBinaryKey parses a key of algorithm alg that appendBinary wrote,
// with the checks the JWK parser makes.
func parseBinaryKey(alg string, b []byte) (*publicKey, error) {
	switch alg {
	case ES256:
		return newECKey(b)
	case RS256:
		if len(b) > 0 {
			if e := 1 + int(b[0]); e <= len(b) {
				return newRSAKey(b[e:], b[1:e])
			}
		}
	}
	return nil, malformed("no %s key", alg)
}

// decodeObject decodes a JSON object into its members, refusing duplicate
// member names (RFC 7515 section 4 allows a parser to), nesting deeper
// than maxJSONDepth, and anything after the object.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, errors.New("not a JSON object")
		}
		name, ok := t.(string)
		if !ok {
			return nil, errors.New("not a JSON object")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, errors.New("not a JSON object")
		}
		m[name] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// checkDepth refuses JSON nested deeper than maxJSONDepth, before a decoder
// spends time on it. Brackets inside strings are skipped.
func checkDepth(b []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return errors.New("JSON nested too deeply")
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// stringMember returns the member name of m, which must be a JSON string.
func stringMember(m map[string]json.RawMessage, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("%s is missing", name)
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s is not a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}

// bytesMember returns the base64url-decoded JWK member name of m.
func bytesMember(m map[string]json.RawMessage, name string) ([]byte, error) {
	s, err := stringMember(m, name)
	if err != nil {
		return nil, malformed("jwk %v", err)
	}
	if len(s) > maxJWKMemberLen {
		return nil, malformed("jwk %s is too long", name)
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, malformed("jwk %s is not base64url", name)
	}
	return b, nil
}
