package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/clientip"
	"github.com/qsessions/qsessions/dbsc"
	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/memory"
	"github.com/qsessions/qsessions/sqlite"
)

//go:embed templates
var templateFS embed.FS

// Demo timings.
const (
	shutdownTimeout = 10 * time.Second
	sweepInterval   = 10 * time.Minute // DeleteExpired, the clearsessions job
	maxFormBytes    = 64 << 10
	maxNameRunes    = 64

	defaultReauthAfter = 5 * time.Minute
)

// defaultDemoDB is the demo's database when --sqlite is not given:
// demo.db in a qsessions directory of the user's cache directory
// (~/.cache/qsessions on Linux), which the demo creates 0700, so that no
// other local user can read the sessions, as they could in the shared
// temporary directory. It is "" when the user has no cache directory.
func defaultDemoDB() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "qsessions", "demo.db")
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("demo", "qsessions demo [flags]", `
Run a small web app that shows what qsessions does: sign in under any name
(no password: it is a demo), from two browsers or a normal and a private
window, and see both sessions listed with their device, location, IP, last
activity, and how and when each signed in; sign one out, or sign out
everywhere else, and watch the other browser be signed out on its next
request.

A sign-in from a new device or location shows a "new sign-in" notice on
the user's sessions, the demo's OnLogin hook at work. Signing out
everywhere else asks you to confirm it's you (re-enter the name) when you
signed in more than --reauth-after ago, and --max-sessions caps the
sessions per user, signing out the least recently active.

Sessions are kept in an SQLite file behind an in-process cache (go-cache),
so they survive a restart. Locations need a GeoIP database: get DB-IP's
free one, no account needed, with 'qsessions download-geoip --source dbip
--dir .', then pass --geoip dbip-city-lite.mmdb (see 'qsessions
download-geoip --help' for MaxMind's). Stop with Ctrl-C.

With --dbsc, the demo serves HTTPS on localhost, with a self-signed
certificate it keeps beside the database, and binds sessions to their
browser with Device Bound Session Credentials: it prints the Chromium
command line that makes a browser do it, and the session list then marks
the session Device-bound.`)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on this `host:port` (port 0 picks a free one)")
	defaultDB := defaultDemoDB()
	dbPath := fs.String("sqlite", defaultDB, "keep sessions in this SQLite `file`, created readable by you only when missing;\n"+
		"the default is in your user cache directory, in a qsessions directory that only you can open")
	geoPath := fs.String("geoip", "", "a City or Country database `file` (DB-IP, GeoLite2, GeoIP2), to show locations")
	redisAddr := fs.String("redis", "", "use the Redis at `ADDR` (host:port or redis:// URL) as the cache instead of an in-process one,\nso that 'qsessions sessions revoke --redis ADDR' takes effect at once")
	prefix := fs.String("key-prefix", "qsessions:", "the cache key `prefix`")
	trust := fs.String("trust-proxy", "", "comma-separated `networks` of the reverse proxies in front of the demo, such as 127.0.0.1/32.\n"+
		"From them, and only them, the client IP is read from the one header --client-ip-header names,\n"+
		"and X-Forwarded-Proto (with Forwarded, its proto) says whether the client used TLS; where that header\n"+
		"holds no IP address, the proxy's own is recorded. Without --trust-proxy, no forwarding header is read")
	ipHeader := fs.String("client-ip-header", clientip.XForwardedFor, "the `header` the --trust-proxy proxies set to the client's address: X-Forwarded-For, which they append to\n"+
		"(nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for), Forwarded (RFC 7239, appended to),\n"+
		"or one they overwrite with a single address, such as CF-Connecting-IP, True-Client-IP, Fly-Client-IP or X-Real-IP")
	lifetime := fs.Duration("lifetime", 14*24*time.Hour, "how long a session lives after sign-in")
	idle := fs.Duration("idle-timeout", 0, "sign out sessions idle for this `duration` (0: never)")
	maxSessions := fs.Int("max-sessions", 0, "keep at most `N` sessions per user: a sign-in beyond that signs out the least recently active (0: no cap)")
	reauthAfter := fs.Duration("reauth-after", defaultReauthAfter, "ask to confirm it's you before signing out everywhere else when the sign-in is older than this `duration` (0: every time)")
	withDBSC := fs.Bool("dbsc", false, "serve https://localhost with a self-signed certificate kept beside the --sqlite file (made 0600 when missing),\n"+
		"and bind sessions to a key of their browser with DBSC (Device Bound Session Credentials);\n"+
		"prints the Chromium command line that does it")
	if err := fs.parseFlags(e, args); err != nil {
		return err
	}
	if *dbPath == "" {
		if defaultDB == "" {
			return usagef(fs.cmd, "--sqlite must name a file: there is no user cache directory for the default ($HOME unset?)")
		}
		return usagef(fs.cmd, "--sqlite must name a file")
	}
	if *dbPath == defaultDB {
		if err := os.MkdirAll(filepath.Dir(defaultDB), 0o700); err != nil {
			return fmt.Errorf("the demo's database directory: %w", err)
		}
	}
	if *lifetime <= 0 || *idle < 0 {
		return usagef(fs.cmd, "--lifetime must be positive and --idle-timeout not negative")
	}
	if *prefix == "" {
		return usagef(fs.cmd, "--key-prefix must not be empty")
	}
	if *maxSessions < 0 {
		return usagef(fs.cmd, "--max-sessions must not be negative (0: no cap)")
	}
	if *reauthAfter < 0 {
		return usagef(fs.cmd, "--reauth-after must not be negative (0: ask every time)")
	}
	if *withDBSC {
		if err := checkLocalAddr(*addr); err != nil {
			return usagef(fs.cmd, "--dbsc: %v", err)
		}
	}
	var proxies []netip.Prefix
	for _, s := range strings.Split(*trust, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return usagef(fs.cmd, "--trust-proxy: %q is not a network such as 127.0.0.1/32", s)
		}
		proxies = append(proxies, p)
	}
	// qsessions.New is the judge of a header name; ask it before opening
	// anything, so that a bad one is a bad command line.
	if _, err := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{ClientIPHeader: *ipHeader}); err != nil {
		return usagef(fs.cmd, "--client-ip-header: %q is not a header name", *ipHeader)
	}

	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app := &demoApp{dbPath: *dbPath, geoPath: *geoPath, log: logger, reauthAfter: *reauthAfter}
	parser := newDeviceParser()
	opts := &qsessions.Options{
		Lifetime:           *lifetime,
		IdleTimeout:        *idle,
		TrustedProxies:     proxies,
		ClientIPHeader:     *ipHeader,
		KeyPrefix:          *prefix,
		DeviceParser:       parser,
		Logger:             logger,
		MaxSessionsPerUser: *maxSessions,
	}
	if *geoPath != "" {
		g, err := geo.Open(*geoPath, nil)
		if err != nil {
			return fmt.Errorf("GeoIP database: %w", err)
		}
		defer g.Close()
		opts.Locator = g
		if info, _ := g.Info(); info.Attribution != "" {
			app.geoCredit, app.geoCreditURL = info.Attribution, info.AttributionURL
		}
	}
	var cache qsessions.Cache
	if *redisAddr != "" {
		c, closeRedis, err := openRedis(ctx, *redisAddr)
		if err != nil {
			return err
		}
		defer closeRedis()
		cache, app.cacheName = c, "Redis at "+*redisAddr
	} else {
		c, err := newMemoryCache()
		if err != nil {
			return err
		}
		cache, app.cacheName = c, "in-process go-cache"
	}
	p, err := sqlite.Open(*dbPath, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := app.open(cache, p, opts); err != nil {
		return err
	}
	defer app.st.Wait() // OnLogin hooks read the database: before closing it
	var tlsConfig *tls.Config
	var certPath string
	var certMade bool
	if *withDBSC {
		certPath = certPathFor(*dbPath)
		cert, made, err := localhostCert(certPath, time.Now())
		if err != nil {
			return err
		}
		tlsConfig, certMade = &tls.Config{Certificates: []tls.Certificate{cert}}, made
		app.cert = cert.Leaf
		if app.binder, err = dbsc.New(app.st, &dbsc.Options{Logger: logger}); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("%w (is another demo running? pick another port with --addr)", err)
	}
	parser.Warm() // compile uap-core's regexes now, not on the first page
	srv := &http.Server{
		Handler:           app.handler(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	abs, _ := filepath.Abs(*dbPath)
	fmt.Fprintf(e.stdout, "qsessions demo: sessions in the SQLite database %s, cached in %s\n", abs, app.cacheName)
	if *geoPath == "" {
		fmt.Fprintln(e.stdout, "qsessions demo: no GeoIP database configured, so locations show as unknown; get one with 'qsessions download-geoip --source dbip --dir .' (no account needed), then pass --geoip dbip-city-lite.mmdb")
	} else if app.geoCredit != "" {
		fmt.Fprintf(e.stdout, "qsessions demo: locations from the GeoIP database %s (%s, %s)\n", *geoPath, app.geoCredit, app.geoCreditURL)
	} else {
		fmt.Fprintf(e.stdout, "qsessions demo: locations from the GeoIP database %s\n", *geoPath)
	}
	if *maxSessions > 0 {
		fmt.Fprintf(e.stdout, "qsessions demo: at most %s per user\n", plural(*maxSessions, "session"))
	}
	u := listenURL(ln.Addr(), *withDBSC)
	if *withDBSC {
		verb := "from an earlier run"
		if certMade {
			verb = "new"
		}
		abs, _ := filepath.Abs(certPath)
		fmt.Fprintf(e.stdout, "qsessions demo: DBSC on; the TLS certificate for localhost is %s (%s), SPKI SHA-256 %s\n", abs, verb, spkiHash(app.cert))
		fmt.Fprintln(e.stdout, "qsessions demo: to bind a session to a key of its browser, sign in from a Chromium started with:")
		fmt.Fprintln(e.stdout, "  "+chromiumCommand(app.cert, u))
	}
	fmt.Fprintf(e.stdout, "qsessions demo listening on %s\n", u)
	fmt.Fprintln(e.stdout, "Open it in two browsers (or a normal and a private window), sign in with the same name in both, and sign one out from the other. Ctrl-C stops.")

	var wg sync.WaitGroup
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer func() {
		stopSweep()
		wg.Wait()
	}()
	wg.Go(func() { app.sweep(sweepCtx) })

	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(e.stdout, "qsessions demo: shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	stopSweep()
	wg.Wait()
	app.st.Wait()
	if err := p.Close(); err != nil {
		return fmt.Errorf("closing the database: %w", err)
	}
	fmt.Fprintln(e.stdout, "qsessions demo: stopped")
	return nil
}

// listenURL is the URL to print for a listener: an unspecified address
// (all interfaces) is reached through localhost. With TLS (--dbsc) it is
// https://localhost:PORT whatever the address: the name of the demo's
// certificate, and a host on which Chromium runs DBSC.
func listenURL(a net.Addr, secure bool) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	host := ap.Addr().Unmap().WithZone("").String()
	if ap.Addr().IsUnspecified() || secure {
		host = "localhost"
	}
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, fmt.Sprint(ap.Port()))
}

// checkLocalAddr checks that addr, a --addr, is reached as localhost:
// a loopback address, localhost, or all interfaces.
func checkLocalAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return nil
	}
	return fmt.Errorf("--addr %s: the demo's certificate is for localhost; listen on a loopback address such as 127.0.0.1:8443", addr)
}

