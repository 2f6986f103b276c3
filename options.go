package qsessions

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Defaults for the zero Options.
const (
	DefaultLifetime      = 14 * 24 * time.Hour // Django's SESSION_COOKIE_AGE
	DefaultTouchInterval = time.Minute
	DefaultMaxUserAgent  = 300
	DefaultKeyPrefix     = "qsessions:"
	DefaultCookieName    = "sessionid"
)

// A Switch is an option that is on, off, or left at its documented default.
// Its zero value is [SwitchDefault].
type Switch int8

const (
	SwitchDefault Switch = iota // the option's documented default
	SwitchOn                    // on, whatever the default
	SwitchOff                   // off, whatever the default
)

func (s Switch) or(def bool) bool {
	switch s {
	case SwitchOn:
		return true
	case SwitchOff:
		return false
	}
	return def
}

// Options configure a [Store]. The zero value of every field is a safe
// default, and a nil *Options means all defaults.
type Options struct {
	// Lifetime is how long a session lives after it is created (or after
	// Login or Rotate gave it a new token), whatever its activity.
	// Default 14 days. A session can override it with SetMaxAge or
	// SetExpiresAt.
	Lifetime time.Duration

	// IdleTimeout, when positive, ends a session that has had no recorded
	// activity for that long. Activity is recorded at most once per
	// TouchInterval, so keep IdleTimeout well above it; TouchInterval is
	// lowered to IdleTimeout/2 when it is larger. Default: no idle timeout.
	IdleTimeout time.Duration

	// TouchInterval is how often an unchanged session has its last activity
	// written back. Requests that change nothing write at most once per
	// interval. Default 1 minute; a negative value writes on every request.
	TouchInterval time.Duration

	// ExpireAtBrowserClose makes new sessions use cookies without Max-Age,
	// which browsers drop when they close (Django's
	// SESSION_EXPIRE_AT_BROWSER_CLOSE). The server still ends them after
	// Lifetime. Default false.
	ExpireAtBrowserClose bool

	// Cookie configures the session cookie written by Middleware.
	Cookie CookieOptions

	// TrustedProxies lists the networks of reverse proxies whose
	// ClientIPHeader and X-Forwarded-Proto are believed. List the proxies
	// only, never networks that clients connect from. Default: none, so
	// the client IP is the connection's remote address and no forwarding
	// header is read.
	TrustedProxies []netip.Prefix

	// ClientIPHeader names the one header that the proxies in
	// TrustedProxies set to say who their client is. Only that header is
	// read, and only when the connection's peer is in TrustedProxies;
	// every other forwarding header is ignored. The name is
	// case-insensitive. Default [HeaderXForwardedFor].
	//
	// [HeaderXForwardedFor] ("X-Forwarded-For: client, proxy1") and
	// [HeaderForwarded] (RFC 7239, "Forwarded: for=client, for=proxy1")
	// are lists: all their lines and elements are read and walked from
	// the right, past addresses in TrustedProxies, to the first address
	// that is not in them, the client. Every trusted proxy must append
	// the address of its peer to the header it received, or replace the
	// header; one that passes on a client's header as it came lets the
	// client choose its IP. For X-Forwarded-For: nginx
	// "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
	// (without it nginx passes the client's header on untouched), HAProxy
	// "option forwardfor" and AWS ALB (by default) append; Caddy, Traefik
	// and httputil.ReverseProxy append or replace. Few proxies write
	// Forwarded (HAProxy 2.8+ "option forwarded"; nginx only through a
	// map) and most pass a client's Forwarded header on untouched, so
	// choose it only when every trusted proxy appends to it.
	//
	// Any other name is a single-IP header, such as
	// [HeaderCFConnectingIP], [HeaderTrueClientIP], [HeaderFlyClientIP]
	// or [HeaderXRealIP]: the proxy must set it on every request,
	// overwriting whatever the client sent, and it must appear once and
	// hold one address. Cloudflare sets CF-Connecting-IP (and
	// True-Client-IP when that option is on), Akamai True-Client-IP,
	// Fly.io's proxy Fly-Client-IP; nginx sets X-Real-IP with
	// "proxy_set_header X-Real-IP $remote_addr;" (behind a CDN, let the
	// realip module derive $remote_addr: "set_real_ip_from" the CDN's
	// networks, "real_ip_header CF-Connecting-IP"). When the proxy that
	// sets the header is not the peer (a CDN in front of your load
	// balancer), TrustedProxies lists the peer, which must pass the
	// header on unchanged and accept connections only from the CDN.
	//
	// A value that is not an address (RFC 7239's "unknown", an obfuscated
	// "_hidden" identifier, garbage, a repeated or listed single-IP
	// header) never erases or replaces one: the walk stops there, and the
	// IP recorded is the last trusted proxy reached, the peer at first.
	// Addresses may be quoted, bracketed, or carry a port or an IPv6 zone,
	// which are dropped.
	//
	// The same rule decides whether a request came over TLS, for the
	// default Secure cookie: from a trusted peer, the first value of
	// X-Forwarded-Proto is believed or, with [HeaderForwarded], the proto
	// parameter of the first Forwarded element.
	ClientIPHeader string

	// RecordIP and RecordUserAgent control whether each session keeps its
	// last client IP and User-Agent. Both default to On; turn them Off
	// where privacy rules require it.
	RecordIP        Switch
	RecordUserAgent Switch

	// MaxUserAgent is the longest User-Agent recorded, in bytes; longer ones
	// are cut on a rune boundary. Default 300.
	MaxUserAgent int

	// Locator and DeviceParser give SessionInfo its Location and Device.
	// Default: none (both methods return zero values).
	Locator      Locator
	DeviceParser DeviceParser

	// KeyPrefix is prepended to session IDs to form cache keys.
	// Default "qsessions:".
	KeyPrefix string

	// Logger receives cache faults and save failures. Default slog.Default().
	Logger *slog.Logger

	// Clock tells the time. Default time.Now.
	Clock func() time.Time

	// MaxSessionsPerUser caps how many live sessions a user may have. When
	// a Login would exceed it, the user's least recently active sessions
	// are revoked first, as by RevokeUser (GitLab keeps 100). Default 0:
	// no cap.
	MaxSessionsPerUser int

	// OnLogin, when set, is called after each successful Login (and
	// Reauthenticate) once the session is saved, with the new session and
	// whether its user was seen before on its device and in its location:
	// the hook for "new sign-in from Chrome on Windows in Berlin" e-mails.
	// It runs on a goroutine of its own, so it never holds up the
	// response, with a context that outlives the request; still, hand
	// slow work to a queue (a buffered channel read by a worker, or your
	// job system) rather than sending mail from the hook, since Wait
	// waits for it at shutdown. An error it returns, or a panic, is logged.
	OnLogin func(ctx context.Context, e LoginEvent) error

	// ErrorHandler writes the response when Middleware cannot load or save
	// a session. Default: 401 with the cookie deleted when the session was
	// revoked while the request ran (err wraps ErrNotFound), 500 otherwise.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// CookieOptions configure the session cookie.
//
// Behind TLS, name the cookie "__Host-sessionid" (or another name with the
// __Host- prefix): browsers then accept it only with Secure, Path=/ and no
// Domain, so neither a sibling subdomain nor a network attacker on plain
// HTTP can set a cookie of that name for your host. New rejects a __Host-
// name with a Domain, another Path or Secure Off, and turns Secure On for
// it (and for a __Secure- name).
type CookieOptions struct {
	Name     string        // default "sessionid"; "__Host-sessionid" recommended behind TLS
	Path     string        // default "/"
	Domain   string        // default: host-only
	Secure   Switch        // default: Secure when the request came over TLS
	HttpOnly Switch        // default On
	SameSite http.SameSite // default http.SameSiteLaxMode
	// Partitioned sets the CHIPS Partitioned attribute (it requires Secure).
	Partitioned bool
}
