package qsessions

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// A Record's Meta is everything the Store keeps about a session beyond what
// a Persister indexes, in a compact, versioned form:
//
//	byte     metaVersion
//	fields   each one: uvarint tag, uvarint length, that many bytes
//
// Fields are written in tag order and empty ones left out. The IP is its 4
// or 16 bytes; times are varints of Unix milliseconds. Tags this version
// does not know (written by a later one, during a rolling deploy) are kept
// as they came and written back after the known ones, so that an older
// Store rewriting a session never drops what a newer one recorded.
const metaVersion = 1

const (
	tagIP = 1 + iota
	tagUserAgent
	tagCreatedAt
	tagAuthAt
	tagAuthMethod
	tagBinding
	nTags = tagBinding
)

var errCorruptMeta = errors.New("qsessions: corrupt session metadata")

// meta is a decoded Meta. Its byte fields alias the encoded form.
type meta struct {
	ip         netip.Addr
	userAgent  []byte
	createdAt  time.Time
	authAt     time.Time
	authMethod []byte
	binding    []byte
	unknown    []byte // fields of later versions, encoded
}

// parseMeta decodes b into *m without allocating; m's byte fields alias b.
// An empty b is the zero meta.
func parseMeta(b []byte, m *meta) error {
	*m = meta{}
	if len(b) == 0 {
		return nil
	}
	if b[0] != metaVersion {
		return errCorruptMeta
	}
	var seen [nTags + 1]bool
	for p := b[1:]; len(p) > 0; {
		start := p
		tag, n := binary.Uvarint(p)
		if n <= 0 {
			return errCorruptMeta
		}
		p = p[n:]
		size, n := binary.Uvarint(p)
		if n <= 0 || size > uint64(len(p)-n) {
			return errCorruptMeta
		}
		v := p[n : n+int(size) : n+int(size)]
		p = p[n+int(size):]
		if tag == 0 || tag > nTags {
			// A later version's field: kept, encoded, to be written back.
			m.unknown = append(m.unknown, start[:len(start)-len(p)]...)
			continue
		}
		if seen[tag] {
			return errCorruptMeta
		}
		seen[tag] = true
		var ok bool
		switch tag {
		case tagIP:
			m.ip, ok = netip.AddrFromSlice(v)
		case tagUserAgent:
			m.userAgent, ok = v, true
		case tagCreatedAt:
			m.createdAt, ok = parseMilli(v)
		case tagAuthAt:
			m.authAt, ok = parseMilli(v)
		case tagAuthMethod:
			m.authMethod, ok = v, true
		case tagBinding:
			m.binding, ok = v, true
		}
		if !ok {
			return errCorruptMeta
		}
	}
	return nil
}

// clientOf returns the IP and User-Agent recorded in b without decoding
// the rest: they come first, as encode writes the fields in tag order. ok
// is false when b is malformed.
func clientOf(b []byte) (ip netip.Addr, ua []byte, ok bool) {
	if len(b) == 0 {
		return ip, nil, true
	}
	if b[0] != metaVersion {
		return ip, nil, false
	}
	for p := b[1:]; len(p) > 0; {
		tag, n := binary.Uvarint(p)
		if n <= 0 {
			return ip, nil, false
		}
		p = p[n:]
		size, n := binary.Uvarint(p)
		if n <= 0 || size > uint64(len(p)-n) {
			return ip, nil, false
		}
		v := p[n : n+int(size)]
		p = p[n+int(size):]
		switch {
		case tag == tagIP:
			if ip, ok = netip.AddrFromSlice(v); !ok {
				return ip, nil, false
			}
		case tag == tagUserAgent:
			ua = v
		case tag > tagUserAgent && tag <= nTags:
			return ip, ua, true
		}
	}
	return ip, ua, true
}

func parseMilli(v []byte) (time.Time, bool) {
	ms, n := binary.Varint(v)
	if n <= 0 || n != len(v) {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

// encode returns m in its encoded form: a new slice, sharing nothing.
func (m *meta) encode() []byte { return m.encodeWith(string(m.userAgent)) }

// encodeWith is encode with ua as the User-Agent.
func (m *meta) encodeWith(ua string) []byte {
	n := 1 + len(ua) + len(m.authMethod) + len(m.binding) + len(m.unknown) + 16 + nTags*(2+binary.MaxVarintLen64)
	b := make([]byte, 1, n)
	b[0] = metaVersion
	switch {
	case m.ip.Is4():
		ip := m.ip.As4()
		b = appendField(b, tagIP, ip[:])
	case m.ip.IsValid():
		ip := m.ip.As16()
		b = appendField(b, tagIP, ip[:])
	}
	b = appendField(b, tagUserAgent, ua)
	b = appendTime(b, tagCreatedAt, m.createdAt)
	b = appendTime(b, tagAuthAt, m.authAt)
	b = appendField(b, tagAuthMethod, m.authMethod)
	b = appendField(b, tagBinding, m.binding)
	return append(b, m.unknown...)
}

func appendField[T []byte | string](b []byte, tag int, v T) []byte {
	if len(v) == 0 {
		return b
	}
	b = binary.AppendUvarint(b, uint64(tag))
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendTime(b []byte, tag int, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	var v [binary.MaxVarintLen64]byte
	return appendField(b, tag, binary.AppendVarint(v[:0], t.UnixMilli()))
}

// DecodeMeta decodes a Record's Meta into the fields of a SessionInfo that
// it carries: IP, UserAgent, CreatedAt, AuthenticatedAt, AuthMethod and the
// device binding (DeviceBound). The other fields are left zero. A nil or
// empty meta decodes to the zero SessionInfo; a malformed one is an error.
//
// A Persister need not call it: Meta is opaque to the contract. It is for a
// Persister that keeps some of the metadata as columns of its own, for its
// own queries or for another application reading the same table.
func DecodeMeta(b []byte) (SessionInfo, error) {
	var m meta
	if err := parseMeta(b, &m); err != nil {
		return SessionInfo{}, err
	}
	var i SessionInfo
	i.setMeta(&m)
	i.binding = append([]byte(nil), m.binding...)
	i.unknown = append([]byte(nil), m.unknown...)
	return i, nil
}

// EncodeMeta encodes the metadata fields of i (those DecodeMeta fills) as
// a Record's Meta: the inverse of DecodeMeta, which it undoes exactly, the
// device binding and the fields written by later versions included. An IP
// that is not an address is left out. Times are kept to the millisecond.
func EncodeMeta(i SessionInfo) []byte {
	m := meta{
		userAgent:  []byte(i.UserAgent),
		createdAt:  i.CreatedAt,
		authAt:     i.AuthenticatedAt,
		authMethod: []byte(i.AuthMethod),
		binding:    i.binding,
		unknown:    i.unknown,
	}
	if ip, err := netip.ParseAddr(i.IP); err == nil {
		m.ip = ip.Unmap().WithZone("")
	}
	return m.encode()
}

// setMeta copies m's fields into i, as strings of their own.
func (i *SessionInfo) setMeta(m *meta) {
	if m.ip.IsValid() {
		i.IP = m.ip.String()
	}
	// One allocation for both strings.
	text := string(m.userAgent) + string(m.authMethod)
	i.UserAgent, i.AuthMethod = text[:len(m.userAgent)], text[len(m.userAgent):]
	i.CreatedAt, i.AuthenticatedAt = m.createdAt, m.authAt
	i.binding = m.binding
}