// demoApp is the demo's web app.
type demoApp struct {
	st        *qsessions.Store
	tmpl      *template.Template
	style     template.CSS
	csp       string
	dbPath    string
	geoPath   string
	cacheName string
	log       *slog.Logger

	// The credit the GeoIP database's licence asks for, shown on every
	// page: DB-IP's.
	geoCredit, geoCreditURL string

	notices     *noticeBoard     // "new sign-in" notices, filed by the OnLogin hook
	reauthAfter time.Duration    // "Sign out everywhere else" asks to confirm it's you beyond this
	maxSessions int              // Options.MaxSessionsPerUser, 0 for none
	now         func() time.Time // the Store's clock

	binder *dbsc.Binder      // with --dbsc: binds sessions to their browser's key
	cert   *x509.Certificate // with --dbsc: the certificate served
}

// open creates the app's Store over cache and p with opts, which it
// completes with the OnLogin hook of the app's notice board, and parses
// the templates.
func (a *demoApp) open(cache qsessions.Cache, p qsessions.Persister, opts *qsessions.Options) error {
	a.notices = newNoticeBoard(opts.Locator != nil)
	opts.OnLogin = a.notices.onLogin
	a.maxSessions = opts.MaxSessionsPerUser
	a.now = time.Now
	if opts.Clock != nil {
		a.now = opts.Clock
	}
	st, err := qsessions.New(cache, p, opts)
	if err != nil {
		return err
	}
	a.st = st
	return a.parseTemplates()
}

