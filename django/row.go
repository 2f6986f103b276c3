package django

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
)

// How a Record maps onto a row of Django's session table.
//
// session_data is Django's signed dict. Its keys are the session's values,
// as JSON, plus the keys Django and django-qsessions keep for themselves
// (reserved: never values), plus one key of Go's own, goKey, which Django
// keeps when it rewrites the session as it keeps any key it does not know:
//
//	_auth_user_id, _auth_user_backend, _auth_user_hash   the user (Record.UserID)
//	_qsessions_ip, _qsessions_user_agent                 django-qsessions' copy of the client
//	_session_expiry                                      the session's own expiry (translated)
//	_qsessions_go                                        Go's state: see goState
//
// The columns: expire_date is ExpiresAt; updated_at (qsessions_session
// only) is UpdatedAt; user_id, ip, user_agent and created_at
// (qsessions_session only) are written from UserID and Meta, for Django's
// queries and django-qsessions' admin.
const (
	keyUserID    = "_auth_user_id"
	keyBackend   = "_auth_user_backend"
	keyHash      = "_auth_user_hash"
	keyIP        = "_qsessions_ip"
	keyUserAgent = "_qsessions_user_agent"
	keyExpiry    = "_session_expiry"
	goKey        = "_qsessions_go"
)

// reserved reports the keys of Django's dict that are not session values.
func reserved(k string) bool {
	switch k {
	case keyUserID, keyBackend, keyHash, keyIP, keyUserAgent, keyExpiry, goKey:
		return true
	}
	return false
}

// maxUserAgent is django-qsessions' limit, in characters, on the
// User-Agent it stores (the user_agent column is a varchar(300)).
const maxUserAgent = 300

// goState is what Go keeps in session_data under goKey. It is Go's own
// view of the session as Go last wrote it, valid as long as the row is as
// Go left it: Stamp is a hash of the rest of the dict and of the
// row's datetimes, as Go wrote them. When Django rewrites the session
// (even with the same values: its writes move expire_date and updated_at),
// the stamp no longer matches, and the Record is derived from the row
// instead (see decodeRow).
type goState struct {
	Version int64           `json:"v"`
	Stamp   string          `json:"s"`
	Meta    []byte          `json:"m,omitempty"`   // Record.Meta, exactly
	Data    *[]byte         `json:"d,omitempty"`   // Record.Data, when the dict cannot give it back byte for byte
	Expiry  json.RawMessage `json:"e,omitempty"`   // the Store's _session_expiry, when Data had one
	Updated *int64          `json:"u,omitempty"`   // UpdatedAt in Unix milliseconds: django_session has no column for it
	UserID  *string         `json:"uid,omitempty"` // whom Meta's sign-in and device binding belong to
}

// A row is one row of the session table as read.
type row struct {
	key  string
	data string

	expire, updated       time.Time // in UTC, as stored (microseconds)
	expireRaw, updatedRaw any       // as the driver returned them, to compare with
	hasUpdated            bool

	userCol sql.NullString
	ip, ua  sql.NullString
	created time.Time
	hasCr   bool
}

// A decoded row is a row understood: the Record it holds and what a write
// over it must know.
type decoded struct {
	rec    qsessions.Record
	dict   map[string]json.RawMessage // Django's dict without goKey, values as stored
	expiry json.RawMessage            // the _session_expiry that rec.Data shows; nil for none
	hash   string                     // _auth_user_hash, as stored
}

