package dbsc

import (
	"errors"
	"strings"
)

// The DBSC headers are HTTP Structured Fields (RFC 9651). The server
// writes two of them (Secure-Session-Registration, a list of inner lists
// of tokens with parameters; Secure-Session-Challenge, a list of strings
// with an "id" parameter) and reads two (Secure-Session-Response and
// Sec-Secure-Session-Id, each a string).
//
// Everything the server writes is built from values it made itself
// (base64url challenges and IDs, paths it was configured with), so writing
// needs only sfString's escaping. Reading is lenient in one way the draft
// is not: Chrome sends both request headers as the bare value, without the
// quotes of an sf-string, so readString accepts a bare token as well.

var errNotString = errors.New("dbsc: header is not a structured-field string")

// sfString serializes s as an sf-string. It reports false when s holds a
// character an sf-string cannot (outside printable ASCII).
func sfString(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", false
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String(), true
}

// readString reads a request header that the draft defines as an sf-string
// (parameters, which the draft says to ignore, are dropped). A value that
// does not start with a quote is taken as it is, trimmed, when it is an
// sf-token or a run of base64url and dots (what Chrome sends). Values
// longer than max are refused before they are looked at.
func readString(v string, max int) (string, error) {
	if len(v) > max+64 {
		return "", errNotString
	}
	v = strings.Trim(v, " \t")
	if v == "" {
		return "", errNotString
	}
	if v[0] != '"' {
		end := len(v)
		if i := strings.IndexByte(v, ';'); i >= 0 {
			end = i
		}
		s := v[:end]
		if s == "" {
			return "", errNotString
		}
		for i := 0; i < len(s); i++ {
			if !bareChar(s[i]) {
				return "", errNotString
			}
		}
		if len(s) > max {
			return "", errNotString
		}
		return s, nil
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", errNotString
			}
			b.WriteByte(v[i])
		case c == '"':
			rest := v[i+1:]
			if rest != "" && rest[0] != ';' {
				return "", errNotString
			}
			if b.Len() > max {
				return "", errNotString
			}
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errNotString
		default:
			b.WriteByte(c)
		}
	}
	return "", errNotString
}

// bareChar reports whether c may appear in a bare (unquoted) value: the
// characters of an sf-token, which cover base64url and the dots of a JWS.
func bareChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}