func (a *demoApp) parseTemplates() error {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return err
	}
	a.style = template.CSS(css)
	sum := sha256.Sum256(css)
	// The stylesheet is inline; the policy allows exactly it and nothing
	// else: no scripts, no frames, forms only to this origin.
	a.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	a.tmpl, err = template.ParseFS(templateFS, "templates/*.html")
	return err
}

// handler is the app: routes behind the session middleware, behind
// cross-origin (CSRF) protection, behind security headers.
func (a *demoApp) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("GET /sessions.json", a.sessionsJSON)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("POST /revoke", a.revoke)
	mux.HandleFunc("POST /revoke-others", a.revokeOthers)
	mux.HandleFunc("POST /notices/dismiss", a.dismissNotice)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})

	// Browsers send Sec-Fetch-Site (or Origin) with every form post;
	// CrossOriginProtection refuses posts from other sites. Clients that
	// send neither (curl, Go's http.Client) are not browsers, and have no
	// ambient cookies for an attacker to ride on, so they are let through.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Cross-origin request refused: this form can only be sent from this site.", http.StatusForbidden)
	}))
	var app http.Handler = mux
	if a.binder != nil {
		// The Binder serves its endpoints, and refuses a bound session
		// without its bound cookie, behind the session middleware.
		app = a.binder.Guard(mux)
	}
	h := cop.Handler(a.st.Middleware(app))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", a.csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		h.ServeHTTP(w, r)
	})
}