// ms truncates t to the millisecond, in UTC: Record times.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// stamp returns the hash of the dict (without goKey) and of the row's
// datetimes that goState.Stamp must equal for goState to describe the row.
func stamp(dict map[string]json.RawMessage, expire time.Time, updated *time.Time) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	put := func(b []byte) {
		h.Write(binary.AppendUvarint(n[:0], uint64(len(b))))
		h.Write(b)
	}
	for _, k := range slices.Sorted(mapKeys(dict)) {
		put([]byte(k))
		put(dict[k])
	}
	h.Write(binary.AppendVarint(n[:0], expire.UnixMicro()))
	if updated != nil {
		h.Write(binary.AppendVarint(n[:0], updated.UnixMicro()))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func mapKeys(m map[string]json.RawMessage) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// derivedVersion is the Version of a row that Django wrote last: a hash
// of everything Django's writes change, negative so that it never equals a
// version Go counted up from one. A Django write changes it; so an Update
// based on what was read before that write is refused.
func derivedVersion(r *row) int64 {
	h := sha256.New()
	h.Write([]byte(r.data))
	var n [binary.MaxVarintLen64]byte
	h.Write(binary.AppendVarint(n[:0], r.expire.UnixMicro()))
	h.Write(binary.AppendVarint(n[:0], r.updated.UnixMicro()))
	v := int64(binary.BigEndian.Uint64(h.Sum(nil)) >> 2)
	return -(v + 1)
}

// decodeRow verifies and decodes r. It fails when r is no session: its
// session_data is not validly signed, or does not hold a JSON object that
// Go can read (Django reads such a row as an empty session).
func (p *Persister) decodeRow(r *row) (decoded, error) {
	dict, err := p.verifiedDict(r)
	if err != nil {
		return decoded{}, err
	}
	return p.mapRow(r, dict)
}

// verifiedDict returns the dict that r's session_data signs.
func (p *Persister) verifiedDict(r *row) (map[string]json.RawMessage, error) {
	payload, err := p.sign.decode(r.data)
	if err != nil {
		return nil, err
	}
	var dict map[string]json.RawMessage
	if err := json.Unmarshal(payload, &dict); err != nil {
		return nil, err
	}
	return dict, nil
}

// mapRow maps r, whose session_data signs dict, to its Record.
func (p *Persister) mapRow(r *row, dict map[string]json.RawMessage) (d decoded, err error) {
	d.dict = dict
	gsRaw, hasGS := d.dict[goKey]
	delete(d.dict, goKey)
	var gs goState
	if hasGS && json.Unmarshal(gsRaw, &gs) != nil {
		hasGS, gs = false, goState{}
	}
	var updated *time.Time
	if r.hasUpdated {
		updated = &r.updated
	}
	valid := hasGS && gs.Stamp == stamp(d.dict, r.expire, updated)

	rec := &d.rec
	rec.ID = r.key
	rec.UserID = userOf(d.dict)
	rec.ExpiresAt = ms(r.expire)
	if s, ok := jsonString(d.dict[keyHash]); ok {
		d.hash = s
	}
	if valid {
		rec.Version = gs.Version
		switch {
		case r.hasUpdated:
			rec.UpdatedAt = ms(r.updated)
		case gs.Updated != nil:
			rec.UpdatedAt = time.UnixMilli(*gs.Updated).UTC()
		}
		rec.Meta = gs.Meta
		d.expiry = gs.Expiry
		if gs.Data != nil {
			rec.Data = *gs.Data
		} else if rec.Data, err = goValues(d.dict, d.expiry); err != nil {
			return decoded{}, err
		}
		return d, nil
	}

	// Django wrote the row last: derive what Go would have written.
	rec.Version = derivedVersion(r)
	djExpiry := d.dict[keyExpiry]
	if r.hasUpdated {
		rec.UpdatedAt = ms(r.updated)
	} else {
		// Django computed expire_date as the time of its write plus
		// the session's age.
		age := p.age
		if secs, ok := jsonInt(djExpiry); ok && secs > 0 {
			age = time.Duration(secs) * time.Second
		}
		rec.UpdatedAt = ms(r.expire.Add(-age))
	}
	// The Store keeps a session's own end as an absolute time. Django's
	// is an age from its last write (or none: SESSION_COOKIE_AGE), which
	// that write turned into expire_date: that is the end Go keeps to,
	// until Django writes again. 0 is "at browser close" on both sides.
	if string(djExpiry) == "0" {
		d.expiry = json.RawMessage("0")
	} else {
		d.expiry, _ = json.Marshal(rec.ExpiresAt)
	}
	if rec.Data, err = goValues(d.dict, d.expiry); err != nil {
		return decoded{}, err
	}
	// Meta: what Go recorded, if it did and the session is still that
	// user's, with the client and creation time that Django recorded.
	var info qsessions.SessionInfo
	if len(gs.Meta) > 0 {
		if i, err := qsessions.DecodeMeta(gs.Meta); err == nil {
			info = i
		}
	}
	if uid := derefOr(gs.UserID, ""); uid != rec.UserID {
		// Django signed another user in (or out): the sign-in time and
		// method and the device binding that Go recorded are not this
		// session's.
		info = qsessions.SessionInfo{IP: info.IP, UserAgent: info.UserAgent, CreatedAt: info.CreatedAt}
	}
	if p.flavour == QSessions {
		info.IP, info.UserAgent = "", r.ua.String
		if ip, err := netip.ParseAddr(r.ip.String); r.ip.Valid && err == nil {
			info.IP = ip.String()
		}
		if r.hasCr {
			info.CreatedAt = ms(r.created)
		}
	}
	if info.CreatedAt.IsZero() {
		// Django's own table records no creation time: its last write
		// is the earliest one known.
		info.CreatedAt = rec.UpdatedAt
	}
	if rec.UserID != "" && info.AuthenticatedAt.IsZero() {
		// Django's login() makes a new session (cycle_key): the user
		// signed in when it was created.
		info.AuthenticatedAt = info.CreatedAt
	}
	rec.Meta = qsessions.EncodeMeta(info)
	return d, nil
}

// userOf returns the user of a Django session dict: _auth_user_id, a
// string (Django stores the primary key's value_to_string).
func userOf(dict map[string]json.RawMessage) string {
	raw := dict[keyUserID]
	if s, ok := jsonString(raw); ok {
		return s
	}
	if n, ok := jsonInt(raw); ok {
		return fmt.Sprint(n)
	}
	return ""
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

func jsonInt(raw json.RawMessage) (int64, bool) {
	var n int64
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// goValues returns the Record's Data of a Django dict: its values,
// re-encoded as encoding/json writes them, with expiry as
// _session_expiry, as one JSON object with sorted keys (as the Store
// writes it).
func goValues(dict map[string]json.RawMessage, expiry json.RawMessage) ([]byte, error) {
	m := make(map[string]json.RawMessage, len(dict))
	for k, v := range dict {
		if reserved(k) {
			continue
		}
		g, err := toGo(nil, v)
		if err != nil {
			return nil, err
		}
		m[k] = g
	}
	if expiry != nil {
		m[keyExpiry] = expiry
	}
	return json.Marshal(m)
}

// A written row is what a Create or Update stores.
type written struct {
	data            string
	expire, updated time.Time
	userID          any // nil for NULL
	ip, ua, created any
}

// encodeRow makes the row that stores r at version. prev is the row r
// replaces, nil for a Create; now is the time of the signature.
func (p *Persister) encodeRow(ctx context.Context, r *qsessions.Record, version int64, prev *decoded, now time.Time) (written, error) {
	dict := map[string]json.RawMessage{}
	gs := goState{Version: version}
	var err error

	// The values.
	var goExpiry json.RawMessage
	verbatim := true
	if isJSONObject(r.Data) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r.Data, &m); err != nil {
			return written{}, err
		}
		for k, v := range m {
			if k == keyExpiry {
				if goExpiry, err = toGo(nil, v); err != nil {
					return written{}, err
				}
				continue
			}
			if reserved(k) {
				return written{}, fmt.Errorf("django: value %q: %w: Django keeps the session's user and client there", k, qsessions.ErrReservedKey)
			}
			py, err := toPython(nil, v)
			if err != nil {
				return written{}, err
			}
			dict[k] = py
		}
		// The dict gives Data back as it is when Data is as the Store
		// writes it; otherwise Go keeps a copy.
		back, err := goValues(dict, goExpiry)
		verbatim = err != nil || !bytes.Equal(back, r.Data)
	}
	if verbatim {
		d := bytes.Clone(r.Data)
		if d == nil {
			d = []byte{}
		}
		gs.Data = &d
	}
	if goExpiry != nil {
		gs.Expiry = goExpiry
	}

	// The expiry, as Django keeps it: unchanged since Go read the row,
	// the age Django had set; otherwise translated (see djangoExpiry).
	switch {
	case prev != nil && bytes.Equal(goExpiry, prev.expiry):
		if e, ok := prev.dict[keyExpiry]; ok {
			if dict[keyExpiry], err = toPython(nil, e); err != nil {
				return written{}, err
			}
		}
	default:
		if e := djangoExpiry(goExpiry, r.UpdatedAt); e != nil {
			dict[keyExpiry] = e
		}
	}

	// The user.
	if r.UserID != "" {
		dict[keyUserID] = pyString(r.UserID)
		uid := r.UserID
		gs.UserID = &uid
		if prev != nil && prev.rec.UserID == r.UserID && prev.dict[keyBackend] != nil {
			// The same user as before: Django's record of the sign-in
			// stays as it is.
			for _, k := range []string{keyBackend, keyHash} {
				if v, ok := prev.dict[k]; ok {
					if dict[k], err = toPython(nil, v); err != nil {
						return written{}, err
					}
				}
			}
		} else {
			dict[keyBackend] = pyString(p.backend)
			if p.users != nil {
				u, err := p.lookupUser(ctx, r.UserID)
				if err != nil {
					return written{}, err
				}
				if u == nil || !u.active {
					return written{}, fmt.Errorf("sign in user %q: %w", r.UserID, ErrUnknownUser)
				}
				dict[keyHash] = pyString(authHash(sha256New, p.sign.keys[0], u.password))
			}
		}
	}

	// The client, from Meta.
	info, _ := qsessions.DecodeMeta(r.Meta) // undecodable Meta (not a Store's) records no client
	ua := truncateRunes(strings.ToValidUTF8(strings.ReplaceAll(info.UserAgent, "\x00", ""), "\uFFFD"), maxUserAgent)
	w := written{expire: r.ExpiresAt, updated: r.UpdatedAt}
	if p.flavour == QSessions {
		if info.IP != "" {
			dict[keyIP] = pyString(info.IP)
			w.ip = info.IP
		} else {
			dict[keyIP] = json.RawMessage("null")
		}
		dict[keyUserAgent] = pyString(ua)
		w.ua = ua
		if !info.CreatedAt.IsZero() {
			w.created = p.db.timeArg(info.CreatedAt)
		}
		if r.UserID != "" {
			w.userID = r.UserID
		}
	}
	if len(r.Meta) > 0 {
		gs.Meta = r.Meta
	}

	var updated *time.Time
	if p.flavour == QSessions {
		updated = &w.updated
	} else {
		u := r.UpdatedAt.UnixMilli()
		gs.Updated = &u
	}
	gs.Stamp = stamp(dict, w.expire, updated)
	goJSON, err := json.Marshal(gs)
	if err != nil {
		return written{}, err
	}
	if dict[goKey], err = toPython(nil, goJSON); err != nil {
		return written{}, err
	}
	w.data = p.sign.encode(pythonObject(dict), now)
	return w, nil
}

// djangoExpiry translates the Store's _session_expiry (an RFC 3339 time,
// or 0 for "at browser close") into Django's: 0, or an age in seconds from
// updated, the time of the write, as set_expiry(int) keeps it (at least
// one second, or -1 for a time already past, which Django reads as ended).
// nil means none.
func djangoExpiry(goExpiry json.RawMessage, updated time.Time) json.RawMessage {
	if goExpiry == nil {
		return nil
	}
	if string(goExpiry) == "0" {
		return json.RawMessage("0")
	}
	var t time.Time
	if json.Unmarshal(goExpiry, &t) != nil {
		return nil
	}
	secs := int64(math.Ceil(t.Sub(updated).Seconds()))
	if secs <= 0 {
		secs = -1
	}
	return json.RawMessage(fmt.Sprint(secs))
}

// pyString returns s as a JSON string in Python's escaping.
func pyString(s string) json.RawMessage { return appendPythonString(nil, s) }

// pythonObject writes dict, whose values are in Python's escaping, as one
// JSON object in it, keys sorted.
func pythonObject(dict map[string]json.RawMessage) []byte {
	var b []byte
	b = append(b, '{')
	for i, k := range slices.Sorted(mapKeys(dict)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPythonString(b, k)
		b = append(b, ':')
		b = append(b, dict[k]...)
	}
	return append(b, '}')
}

// truncateRunes returns s cut to at most n characters, as Python's s[:n].
func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
