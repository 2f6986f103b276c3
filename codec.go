package qsessions

import (
	"encoding/binary"
	"errors"
	"time"
)

// The cache holds a whole Record in a compact binary form:
//
//	byte     codecVersion
//	uvarint  Version
//	uvarint  the length of each byte field, in the order of fields below
//	varint   each time field, in Unix milliseconds
//	bytes    the byte fields, concatenated
//
// Decoding costs one allocation, a string shared by the text fields; Binding and Data alias the
// input. A first byte of 0 is
// never a record: the Store uses such values as lease markers.
const codecVersion = 2

var errCorrupt = errors.New("qsessions: corrupt cache entry")

// textFields and timeFields list a Record's fields in codec order; Binding
// and Data follow the text fields.
func textFields(r *Record) [5]*string {
	return [...]*string{&r.ID, &r.UserID, &r.IP, &r.UserAgent, &r.AuthMethod}
}

func timeFields(r *Record) [4]*time.Time {
	return [...]*time.Time{&r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt, &r.AuthenticatedAt}
}

const (
	nText  = len([5]*string{})
	nTimes = len([4]*time.Time{})
)

func encodeRecord(r Record) []byte {
	texts, times := textFields(&r), timeFields(&r)
	n := 1 + (3+nText+nTimes)*binary.MaxVarintLen64 + len(r.Binding) + len(r.Data)
	for _, f := range texts {
		n += len(*f)
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(r.Version))
	for _, f := range texts {
		b = binary.AppendUvarint(b, uint64(len(*f)))
	}
	b = binary.AppendUvarint(b, uint64(len(r.Binding)))
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	for _, t := range times {
		b = binary.AppendVarint(b, t.UnixMilli()) // the zero time round-trips too
	}
	for _, f := range texts {
		b = append(b, *f...)
	}
	b = append(b, r.Binding...)
	return append(b, r.Data...)
}

// decodeRecord decodes b, which it takes ownership of. Any malformation is
// errCorrupt: the caller treats the entry as a miss.
func decodeRecord(b []byte) (Record, error) {
	var r Record
	err := decodeRecordTo(&r, b)
	return r, err
}

// decodeRecordTo decodes b into *r, which it overwrites: decoding in place
// spares the request path copies of a Record. On error *r holds garbage.
func decodeRecordTo(r *Record, b []byte) error {
	if len(b) == 0 || b[0] != codecVersion {
		return errCorrupt
	}
	p := b[1:]
	version, n := binary.Uvarint(p)
	if n <= 0 || version > 1<<62 {
		return errCorrupt
	}
	p = p[n:]
	var lens [nText + 2]int // the text fields, Binding, Data
	total := 0
	for i := range lens {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > uint64(len(b)) {
			return errCorrupt
		}
		lens[i] = int(v)
		total += int(v)
		p = p[n:]
	}
	r.Version = int64(version)
	for _, t := range timeFields(r) {
		v, n := binary.Varint(p)
		if n <= 0 {
			return errCorrupt
		}
		*t = time.UnixMilli(v).UTC()
		p = p[n:]
	}
	if total != len(p) {
		return errCorrupt
	}
	text := total - lens[nText] - lens[nText+1]
	s := string(p[:text])
	off := 0
	for i, f := range textFields(r) {
		*f = s[off : off+lens[i]]
		off += lens[i]
	}
	r.Binding = nil
	if n := lens[nText]; n > 0 {
		r.Binding = p[text : text+n : text+n]
	}
	r.Data = p[text+lens[nText] : len(p) : len(p)]
	return nil
}
