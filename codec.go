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
//	uvarint  the lengths of ID, UserID, Meta and Data
//	varint   UpdatedAt and ExpiresAt, in Unix milliseconds
//	bytes    ID, UserID, Meta and Data, concatenated
//
// Decoding costs one allocation, a string shared by ID and UserID; Meta and
// Data alias the input. A first byte of 0 is never a record: the Store uses
// such values as lease markers.
const codecVersion = 3

var errCorrupt = errors.New("qsessions: corrupt cache entry")

func encodeRecord(r *Record) []byte {
	n := 1 + 7*binary.MaxVarintLen64 + len(r.ID) + len(r.UserID) + len(r.Meta) + len(r.Data)
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(r.Version))
	for _, l := range [...]int{len(r.ID), len(r.UserID), len(r.Meta), len(r.Data)} {
		b = binary.AppendUvarint(b, uint64(l))
	}
	b = binary.AppendVarint(b, r.UpdatedAt.UnixMilli())
	b = binary.AppendVarint(b, r.ExpiresAt.UnixMilli())
	b = append(b, r.ID...)
	b = append(b, r.UserID...)
	b = append(b, r.Meta...)
	return append(b, r.Data...)
}

// decodeRecordTo decodes b, which it takes ownership of, into *r, which it
// overwrites: decoding in place spares the request path copies of a Record.
// Any malformation is errCorrupt (the caller treats the entry as a miss),
// and *r then holds garbage.
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
	var lens [4]int
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
	var times [2]time.Time
	for i := range times {
		v, n := binary.Varint(p)
		if n <= 0 {
			return errCorrupt
		}
		times[i] = time.UnixMilli(v).UTC()
		p = p[n:]
	}
	if total != len(p) {
		return errCorrupt
	}
	text := string(p[:lens[0]+lens[1]])
	p = p[lens[0]+lens[1]:]
	*r = Record{
		ID:        text[:lens[0]],
		Version:   int64(version),
		UserID:    text[lens[0]:],
		UpdatedAt: times[0],
		ExpiresAt: times[1],
		Meta:      p[:lens[2]:lens[2]],
		Data:      p[lens[2]:],
	}
	return nil
}
