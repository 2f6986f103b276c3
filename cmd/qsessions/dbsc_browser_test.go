package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/dbsc"
	"github.com/qsessions/qsessions/memory"
)

// boundCookieLifetime is the dbsc.Options.CookieLifetime of the real
// browser test: short, so that the bound cookie expires within the test,
// and long enough that a request made just after a refresh carries a valid
// one even on a loaded machine.
const boundCookieLifetime = 3 * time.Second

// dbscEvents collects the Network.deviceBoundSessionEventOccurred events
// of a tab.
type dbscEvents struct {
	mu     sync.Mutex
	events []*network.EventDeviceBoundSessionEventOccurred
	added  chan struct{} // closed and replaced on every event
}

func listenDBSC(t *testing.T, tab context.Context) *dbscEvents {
	t.Helper()
	d := &dbscEvents{added: make(chan struct{})}
	err := chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*network.EventDeviceBoundSessionEventOccurred); ok {
			d.mu.Lock()
			d.events = append(d.events, e)
			close(d.added)
			d.added = make(chan struct{})
			d.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.EnableDeviceBoundSessions, network.EnableDeviceBoundSessionsParams{Enable: true}); err != nil {
		t.Fatalf("Network.enableDeviceBoundSessions: %v", err)
	}
	return d
}

// wait waits until ok is true of the events, failing the test if it is
// not within browserStep.
func (d *dbscEvents) wait(t *testing.T, what string, ok func([]*network.EventDeviceBoundSessionEventOccurred) bool) {
	t.Helper()
	deadline := time.After(browserStep)
	for {
		d.mu.Lock()
		done, added := ok(d.events), d.added
		d.mu.Unlock()
		if done {
			return
		}
		select {
		case <-added:
		case <-deadline:
			t.Fatalf("no DBSC %s within %v; events: %s", what, browserStep, d)
		}
	}
}

// first returns the first of events for which ok is true, or nil.
func first(events []*network.EventDeviceBoundSessionEventOccurred, ok func(*network.EventDeviceBoundSessionEventOccurred) bool) *network.EventDeviceBoundSessionEventOccurred {
	for _, e := range events {
		if ok(e) {
			return e
		}
	}
	return nil
}

func isCreation(e *network.EventDeviceBoundSessionEventOccurred) bool {
	return e.CreationEventDetails != nil
}

// refreshed counts the refreshes that succeeded.
func refreshed(events []*network.EventDeviceBoundSessionEventOccurred) int {
	n := 0
	for _, e := range events {
		if e.RefreshEventDetails != nil && e.Succeeded {
			n++
		}
	}
	return n
}

func (d *dbscEvents) all() []*network.EventDeviceBoundSessionEventOccurred {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*network.EventDeviceBoundSessionEventOccurred(nil), d.events...)
}

func (d *dbscEvents) String() string {
	var b strings.Builder
	for _, e := range d.all() {
		b.WriteString("\n\t" + describeDBSCEvent(e))
	}
	return b.String()
}

func describeDBSCEvent(e *network.EventDeviceBoundSessionEventOccurred) string {
	s := fmt.Sprintf("succeeded=%v session=%.8s", e.Succeeded, e.SessionID)
	switch {
	case e.CreationEventDetails != nil:
		s = "creation " + s + " fetch=" + string(e.CreationEventDetails.FetchResult)
	case e.RefreshEventDetails != nil:
		r := e.RefreshEventDetails
		s = fmt.Sprintf("refresh %s result=%s fetch=%s proactive=%v", s, r.RefreshResult, r.FetchResult, r.WasFullyProactiveRefresh)
	case e.ChallengeEventDetails != nil:
		s = "challenge " + s + " result=" + string(e.ChallengeEventDetails.ChallengeResult)
	case e.TerminationEventDetails != nil:
		s = "termination " + s + " reason=" + string(e.TerminationEventDetails.DeletionReason)
	}
	return s
}

// A served is a request to the app, as the server answered it.
type served struct {
	method, path string
	proof        bool // it carried a Secure-Session-Response
	bound        bool // it carried a bound cookie
	status       int
	start, end   time.Time
}

