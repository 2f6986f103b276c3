package qsessions

import (
	"encoding/binary"
	"errors"
	"time"
)

// The cache holds a whole Record in a compact binary form:
//
//	byte     codecVersion
//	uvarint  len(ID), len(UserID), len(IP), len(UserAgent), len(Data)
//	varint   CreatedAt, UpdatedAt, ExpiresAt (Unix milliseconds)
//	bytes    ID | UserID | IP | UserAgent | Data
//
// Decoding costs two allocations: one string shared by the four text fields
// and the Record's Data slice, which aliases the input.
const codecVersion = 1

var errCorrupt = errors.New("qsessions: corrupt cache entry")

func encodeRecord(r Record) []byte {
	n := 1 + 5*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 +
		len(r.ID) + len(r.UserID) + len(r.IP) + len(r.UserAgent) + len(r.Data)
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	for _, l := range [...]int{len(r.ID), len(r.UserID), len(r.IP), len(r.UserAgent), len(r.Data)} {
		b = binary.AppendUvarint(b, uint64(l))
	}
	for _, t := range [...]time.Time{r.CreatedAt, r.UpdatedAt, r.ExpiresAt} {
		b = binary.AppendVarint(b, t.UnixMilli())
	}
	b = append(b, r.ID...)
	b = append(b, r.UserID...)
	b = append(b, r.IP...)
	b = append(b, r.UserAgent...)
	b = append(b, r.Data...)
	return b
}

// decodeRecord decodes b, which it takes ownership of. Any malformation is
// errCorrupt: the caller treats the entry as a miss.
func decodeRecord(b []byte) (Record, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return Record{}, errCorrupt
	}
	p := b[1:]
	var lens [5]int
	total := 0
	for i := range lens {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > uint64(len(b)) {
			return Record{}, errCorrupt
		}
		lens[i] = int(v)
		total += int(v)
		p = p[n:]
	}
	var times [3]time.Time
	for i := range times {
		v, n := binary.Varint(p)
		if n <= 0 {
			return Record{}, errCorrupt
		}
		times[i] = time.UnixMilli(v).UTC()
		p = p[n:]
	}
	if total != len(p) {
		return Record{}, errCorrupt
	}
	text := lens[0] + lens[1] + lens[2] + lens[3]
	s := string(p[:text])
	r := Record{CreatedAt: times[0], UpdatedAt: times[1], ExpiresAt: times[2]}
	off := 0
	for i, f := range [...]*string{&r.ID, &r.UserID, &r.IP, &r.UserAgent} {
		*f = s[off : off+lens[i]]
		off += lens[i]
	}
	r.Data = p[text:len(p):len(p)]
	return r, nil
}
