package qsessions

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
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
	// TrustedProxies set to say who their client is (case-insensitive).
	// Only that header is read, and only when the connection's peer is in
	// TrustedProxies; every other forwarding header is ignored. Default
	// X-Forwarded-For, which every trusted proxy must append to (nginx:
	// "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;").
	// Package clientip, which reads it, says how each header is read and
	// which proxies set which; an nginx that passes the client's
	// X-Forwarded-For on untouched lets the client choose the IP recorded.
	ClientIPHeader string

	// RecordIP and RecordUserAgent control whether each session keeps its
	// last client IP and User-Agent. Both default to On; turn them Off
	// where privacy rules require it.
	RecordIP        Switch
	RecordUserAgent Switch

	// MaxUserAgent is the longest User-Agent recorded, in bytes; longer ones
	// are cut on a rune boundary, and invalid UTF-8 is replaced. Default 300.
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