// requestLog records the requests to the app.
type requestLog struct {
	mu  sync.Mutex
	all []served
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := r.Cookie(dbsc.DefaultCookieName)
		sv := served{method: r.Method, path: r.URL.Path, proof: r.Header.Get("Secure-Session-Response") != "", bound: err == nil, start: time.Now()}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		sv.status, sv.end = rec.status, time.Now()
		l.mu.Lock()
		l.all = append(l.all, sv)
		l.mu.Unlock()
	})
}

// requests returns the requests served so far whose path starts with
// prefix.
func (l *requestLog) requests(prefix string) []served {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []served
	for _, sv := range l.all {
		if strings.HasPrefix(sv.path, prefix) {
			out = append(out, sv)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// dbscApp is a server wired as the README's "Device-bound sessions" shows:
// dbsc.New(st, nil) but for a short CookieLifetime, Guard behind
// Store.Middleware, Offer on the sign-in response, served over HTTPS.
type dbscApp struct {
	st  *qsessions.Store
	url string // https://localhost:PORT
	log requestLog
}

func startDBSCApp(t *testing.T, cert tls.Certificate) *dbscApp {
	t.Helper()
	st, err := qsessions.New(memory.NewCache(), memory.NewPersister(), nil)
	if err != nil {
		t.Fatal(err)
	}
	binder, err := dbsc.New(st, &dbsc.Options{CookieLifetime: boundCookieLifetime})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// No favicon: see the refreshes in TestBrowserDBSC.
		io.WriteString(w, `<!doctype html><link rel="icon" href="data:,">`)
		if user := qsessions.FromContext(r.Context()).UserID(); user != "" {
			fmt.Fprintf(w, `<p id="user">%s</p>`, html.EscapeString(user))
			return
		}
		io.WriteString(w, `<form id="signin" method="post" action="/signin"><input name="user" value="alice"><button>Sign in</button></form>`)
	})
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		s := qsessions.FromContext(r.Context())
		if err := s.Login(r.Context(), r.FormValue("user")); err != nil {
			http.Error(w, "sign-in failed", http.StatusInternalServerError)
			return
		}
		if err := binder.Offer(w, r); err != nil {
			t.Errorf("Offer: %v", err)
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	a := &dbscApp{st: st}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           a.log.wrap(st.Middleware(binder.Guard(mux))),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // Chromium's aborted connections
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	a.url = fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	return a
}

// dbscFlags are the Chromium flags that make it bind sessions to the
// server with the certificate cert: the flags the demo prints.
func dbscFlags(cert tls.Certificate) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("enable-features", dbscFeatures),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(cert.Leaf)),
	}
}

