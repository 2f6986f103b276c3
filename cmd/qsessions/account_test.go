package main

// In-process tests of the demo's account security: the app over the memory
// backends, which store everything a Record holds, served by httptest, with
// a clock the test moves (a sign-in growing old) and Store.Wait to know that
// the OnLogin hooks of the requests made so far have run (a notice that did
// not appear will not appear later). TestDemoConfirm, TestDemoMaxSessions
// and TestBrowser run the same flows through the binary.

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/logtest"
	"github.com/qsessions/qsessions/memory"
)

// testParser is the device parser of the in-process tests, compiled once.
var testParser = sync.OnceValue(newDeviceParser)

// A testClock is a clock that moves when the test says so.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// appOptions are the demo flags of an in-process demo.
type appOptions struct {
	reauthAfter time.Duration     // --reauth-after
	maxSessions int               // --max-sessions
	locator     qsessions.Locator // --geoip; the proxy at 127.0.0.1 is then trusted, for X-Forwarded-For
}

// An appDemo is the demo's app served in this process.
type appDemo struct {
	app   *demoApp
	url   string
	clock *testClock
	log   logtest.Buffer
}

func newAppDemo(t *testing.T, o appOptions) *appDemo {
	t.Helper()
	d := &appDemo{clock: &testClock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	logger := slog.New(slog.NewTextHandler(&d.log, nil))
	d.app = &demoApp{dbPath: "memory", cacheName: "in-process go-cache", log: logger, reauthAfter: o.reauthAfter}
	opts := &qsessions.Options{Clock: d.clock.Now, DeviceParser: testParser(), Logger: logger, MaxSessionsPerUser: o.maxSessions}
	if o.locator != nil {
		opts.Locator = o.locator
		opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		d.app.geoPath = "City.mmdb"
	}
	cache, err := newMemoryCache()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.app.open(cache, memory.NewPersister(), opts); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.app.handler())
	d.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		d.app.st.Wait()
		if strings.Contains(d.log.String(), "level=ERROR") {
			t.Errorf("the demo logged an error:\n%s", d.log.String())
		}
	})
	return d
}

// settle waits until the OnLogin hooks of the requests made so far have
// run. Call it between requests only.
func (d *appDemo) settle() { d.app.st.Wait() }

// sessionItem returns the HTML of the session id in the sessions list of
// page, or "".
func sessionItem(page, id string) string {
	m := regexp.MustCompile(`(?s)<li class="session[^"]*" data-id="` + regexp.QuoteMeta(id) + `">.*?</li>`).FindString(page)
	return m
}

// noticeItems returns the HTML of the "new sign-in" notices on page.
func noticeItems(page string) []string {
	return regexp.MustCompile(`(?s)<section class="notice sign-in-notice.*?</section>`).FindAllString(page, -1)
}

