package qsessions

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// tokenBytes is the entropy of a session token: 256 bits from crypto/rand.
const tokenBytes = 32

// tokenLen is the length of a session token as it appears in a cookie, and
// of a session ID: 32 bytes in unpadded base64url.
const tokenLen = 43

var b64 = base64.RawURLEncoding.Strict()

// newToken returns a fresh token. crypto/rand.Read never fails (it crashes
// the program rather than return weak bytes), so neither does this.
func newToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:])
	return b64.EncodeToString(b[:])
}

// ValidToken reports whether s has the shape of a session token, or of a
// session ID (the hash of a token, in the same form): 43 characters of
// unpadded base64url that decode to exactly 32 bytes. It does not say
// whether a session exists for it.
func ValidToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	_, ok := decodeToken(s)
	return ok
}

// decodeToken decodes a token of valid shape without allocating.
func decodeToken(s string) (raw [tokenBytes]byte, ok bool) {
	if len(s) != tokenLen {
		return raw, false
	}
	var src [tokenLen]byte
	copy(src[:], s)
	n, err := b64.Decode(raw[:], src[:])
	return raw, err == nil && n == tokenBytes
}

// hashToken returns the session ID for a token of valid shape: the SHA-256
// of its 32 bytes, in unpadded base64url. Backends see only this value.
func hashToken(token string) string {
	raw, _ := decodeToken(token)
	var enc [tokenLen]byte
	hashRawTo(enc[:], raw)
	return string(enc[:])
}

// hashRawTo writes the session ID of a decoded token into dst.
func hashRawTo(dst []byte, raw [tokenBytes]byte) {
	sum := sha256.Sum256(raw[:])
	b64.Encode(dst, sum[:])
}