// TestBrowserDBSC binds a session of a real Chromium with Device Bound
// Session Credentials: it signs in over HTTPS to a server wired as the
// README shows, and Chromium registers a key (its creation event
// succeeds, for the session's own ID); the session is listed device-bound.
// The bound cookie expires, and Chromium refreshes it through the refresh
// endpoint by itself, signing the challenge the server sent ahead with the
// registration (no 403 round trip): the page load after expiry is still
// signed in. The browser's cookies, replayed from a Go client, are
// refused: the session cookie alone at once, and with the bound cookie
// once that has expired. A control replays both while the bound cookie is
// fresh, and is let in, so the refusals are the Binder's doing. Any failed
// DBSC event fails the test, but the one explained below.
func TestBrowserDBSC(t *testing.T) {
	certPEM, err := newLocalhostCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	tab := newChromium(t, dbscFlags(cert)...)
	app := startDBSCApp(t, cert)
	events := listenDBSC(t, tab)

	// Sign in. The sign-in response offers DBSC; Chromium makes a key and
	// registers it in the background.
	navigating(t, tab, "open the app", chromedp.Navigate(app.url+"/"))
	signIn := signInRacingRegistration(t, tab, app)
	events.wait(t, "creation event", func(all []*network.EventDeviceBoundSessionEventOccurred) bool {
		return first(all, isCreation) != nil
	})
	created := first(events.all(), isCreation)
	if !created.Succeeded {
		t.Fatalf("Chromium did not register: %s%s", describeDBSCEvent(created), events)
	}
	if signIn == http.StatusServiceUnavailable {
		// The page reloads itself after a second and, the registration
		// done, comes with the bound cookie: wait for it.
		t.Log("waiting for the page to reload itself")
	}
	if got := text(t, tab, "#user"); got != "alice" {
		t.Fatalf("signed in as %q", got)
	}
	infos, err := app.st.Sessions(context.Background(), "alice")
	if err != nil || len(infos) != 1 {
		t.Fatalf("alice's sessions: %v, %v", infos, err)
	}
	if !infos[0].DeviceBound() {
		t.Fatal("Chromium registered, but the session is not listed device-bound")
	}
	if created.SessionID != infos[0].ID {
		t.Errorf("Chromium registered the DBSC session %.8s, want the session's ID %.8s", created.SessionID, infos[0].ID)
	}

	// The bound cookie expires; the next page load waits for Chromium to
	// refresh it, and is signed in. (Chromium then refreshes once more,
	// ahead of the next expiry: the new cookie expires within its
	// proactive-refresh threshold. It signs at most 6 times per site in 9
	// minutes, so the test loads few pages, and no favicon.)
	time.Sleep(boundCookieLifetime + 500*time.Millisecond)
	before := refreshed(events.all())
	navigating(t, tab, "reload after the bound cookie expired", chromedp.Navigate(app.url+"/"))
	if got := count(t, tab, "#user"); got != 1 {
		t.Fatalf("after the bound cookie expired, the page is signed out; events: %s", events)
	}
	events.wait(t, "refresh that succeeded", func(all []*network.EventDeviceBoundSessionEventOccurred) bool {
		return refreshed(all) > before
	})

	// Replay the browser's cookies from a plain HTTP client.
	cookies := browserCookies(t, tab, app.url)
	captured := time.Now()
	var session, bound *http.Cookie
	for _, c := range cookies {
		switch c.Name {
		case "sessionid":
			session = c
		case dbsc.DefaultCookieName:
			bound = c
		}
	}
	if session == nil || bound == nil {
		t.Fatalf("the browser holds cookies %v; want %s and %s", cookies, "sessionid", dbsc.DefaultCookieName)
	}
	if code, _ := replay(t, app.url, session, bound); code == http.StatusOK {
		t.Logf("control: the session and bound cookies, replayed %v after they were read, are let in", time.Since(captured).Round(time.Millisecond))
	} else if time.Since(captured) < 500*time.Millisecond {
		// The browser held the bound cookie when it was read: it had
		// not reached its Max-Age, which is no longer than the
		// server's CookieLifetime.
		t.Errorf("control: the session and fresh bound cookies, replayed from Go: %d, want 200; the refusals below prove nothing", code)
	} else {
		t.Logf("control skipped: the machine took %v to replay the cookies", time.Since(captured))
	}
	// The session cookie alone is refused: 401, or, in the moment after
	// the registration (dbsc's registrationGrace, which a slow machine
	// may not have left behind yet), 503 "signing you in". Neither
	// serves the session.
	if code, body := replay(t, app.url, session); code != http.StatusUnauthorized &&
		(code != http.StatusServiceUnavailable || !strings.Contains(body, "Signing you in")) {
		t.Errorf("the session cookie alone, replayed from Go: %d, want 401 (or 503, just after the registration)\n%s", code, body)
	}
	time.Sleep(time.Until(captured.Add(boundCookieLifetime + 500*time.Millisecond)))
	if code, body := replay(t, app.url, session, bound); code != http.StatusUnauthorized {
		t.Errorf("the session cookie with an expired bound cookie, replayed from Go: %d, want 401\n%s", code, body)
	}

	// Every refresh signed a challenge the server had sent ahead (with
	// the registration, then with each refresh): none needed a 403 round
	// trip.
	hits := map[string]int{}
	for _, h := range app.log.requests(dbsc.DefaultPath) {
		hits[h.path]++
		if h.status != http.StatusOK || !h.proof {
			t.Errorf("%s: proof %v, status %d, want a proof and 200", h.path, h.proof, h.status)
		}
	}
	if hits[dbsc.DefaultPath+"register"] != 1 || hits[dbsc.DefaultPath+"refresh"] < 1 {
		t.Errorf("the endpoints were asked %v, want one registration and a refresh or more", hits)
	}

	// No DBSC event failed but one: the Secure-Session-Challenge on the
	// registration response is read twice by Chromium. Its network stack
	// reads the header on every response (URLRequestHttpJob), and on the
	// registration response the session does not exist yet: a challenge
	// event, failed, NoSessionMatch. Then the registration fetcher, once
	// it has made the session, reads the header again and caches the
	// challenge (net/device_bound_sessions/registration_fetcher.cc: "Re-
	// process challenge headers now that a session exists"), as the
	// draft's "create a session" algorithm does in its last step. The
	// first refresh signs that cached challenge, as checked above.
	for _, e := range events.all() {
		switch {
		case e.Succeeded && e.TerminationEventDetails == nil:
		case e.ChallengeEventDetails != nil && e.ChallengeEventDetails.ChallengeResult == network.ChallengeEventDetailsChallengeResultNoSessionMatch &&
			e.SessionID == created.SessionID && beforeCreation(events.all(), e):
		default:
			t.Errorf("DBSC event: %s", describeDBSCEvent(e))
		}
	}
	t.Logf("DBSC events:%s", events)
}

