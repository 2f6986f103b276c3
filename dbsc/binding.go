package dbsc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/qsessions/qsessions"
)

// A session's binding state is an opaque blob that the Store keeps beside
// the session, never inside its values, and replaces only by
// compare-and-swap. This file defines the blob: JSON, versioned, about 300
// bytes with an EC key and 700 with an RSA-2048 one:
//
//	{"v":1,"sid":"<session ID>","alg":"ES256",
//	 "jwk":{"crv":"P-256","kty":"EC","x":"…","y":"…"},
//	 "at":<registered, Unix seconds>,
//	 "ch":<issue time of the last challenge accepted, Unix nanoseconds>,
//	 "ck":[{"h":"<base64url SHA-256 of a bound cookie>","x":<its expiry, Unix seconds>}, …]}
//
// "sid" is the DBSC session identifier the browser knows the session by:
// the session's ID when it registered. "ck" lists the bound cookies that
// are valid, newest first: the current one and, until it expires, the one
// it replaced, so that requests already under way when a refresh lands are
// not refused. Only the SHA-256 of a cookie is stored.
//
// dbsc writes a blob when a session registers and replaces it on each
// refresh; it never removes one. So a session is device-bound exactly when
// its blob is non-empty, which is what Bound says, and what a Store can
// tell without this package.

const bindingVersion = 1

// maxBoundCookies is how many bound cookies a binding keeps valid.
const maxBoundCookies = 2

type binding struct {
	V   int             `json:"v"`
	SID string          `json:"sid"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
	At  int64           `json:"at"`
	Ch  int64           `json:"ch"`
	Ck  []boundCookie   `json:"ck"`
}

type boundCookie struct {
	H string `json:"h"`
	X int64  `json:"x"`
}

var errBindingCorrupt = errors.New("dbsc: binding state is corrupt")

// Bound reports whether binding, a session's binding state as its Store
// keeps it, says that the session is device-bound: that a browser
// registered a key for it. A session that is bound stays bound: its
// requests need the bound cookie that only the key can renew.
func Bound(binding []byte) bool { return len(binding) > 0 }

func decodeBinding(raw []byte) (*binding, error) {
	var b binding
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", errBindingCorrupt, err)
	}
	if b.V != bindingVersion {
		return nil, fmt.Errorf("%w: version %d", errBindingCorrupt, b.V)
	}
	if !qsessions.ValidID(b.SID) || (b.Alg != ES256 && b.Alg != RS256) || len(b.Ck) > maxBoundCookies {
		return nil, errBindingCorrupt
	}
	return &b, nil
}

func (b *binding) encode() []byte {
	out, err := json.Marshal(b)
	if err != nil {
		panic("dbsc: encoding a binding: " + err.Error()) // only strings and numbers
	}
	return out
}

// key parses the binding's public key.
func (b *binding) key() (*publicKey, error) {
	k, err := parseJWK(b.JWK)
	if err != nil || k.alg != b.Alg {
		return nil, errBindingCorrupt
	}
	return k, nil
}

// validCookie reports whether value is one of the binding's bound cookies,
// unexpired at now. The comparison takes the same time whichever stored
// cookie, if any, matches.
func (b *binding) validCookie(value string, now time.Time) bool {
	if len(value) != b64.EncodedLen(cookieBytes) {
		return false
	}
	sum := sha256.Sum256([]byte(value))
	got := b64.EncodeToString(sum[:])
	ok := 0
	for _, c := range b.Ck {
		if now.Unix() < c.X {
			ok |= subtle.ConstantTimeCompare([]byte(got), []byte(c.H))
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
	sum := sha256.Sum256([]byte(value))
	ck := []boundCookie{{H: b64.EncodeToString(sum[:]), X: exp.Unix()}}
	for _, c := range b.Ck {
		if len(ck) == maxBoundCookies {
			break
		}
		if now.Unix() < c.X {
			ck = append(ck, c)
		}
	}
	b.Ck = ck
	return value
}

// cookieBytes is the entropy of a bound cookie: 256 bits from crypto/rand.
const cookieBytes = 32
