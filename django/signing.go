package django

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Django 3.2's django.core.signing, as its session stores use it for
// session_data (SessionBase.encode and decode), and the hash that ties a
// session to its user's password (AbstractBaseUser.get_session_auth_hash).

const (
	// sessionSalt is SessionBase.key_salt: "django.contrib.sessions." and
	// the store class's __qualname__, "SessionStore" for Django's own
	// stores and django-qsessions' alike.
	sessionSalt = "django.contrib.sessions.SessionStore"

	// legacySalt is SessionBase._hash's salt, "django.contrib.sessions"
	// and the class's __name__, of the format before Django 3.1.
	legacySalt = "django.contrib.sessionsSessionStore"

	// authHashSalt is get_session_auth_hash's salt.
	authHashSalt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"

	// base62 is django.utils.baseconv.BASE62_ALPHABET.
	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// maxPayload bounds the decompressed JSON of one session_data. A payload is
// decompressed only once its signature is verified, so this guards only
// against a session that a holder of SECRET_KEY made huge.
const maxPayload = 64 << 20

// errBadSignature is wrapped by the errors of decode: the session_data is no
// session (Django treats it as an empty one).
var errBadSignature = errors.New("django: session_data is not validly signed")

// A signer signs and verifies session_data with SECRET_KEY, and on read
// also with SECRET_KEY_FALLBACKS.
type signer struct {
	keys []string // SECRET_KEY first, then the fallbacks

	// The HMAC keys of signature, derived from keys once (the zero
	// signer derives them on each call).
	sha256Keys, sha1Keys [][]byte
}

// newSigner returns the signer of the given keys, SECRET_KEY first.
func newSigner(keys []string) signer {
	s := signer{keys: keys}
	for _, k := range keys {
		s.sha256Keys = append(s.sha256Keys, derivedKey(sha256.New, sessionSalt+"signer", k))
		s.sha1Keys = append(s.sha1Keys, derivedKey(sha1.New, sessionSalt+"signer", k))
	}
	return s
}

// derivedKey is the key salted_hmac derives from salt and secret.
func derivedKey(h func() hash.Hash, salt, secret string) []byte {
	k := h()
	k.Write([]byte(salt))
	k.Write([]byte(secret))
	return k.Sum(nil)
}

// zlibReaders are reused: a new one allocates tens of kilobytes.
var zlibReaders sync.Pool

// saltedHMAC is django.utils.crypto.salted_hmac: an HMAC keyed with the
// hash of salt and secret.
func saltedHMAC(h func() hash.Hash, salt, secret string) hash.Hash {
	return hmac.New(h, derivedKey(h, salt, secret))
}

// signature is Signer.signature: the base64url HMAC, unpadded, of value
// under salt + "signer".
func signature(h func() hash.Hash, secret, value string) string {
	m := saltedHMAC(h, sessionSalt+"signer", secret)
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// encode is SessionBase.encode with the JSON serializer: signing.dumps of
// payload (JSON, ASCII only, as Python's json.dumps writes it) with
// compress=True, signed with SHA-256 under SECRET_KEY at time now.
func (s *signer) encode(payload []byte, now time.Time) string {
	data, compressed := payload, false
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(payload)
	zw.Close()
	// The rule of Signer.sign_object: compress only when that saves more
	// than one byte, the '.' that marks it.
	if buf.Len() < len(payload)-1 {
		data, compressed = buf.Bytes(), true
	}
	var b strings.Builder
	n := base64.RawURLEncoding.EncodedLen(len(data))
	b.Grow(n + 64)
	if compressed {
		b.WriteByte('.')
	}
	enc := make([]byte, n)
	base64.RawURLEncoding.Encode(enc, data)
	b.Write(enc)
	b.WriteByte(':')
	b.WriteString(encodeBase62(now.Unix()))
	value := b.String()
	if len(s.sha256Keys) > 0 {
		m := hmac.New(sha256.New, s.sha256Keys[0])
		m.Write([]byte(value))
		return value + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return value + ":" + signature(sha256.New, s.keys[0], value)
}

// decode is SessionBase.decode with the JSON serializer, minus Django's
// leniency towards errors: it returns the JSON object that session_data
// carries, as UTF-8 (the JSON serializer reads bytes as latin-1), or an
// error wrapping errBadSignature when session_data is not signed with one
// of the keys, or is signed but does not hold a JSON object.
//
// It accepts what Django 3.2 accepts: signing.dumps' format signed with
// SHA-256 or, as Signer.legacy_algorithm, SHA-1, under SECRET_KEY or (as
// Django 4.1 does) one of SECRET_KEY_FALLBACKS; and, under SECRET_KEY
// only, the format before Django 3.1 (base64 of a hex SHA-1 salted HMAC,
// ':' and the JSON).
func (s *signer) decode(data string) ([]byte, error) {
	payload, err := s.unsign(data)
	if err != nil {
		var lerr error
		if payload, lerr = s.legacyDecode(data); lerr != nil {
			return nil, err
		}
	}
	payload = latin1(payload)
	if !isJSONObject(payload) {
		return nil, errors.Join(errBadSignature, errors.New("django: signed session_data holds no JSON object"))
	}
	return payload, nil
}

// unsign is TimestampSigner.unsign and Signer.unsign_object.
func (s *signer) unsign(data string) ([]byte, error) {
	i := strings.LastIndexByte(data, ':')
	if i < 0 {
		return nil, errBadSignature
	}
	value, sig := data[:i], data[i+1:]
	if !s.verify(value, sig) {
		return nil, errBadSignature
	}
	j := strings.LastIndexByte(value, ':')
	if j < 0 {
		return nil, errors.Join(errBadSignature, errors.New("django: no timestamp"))
	}
	if _, ok := decodeBase62(value[j+1:]); !ok {
		return nil, errors.Join(errBadSignature, errors.New("django: malformed timestamp"))
	}
	b64 := value[:j]
	compressed := strings.HasPrefix(b64, ".")
	if compressed {
		b64 = b64[1:]
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil {
		return nil, errors.Join(errBadSignature, err)
	}
	if !compressed {
		return raw, nil
	}
	var zr io.ReadCloser
	if pooled, ok := zlibReaders.Get().(io.ReadCloser); ok {
		err = pooled.(zlib.Resetter).Reset(bytes.NewReader(raw), nil)
		zr = pooled
	} else {
		zr, err = zlib.NewReader(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, errors.Join(errBadSignature, err)
	}
	defer zlibReaders.Put(zr)
	out, err := io.ReadAll(io.LimitReader(zr, maxPayload+1))
	if err == nil && len(out) > maxPayload {
		err = errors.New("django: session_data decompresses to more than 64 MiB")
	}
	if err != nil {
		return nil, errors.Join(errBadSignature, err)
	}
	return out, nil
}

// verify reports whether sig is value's signature under one of the keys,
// with SHA-256 or, failing that, SHA-1, comparing in constant time.
func (s *signer) verify(value, sig string) bool {
	var enc [(sha256.Size*8 + 5) / 6]byte // base64 of a SHA-256, unpadded
	for _, c := range []struct {
		h    func() hash.Hash
		keys [][]byte
	}{{sha256.New, s.sha256Keys}, {sha1.New, s.sha1Keys}} {
		for i, key := range s.keys {
			var m hash.Hash
			if i < len(c.keys) {
				m = hmac.New(c.h, c.keys[i])
			} else {
				m = saltedHMAC(c.h, sessionSalt+"signer", key)
			}
			m.Write([]byte(value))
			var sum [sha256.Size]byte
			got := enc[:base64.RawURLEncoding.EncodedLen(m.Size())]
			base64.RawURLEncoding.Encode(got, m.Sum(sum[:0]))
			// As Django compares them: the strings, in constant time.
			if hmac.Equal([]byte(sig), got) {
				return true
			}
		}
	}
	return false
}

// legacyDecode is SessionBase._legacy_decode: base64 of "hash:json", the
// hash being the hex SHA-1 salted HMAC of the JSON under SECRET_KEY.
func (s *signer) legacyDecode(data string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, errBadSignature
	}
	i := bytes.IndexByte(raw, ':')
	if i < 0 {
		return nil, errBadSignature
	}
	m := saltedHMAC(sha1.New, legacySalt, s.keys[0])
	m.Write(raw[i+1:])
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal(raw[:i], []byte(want)) {
		return nil, errBadSignature
	}
	return raw[i+1:], nil
}

// authHash is AbstractBaseUser.get_session_auth_hash with Django 3.2's
// default DEFAULT_HASHING_ALGORITHM, SHA-256: the hex salted HMAC of the
// user's password field under secret.
func authHash(h func() hash.Hash, secret, password string) string {
	m := saltedHMAC(h, authHashSalt, secret)
	m.Write([]byte(password))
	return hex.EncodeToString(m.Sum(nil))
}

// verifyAuthHash reports whether got is the session auth hash of password
// under one of the keys: SHA-256, or the SHA-1 of
// _legacy_get_session_auth_hash, which Django 3.2 also accepts.
func (s *signer) verifyAuthHash(got, password string) bool {
	ok := false
	for _, key := range s.keys {
		for _, h := range []func() hash.Hash{sha256.New, sha1.New} {
			if hmac.Equal([]byte(got), []byte(authHash(h, key, password))) {
				ok = true
			}
		}
	}
	return ok && got != ""
}

// encodeBase62 is baseconv.base62.encode.
func encodeBase62(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	var b [12]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = base62[u%62]
		u /= 62
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// decodeBase62 is baseconv.base62.decode, which Django applies to the
// timestamp; ok is false where it raises.
func decodeBase62(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 11 {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		d := strings.IndexByte(base62, s[i])
		if d < 0 {
			return 0, false
		}
		n = n*62 + int64(d)
	}
	if neg {
		n = -n
	}
	return n, true
}

// latin1 returns b read as latin-1, as Django's JSONSerializer.loads reads
// it, in UTF-8: every byte is the code point of its value. Django writes
// ASCII only, which this leaves as it is, in place.
func latin1(b []byte) []byte {
	n := 0
	for _, c := range b {
		if c >= utf8.RuneSelf {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}
