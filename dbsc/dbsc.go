package dbsc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qsessions/qsessions"
	hooks "github.com/qsessions/qsessions/internal/binding"
)

// Defaults for the zero Options.
const (
	DefaultPath              = "/dbsc/"
	DefaultCookieName        = "dbsc"
	DefaultCookieLifetime    = 10 * time.Minute
	DefaultChallengeLifetime = 5 * time.Minute
)

// The protocol's header names.
const (
	headerRegistration = "Secure-Session-Registration"
	headerChallenge    = "Secure-Session-Challenge"
	headerResponse     = "Secure-Session-Response"
	headerSessionID    = "Sec-Secure-Session-Id"
	headerSkipped      = "Secure-Session-Skipped"
)

// ErrUnverified reports a request of a device-bound session that does not
// carry a valid bound cookie: the cookie is missing, expired, or not the
// session's. Guard hands it to the ErrorHandler.
var ErrUnverified = errors.New("dbsc: device-bound session without a valid bound cookie")

// errJustRegistered reports a request of a session that registered a key
// a moment ago, sent without any bound cookie: the browser sent it while
// the registration was under way. Chromium does not hold back the page
// that a sign-in redirects to while it registers, and when the
// registration is stored first, that page's request belongs to a bound
// session and carries no bound cookie yet. The default ErrorHandler
// answers it with 503 and Retry-After, and a page that reloads itself,
// which the browser then sends with the bound cookie; the session is not
// served without it.
var errJustRegistered = fmt.Errorf("%w (the session registered a moment ago: retry with the bound cookie its registration set)", ErrUnverified)

// registrationGrace is how long after a registration a request without
// any bound cookie is told to retry rather than refused.
const registrationGrace = 10 * time.Second

// errNoSession reports a request that did not pass through the session
// middleware.
var errNoSession = errors.New("dbsc: no session in the request context: put Store.Middleware in front")

// bindings is what dbsc needs of the Store: read and update a session's
// binding state. storeBindings gives a *qsessions.Store it; the tests use a
// fake as well.
type bindings interface {
	// Binding returns the binding state of the session with the given ID
	// (nil when unbound), or an error wrapping qsessions.ErrNotFound.
	Binding(ctx context.Context, id string) ([]byte, error)
	// UpdateBinding replaces the binding state of session id with
	// f(current), atomically (compare-and-swap, retried); f may return an
	// error to abort.
	UpdateBinding(ctx context.Context, id string, f func(cur []byte) ([]byte, error)) error
}

// session is what dbsc needs of a request's session, as Store.Middleware
// puts it in the request context: a *qsessions.Session.
type session interface {
	// ID returns the session's ID.
	ID() string
	// Binding returns the binding state the session was loaded with (nil
	// when unbound). Reading it does not count as a use of the session: a
	// request that only reads Binding saves nothing and sets no cookie.
	Binding() []byte
	// Err returns the error that kept the session from loading.
	Err() error
}

// dropper is a session that can be made, for the rest of its request, a
// new empty one, as if its record had been revoked, without touching what
// is stored. Downgrade needs it.
type dropper interface {
	Drop()
}

// A Policy says what Guard does with a request of a device-bound session
// that lacks a valid bound cookie.
type Policy int

const (
	// Refuse answers the request through the ErrorHandler (by default 401,
	// as for a revoked session) without calling the handler.
	Refuse Policy = iota
	// Downgrade calls the handler with the request's session replaced by a
	// new, empty, anonymous one, as if the stored session had been
	// revoked; the stored session is left as it is.
	Downgrade
)