// signInRacingRegistration signs in, and returns the status of the page
// that the sign-in redirects to: 200, or 503 when that page raced the
// registration, which it logs.
//
// The race: the sign-in response carries the offer and a redirect;
// Chromium follows the redirect and registers at the same time, and does
// not hold the redirected request back for the registration, which it does
// only for refreshes. When the registration is stored before that request's
// session is loaded (with software keys, which sign at once, one run in
// three to eight under -race here), the request belongs to a bound session and
// carries no bound cookie. Guard does not serve it; in the moment after a
// registration, dbsc answers such a request 503 with a page that reloads
// itself, which then comes with the bound cookie and is let in. Any 401,
// and any 503 that is not this race, fails the test.
func signInRacingRegistration(t *testing.T, tab context.Context, app *dbscApp) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#signin button")))
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	switch resp.Status {
	case http.StatusOK:
		return resp.Status
	case http.StatusServiceUnavailable:
	default:
		t.Fatalf("sign in: HTTP %d, want 200", resp.Status)
	}
	var page, reg *served
	for _, sv := range app.log.requests("/") {
		switch {
		case sv.method == http.MethodGet && sv.path == "/" && sv.status == http.StatusServiceUnavailable:
			page = &sv
		case sv.path == dbsc.DefaultPath+"register" && sv.status == http.StatusOK:
			reg = &sv
		}
	}
	// The registration stores the binding while it is served: it can
	// have been stored before the page's session was loaded only if it
	// started before the page was answered.
	if page == nil || page.bound || reg == nil || !reg.start.Before(page.end) {
		t.Fatalf("sign in: HTTP 503, and not for racing the registration (the page %+v, the registration %+v)", page, reg)
	}
	t.Logf("the page after the sign-in was told to retry (503): it was served from %v to %v after the registration began, and raced it; see signInRacingRegistration",
		page.start.Sub(reg.start).Round(time.Microsecond), page.end.Sub(reg.start).Round(time.Microsecond))
	return resp.Status
}

// beforeCreation reports whether e came before the first creation event.
func beforeCreation(all []*network.EventDeviceBoundSessionEventOccurred, e *network.EventDeviceBoundSessionEventOccurred) bool {
	for _, x := range all {
		if x == e {
			return true
		}
		if x.CreationEventDetails != nil {
			return false
		}
	}
	return false
}

// browserCookies returns the cookies the browser of tab holds for u.
func browserCookies(t *testing.T, tab context.Context, u string) []*http.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("reading the browser's cookies: %v", err)
	}
	var out []*http.Cookie
	for _, c := range res.Cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// replay sends GET u/ with cookies from a Go client that trusts any
// certificate, and returns the status and body.
func replay(t *testing.T, u string, cookies ...*http.Cookie) (int, string) {
	t.Helper()
	c := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequest(http.MethodGet, u+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
