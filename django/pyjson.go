package django

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Session values cross between Python's json module and Go's encoding/json.
// Django's JSONSerializer writes json.dumps(obj, separators=(',', ':'))
// and reads the bytes as latin-1: what Go writes for Django must be ASCII,
// with every other character escaped as Python escapes it. What Go reads
// from Django it re-encodes as encoding/json writes it, so that the Store
// sees the same bytes whichever side wrote a value, and a value that only
// travelled through Django comes back to Go byte for byte.
//
// Both re-encodings keep numbers as they are written, object keys in their
// order, and change only whitespace and the escaping of strings.

var errNotJSON = errors.New("django: not valid JSON")

// isJSONObject reports whether b is one valid JSON object.
func isJSONObject(b []byte) bool {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// toPython appends the JSON value raw to dst as Python's json.dumps with
// separators=(',', ':') and ensure_ascii writes it.
func toPython(dst, raw []byte) ([]byte, error) {
	return reencode(dst, raw, appendPythonString)
}

// toGo appends the JSON value raw to dst as encoding/json writes it.
func toGo(dst, raw []byte) ([]byte, error) {
	return reencode(dst, raw, appendGoString)
}

// reencode copies the valid JSON value raw to dst without whitespace,
// re-encoding each string with str.
func reencode(dst, raw []byte, str func([]byte, string) []byte) ([]byte, error) {
	if !json.Valid(raw) {
		return dst, errNotJSON
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case isSpace(c):
			i++
		case c == '"':
			j := i + 1
			for raw[j] != '"' {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			var s string
			if err := json.Unmarshal(raw[i:j+1], &s); err != nil {
				return dst, err
			}
			dst = str(dst, s)
			i = j + 1
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst, nil
}

// appendPythonString appends s as a JSON string the way Python's json
// module writes it with ensure_ascii: the escapes of its ESCAPE_DCT, and
// \uXXXX (lowercase, UTF-16 surrogate pairs beyond the BMP) for every
// other character outside ' '..'~'.
func appendPythonString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	u := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
	}
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r >= ' ' && r <= '~':
			dst = append(dst, byte(r))
		case r > 0xffff:
			r -= 0x10000
			dst = u(dst, 0xd800+(r>>10))
			dst = u(dst, 0xdc00+(r&0x3ff))
		default:
			dst = u(dst, r)
		}
	}
	return append(dst, '"')
}

// appendGoString appends s as encoding/json's Marshal writes a string.
func appendGoString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// isASCII reports whether b holds only ASCII bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
