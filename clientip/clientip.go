// Package clientip finds the IP address of an HTTP request's client, and
// whether it used TLS, through the reverse proxies you trust: the
// connection's peer, unless the peer is a trusted proxy, and then the one
// header that the proxies set. [github.com/qsessions/qsessions.Store.Middleware] uses it to
// record each session's client IP; it is useful on its own, for rate
// limits and audit logs.
//
//	r, err := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, clientip.XForwardedFor)
//	ip := r.ClientIP(req)
//
// # Which header
//
// [XForwardedFor] ("X-Forwarded-For: client, proxy1") and [Forwarded]
// (RFC 7239, "Forwarded: for=client, for=proxy1") are lists: all their
// lines and elements are read and walked from the right, past addresses of
// trusted proxies, to the first address that is not one, the client. Every
// trusted proxy must append the address of its peer to the header it
// received, or replace the header; one that passes on a client's header as
// it came lets the client choose its IP. For X-Forwarded-For: nginx
// "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" (without
// it nginx passes the client's header on untouched), HAProxy "option
// forwardfor" and AWS ALB (by default) append; Caddy, Traefik and
// httputil.ReverseProxy append or replace. Few proxies write Forwarded
// (HAProxy 2.8+ "option forwarded"; nginx only through a map) and most
// pass a client's Forwarded header on untouched, so choose it only when
// every trusted proxy appends to it.
//
// Any other name is a single-IP header, such as [CFConnectingIP],
// [TrueClientIP], [FlyClientIP] or [XRealIP]: the proxy must set it on
// every request, overwriting whatever the client sent, and it must appear
// once and hold one address. Cloudflare sets CF-Connecting-IP (and
// True-Client-IP when that option is on), Akamai True-Client-IP, Fly.io's
// proxy Fly-Client-IP; nginx sets X-Real-IP with "proxy_set_header
// X-Real-IP $remote_addr;" (behind a CDN, let the realip module derive
// $remote_addr: "set_real_ip_from" the CDN's networks, "real_ip_header
// CF-Connecting-IP"). When the proxy that sets the header is not the peer
// (a CDN in front of your load balancer), the trusted proxies list the
// peer, which must pass the header on unchanged and accept connections
// only from the CDN.
//
// # Values that are not addresses
//
// A value that is not an address (RFC 7239's "unknown", an obfuscated
// "_hidden" identifier, garbage, a repeated or listed single-IP header)
// never erases or replaces one: the walk stops there, and the IP is the
// last trusted proxy reached, the peer at first. Addresses may be quoted,
// bracketed, or carry a port or an IPv6 zone, which are dropped.
//
// # TLS
//
// The same rule decides whether a request came over TLS: from a trusted
// peer, the first value of X-Forwarded-Proto is believed or, with
// [Forwarded], the proto parameter of the first Forwarded element.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// Header names for [New]. XForwardedFor and Forwarded are lists that every
// proxy appends to; any other name, these four included, is a single-IP
// header that the proxy overwrites.
const (
	XForwardedFor  = "X-Forwarded-For"  // the default: nginx, HAProxy, AWS ALB, Caddy, Traefik
	Forwarded      = "Forwarded"        // RFC 7239
	CFConnectingIP = "CF-Connecting-IP" // Cloudflare
	TrueClientIP   = "True-Client-IP"   // Akamai; Cloudflare when enabled
	FlyClientIP    = "Fly-Client-IP"    // Fly.io
	XRealIP        = "X-Real-IP"        // nginx: proxy_set_header X-Real-IP $remote_addr
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

// A Resolver finds the client of a request through trusted proxies. It is
// safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	name    string // the header, canonical, as net/http keys it
	kind    headerKind
}

// New returns a Resolver that believes header (case-insensitive; ""
// means [XForwardedFor]) and X-Forwarded-Proto only from peers in trusted,
// the networks of your reverse proxies. List the proxies only, never
// networks that clients connect from. With no trusted proxies, the client
// is always the connection's peer.
func New(trusted []netip.Prefix, header string) (*Resolver, error) {
	if header == "" {
		header = XForwardedFor
	}
	if !isToken(header) {
		return nil, fmt.Errorf("clientip: invalid header name %q", header)
	}
	r := &Resolver{trusted: make([]netip.Prefix, len(trusted)), name: textproto.CanonicalMIMEHeaderKey(header), kind: singleIP}
	for i, p := range trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("clientip: invalid trusted proxy prefix at index %d", i)
		}
		r.trusted[i] = p.Masked()
	}
	switch r.name {
	case XForwardedFor:
		r.kind = xForwardedFor
	case Forwarded:
		r.kind = forwarded
	}
	return r, nil
}

// ClientIP returns the IP of req's client: the connection's peer or, when
// the peer is a trusted proxy, the client that the header names. A value
// that is not an address never replaces one: the answer is then the last
// trusted proxy reached, the peer at first. It returns the zero Addr only
// when the peer's address (req.RemoteAddr) cannot be parsed.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := remoteAddr(req)
	if !ok || !r.isTrusted(peer) {
		return peer
	}
	lines := req.Header[r.name]
	if r.kind == singleIP {
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
			ip, ok := r.hop(elem)
			if !ok {
				return best
			}
			if !r.isTrusted(ip) {
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
func (r *Resolver) hop(elem string) (netip.Addr, bool) {
	if r.kind == forwarded {
		v, ok := forwardedParam(elem, "for")
		if !ok {
			return netip.Addr{}, false
		}
		elem = v
	}
	return parseHop(elem)
}

// IsHTTPS reports whether req's client used TLS: directly, or through a
// trusted proxy that says so. As for the client IP, a proxy is believed
// only when the peer is trusted; it says so in X-Forwarded-Proto, or, when
// the header is Forwarded, in the proto parameter of the Forwarded header. The first value counts: it is the one
// that the outermost proxy, the one the client connected to, set. (Where a
// proxy appends, the first value may be the client's own; that changes
// only whether its own cookie is Secure.)
func (r *Resolver) IsHTTPS(req *http.Request) bool {
	if req.TLS != nil {
		return true
	}
	peer, ok := remoteAddr(req)
	if !ok || !r.isTrusted(peer) {
		return false
	}
	var proto string
	if r.kind == forwarded {
		lines := req.Header["Forwarded"]
		if len(lines) == 0 {
			return false
		}
		first, _, _ := strings.Cut(lines[0], ",")
		if proto, ok = forwardedParam(first, "proto"); !ok {
			return false
		}
	} else {
		lines := req.Header["X-Forwarded-Proto"]
		if len(lines) == 0 {
			return false
		}
		proto, _, _ = strings.Cut(lines[0], ",")
	}
	return strings.EqualFold(unquote(strings.TrimSpace(proto)), "https")
}

func (r *Resolver) isTrusted(ip netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteAddr(req *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(req.RemoteAddr)
	if err == nil {
		return normalizeAddr(ap.Addr()), true
	}
	ip, err := netip.ParseAddr(req.RemoteAddr)
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

// isToken reports whether name is an RFC 9110 token, as header names must
// be.
func isToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