func TestDemoAuthMethod(t *testing.T) {
	t.Parallel()
	d := newAppDemo(t, appOptions{reauthAfter: defaultReauthAfter})
	start := d.clock.Now()
	laptop, phone := newBrowser(t, macChrome), newBrowser(t, iPhoneSafari)
	laptopID := signInWith(t, laptop, d.url, "alice", "password")
	d.clock.Add(5 * time.Minute)
	phoneID := signInWith(t, phone, d.url, "alice", "passkey")

	_, v := laptop.sessions(d.url)
	l, p := find(t, v, laptopID), find(t, v, phoneID)
	if l.AuthMethod != "password" || !l.AuthenticatedAt.Equal(start) {
		t.Errorf("the laptop's session: method %q at %v, want password at %v", l.AuthMethod, l.AuthenticatedAt, start)
	}
	if p.AuthMethod != "passkey (simulated)" || !p.AuthenticatedAt.Equal(start.Add(5*time.Minute)) {
		t.Errorf("the phone's session: method %q at %v, want passkey (simulated) 5 minutes later", p.AuthMethod, p.AuthenticatedAt)
	}
	if l.DeviceBound || p.DeviceBound {
		t.Error("a session of the demo is device-bound")
	}

	// The page says how and when, per session.
	_, page := laptop.get(d.url + "/")
	for id, want := range map[string]string{laptopID: "password, 5 minutes ago", phoneID: "passkey (simulated), just now"} {
		if li := sessionItem(page, id); !strings.Contains(li, `">`+want+`</dd>`) {
			t.Errorf("session %s does not read %q:\n%s", id, want, li)
		}
	}
	if strings.Contains(page, "Device-bound") {
		t.Error("the page marks a session device-bound")
	}

	// A client that sends the name only signs in with the password; an
	// unknown method is refused and signs nobody in.
	tablet := newBrowser(t, androidPhone)
	tabletID := signIn(t, tablet, d.url, "alice")
	if _, v := tablet.sessions(d.url); find(t, v, tabletID).AuthMethod != "password" {
		t.Errorf("a sign-in without a method records %q, want password", find(t, v, tabletID).AuthMethod)
	}
	other := newBrowser(t, winFirefox)
	if code, body := other.post(d.url+"/login", url.Values{"name": {"bob"}, "method": {"sms"}}); code != http.StatusBadRequest {
		t.Errorf("sign-in with an unknown method: %d, want 400\n%s", code, body)
	}
	if code, _ := other.sessions(d.url); code != http.StatusUnauthorized {
		t.Errorf("a sign-in with an unknown method signed in: %d", code)
	}
}