// pageData is what templates/page.html shows.
type pageData struct {
	Style     template.CSS
	User      string
	Flash     string
	Error     string // sign-in form error
	Name      string // sign-in form value
	Ended     bool   // the request's session was revoked or expired
	SignedOut bool   // the user just signed out
	Sessions  []sessionView
	Others    int // sessions other than this one
	GeoIP     string
	DBPath    string
	Cache     string

	GeoCredit, GeoCreditURL string // the GeoIP database's attribution and its link

	Notices     []noticeView // "new sign-in" notices of the user
	Fresh       bool         // this session authenticated within ReauthAfter
	AuthAgo     string       // when this session authenticated: "12 minutes ago"; "" when not recorded
	ReauthAfter string       // "5 minutes"
	MaxSessions int          // --max-sessions, 0 for none
	Confirm     *confirmView // the "confirm it's you" step, when it is asked for
}

// A noticeView is a "new sign-in" notice as a session page shows it.
type noticeView struct {
	signInNotice
	When       string // "5 minutes ago"
	ThisDevice bool   // the notice is about the session showing it
	Live       bool   // that session is still signed in
}

// A confirmView is the "confirm it's you" step before signing out
// everywhere else.
type confirmView struct {
	Error string // a wrong name
}

// session returns the request's session, or nil after answering the
// request when it could not be loaded.
func (a *demoApp) session(w http.ResponseWriter, r *http.Request) *qsessions.Session {
	s := qsessions.FromContext(r.Context())
	if err := s.Err(); err != nil {
		// The middleware answers through its ErrorHandler.
		return nil
	}
	return s
}

