package qsessions

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// Headers that Options.ClientIPHeader can name. X-Forwarded-For and
// Forwarded are lists that every proxy appends to; any other name, these
// four included, is a single-IP header that the proxy overwrites.
const (
	HeaderXForwardedFor  = "X-Forwarded-For"  // the default: nginx, HAProxy, AWS ALB, Caddy, Traefik
	HeaderForwarded      = "Forwarded"        // RFC 7239
	HeaderCFConnectingIP = "CF-Connecting-IP" // Cloudflare
	HeaderTrueClientIP   = "True-Client-IP"   // Akamai; Cloudflare when enabled
	HeaderFlyClientIP    = "Fly-Client-IP"    // Fly.io
	HeaderXRealIP        = "X-Real-IP"        // nginx: proxy_set_header X-Real-IP $remote_addr
)

// maxHops bounds the walk through a list header: no real chain of trusted
// proxies is longer, and a client could send thousands of trusted-looking
// addresses.
const maxHops = 32

// A headerKind is how a client IP header is read.
type headerKind uint8

const (
	xForwardedFor headerKind = iota // comma-separated addresses, oldest first
	forwarded                       // RFC 7239 elements, oldest first
	singleIP                        // one address, set by the proxy
)

// A clientIPHeader is the validated Options.ClientIPHeader.
type clientIPHeader struct {
	name string // canonical, as net/http keys it
	kind headerKind
}

// newClientIPHeader validates Options.ClientIPHeader; "" means
// X-Forwarded-For.
func newClientIPHeader(name string) (clientIPHeader, error) {
	if name == "" {
		name = HeaderXForwardedFor
	}
	if !isToken(name) {
		return clientIPHeader{}, fmt.Errorf("qsessions: New: invalid ClientIPHeader %q: not a header name", name)
	}
	h := clientIPHeader{name: textproto.CanonicalMIMEHeaderKey(name), kind: singleIP}
	switch h.name {
	case HeaderXForwardedFor:
		h.kind = xForwardedFor
	case HeaderForwarded:
		h.kind = forwarded
	}
	return h, nil
}

// clientIP returns the IP to record for r: the connection's peer or, when
// the peer is a trusted proxy, the client that the configured header
// names. A value that is not an address never replaces one: the answer is
// then the last trusted proxy reached, the peer at first. It returns the
// zero Addr only when the peer's address cannot be parsed.
func (st *Store) clientIP(r *http.Request) netip.Addr {
	peer, ok := remoteAddr(r)
	if !ok || !st.isTrusted(peer) {
		return peer
	}
	lines := r.Header[st.ipHeader.name]
	if st.ipHeader.kind == singleIP {
		// A proxy that overwrites the header leaves exactly one value.
		if len(lines) != 1 {
			return peer
		}
		if ip, ok := parseHop(lines[0]); ok {
			return ip
		}
		return peer
	}
	// Each proxy appends the address of its own peer, so the list reads,
	// from the right, as a chain back towards the client; the first
	// address not in TrustedProxies is the client (anything left of it
	// was written by the client), and a value that is not an address ends
	// the chain where it stands.
	best, n := peer, 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest, more := lines[i], true
		for more {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, elem = rest[:j], rest[j+1:]
			} else {
				elem, more = rest, false
			}
			ip, ok := st.hop(elem)
			if !ok {
				return best
			}
			if !st.isTrusted(ip) {
				return ip
			}
			best, n = ip, n+1
			if n == maxHops {
				return best
			}
		}
	}
	return best
}

// hop parses one element of the list header.
func (st *Store) hop(elem string) (netip.Addr, bool) {
	if st.ipHeader.kind == forwarded {
		v, ok := forwardedParam(elem, "for")
		if !ok {
			return netip.Addr{}, false
		}
		elem = v
	}
	return parseHop(elem)
}

// requestIsHTTPS reports whether the client used TLS: directly, or through
// a trusted proxy that says so. As for the client IP, a proxy is believed
// only when the peer is in TrustedProxies; it says so in
// X-Forwarded-Proto, or, when ClientIPHeader is Forwarded, in the proto
// parameter of the Forwarded header. The first value counts: it is the one
// that the outermost proxy, the one the client connected to, set. (Where a
// proxy appends, the first value may be the client's own; that changes
// only whether its own cookie is Secure.)
func (st *Store) requestIsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer, ok := remoteAddr(r)
	if !ok || !st.isTrusted(peer) {
		return false
	}
	var proto string
	if st.ipHeader.kind == forwarded {
		lines := r.Header["Forwarded"]
		if len(lines) == 0 {
			return false
		}
		first, _, _ := strings.Cut(lines[0], ",")
		if proto, ok = forwardedParam(first, "proto"); !ok {
			return false
		}
	} else {
		lines := r.Header["X-Forwarded-Proto"]
		if len(lines) == 0 {
			return false
		}
		proto, _, _ = strings.Cut(lines[0], ",")
	}
	return strings.EqualFold(unquote(strings.TrimSpace(proto)), "https")
}

func (st *Store) isTrusted(ip netip.Addr) bool {
	for _, p := range st.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return normalizeAddr(ap.Addr()), true
	}
	ip, err := netip.ParseAddr(r.RemoteAddr)
	if err == nil {
		return normalizeAddr(ip), true
	}
	return netip.Addr{}, false
}

func normalizeAddr(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// forwardedParam returns the value of the parameter key of one element of
// a Forwarded header ("for=192.0.2.1;proto=https"); the name is
// case-insensitive. An element without the parameter, or with it twice,
// has none.
func forwardedParam(elem, key string) (string, bool) {
	var value string
	found := false
	for rest, more := elem, true; more; {
		var pair string
		pair, rest, more = strings.Cut(rest, ";")
		k, v, ok := strings.Cut(pair, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), key) {
			continue
		}
		if found {
			return "", false
		}
		value, found = v, true
	}
	return value, found
}

// parseHop parses one forwarded address: "192.0.2.1", "192.0.2.1:443",
// "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443", each possibly
// quoted and with an IPv6 zone, which is dropped. RFC 7239's "unknown",
// obfuscated identifiers ("_hidden"), empty values, and addresses that
// never start a connection (unspecified, multicast, broadcast) are not
// addresses.
func parseHop(s string) (netip.Addr, bool) {
	s = unquote(strings.TrimSpace(s))
	var ip netip.Addr
	if a, err := netip.ParseAddr(s); err == nil {
		ip = a
	} else if ap, err := netip.ParseAddrPort(s); err == nil {
		ip = ap.Addr()
	} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil {
			return netip.Addr{}, false
		}
		ip = a
	} else {
		return netip.Addr{}, false
	}
	ip = normalizeAddr(ip)
	if ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, false
	}
	return ip, true
}

// unquote removes one pair of surrounding double quotes.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