// TestDemoNewSignInNotice: a sign-in from a new device shows a notice on
// every session of the user, the other sessions first of all; a sign-in
// from a known device shows none; the notice can be dismissed, by its user
// only.
func TestDemoNewSignInNotice(t *testing.T) {
	t.Parallel()
	d := newAppDemo(t, appOptions{reauthAfter: defaultReauthAfter})
	laptop := newBrowser(t, macChrome)
	signIn(t, laptop, d.url, "alice")
	d.settle()
	if _, v := laptop.sessions(d.url); len(v.Notices) != 0 {
		t.Fatalf("a first sign-in, with no other sessions, made notices: %+v", v.Notices)
	}

	phone := newBrowser(t, iPhoneSafari)
	phoneID := signIn(t, phone, d.url, "alice")
	d.settle()
	_, v := laptop.sessions(d.url)
	if len(v.Notices) != 1 {
		t.Fatalf("after a sign-in from a new device, the laptop has %d notices, want 1: %+v", len(v.Notices), v.Notices)
	}
	n := v.Notices[0]
	if n.SessionID != phoneID || n.Text != "New sign-in from Safari on iOS" || n.Device != "Safari on iOS" || n.IP != "127.0.0.1" ||
		!n.NewDevice || n.NewLocation || n.Location != "" || n.ID == "" {
		t.Errorf("the notice: %+v; want the phone's, a new device at the same IP (no new location)", n)
	}

	// The laptop's page shows it, as a new device, with a button to sign
	// the phone out.
	_, page := laptop.get(d.url + "/")
	items := noticeItems(page)
	if len(items) != 1 {
		t.Fatalf("the laptop's page shows %d notices, want 1\n%s", len(items), page)
	}
	for _, want := range []string{`id="notice-` + n.ID + `"`, "New sign-in from Safari on iOS", `class="tag new-device">New device<`,
		"a new device for your account", `name="id" value="` + phoneID + `"`, "Not you? Sign it out", `action="/notices/dismiss"`} {
		if !strings.Contains(items[0], want) {
			t.Errorf("the laptop's notice lacks %q\n%s", want, items[0])
		}
	}
	if strings.Contains(items[0], "new-location") || strings.Contains(items[0], "this-device") {
		t.Errorf("the laptop's notice says new location, or this device\n%s", items[0])
	}
	// The phone sees it too, as its own sign-in, with nothing to sign out.
	_, page = phone.get(d.url + "/")
	if items := noticeItems(page); len(items) != 1 || !strings.Contains(items[0], "this-device") ||
		!strings.Contains(items[0], "your other sessions show this notice too") || strings.Contains(items[0], "Not you?") {
		t.Errorf("the phone's notices: %q", items)
	}

	// A sign-in from a known device (browser and OS) in a known place:
	// no notice.
	laptop2 := newBrowser(t, macChrome)
	signIn(t, laptop2, d.url, "alice")
	d.settle()
	if _, v := laptop.sessions(d.url); len(v.Notices) != 1 || v.Notices[0].ID != n.ID {
		t.Errorf("a sign-in from a known device made a notice: %+v", v.Notices)
	}
	// Another user's sign-in is none of alice's business, and bob cannot
	// dismiss alice's notice.
	bob := newBrowser(t, winFirefox)
	signIn(t, bob, d.url, "bob")
	d.settle()
	if code, body := bob.post(d.url+"/notices/dismiss", url.Values{"id": {n.ID}}); code != http.StatusOK || !strings.Contains(body, "already dismissed") {
		t.Errorf("bob dismissing alice's notice: %d\n%s", code, body)
	}
	if _, v := laptop.sessions(d.url); len(v.Notices) != 1 {
		t.Errorf("after bob signed in and dismissed: alice's notices %+v", v.Notices)
	}

	// Dismissed from the phone, it is gone from every session.
	code, body := phone.post(d.url+"/notices/dismiss", url.Values{"id": {n.ID}})
	if code != http.StatusOK || !strings.Contains(body, "Dismissed the notice") || len(noticeItems(body)) != 0 {
		t.Errorf("dismiss: %d\n%s", code, body)
	}
	if _, page := laptop.get(d.url + "/"); len(noticeItems(page)) != 0 {
		t.Error("the laptop still shows the dismissed notice")
	}
	if code, body := phone.post(d.url+"/notices/dismiss", url.Values{"id": {n.ID}}); code != http.StatusOK || !strings.Contains(body, "already dismissed") {
		t.Errorf("dismissing again: %d\n%s", code, body)
	}
	// Signed out, there is nothing to dismiss.
	anon := newBrowser(t, macChrome)
	if code, body := anon.post(d.url+"/notices/dismiss", url.Values{"id": {n.ID}}); code != http.StatusOK || !strings.Contains(body, `id="login-form"`) {
		t.Errorf("dismiss signed out: %d\n%s", code, body)
	}

	// A notice of a session signed out since says so, without the button.
	phone2 := newBrowser(t, androidPhone)
	phone2ID := signIn(t, phone2, d.url, "alice")
	d.settle()
	if code, _ := laptop.post(d.url+"/revoke", url.Values{"id": {phone2ID}}); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	_, page = laptop.get(d.url + "/")
	if items := noticeItems(page); len(items) != 1 || !strings.Contains(items[0], "signed out since") || strings.Contains(items[0], "Not you?") {
		t.Errorf("the notice of a revoked session: %q", items)
	}
}