// Options configure a [Binder]. The zero value of every field is a safe
// default, and a nil *Options means all defaults.
type Options struct {
	// Path is the path prefix of the two endpoints the Binder serves:
	// Path+"register" and Path+"refresh". It must start and end with "/",
	// and hold only letters, digits and -._~/. Default "/dbsc/".
	Path string

	// Cookie configures the bound cookie: the short-lived cookie that only
	// the device holding the key can renew. Defaults: name "dbsc", path
	// "/", host-only, Secure, HttpOnly, SameSite=Lax. Secure defaults to On
	// whatever the scheme, since browsers run the protocol only over HTTPS
	// and on localhost, where Chrome accepts Secure cookies. Partitioned is
	// refused: the draft forbids bound cookies to be partitioned.
	Cookie qsessions.CookieOptions

	// CookieLifetime is how long a bound cookie is valid: how long a stolen
	// one is worth anything, and how often the browser proves it still
	// holds the key. Default 10 minutes.
	CookieLifetime time.Duration

	// ChallengeLifetime is how long a challenge may be answered. Default 5
	// minutes.
	ChallengeLifetime time.Duration

	// Algorithms lists the signature algorithms offered to browsers, in
	// order of preference: ES256, RS256 or both. Default both, ES256 first.
	Algorithms []string

	// Secret keys the HMAC that makes challenges unforgeable; at least 32
	// bytes. Default: 32 random bytes for this Binder, so that only this
	// Binder accepts the challenges it issued. Set it, the same everywhere,
	// when several processes serve the endpoints, and keep it secret.
	Secret []byte

	// Unverified is what Guard does with a request of a device-bound
	// session that lacks a valid bound cookie. Default Refuse.
	Unverified Policy

	// Exclude lists paths the browser need not hold back while it renews
	// the bound cookie (static files, say): a path ending in "/" excludes
	// everything under it. Their requests reach the server without a fresh
	// bound cookie, so serve them outside Guard, without the session.
	Exclude []string

	// AllowedRefreshInitiators lists the hosts, beyond the session's own
	// origin, whose requests may make the browser renew the bound cookie
	// (the draft's allowed_refresh_initiators; "*.example.com" patterns
	// allowed). Default none.
	AllowedRefreshInitiators []string

	// ErrorHandler writes the response when Guard refuses a request (err
	// wraps ErrUnverified) or cannot read its session (any other error).
	// Default: 401 for ErrUnverified, as for a revoked session, and 500
	// otherwise; but 503 with Retry-After (and, for a page, one that
	// reloads itself) for a request sent without any bound cookie in the
	// moment after the session registered, which the browser sent while
	// the registration was under way (Chromium sends the page that a
	// sign-in redirects to without waiting for it).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives refused registrations and refreshes and storage
	// errors. Default slog.Default().
	Logger *slog.Logger

	// Clock tells the time. Default time.Now.
	Clock func() time.Time
}

// A Binder binds the sessions of a qsessions Store to the devices that use
// them, with Device Bound Session Credentials. Create it with [New].
//
// A Binder is safe for concurrent use.
type Binder struct {
	store     bindings
	sessionOf func(*http.Request) session

	registerPath, refreshPath string

	cookie       qsessions.CookieOptions
	cookieTTL    time.Duration
	challengeTTL time.Duration
	algs         []string
	offer        string // the inner list of the registration header
	secret       []byte
	policy       Policy
	exclude      []string
	initiators   []string

	onError func(w http.ResponseWriter, r *http.Request, err error)
	log     *slog.Logger
	clock   func() time.Time
}

// storeBindings and requestSession give the Store and its sessions what
// the Binder needs of them, through the hooks that package qsessions keeps
// for this package.
type (
	storeBindings  struct{ st *qsessions.Store }
	requestSession struct{ s *qsessions.Session }
)

var (
	_ bindings = storeBindings{}
	_ session  = requestSession{}
	_ dropper  = requestSession{}
)

func (b storeBindings) Binding(ctx context.Context, id string) ([]byte, error) {
	return hooks.Load(b.st, ctx, id)
}

func (b storeBindings) UpdateBinding(ctx context.Context, id string, f func(cur []byte) ([]byte, error)) error {
	return hooks.Update(b.st, ctx, id, f)
}

func (s requestSession) ID() string      { return s.s.ID() }
func (s requestSession) Err() error      { return s.s.Err() }
func (s requestSession) Binding() []byte { return hooks.Of(s.s) }
func (s requestSession) Drop()           { hooks.Drop(s.s) }

// New returns a Binder for the sessions of st, which keeps each session's
// binding state beside the session. opts may be nil.
func New(st *qsessions.Store, opts *Options) (*Binder, error) {
	if st == nil {
		return nil, errors.New("dbsc: nil Store")
	}
	return newBinder(storeBindings{st}, opts, sessionFromContext)
}

