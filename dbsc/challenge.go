package dbsc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Challenges are stateless: a challenge carries the time it was issued and
// a random nonce, and an HMAC over them, its purpose and the session it was
// issued for, keyed by the Binder's secret. Issuing one writes nothing, so
// neither the sign-in response nor a refresh request without a proof (which
// anyone who knows a session's identifier can send) makes the server write.
//
// A challenge is accepted once: the binding keeps the issue time of the
// last challenge it accepted, and only a challenge issued after it is
// accepted next. That makes a proof single-use (a replayed proof names a
// challenge that is no longer after the mark) without storing the
// challenges handed out.

const (
	challengeVersion = 1
	nonceSize        = 16
	challengeRaw     = 1 + 1 + 8 + nonceSize + sha256.Size
	// maxSkew is how far in the future a challenge's issue time may be:
	// the servers sharing a secret may disagree a little on the time.
	maxSkew = time.Minute
)

// A challenge's purpose, so that one issued for registration cannot serve
// a refresh, or the other way round.
const (
	forRegistration byte = 'r'
	forRefresh      byte = 'f'
)

var (
	errChallengeInvalid = errors.New("dbsc: challenge was not issued for this session")
	errChallengeExpired = errors.New("dbsc: challenge expired")
	errChallengeUsed    = errors.New("dbsc: challenge already used")
)

// newChallenge returns a challenge for session sid issued at now.
func newChallenge(secret []byte, purpose byte, sid string, now time.Time) string {
	var raw [challengeRaw]byte
	raw[0], raw[1] = challengeVersion, purpose
	binary.BigEndian.PutUint64(raw[2:10], uint64(now.UnixNano()))
	rand.Read(raw[10 : 10+nonceSize])
	mac := challengeMAC(secret, raw[:10+nonceSize], sid)
	copy(raw[10+nonceSize:], mac)
	return b64.EncodeToString(raw[:])
}

func challengeMAC(secret, head []byte, sid string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(head)
	m.Write([]byte(sid))
	return m.Sum(nil)
}

// checkChallenge verifies that c was issued by a holder of secret for
// purpose and session sid, no longer than ttl before now, and returns its
// issue time in Unix nanoseconds. Single use is the caller's to check.
func checkChallenge(secret []byte, c string, purpose byte, sid string, now time.Time, ttl time.Duration) (int64, error) {
	if len(c) != b64.EncodedLen(challengeRaw) {
		return 0, errChallengeInvalid
	}
	var raw [challengeRaw]byte
	if n, err := b64.Decode(raw[:], []byte(c)); err != nil || n != challengeRaw {
		return 0, errChallengeInvalid
	}
	if raw[0] != challengeVersion || raw[1] != purpose {
		return 0, errChallengeInvalid
	}
	if !hmac.Equal(raw[10+nonceSize:], challengeMAC(secret, raw[:10+nonceSize], sid)) {
		return 0, errChallengeInvalid
	}
	issued := int64(binary.BigEndian.Uint64(raw[2:10]))
	age := now.UnixNano() - issued
	if age > int64(ttl) || age < -int64(maxSkew) {
		return 0, errChallengeExpired
	}
	return issued, nil
}