// TestDemoNewLocationNotice: with a GeoIP database, a known device in a new
// place is a new location, and a new device in a new place both.
func TestDemoNewLocationNotice(t *testing.T) {
	t.Parallel()
	g, err := geo.OpenBytes(testCityDB(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	d := newAppDemo(t, appOptions{reauthAfter: defaultReauthAfter, locator: g})
	from := func(ua, ip string) *browser {
		b := newBrowser(t, ua)
		b.hdr.Set("X-Forwarded-For", ip)
		return b
	}
	berlin := from(macChrome, "192.0.2.7")
	signIn(t, berlin, d.url, "alice")
	signIn(t, from(macChrome, "192.0.2.8"), d.url, "alice") // the same device in the same city
	d.settle()
	if _, v := berlin.sessions(d.url); len(v.Notices) != 0 {
		t.Fatalf("a sign-in from a known device and city made a notice: %+v", v.Notices)
	}

	tokyoID := signIn(t, from(macChrome, "2001:db8::1"), d.url, "alice")
	d.settle()
	franceID := signIn(t, from(iPhoneSafari, "198.51.100.200"), d.url, "alice")
	d.settle()
	_, v := berlin.sessions(d.url)
	if len(v.Notices) != 2 {
		t.Fatalf("%d notices, want 2: %+v", len(v.Notices), v.Notices)
	}
	// Newest first.
	fr, tk := v.Notices[0], v.Notices[1]
	if tk.SessionID != tokyoID || tk.Text != "New sign-in from Chrome on macOS in Tokyo, Japan" || tk.NewDevice || !tk.NewLocation {
		t.Errorf("the Tokyo notice: %+v; want a new location only", tk)
	}
	if fr.SessionID != franceID || fr.Text != "New sign-in from Safari on iOS in France" || !fr.NewDevice || !fr.NewLocation {
		t.Errorf("the France notice: %+v; want a new device and a new location", fr)
	}
	_, page := berlin.get(d.url + "/")
	items := noticeItems(page)
	if len(items) != 2 {
		t.Fatalf("the page shows %d notices, want 2", len(items))
	}
	if !strings.Contains(items[0], "New device<") || !strings.Contains(items[0], "New location<") || !strings.Contains(items[0], "a new device and a new location") {
		t.Errorf("the France notice does not say new device and new location\n%s", items[0])
	}
	if strings.Contains(items[1], "New device<") || !strings.Contains(items[1], "New location<") || !strings.Contains(items[1], "a new location for your account") {
		t.Errorf("the Tokyo notice does not say new location only\n%s", items[1])
	}
}

// TestDemoReauth: signing out everywhere else asks a session whose sign-in
// is older than --reauth-after to confirm it's you; a wrong name is
// refused and changes nothing; the right one re-authenticates (a new
// token, the time and method recorded) and signs the others out.
func TestDemoReauth(t *testing.T) {
	t.Parallel()
	d := newAppDemo(t, appOptions{reauthAfter: 5 * time.Minute})
	laptop, phone := newBrowser(t, macChrome), newBrowser(t, iPhoneSafari)
	laptopID := signInWith(t, laptop, d.url, "alice", "passkey")
	signIn(t, phone, d.url, "alice")

	// Fresh: no step.
	_, page := laptop.get(d.url + "/")
	if strings.Contains(page, `id="reauth-hint"`) {
		t.Error("a fresh session is told it will be asked to confirm")
	}
	code, body := laptop.post(d.url+"/revoke-others", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "Signed out 1 session everywhere else.") || strings.Contains(body, "Confirmed") {
		t.Fatalf("sign out everywhere else, fresh: %d\n%s", code, body)
	}
	if code, _ := phone.sessions(d.url); code != http.StatusUnauthorized {
		t.Fatalf("the phone is still signed in: %d", code)
	}
	if _, v := laptop.sessions(d.url); v.Current != laptopID {
		t.Error("signing out everywhere else without the step changed the session's token")
	}

	phone2, tablet := newBrowser(t, iPhoneSafari), newBrowser(t, androidPhone)
	signIn(t, phone2, d.url, "alice")
	signIn(t, tablet, d.url, "alice")
	d.clock.Add(6 * time.Minute)
	d.settle()
	_, before := laptop.sessions(d.url)
	_, page = laptop.get(d.url + "/")
	if !strings.Contains(page, `id="reauth-hint"`) || !strings.Contains(page, "You signed in 6 minutes ago") {
		t.Errorf("the page does not say that the step will be asked\n%s", page)
	}
	unchanged := func(what string) {
		t.Helper()
		_, v := laptop.sessions(d.url)
		if len(v.Sessions) != 3 || v.Current != laptopID {
			t.Fatalf("%s: %d sessions, current %s; want 3, %s", what, len(v.Sessions), v.Current, laptopID)
		}
		if l := find(t, v, laptopID); l.AuthMethod != "passkey (simulated)" || !l.AuthenticatedAt.Equal(find(t, before, laptopID).AuthenticatedAt) {
			t.Errorf("%s: the laptop's authentication changed: %q at %v", what, l.AuthMethod, l.AuthenticatedAt)
		}
		for _, b := range []*browser{phone2, tablet} {
			if code, _ := b.sessions(d.url); code != http.StatusOK {
				t.Errorf("%s: another session was signed out", what)
			}
		}
	}

	// Stale: the step, and nothing signed out.
	code, body = laptop.post(d.url+"/revoke-others", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, `id="confirm-form"`) || !strings.Contains(body, "Confirm it's you") ||
		!strings.Contains(body, "more than 5 minutes ago") || strings.Contains(body, `id="confirm-error"`) {
		t.Fatalf("sign out everywhere else, 6 minutes after signing in: %d, want the step\n%s", code, body)
	}
	unchanged("asked to confirm")

	// A wrong name, or none, is refused.
	for _, name := range []string{"Alice", "bob", "", "alice\x00"} {
		code, body = laptop.post(d.url+"/revoke-others", url.Values{"name": {name}})
		if code != http.StatusForbidden || !strings.Contains(body, `id="confirm-error"`) ||
			!strings.Contains(body, html.EscapeString("That is not the name you signed in with, so nothing was signed out.")) {
			t.Errorf("confirm as %q: %d, want 403 with the reason\n%s", name, code, body)
		}
		unchanged("confirm as " + name)
	}
	// A cross-site confirmation is refused before it is looked at.
	if code, _ := laptop.post(d.url+"/revoke-others", url.Values{"name": {"alice"}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("cross-site confirmation: %d, want 403", code)
	}
	unchanged("cross-site confirmation")

	// The right name: re-authenticated, and the others signed out.
	code, body = laptop.post(d.url+"/revoke-others", url.Values{"name": {" alice "}})
	if code != http.StatusOK || !strings.Contains(body, "Confirmed it&#39;s you. Signed out 2 sessions everywhere else.") {
		t.Fatalf("confirm as alice: %d\n%s", code, body)
	}
	for _, b := range []*browser{phone2, tablet} {
		if code, _ := b.sessions(d.url); code != http.StatusUnauthorized {
			t.Errorf("after confirming, another session is still signed in: %d", code)
		}
	}
	_, v := laptop.sessions(d.url)
	if len(v.Sessions) != 1 || v.Current == laptopID || v.Current == "" {
		t.Fatalf("after confirming: %+v; want one session under a new token", v)
	}
	if l := v.Sessions[0]; l.AuthMethod != "password" || !l.AuthenticatedAt.Equal(d.clock.Now()) {
		t.Errorf("after confirming: method %q at %v, want password at %v", l.AuthMethod, l.AuthenticatedAt, d.clock.Now())
	}
	if _, page := laptop.get(d.url + "/"); strings.Contains(page, `id="reauth-hint"`) {
		t.Error("after confirming, the page still says the step will be asked")
	}
	// A re-authentication is no new sign-in.
	d.settle()
	if _, after := laptop.sessions(d.url); len(after.Notices) != len(before.Notices) {
		t.Errorf("confirming made a notice: %+v", after.Notices)
	}

	// Signed out, the action only leads to the sign-in form.
	anon := newBrowser(t, macChrome)
	if code, body := anon.post(d.url+"/revoke-others", url.Values{"name": {"alice"}}); code != http.StatusOK || !strings.Contains(body, `id="login-form"`) {
		t.Errorf("signed out: %d\n%s", code, body)
	}
}

// TestDemoMaxSessionsLeastRecent: with a cap of 2, a third sign-in signs
// out the least recently active session, which is not the oldest one.
func TestDemoMaxSessionsLeastRecent(t *testing.T) {
	t.Parallel()
	d := newAppDemo(t, appOptions{reauthAfter: defaultReauthAfter, maxSessions: 2})
	a, b, c := newBrowser(t, macChrome), newBrowser(t, iPhoneSafari), newBrowser(t, androidPhone)
	signIn(t, a, d.url, "alice")
	d.clock.Add(time.Minute)
	signIn(t, b, d.url, "alice")
	d.clock.Add(time.Minute)
	// a is active again (dismissing a notice writes a message to it).
	if code, _ := a.post(d.url+"/notices/dismiss", url.Values{"id": {"none"}}); code != http.StatusOK {
		t.Fatal(code)
	}
	d.clock.Add(time.Minute)
	code, body := c.post(d.url+"/login", url.Values{"name": {"alice"}})
	if code != http.StatusOK || !strings.Contains(body, "keeps at most 2 sessions per user (--max-sessions): signing in here signed out 1 other session") {
		t.Errorf("the third sign-in: %d\n%s", code, body)
	}
	if code, _ := b.sessions(d.url); code != http.StatusUnauthorized {
		t.Errorf("the least recently active session is still signed in: %d", code)
	}
	for name, br := range map[string]*browser{"the oldest but recently active": a, "the new": c} {
		if code, _ := br.sessions(d.url); code != http.StatusOK {
			t.Errorf("%s session was signed out: %d", name, code)
		}
	}
	if _, v := a.sessions(d.url); len(v.Sessions) != 2 {
		t.Errorf("%d sessions, want 2", len(v.Sessions))
	}
	if _, page := a.get(d.url + "/"); !strings.Contains(page, "at most 2 sessions per user: a sign-in beyond that signs out the least recently active") {
		t.Error("the page does not say there is a cap")
	}
	// Under the cap, the message does not mention it.
	code, body = newBrowser(t, winFirefox).post(d.url+"/login", url.Values{"name": {"bob"}})
	if code != http.StatusOK || strings.Contains(body, "--max-sessions") {
		t.Errorf("bob's first sign-in mentions the cap: %d\n%s", code, body)
	}
}

// TestSessionViewDeviceBound renders sessions the Store lists, one bound to
// a device key as package dbsc binds them: the list marks it
// "Device-bound", and only it, and the JSON says so.
func TestSessionViewDeviceBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := memory.NewPersister()
	st, err := qsessions.New(nil, p, &qsessions.Options{DeviceParser: testParser()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	bound := record(t, "alice", "192.0.2.7", macChrome, now, now.Add(time.Hour))
	bound = withAuth(t, bound, "passkey", now.Add(-10*time.Minute), []byte("device key state"))
	plain := record(t, "alice", "192.0.2.8", iPhoneSafari, now.Add(-time.Minute), now.Add(time.Hour))
	for _, r := range []qsessions.Record{bound, plain} {
		if err := p.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := st.Sessions(ctx, "alice")
	if err != nil || len(infos) != 2 {
		t.Fatalf("Sessions: %d, %v", len(infos), err)
	}
	app := &demoApp{}
	if err := app.parseTemplates(); err != nil {
		t.Fatal(err)
	}
	data := pageData{User: "alice"}
	for _, in := range infos {
		v := newSessionView(in, plain.ID, false, now)
		if v.DeviceBound != (in.ID == bound.ID) {
			t.Errorf("session %s: DeviceBound %v", in.ID, v.DeviceBound)
		}
		if j := newSessionJSON(in, false); j.DeviceBound != (in.ID == bound.ID) {
			t.Errorf("session %s: device_bound %v", in.ID, j.DeviceBound)
		}
		data.Sessions = append(data.Sessions, v)
	}
	var sb strings.Builder
	if err := app.tmpl.ExecuteTemplate(&sb, "page.html", data); err != nil {
		t.Fatal(err)
	}
	page := sb.String()
	if li := sessionItem(page, bound.ID); !strings.Contains(li, `<span class="badge bound"`) || !strings.Contains(li, ">Device-bound</span>") ||
		!strings.Contains(li, ">passkey, 10 minutes ago</dd>") {
		t.Errorf("the bound session is not marked device-bound, or its sign-in is not shown:\n%s", li)
	}
	if li := sessionItem(page, plain.ID); li == "" || strings.Contains(li, "Device-bound") || !strings.Contains(li, ">not recorded</dd>") {
		t.Errorf("the unbound session, signed in at an unrecorded time:\n%s", li)
	}
}

// TestNoticeBoard tests the hook's side alone: which sign-ins make a
// notice, that a re-authentication does not, and the board's bounds.
func TestNoticeBoard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	event := func(user, id string, others int, dev, loc bool) qsessions.LoginEvent {
		return qsessions.LoginEvent{
			Session:       qsessions.SessionInfo{ID: id, UserID: user, IP: "192.0.2.1", AuthenticatedAt: now},
			OtherSessions: others, NewDevice: dev, NewLocation: loc,
		}
	}
	b := newNoticeBoard(false)
	for _, e := range []qsessions.LoginEvent{
		event("alice", "first", 0, true, true), // no other sessions to tell
		event("alice", "known", 2, false, false),
	} {
		if err := b.onLogin(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.notices("alice"); len(n) != 0 {
		t.Fatalf("notices for a first sign-in and a known device: %+v", n)
	}
	reauth := event("alice", "again", 1, true, false)
	reauth.Reauthentication = true
	b.onLogin(ctx, reauth)
	if n := b.notices("alice"); len(n) != 0 {
		t.Fatalf("a notice for a re-authentication: %+v", n)
	}
	b.onLogin(ctx, event("alice", "again", 1, true, false))
	if n := b.notices("alice"); len(n) != 1 || n[0].Text() != "New sign-in from Unknown device" || n[0].What() != "a new device" {
		t.Fatalf("notices: %+v", n)
	}

	// At most maxNoticesPerUser per user, newest kept and first.
	for i := range maxNoticesPerUser + 3 {
		b.onLogin(ctx, event("bob", string(rune('a'+i)), 1, false, true))
	}
	n := b.notices("bob")
	if len(n) != maxNoticesPerUser || n[0].SessionID != string(rune('a'+maxNoticesPerUser+2)) || n[0].What() != "a new location" {
		t.Errorf("bob's notices: %d, newest %+v", len(n), n[0])
	}
	if b.dismiss("alice", n[0].ID) || len(b.notices("bob")) != maxNoticesPerUser {
		t.Error("alice dismissed bob's notice")
	}
	if !b.dismiss("bob", n[0].ID) || b.dismiss("bob", n[0].ID) || len(b.notices("bob")) != maxNoticesPerUser-1 {
		t.Error("bob could not dismiss his notice exactly once")
	}

	// At most maxNoticeUsers users: the one whose newest notice is the
	// oldest goes.
	b = newNoticeBoard(false)
	for i := range maxNoticeUsers + 1 {
		e := event(fmt.Sprint("user", i), "s", 1, true, true)
		e.Session.AuthenticatedAt = now.Add(time.Duration(i) * time.Second)
		b.onLogin(ctx, e)
	}
	if len(b.byUser) != maxNoticeUsers {
		t.Errorf("%d users kept, want %d", len(b.byUser), maxNoticeUsers)
	}
	if n := b.notices("user0"); len(n) != 0 {
		t.Error("the user with the oldest notice was kept")
	}

}

func TestDescribeAuth(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, c := range []struct {
		method string
		at     time.Time
		want   string
	}{
		{"password", now.Add(-5 * time.Minute), "password, 5 minutes ago"},
		{"oauth:github", now, "oauth:github, just now"},
		{"", now.Add(-2 * time.Hour), "2 hours ago"},
		{"password", time.Time{}, "not recorded"},
	} {
		if got := describeAuth(qsessions.SessionInfo{AuthMethod: c.method, AuthenticatedAt: c.at}, now); got != c.want {
			t.Errorf("describeAuth(%q, %v) = %q, want %q", c.method, c.at, got, c.want)
		}
	}
	for d, want := range map[time.Duration]string{5 * time.Minute: "5 minutes", time.Hour: "an hour", 90 * time.Second: "90 seconds",
		0: "0s", 1500 * time.Millisecond: "1.5s", 36 * time.Hour: "36 hours"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