// sessionFromContext returns the request's session as Store.Middleware
// put it in the context, or nil.
func sessionFromContext(r *http.Request) session {
	if s := qsessions.FromContext(r.Context()); s != nil {
		return requestSession{s}
	}
	return nil // not a typed nil: Guard tells the missing middleware apart
}

func newBinder(store bindings, opts *Options, sessionOf func(*http.Request) session) (*Binder, error) {
	if store == nil {
		return nil, errors.New("dbsc: nil store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &Binder{
		store:        store,
		sessionOf:    sessionOf,
		cookie:       o.Cookie,
		cookieTTL:    o.CookieLifetime,
		challengeTTL: o.ChallengeLifetime,
		policy:       o.Unverified,
		onError:      o.ErrorHandler,
		log:          o.Logger,
		clock:        o.Clock,
	}
	path := o.Path
	if path == "" {
		path = DefaultPath
	}
	if !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
		return nil, fmt.Errorf("dbsc: Path %q must start and end with /", path)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return nil, fmt.Errorf("dbsc: Path %q: only letters, digits and -._~/", path)
		}
	}
	b.registerPath, b.refreshPath = path+"register", path+"refresh"

	if b.cookie.Name == "" {
		b.cookie.Name = DefaultCookieName
	}
	if (&http.Cookie{Name: b.cookie.Name, Value: "v"}).Valid() != nil {
		return nil, fmt.Errorf("dbsc: invalid cookie name %q", b.cookie.Name)
	}
	if b.cookie.Path == "" {
		b.cookie.Path = "/"
	}
	if b.cookie.SameSite == http.SameSiteDefaultMode {
		b.cookie.SameSite = http.SameSiteLaxMode
	}
	if b.cookie.Partitioned {
		return nil, errors.New("dbsc: a bound cookie cannot be Partitioned")
	}
	for _, v := range []string{b.cookie.Path, b.cookie.Domain} {
		if strings.ContainsAny(v, ";\r\n") {
			return nil, fmt.Errorf("dbsc: invalid cookie attribute %q", v)
		}
	}
	if b.cookie.SameSite == http.SameSiteNoneMode && b.cookie.Secure == qsessions.SwitchOff {
		return nil, errors.New("dbsc: a SameSite=None cookie must be Secure")
	}

	if b.cookieTTL == 0 {
		b.cookieTTL = DefaultCookieLifetime
	}
	if b.challengeTTL == 0 {
		b.challengeTTL = DefaultChallengeLifetime
	}
	if b.cookieTTL < time.Second || b.challengeTTL < time.Second {
		return nil, errors.New("dbsc: CookieLifetime and ChallengeLifetime must be at least a second")
	}

	b.algs = o.Algorithms
	if len(b.algs) == 0 {
		b.algs = []string{ES256, RS256}
	}
	for i, a := range b.algs {
		if (a != ES256 && a != RS256) || slices.Contains(b.algs[:i], a) {
			return nil, fmt.Errorf("dbsc: algorithm %q: only ES256 and RS256, each once", a)
		}
	}
	b.algs = slices.Clone(b.algs)
	b.offer = "(" + strings.Join(b.algs, " ") + ")"

	switch {
	case len(o.Secret) == 0:
		b.secret = make([]byte, 32)
		rand.Read(b.secret)
	case len(o.Secret) < 32:
		return nil, errors.New("dbsc: Secret must be at least 32 bytes")
	default:
		b.secret = slices.Clone(o.Secret)
	}

	if b.policy != Refuse && b.policy != Downgrade {
		return nil, fmt.Errorf("dbsc: unknown policy %d", b.policy)
	}
	for _, p := range o.Exclude {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("dbsc: excluded path %q must start with /", p)
		}
	}
	b.exclude = slices.Clone(o.Exclude)
	b.initiators = slices.Clone(o.AllowedRefreshInitiators)

	if b.onError == nil {
		b.onError = defaultErrorHandler
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.clock == nil {
		b.clock = time.Now
	}
	return b, nil
}

func defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errJustRegistered) {
		h := w.Header()
		h.Set("Retry-After", "1")
		h.Set("Cache-Control", "no-store")
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<!doctype html><meta http-equiv="refresh" content="1"><title>Signing you in</title><p>Signing you in…</p>`)
			return
		}
		http.Error(w, "Signing you in; retry in a moment.", http.StatusServiceUnavailable)
		return
	}
	if errors.Is(err, ErrUnverified) {
		http.Error(w, "Your session has ended. Please sign in again.", http.StatusUnauthorized)
		return
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// Offer asks the browser to bind the request's session to a key it makes
// for it: it adds the Secure-Session-Registration header to the response.
// Call it on the response to a sign-in, after Session.Login, and nowhere
// else: whoever holds the challenge it carries can bind the session to a
// key of their choosing. Browsers without DBSC ignore the header and keep
// the session as it is, with its plain cookie. Offer does nothing for a
// session that is already bound.
func (b *Binder) Offer(w http.ResponseWriter, r *http.Request) error {
	s := b.sessionOf(r)
	if s == nil {
		return errNoSession
	}
	raw := s.Binding()
	if err := s.Err(); err != nil {
		return err
	}
	if len(raw) > 0 {
		return nil
	}
	sid := s.ID()
	if !qsessions.ValidToken(sid) {
		return fmt.Errorf("dbsc: offer: session has no valid ID: %w", qsessions.ErrInvalidID)
	}
	path, _ := sfString(b.registerPath)
	c := newChallenge(b.secret, forRegistration, sid, b.clock())
	// The session ID travels as the registration's authorization: the
	// browser copies it into the signed proof, so the registration
	// endpoint knows which session to bind without relying on the session
	// cookie reaching it.
	w.Header().Add(headerRegistration, b.offer+";path="+path+`;challenge="`+c+`";authorization="`+sid+`"`)
	return nil
}

// ServeHTTP serves the registration endpoint (Path+"register") and the
// refresh endpoint (Path+"refresh"), both POST, and answers 404 to
// anything else. Guard serves them as well; use ServeHTTP to mount them
// apart from it.
func (b *Binder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case b.registerPath:
		b.serveEndpoint(w, r, b.register)
	case b.refreshPath:
		b.serveEndpoint(w, r, b.refresh)
	default:
		http.NotFound(w, r)
	}
}

// serveEndpoint serves a POST to one of the endpoints. As the draft
// recommends, their answers are not to be cached, framed, or read by other
// sites: the refresh endpoint would otherwise leak whether a user is
// signed in.
func (b *Binder) serveEndpoint(w http.ResponseWriter, r *http.Request, f func(http.ResponseWriter, *http.Request)) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-site")
	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	f(w, r)
}

// Guard serves the Binder's two endpoints and passes every other request
// to next, unless it belongs to a device-bound session and lacks a valid
// bound cookie: such a request gets the Unverified policy. Requests of
// sessions that are not bound, from browsers without DBSC among them, pass
// as they are. Put Guard behind Store.Middleware:
//
//	st.Middleware(binder.Guard(mux))
func (b *Binder) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == b.registerPath || r.URL.Path == b.refreshPath {
			b.ServeHTTP(w, r)
			return
		}
		s := b.sessionOf(r)
		if s == nil {
			b.onError(w, r, errNoSession)
			return
		}
		raw := s.Binding()
		if err := s.Err(); err != nil {
			b.onError(w, r, err)
			return
		}
		if len(raw) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		var bd binding
		err := bd.decode(raw)
		if err != nil {
			b.log.LogAttrs(r.Context(), slog.LevelError, "dbsc: refusing a session whose binding state is corrupt", slog.String("path", r.URL.Path), slog.Any("error", err))
		} else if b.hasValidCookie(r, &bd) {
			next.ServeHTTP(w, r)
			return
		}
		if skipped := r.Header.Get(headerSkipped); skipped != "" {
			b.log.LogAttrs(r.Context(), slog.LevelInfo, "dbsc: the browser skipped a refresh", slog.String("path", r.URL.Path), slog.String("reason", truncate(skipped, 100)))
		}
		if err == nil && b.clock().Sub(time.Unix(bd.at, 0)) < registrationGrace {
			if _, cerr := r.Cookie(b.cookie.Name); cerr != nil {
				b.onError(w, r, errJustRegistered)
				return
			}
		}
		if b.policy == Downgrade && err == nil {
			if d, ok := s.(dropper); ok {
				d.Drop()
				next.ServeHTTP(w, r)
				return
			}
		}
		b.onError(w, r, ErrUnverified)
	})
}

// hasValidCookie reports whether r carries one of the bound cookies of bd.
// It reads the Cookie headers as net/http does, without allocating a
// cookie per pair.
func (b *Binder) hasValidCookie(r *http.Request, bd *binding) bool {
	now := b.clock()
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(name) != b.cookie.Name {
				continue
			}
			value = strings.TrimSpace(value)
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if bd.validCookie(value, now) {
				return true
			}
		}
	}
	return false
}

// register serves the registration endpoint: the browser posts a proof
// signed with the key it made, whose header carries the public key and
// whose payload carries the challenge and the authorization from Offer.
func (b *Binder) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	jws, err := proofHeader(r)
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "registration", err)
		return
	}
	pr, err := parseProof(jws, b.algs)
	if err == nil && pr.key == nil {
		err = malformed("a registration proof must carry its key in the jwk header")
	}
	if err == nil && !qsessions.ValidToken(pr.auth) {
		err = malformed("authorization is not the session ID that Offer sent")
	}
	if err == nil {
		err = pr.verify(pr.key)
	}
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "registration", err)
		return
	}
	sid := pr.auth
	now := b.clock()
	issued, err := checkChallenge(b.secret, pr.jti, forRegistration, sid, now, b.challengeTTL)
	if err != nil {
		b.refuse(w, r, http.StatusForbidden, "registration", err)
		return
	}
	exp := now.Add(b.cookieTTL)
	var cookie string
	err = b.store.UpdateBinding(ctx, sid, func(cur []byte) ([]byte, error) {
		if len(cur) > 0 {
			return nil, errAlreadyBound
		}
		bd, err := newBinding(sid, pr.key, now, issued)
		if err != nil {
			return nil, err
		}
		cookie = bd.issueCookie(now, exp)
		return bd.encode(), nil
	})
	switch {
	case err == nil:
	case errors.Is(err, qsessions.ErrNotFound), errors.Is(err, errAlreadyBound):
		b.refuse(w, r, http.StatusForbidden, "registration", err)
		return
	default:
		b.fail(w, r, "registration", err)
		return
	}
	b.log.LogAttrs(ctx, slog.LevelInfo, "dbsc: session bound to a device key", slog.String("alg", pr.alg))
	b.writeConfig(w, r, sid, issued, cookie, exp)
}

var (
	errAlreadyBound = errors.New("dbsc: session is already bound")
	errEnded        = errors.New("dbsc: session is gone or not bound")
)

// refresh serves the refresh endpoint. Without a proof, or with one that
// does not do (signed with another key, over a challenge that is stale,
// used, or not this session's), it answers 403 with a fresh challenge,
// which the draft defines as "sign this and try again". A malformed proof
// gets 400, which ends the browser's session. A session that is gone gets
// "continue": false. Only a good proof changes anything: the challenge is
// used up, and a new bound cookie is set.
func (b *Binder) refresh(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sid, err := sessionIDHeader(r)
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "refresh", err)
		return
	}
	bd, idOf, err := b.lookup(r, sid)
	switch {
	case errors.Is(err, errEnded):
		b.end(w, r, sid)
		return
	case err != nil:
		b.fail(w, r, "refresh", err)
		return
	}
	if len(r.Header.Values(headerResponse)) == 0 {
		b.challenge(w, r, sid, bd.ch, http.StatusForbidden)
		return
	}
	jws, err := proofHeader(r)
	var pr *proof
	if err == nil {
		pr, err = parseProof(jws, []string{bd.alg})
	}
	if err == nil && pr.key != nil {
		err = malformed("a refresh proof must not carry a key")
	}
	if err != nil {
		b.refuse(w, r, http.StatusBadRequest, "refresh", err)
		return
	}
	key, err := bd.key()
	if err != nil {
		b.fail(w, r, "refresh", err)
		return
	}
	now := b.clock()
	issued, err := checkChallenge(b.secret, pr.jti, forRefresh, sid, now, b.challengeTTL)
	if err == nil && issued <= bd.ch {
		err = errChallengeUsed
	}
	if err == nil {
		err = pr.verify(key)
	}
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelInfo, "dbsc: refresh refused", slog.Any("reason", err))
		b.challenge(w, r, sid, bd.ch, http.StatusForbidden)
		return
	}
	exp := now.Add(b.cookieTTL)
	var cookie string
	mark := bd.ch
	err = b.store.UpdateBinding(ctx, idOf(), func(cur []byte) ([]byte, error) {
		if len(cur) == 0 {
			return nil, errEnded
		}
		latest, err := decodeBinding(cur)
		if err != nil {
			return nil, err
		}
		if latest.sessionID() != sid {
			return nil, errEnded
		}
		// Checked again on the current state: of two requests with the
		// same proof, only the first to write succeeds.
		mark = latest.ch
		if issued <= latest.ch {
			return nil, errChallengeUsed
		}
		latest.ch = issued
		cookie = latest.issueCookie(now, exp)
		return latest.encode(), nil
	})
	switch {
	case err == nil:
	case errors.Is(err, qsessions.ErrNotFound), errors.Is(err, errEnded):
		b.end(w, r, sid)
		return
	case errors.Is(err, errChallengeUsed):
		b.log.LogAttrs(ctx, slog.LevelInfo, "dbsc: refresh refused", slog.Any("reason", err))
		b.challenge(w, r, sid, mark, http.StatusForbidden)
		return
	default:
		b.fail(w, r, "refresh", err)
		return
	}
	b.writeConfig(w, r, sid, issued, cookie, exp)
}

// lookup finds the binding of the DBSC session sid. The browser knows a
// session by the ID it had when it registered, so sid is normally the ID
// of the session to update. When no session has that ID any more (it was
// rotated), the session of the request's own cookie is used, if its
// binding is sid's. idOf returns the ID of the session to update; it is
// called only once the proof is accepted, so that a refused refresh does
// not touch the request's session.
func (b *Binder) lookup(r *http.Request, sid string) (bd *binding, idOf func() string, err error) {
	raw, err := b.store.Binding(r.Context(), sid)
	if err != nil && !errors.Is(err, qsessions.ErrNotFound) {
		return nil, nil, err
	}
	if len(raw) > 0 {
		bd, err := decodeBinding(raw)
		if err != nil {
			return nil, nil, err
		}
		if bd.sessionID() == sid {
			return bd, func() string { return sid }, nil
		}
	}
	if s := b.sessionOf(r); s != nil {
		if raw := s.Binding(); s.Err() == nil && len(raw) > 0 {
			if bd, err := decodeBinding(raw); err == nil && bd.sessionID() == sid {
				return bd, s.ID, nil
			}
		}
	}
	return nil, nil, errEnded
}

// proofHeader returns the JWS of the request's Secure-Session-Response.
func proofHeader(r *http.Request) (string, error) {
	v := r.Header.Values(headerResponse)
	switch len(v) {
	case 0:
		return "", malformed("no %s header", headerResponse)
	case 1:
	default:
		return "", malformed("more than one %s header", headerResponse)
	}
	s, err := readString(v[0], maxProof)
	if err != nil {
		return "", malformed("%s: %v", headerResponse, err)
	}
	return s, nil
}

// sessionIDHeader returns the session identifier of a refresh request.
func sessionIDHeader(r *http.Request) (string, error) {
	v := r.Header.Values(headerSessionID)
	if len(v) != 1 {
		return "", fmt.Errorf("dbsc: want one %s header, got %d", headerSessionID, len(v))
	}
	s, err := readString(v[0], idLen)
	if err != nil || !qsessions.ValidToken(s) {
		return "", fmt.Errorf("dbsc: %s is not a session ID", headerSessionID)
	}
	return s, nil
}

// challenge answers with status and a fresh refresh challenge for sid,
// whose binding accepted last a challenge issued at mark.
func (b *Binder) challenge(w http.ResponseWriter, r *http.Request, sid string, mark int64, status int) {
	w.Header().Set(headerChallenge, b.challengeHeader(sid, mark))
	w.WriteHeader(status)
}

// challengeHeader returns a Secure-Session-Challenge for sid. The
// challenge is issued now, or just after mark, the issue time of the last
// challenge the binding accepted, if that is later: a challenge issued in
// the same tick of the clock as the last one accepted, or by a server
// whose clock is a little behind, would otherwise be refused as used.
func (b *Binder) challengeHeader(sid string, mark int64) string {
	at := b.clock()
	if at.UnixNano() <= mark {
		at = time.Unix(0, mark+1)
	}
	return `"` + newChallenge(b.secret, forRefresh, sid, at) + `";id="` + sid + `"`
}

// end tells the browser that the session is over: "continue": false, and
// the bound cookie expired.
func (b *Binder) end(w http.ResponseWriter, r *http.Request, sid string) {
	c := b.boundCookie(r, "", time.Time{})
	c.MaxAge = -1
	http.SetCookie(w, c)
	writeJSON(w, struct {
		SessionIdentifier string `json:"session_identifier"`
		Continue          bool   `json:"continue"`
	}{sid, false})
}

// refuse answers a request that is not a valid registration or refresh.
func (b *Binder) refuse(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	b.log.LogAttrs(r.Context(), slog.LevelInfo, "dbsc: "+what+" refused", slog.Int("status", status), slog.Any("reason", err))
	http.Error(w, http.StatusText(status), status)
}

// fail answers a request that failed on the server's side. The browser
// keeps its session and tries again later.
func (b *Binder) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	b.log.LogAttrs(r.Context(), slog.LevelError, "dbsc: "+what+" failed", slog.Any("error", err))
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// The session instructions (the draft's "JSON session instructions").
type config struct {
	SessionIdentifier string       `json:"session_identifier"`
	RefreshURL        string       `json:"refresh_url"`
	Scope             configScope  `json:"scope"`
	Credentials       []credential `json:"credentials"`
	Initiators        []string     `json:"allowed_refresh_initiators,omitempty"`
}

type configScope struct {
	IncludeSite bool        `json:"include_site"`
	Rules       []scopeRule `json:"scope_specification,omitempty"`
}

type scopeRule struct {
	Type   string `json:"type"`
	Domain string `json:"domain"`
	Path   string `json:"path"`
}

type credential struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Attributes string `json:"attributes"`
}

// writeConfig answers a registration or refresh that succeeded: the bound
// cookie, the session instructions, and a challenge for the next refresh
// (the browser keeps it, and uses it if it is still fresh by then).
func (b *Binder) writeConfig(w http.ResponseWriter, r *http.Request, sid string, mark int64, cookie string, exp time.Time) {
	c := b.boundCookie(r, cookie, exp)
	http.SetCookie(w, c)
	w.Header().Set(headerChallenge, b.challengeHeader(sid, mark))
	cfg := config{
		SessionIdentifier: sid,
		RefreshURL:        b.refreshPath,
		Credentials:       []credential{{Type: "cookie", Name: c.Name, Attributes: cookieAttributes(c)}},
		Initiators:        b.initiators,
	}
	host := requestHost(r)
	for _, p := range b.exclude {
		cfg.Scope.Rules = append(cfg.Scope.Rules, scopeRule{Type: "exclude", Domain: host, Path: p})
	}
	writeJSON(w, cfg)
}

// boundCookie returns the bound cookie with value, valid until exp.
func (b *Binder) boundCookie(r *http.Request, value string, exp time.Time) *http.Cookie {
	o := &b.cookie
	c := &http.Cookie{
		Name:     o.Name,
		Value:    value,
		Path:     o.Path,
		Domain:   o.Domain,
		Secure:   o.Secure != qsessions.SwitchOff,
		HttpOnly: o.HttpOnly != qsessions.SwitchOff,
		SameSite: o.SameSite,
	}
	if !exp.IsZero() {
		c.MaxAge = max(1, int(exp.Sub(b.clock())/time.Second))
	}
	return c
}

// cookieAttributes writes the attributes of c that the browser matches a
// bound cookie by: Domain, Path, Secure, HttpOnly, SameSite.
func cookieAttributes(c *http.Cookie) string {
	var a []string
	if c.Domain != "" {
		a = append(a, "Domain="+c.Domain)
	}
	a = append(a, "Path="+c.Path)
	if c.Secure {
		a = append(a, "Secure")
	}
	if c.HttpOnly {
		a = append(a, "HttpOnly")
	}
	switch c.SameSite {
	case http.SameSiteLaxMode:
		a = append(a, "SameSite=Lax")
	case http.SameSiteStrictMode:
		a = append(a, "SameSite=Strict")
	case http.SameSiteNoneMode:
		a = append(a, "SameSite=None")
	}
	return strings.Join(a, "; ")
}

// requestHost returns the host of r without its port.
func requestHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		return h
	}
	return r.Host
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
