package dbsc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/qsessions/qsessions"
)

// A session's binding state is an opaque blob that the Store keeps beside
// the session, never inside its values, and replaces only by
// compare-and-swap. This file defines the blob. Guard reads it on every
// request of a bound session, so it is binary and laid out to be checked
// where it lies, without allocating: fixed-size fields first, the key
// last. It is 196 bytes with an EC key and 391 with an RSA-2048 one.
//
//	offset  size  field
//	0       1     format version: 2 (1 was a JSON form, never released)
//	1       1     algorithm: 1 for ES256, 2 for RS256
//	2       32    the DBSC session identifier, base64url-decoded
//	34      8     when the session registered, Unix seconds
//	42      8     issue time of the last challenge accepted, Unix nanoseconds
//	50      1     n, the number of valid bound cookies: 0 to 2
//	51      40×n  the bound cookies, newest first: the SHA-256 of the
//	              cookie's value (32 bytes), its expiry in Unix seconds (8)
//	51+40n  rest  the public key, as publicKey.appendBinary writes it
//
// Integers are big-endian. The session identifier is the one the browser
// knows the session by: the session's ID when it registered. The bound
// cookies are the current one and, until it expires, the one it replaced,
// so that requests already under way when a refresh lands are not refused.
// Only the SHA-256 of a cookie is stored.
//
// dbsc writes a blob when a session registers and replaces it on each
// refresh; it never removes one. So a session is device-bound exactly when
// its blob is non-empty, which is what Bound says, and what a Store can
// tell without this package.

const bindingVersion = 2

const (
	algCodeES256 = 1
	algCodeRS256 = 2
)

// idLen is the length of a session ID: 32 bytes in unpadded base64url.
const idLen = 43

const (
	bindingHeader   = 51              // the fixed-size fields
	boundCookieSize = sha256.Size + 8 // one bound cookie
	sidSize         = 32              // a session ID, decoded
)

// maxBoundCookies is how many bound cookies a binding keeps valid.
const maxBoundCookies = 2

// A binding is a session's binding state, decoded.
type binding struct {
	sid  [sidSize]byte
	alg  string
	at   int64 // registered, Unix seconds
	ch   int64 // issue time of the last challenge accepted, Unix nanoseconds
	ck   [maxBoundCookies]boundCookie
	nck  int
	pub  []byte // the public key, as appendBinary writes it
	pubK *publicKey
}

type boundCookie struct {
	h [sha256.Size]byte
	x int64 // expiry, Unix seconds
}

var errBindingCorrupt = errors.New("dbsc: binding state is corrupt")

// Bound reports whether binding, a session's binding state as its Store
// keeps it, says that the session is device-bound: that a browser
// registered a key for it. A session that is bound stays bound: its
// requests need the bound cookie that only the key can renew.
func Bound(binding []byte) bool { return len(binding) > 0 }

// newBinding returns the binding of session sid to key, registered at now
// with the challenge issued at issued.
func newBinding(sid string, key *publicKey, now time.Time, issued int64) (*binding, error) {
	b := &binding{alg: key.alg, at: now.Unix(), ch: issued, pub: key.appendBinary(nil), pubK: key}
	var src [idLen]byte
	if len(sid) != len(src) {
		return nil, qsessions.ErrInvalidID
	}
	copy(src[:], sid)
	if n, err := b64.Decode(b.sid[:], src[:]); err != nil || n != sidSize {
		return nil, qsessions.ErrInvalidID
	}
	return b, nil
}

// decodeBinding decodes a binding state.
func decodeBinding(raw []byte) (*binding, error) {
	b := new(binding)
	if err := b.decode(raw); err != nil {
		return nil, err
	}
	return b, nil
}