func (a *demoApp) index(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	data := a.newPage(r)
	status := http.StatusOK
	if data.User = s.UserID(); data.User == "" {
		data.Ended = hadSessionCookie(r) && r.URL.Query().Get("signed-out") == ""
		data.SignedOut = r.URL.Query().Get("signed-out") != ""
		a.render(w, status, data)
		return
	}
	var flash string
	if ok, _ := s.Get("flash", &flash); ok {
		if err := s.Delete("flash"); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if err := a.fillSessions(r, s, &data); err != nil {
		a.fail(w, r, err)
		return
	}
	data.Flash = flash
	a.render(w, status, data)
}

// fillSessions fills in the page of a signed-in session s: its user's
// sessions and notices, and whether it is fresh enough to sign out
// everywhere else without confirming.
func (a *demoApp) fillSessions(r *http.Request, s *qsessions.Session, data *pageData) error {
	data.User = s.UserID()
	infos, err := a.st.Sessions(r.Context(), data.User)
	if err != nil {
		return err
	}
	now, current := a.now(), s.ID()
	live := make(map[string]bool, len(infos))
	for _, in := range infos {
		v := newSessionView(in, current, a.geoPath != "", now)
		if !v.Current {
			data.Others++
		}
		data.Sessions = append(data.Sessions, v)
		live[in.ID] = true
	}
	for _, n := range a.notices.notices(data.User) {
		data.Notices = append(data.Notices, noticeView{n, relTime(n.At, now), n.SessionID == current, live[n.SessionID]})
	}
	data.Fresh = s.AuthenticatedWithin(a.reauthAfter)
	if at := s.Info().AuthenticatedAt; !at.IsZero() {
		data.AuthAgo = relTime(at, now)
	}
	return nil
}

func (a *demoApp) newPage(r *http.Request) pageData {
	return pageData{Style: a.style, GeoIP: a.geoPath, GeoCredit: a.geoCredit, GeoCreditURL: a.geoCreditURL, DBPath: a.dbPath, Cache: a.cacheName,
		ReauthAfter: a.reauthAfterText(), MaxSessions: a.maxSessions}
}

// reauthAfterText is --reauth-after for people: "5 minutes", or "" for
// every time.
func (a *demoApp) reauthAfterText() string {
	if a.reauthAfter <= 0 {
		return ""
	}
	return humanDuration(a.reauthAfter)
}

// hadSessionCookie reports whether r carried a session cookie of valid
// shape: when its session is gone, it was revoked or it expired.
func hadSessionCookie(r *http.Request) bool {
	for _, c := range r.CookiesNamed("sessionid") {
		if qsessions.ValidToken(c.Value) {
			return true
		}
	}
	return false
}

func (a *demoApp) render(w http.ResponseWriter, status int, data pageData) {
	var buf bytes.Buffer
	if err := a.tmpl.ExecuteTemplate(&buf, "page.html", data); err != nil {
		a.log.Error("qsessions demo: rendering the page", "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (a *demoApp) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("qsessions demo: request failed", "path", r.URL.Path, "error", err)
	http.Error(w, "Something went wrong; the details are in the demo's log.", http.StatusInternalServerError)
}

func redirectHome(w http.ResponseWriter, r *http.Request, query string) {
	http.Redirect(w, r, "/"+query, http.StatusSeeOther)
}

// checkName validates a sign-in name and returns what is wrong with it, or
// "" when nothing is.
func checkName(name string) string {
	switch {
	case name == "":
		return "Enter a name: any name will do."
	case !utf8.ValidString(name):
		return "That name is not valid text."
	case utf8.RuneCountInString(name) > maxNameRunes:
		return fmt.Sprintf("Use at most %d characters.", maxNameRunes)
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return "Use letters, digits, spaces and punctuation only."
		}
	}
	return ""
}

func (a *demoApp) login(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if problem := checkName(name); problem != "" {
		data := a.newPage(r)
		data.Error, data.Name = problem, name
		if !utf8.ValidString(name) {
			data.Name = ""
		}
		a.render(w, http.StatusBadRequest, data)
		return
	}
	method, ok := signInMethod(r.PostFormValue("method"))
	if !ok {
		http.Error(w, "Bad Request: unknown sign-in method", http.StatusBadRequest)
		return
	}
	over := a.overCap(r, s, name)
	if err := s.LoginWith(r.Context(), name, method); err != nil {
		a.fail(w, r, err)
		return
	}
	if a.binder != nil {
		// Ask the browser to bind the new session to a key; a browser
		// without DBSC ignores it and keeps its plain session.
		if err := a.binder.Offer(w, r); err != nil {
			a.log.Warn("qsessions demo: offering DBSC", "error", err)
		}
	}
	flash := "Signed in as " + name + " with " + method + ". Sign in with the same name from another browser to see a second session here."
	if over > 0 {
		flash = fmt.Sprintf("Signed in as %s with %s. This demo keeps at most %s per user (--max-sessions): signing in here signed out %s, the least recently active.",
			name, method, plural(a.maxSessions, "session"), plural(over, "other session"))
	}
	if err := s.Set("flash", flash); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectHome(w, r, "")
}

// signInMethod returns the authentication method that the sign-in form's
// button v records, and whether v is one: the demo has no passwords and no
// passkeys, but shows how a session records the way it was signed in.
func signInMethod(v string) (string, bool) {
	switch v {
	case "", "password":
		return "password", true
	case "passkey":
		return "passkey (simulated)", true
	}
	return "", false
}

// overCap returns how many of user's sessions a sign-in of s as user will
// sign out to stay within --max-sessions. It is a guess made before the
// sign-in, for the message: the Store decides.
func (a *demoApp) overCap(r *http.Request, s *qsessions.Session, user string) int {
	if a.maxSessions <= 0 {
		return 0
	}
	infos, err := a.st.Sessions(r.Context(), user)
	if err != nil {
		return 0
	}
	current := ""
	if s.UserID() == user {
		current = s.ID() // rotated away by the sign-in, not signed out
	}
	others := 0
	for _, in := range infos {
		if in.ID != current {
			others++
		}
	}
	return max(0, others+1-a.maxSessions)
}

func (a *demoApp) logout(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	if err := s.Logout(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectHome(w, r, "?signed-out=1")
}

func (a *demoApp) revoke(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	user := s.UserID()
	if user == "" {
		redirectHome(w, r, "")
		return
	}
	id := r.PostFormValue("id")
	if !qsessions.ValidToken(id) {
		http.Error(w, "Bad Request: not a session ID", http.StatusBadRequest)
		return
	}
	if id == s.ID() {
		a.logout(w, r)
		return
	}
	what := "that session"
	if infos, err := a.st.Sessions(r.Context(), user); err == nil {
		for _, in := range infos {
			if in.ID == id {
				what = "the session on " + newSessionView(in, "", false, time.Now()).Device
			}
		}
	}
	ok, err := a.st.RevokeUserSession(r.Context(), user, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	msg := "Signed out " + what + ": its next request will find it signed out."
	if !ok {
		msg = "That session had already ended."
	}
	if err := s.Set("flash", msg); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectHome(w, r, "")
}

func (a *demoApp) revokeOthers(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	user := s.UserID()
	if user == "" {
		redirectHome(w, r, "")
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad Request: "+err.Error(), http.StatusBadRequest)
		return
	}
	// Signing out everywhere else is sensitive: a session that signed in
	// longer ago than --reauth-after must first confirm it is its user,
	// as GitHub's sudo mode asks for the password again. The demo's
	// password is the name.
	confirmed := ""
	if _, confirming := r.PostForm["name"]; confirming {
		if !sameName(strings.TrimSpace(r.PostForm.Get("name")), user) {
			a.confirm(w, r, s, http.StatusForbidden,
				"That is not the name you signed in with, so nothing was signed out. Enter it exactly as you did when you signed in.")
			return
		}
		if err := s.Reauthenticate(r.Context(), "password"); err != nil {
			a.fail(w, r, err)
			return
		}
		confirmed = "Confirmed it's you. "
	} else if !s.AuthenticatedWithin(a.reauthAfter) {
		a.confirm(w, r, s, http.StatusOK, "")
		return
	}
	n, err := a.st.RevokeUser(r.Context(), user, s.ID())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := s.Set("flash", fmt.Sprintf("%sSigned out %s everywhere else.", confirmed, plural(n, "session"))); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectHome(w, r, "")
}

// confirm answers with the sessions page asking to confirm it's you before
// signing out everywhere else; problem says what was wrong with a previous
// attempt.
func (a *demoApp) confirm(w http.ResponseWriter, r *http.Request, s *qsessions.Session, status int, problem string) {
	data := a.newPage(r)
	if err := a.fillSessions(r, s, &data); err != nil {
		a.fail(w, r, err)
		return
	}
	data.Confirm = &confirmView{Error: problem}
	a.render(w, status, data)
}

// sameName reports whether the name typed to confirm is the user's, in
// constant time, as a password check would be.
func sameName(typed, user string) bool {
	return subtle.ConstantTimeCompare([]byte(typed), []byte(user)) == 1
}

func (a *demoApp) dismissNotice(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	user := s.UserID()
	if user == "" {
		redirectHome(w, r, "")
		return
	}
	msg := "Dismissed the notice, on all your devices."
	if !a.notices.dismiss(user, r.PostFormValue("id")) {
		msg = "That notice was already dismissed."
	}
	if err := s.Set("flash", msg); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectHome(w, r, "")
}

// demoJSON is GET /sessions.json.
type demoJSON struct {
	User     string            `json:"user"`
	Current  string            `json:"current"` // the ID of this request's session
	GeoIP    bool              `json:"geoip"`
	Sessions []demoSessionJSON `json:"sessions"`

	// The GeoIP database's attribution, as on the page.
	GeoCredit    string `json:"geoip_attribution,omitempty"`
	GeoCreditURL string `json:"geoip_attribution_url,omitempty"`

	// The user's "new sign-in" notices, newest first.
	Notices []noticeJSON `json:"notices"`
}

// noticeJSON is a "new sign-in" notice in /sessions.json.
type noticeJSON struct {
	ID          string    `json:"id"`
	SessionID   string    `json:"session_id"`
	Text        string    `json:"text"`
	Device      string    `json:"device"`
	Location    string    `json:"location"` // "" when not known
	IP          string    `json:"ip"`
	At          time.Time `json:"signed_in_at"`
	NewDevice   bool      `json:"new_device"`
	NewLocation bool      `json:"new_location"`
}

type demoSessionJSON struct {
	sessionJSON
	Current bool `json:"current"`
}

func (a *demoApp) sessionsJSON(w http.ResponseWriter, r *http.Request) {
	s := a.session(w, r)
	if s == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	user := s.UserID()
	if user == "" {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "not signed in"})
		return
	}
	infos, err := a.st.Sessions(r.Context(), user)
	if err != nil {
		w.Header().Del("Content-Type")
		a.fail(w, r, err)
		return
	}
	out := demoJSON{User: user, Current: s.ID(), GeoIP: a.geoPath != "", Sessions: []demoSessionJSON{},
		GeoCredit: a.geoCredit, GeoCreditURL: a.geoCreditURL, Notices: []noticeJSON{}}
	for _, in := range infos {
		out.Sessions = append(out.Sessions, demoSessionJSON{newSessionJSON(in, out.GeoIP), in.ID == out.Current})
	}
	for _, n := range a.notices.notices(user) {
		out.Notices = append(out.Notices, noticeJSON{ID: n.ID, SessionID: n.SessionID, Text: n.Text(), Device: n.Device,
			Location: n.Location, IP: n.IP, At: n.At, NewDevice: n.NewDevice, NewLocation: n.NewLocation})
	}
	writeJSON(w, out)
}

// sweep deletes expired sessions now and every sweepInterval until ctx
// ends: the clearsessions job, scheduled by the application.
func (a *demoApp) sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		n, err := a.st.DeleteExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("qsessions demo: deleting expired sessions", "error", err)
		case n > 0:
			a.log.Info("qsessions demo: deleted expired sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
