package qsessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// A Record's Data is the session's values as one JSON object. The
// session's own expiry, when it has one, is kept in it under the reserved
// key expiryKey: 0 for "at browser close", or an RFC 3339 time. Django
// keeps the same key for the same purpose.
const (
	expiryKey      = "_session_expiry"
	reservedPrefix = "_session_" // keys that qsessions keeps for itself
)

var expiryMarker = []byte(`"` + expiryKey + `"`)

// values are a session's decoded values and own expiry, with the journal
// of what the request changed since they were read.
type values struct {
	m            map[string]json.RawMessage // nil until first needed
	browserClose bool                       // the cookie has no Max-Age
	expiry       time.Time                  // the session's own end; zero: the Store's Lifetime
	journal      []change
}

// A change is one entry of the journal.
type change struct {
	op           changeOp
	key          string          // set, delete
	value        json.RawMessage // set
	expiry       time.Time       // expiry: zero for the Store's default
	browserClose bool            // expiry
}

type changeOp uint8

const (
	opSet changeOp = iota
	opDelete
	opClear
	opExpiry
)

// apply makes c's change to v.
func (c *change) apply(v *values) {
	switch c.op {
	case opSet:
		v.m[c.key] = c.value
	case opDelete:
		delete(v.m, c.key)
	case opClear:
		clear(v.m)
	case opExpiry:
		v.expiry, v.browserClose = c.expiry, c.browserClose
	}
}

// record applies c and appends it to the journal; it reports true, for
// callers that return whether they changed anything.
func (v *values) record(c change) bool {
	c.apply(v)
	v.journal = append(v.journal, c)
	return true
}

// setChange validates a Set and encodes its value.
func setChange(key string, value any) (change, error) {
	if strings.HasPrefix(key, reservedPrefix) {
		return change{}, fmt.Errorf("qsessions: set %q: %w", key, ErrReservedKey)
	}
	b, err := json.Marshal(value)
	if err != nil {
		return change{}, fmt.Errorf("qsessions: set %q: %w", key, err)
	}
	return change{op: opSet, key: key, value: b}, nil
}

func (v *values) set(c change) bool {
	if old, ok := v.m[c.key]; ok && bytes.Equal(old, c.value) {
		return false
	}
	return v.record(c)
}

func (v *values) remove(key string) bool {
	if _, ok := v.m[key]; !ok {
		return false
	}
	return v.record(change{op: opDelete, key: key})
}

func (v *values) clearAll() bool {
	if len(v.m) == 0 {
		return false
	}
	return v.record(change{op: opClear})
}

func (v *values) setExpiry(t time.Time, browserClose bool) bool {
	return v.record(change{op: opExpiry, expiry: t.UTC().Truncate(time.Millisecond), browserClose: browserClose})
}

func (v *values) keys() []string {
	return slices.Sorted(maps.Keys(v.m))
}

func decodeValue(key string, raw json.RawMessage, dst any) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("qsessions: get %q: %w", key, err)
	}
	return nil
}

// reset makes v empty, with no journal.
func (v *values) reset(browserClose bool) {
	*v = values{m: map[string]json.RawMessage{}, browserClose: browserClose}
}

// decode decodes r.Data on first access to the values.
func (v *values) decode(r Record) error {
	if v.m != nil {
		return nil
	}
	m := map[string]json.RawMessage{}
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, &m); err != nil {
			return fmt.Errorf("qsessions: session %s: corrupt values: %w", r.ID, err)
		}
	}
	if raw, ok := m[expiryKey]; ok {
		delete(m, expiryKey)
		if string(raw) == "0" {
			v.browserClose = true
		} else {
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("qsessions: session %s: corrupt %s: %w", r.ID, expiryKey, err)
			}
			v.expiry = t.UTC()
		}
	}
	v.m = m
	return nil
}

// decodeExpiry makes browserClose and expiry known, decoding r.Data only
// when it mentions an expiry at all.
func (v *values) decodeExpiry(r Record) error {
	if v.m != nil || !bytes.Contains(r.Data, expiryMarker) {
		return nil
	}
	return v.decode(r)
}

// rebase decodes r, a newer record than the one v was read from, and
// applies the journal to it again.
func (v *values) rebase(r Record) error {
	journal := v.journal
	*v = values{journal: journal}
	if err := v.decode(r); err != nil {
		return err
	}
	for i := range v.journal {
		v.journal[i].apply(v)
	}
	return nil
}

// encode returns the values, with the session's own expiry, as a record's
// Data; nil when there is nothing to store.
func (v *values) encode() ([]byte, error) {
	m := v.m
	if v.browserClose || !v.expiry.IsZero() {
		m = maps.Clone(v.m)
		if m == nil {
			m = map[string]json.RawMessage{}
		}
		if v.browserClose {
			m[expiryKey] = json.RawMessage("0")
		} else {
			b, _ := json.Marshal(v.expiry)
			m[expiryKey] = b
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("qsessions: encode session values: %w", err)
	}
	return b, nil
}