// decode decodes raw into b without allocating; b.pub is a part of raw.
// It checks the layout, not the key: see key.
func (b *binding) decode(raw []byte) error {
	if len(raw) < bindingHeader {
		return fmt.Errorf("%w: %d bytes", errBindingCorrupt, len(raw))
	}
	if raw[0] != bindingVersion {
		return fmt.Errorf("%w: version %d", errBindingCorrupt, raw[0])
	}
	switch raw[1] {
	case algCodeES256:
		b.alg = ES256
	case algCodeRS256:
		b.alg = RS256
	default:
		return fmt.Errorf("%w: algorithm %d", errBindingCorrupt, raw[1])
	}
	copy(b.sid[:], raw[2:34])
	b.at = int64(binary.BigEndian.Uint64(raw[34:42]))
	b.ch = int64(binary.BigEndian.Uint64(raw[42:50]))
	b.nck = int(raw[50])
	rest := raw[bindingHeader:]
	if b.nck > maxBoundCookies || len(rest) <= b.nck*boundCookieSize {
		return fmt.Errorf("%w: %d bound cookies in %d bytes", errBindingCorrupt, b.nck, len(raw))
	}
	for i := range b.nck {
		c := rest[i*boundCookieSize:]
		copy(b.ck[i].h[:], c[:sha256.Size])
		b.ck[i].x = int64(binary.BigEndian.Uint64(c[sha256.Size:boundCookieSize]))
	}
	b.pub, b.pubK = rest[b.nck*boundCookieSize:], nil
	return nil
}

// encode returns the binding state of b.
func (b *binding) encode() []byte {
	out := make([]byte, bindingHeader, bindingHeader+b.nck*boundCookieSize+len(b.pub))
	out[0] = bindingVersion
	out[1] = algCodeES256
	if b.alg == RS256 {
		out[1] = algCodeRS256
	}
	copy(out[2:34], b.sid[:])
	binary.BigEndian.PutUint64(out[34:42], uint64(b.at))
	binary.BigEndian.PutUint64(out[42:50], uint64(b.ch))
	out[50] = byte(b.nck)
	for _, c := range b.cookies() {
		out = append(out, c.h[:]...)
		out = binary.BigEndian.AppendUint64(out, uint64(c.x))
	}
	return append(out, b.pub...)
}

// sessionID returns the DBSC session identifier the binding is for.
func (b *binding) sessionID() string { return b64.EncodeToString(b.sid[:]) }

// cookies returns the binding's bound cookies, newest first.
func (b *binding) cookies() []boundCookie { return b.ck[:b.nck] }

// key parses the binding's public key.
func (b *binding) key() (*publicKey, error) {
	if b.pubK != nil {
		return b.pubK, nil
	}
	k, err := parseBinaryKey(b.alg, b.pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBindingCorrupt, err)
	}
	b.pubK = k
	return k, nil
}

// validCookie reports whether value is one of the binding's bound cookies,
// unexpired at now. The comparison takes the same time whichever stored
// cookie, if any, matches. It does not allocate.
func (b *binding) validCookie(value string, now time.Time) bool {
	var buf [cookieLen]byte
	if len(value) != len(buf) {
		return false
	}
	copy(buf[:], value)
	sum := sha256.Sum256(buf[:])
	ok := 0
	for _, c := range b.cookies() {
		if now.Unix() < c.x {
			ok |= subtle.ConstantTimeCompare(sum[:], c.h[:])
		}
	}
	return ok == 1
}

// issueCookie returns a new bound cookie value valid until exp, and makes
// it the binding's current one. The previous current cookie stays valid
// until its own expiry; expired ones are dropped.
func (b *binding) issueCookie(now, exp time.Time) string {
	var raw [cookieBytes]byte
	rand.Read(raw[:])
	value := b64.EncodeToString(raw[:])
	ck := [maxBoundCookies]boundCookie{{h: sha256.Sum256([]byte(value)), x: exp.Unix()}}
	n := 1
	for _, c := range b.cookies() {
		if n == maxBoundCookies {
			break
		}
		if now.Unix() < c.x {
			ck[n] = c
			n++
		}
	}
	b.ck, b.nck = ck, n
	return value
}

// cookieBytes is the entropy of a bound cookie: 256 bits from crypto/rand;
// cookieLen is the length of its value, in unpadded base64url.
const (
	cookieBytes = 32
	cookieLen   = 43
)
