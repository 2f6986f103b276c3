package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/qsessions/qsessions/internal/testenv"
)

// browserStep bounds every browser step.
const browserStep = 30 * time.Second

// chromium returns the path of a Chromium to drive, or skips the test (fails
// it under QSESSIONS_REQUIRE_SERVICES=1) when there is none. QSESSIONS_CHROMIUM
// names one explicitly.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("QSESSIONS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "no Chromium found (apt-get install chromium, or set QSESSIONS_CHROMIUM)")
	return ""
}

// within runs f, failing the test if it takes longer than d. The first Run
// of a chromedp context starts a browser or a tab that lives as long as
// that Run's context, so it cannot be bounded with a context deadline.
func within(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", what, d)
	}
}

// step runs actions in tab with a deadline.
func step(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// navigating runs actions that load a page, and waits for it.
func navigating(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	navigatingTo(t, tab, what, 200, actions...)
}

// navigatingTo runs actions that load a page answered with the HTTP
// status want, and waits for it.
func navigatingTo(t *testing.T, tab context.Context, what string, want int64, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != want {
		t.Fatalf("%s: HTTP %d, want %d", what, resp.Status, want)
	}
}

// openUntil loads u in tab until the page has an element matching sel,
// and fails the test if it has none within browserStep: for what the demo
// does after a response, such as filing the notice of a sign-in.
func openUntil(t *testing.T, tab context.Context, u, what, sel string) {
	t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		navigating(t, tab, what+": open "+u, chromedp.Navigate(u))
		if count(t, tab, sel) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s on the page within %v", what, sel, browserStep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func text(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func count(t *testing.T, tab context.Context, sel string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// screenshot saves a full-page PNG of tab in $QSESSIONS_SCREENSHOTS, when
// it is set, to look at the demo without a display.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	dir := os.Getenv("QSESSIONS_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(tab, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// newChromium starts a headless Chromium with a fresh profile, and the
// extra flags, for the test, and returns its first tab.
func newChromium(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // needed as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, Chromium spends its first seconds reaching for a
		// network that CI does not have.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	within(t, 60*time.Second, "starting Chromium", func() error { return chromedp.Do(browser) })
	return browser
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func userAgent(ua string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua})
		return err
	})
}

// TestBrowser signs in from two isolated browser contexts of a headless
// Chromium with different User-Agents (two devices), one with the
// password and one with the simulated passkey; sees the notice of the
// second sign-in in the first browser, and dismisses it; sees both
// sessions listed, signs the other one out with its button, and checks
// that the other browser is signed out on reload; then signs the other
// one in again and out with "Sign out everywhere else", through the
// "confirm it's you" step (--reauth-after 0 asks every time). The forms go
// through the demo's CrossOriginProtection as a real browser sends them.
func TestBrowser(t *testing.T) {
	browser := newChromium(t)
	d := startDemo(t, nil, "--reauth-after", "0")
	keepsAuth, _ := sqliteStores(t)

	// Two browser contexts: separate cookie jars, as two devices.
	laptop, cancelLaptop := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelLaptop()
	phone, cancelPhone := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelPhone()
	within(t, browserStep, "opening the laptop's tab", func() error { return chromedp.Do(laptop, userAgent(macChrome)) })
	within(t, browserStep, "opening the phone's tab", func() error { return chromedp.Do(phone, userAgent(androidPhone)) })

	// signIn signs tab in as alice with the button whose method is given.
	signIn := func(tab context.Context, who, method string) {
		t.Helper()
		navigating(t, tab, who+": open the demo", chromedp.Navigate(d.url))
		step(t, tab, who+": the sign-in form", chromedp.WaitVisible(chromedp.ID("login-form")))
		if !strings.Contains(text(t, tab, ".demo-banner"), "any name signs you in") {
			t.Errorf("%s: the page does not say it is a demo", who)
		}
		step(t, tab, who+": type a name", chromedp.SendKeys(chromedp.ID("name"), "alice"))
		navigating(t, tab, who+": sign in with "+method, chromedp.Click(chromedp.CSS(`#login-form button[value="`+method+`"]`)))
		step(t, tab, who+": the sessions list", chromedp.WaitVisible(chromedp.ID("sessions")))
		if got := text(t, tab, "#user"); got != "alice" {
			t.Fatalf("%s: signed in as %q", who, got)
		}
	}
	signIn(laptop, "laptop", "password")
	signIn(phone, "phone", "passkey")

	// The laptop learns of the phone's sign-in: a new device. The notice
	// is filed by the OnLogin hook once the phone's response is saved.
	openUntil(t, laptop, d.url, "laptop: the notice of the phone's sign-in", ".sign-in-notice")
	if got := text(t, laptop, ".sign-in-notice .notice-text"); got != "New sign-in from Chrome on Android" {
		t.Errorf("the notice reads %q", got)
	}
	if count(t, laptop, ".sign-in-notice .tag.new-device") != 1 || count(t, laptop, ".sign-in-notice .tag.new-location") != 0 {
		t.Error("the notice does not say new device, and new device only")
	}
	screenshot(t, laptop, "notice")
	// The phone shows it too, as its own sign-in.
	navigating(t, phone, "phone: reload", chromedp.Reload())
	if n := count(t, phone, ".sign-in-notice.this-device"); n != 1 {
		t.Errorf("the phone shows %d notices of its own sign-in, want 1", n)
	}
	// Dismissed on the laptop, it is gone.
	navigating(t, laptop, "laptop: dismiss the notice", chromedp.Click(chromedp.CSS(".sign-in-notice form.dismiss button")))
	if got := text(t, laptop, "#flash"); !strings.Contains(got, "Dismissed the notice") {
		t.Errorf("after dismissing, the laptop says %q", got)
	}
	if n := count(t, laptop, ".sign-in-notice"); n != 0 {
		t.Errorf("after dismissing, the laptop shows %d notices", n)
	}

	// The laptop sees both sessions, with their devices, its own marked.
	navigating(t, laptop, "laptop: reload", chromedp.Reload())
	if n := count(t, laptop, "li.session"); n != 2 {
		t.Fatalf("the laptop lists %d sessions, want 2", n)
	}
	if got := text(t, laptop, "li.session.current .device"); !strings.Contains(got, "Chrome on macOS") || !strings.Contains(got, "This device") {
		t.Errorf("the laptop's own session reads %q, want Chrome on macOS, This device", got)
	}
	if got := text(t, laptop, "li.session:not(.current) .device"); got != "Chrome on Android" {
		t.Errorf("the other session reads %q, want Chrome on Android", got)
	}
	if got := text(t, laptop, "li.session:not(.current) .ip"); got != "127.0.0.1" {
		t.Errorf("the other session's IP reads %q", got)
	}
	if keepsAuth { // the sqlite Persister stores how each session signed in
		if got := text(t, laptop, "li.session:not(.current) .auth"); got != "passkey (simulated), just now" {
			t.Errorf("the other session signed in with %q", got)
		}
		if got := text(t, laptop, "li.session.current .auth"); got != "password, just now" {
			t.Errorf("this session signed in with %q", got)
		}
	}

	// The inline stylesheet applies: the Content-Security-Policy allows
	// it by its hash.
	ctx, cancel := context.WithTimeout(laptop, browserStep)
	radius, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector(".badge")).borderTopLeftRadius`))
	cancel()
	if err != nil || radius != "999px" {
		t.Errorf("the stylesheet is not applied (badge radius %q, %v): is it blocked by the Content-Security-Policy?", radius, err)
	}
	screenshot(t, laptop, "sessions")

	// The laptop signs the phone out with the button.
	navigating(t, laptop, "laptop: sign the phone out", chromedp.Click(chromedp.CSS("li.session:not(.current) form.revoke button")))
	if got := text(t, laptop, "#flash"); !strings.Contains(got, "Signed out the session on Chrome on Android") {
		t.Errorf("after signing the phone out, the laptop says %q", got)
	}
	if n := count(t, laptop, "li.session"); n != 1 {
		t.Errorf("after signing the phone out, the laptop lists %d sessions, want 1", n)
	}

	// The phone is signed out on reload.
	navigating(t, phone, "phone: reload", chromedp.Reload())
	step(t, phone, "phone: the sign-in form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if got := text(t, phone, "#ended"); !strings.Contains(got, "signed out from another device") {
		t.Errorf("the phone's notice reads %q", got)
	}
	screenshot(t, phone, "signed-out")
	if n := count(t, phone, "li.session"); n != 0 {
		t.Errorf("the signed-out phone still lists %d sessions", n)
	}

	// The phone signs in again; the laptop signs it out everywhere else,
	// after confirming it's alice: a wrong name first.
	signIn(phone, "phone", "password")
	navigating(t, laptop, "laptop: reload", chromedp.Reload())
	navigating(t, laptop, "laptop: sign out everywhere else", chromedp.Click(chromedp.CSS("#revoke-others button")))
	step(t, laptop, "laptop: the confirm step", chromedp.WaitVisible(chromedp.ID("confirm-form")))
	screenshot(t, laptop, "confirm")
	step(t, laptop, "laptop: type a wrong name", chromedp.SendKeys(chromedp.ID("confirm-name"), "bob"))
	navigatingTo(t, laptop, "laptop: confirm as bob", 403, chromedp.Click(chromedp.CSS("#confirm-form button")))
	if got := text(t, laptop, "#confirm-error"); !strings.Contains(got, "nothing was signed out") {
		t.Errorf("a wrong name: the laptop says %q", got)
	}
	if n := count(t, laptop, "li.session"); n != 2 {
		t.Errorf("after a wrong name, the laptop lists %d sessions, want 2", n)
	}
	step(t, laptop, "laptop: type the name", chromedp.SendKeys(chromedp.ID("confirm-name"), "alice"))
	navigating(t, laptop, "laptop: confirm as alice", chromedp.Click(chromedp.CSS("#confirm-form button")))
	if got := text(t, laptop, "#flash"); got != "Confirmed it's you. Signed out 1 session everywhere else." {
		t.Errorf("after confirming, the laptop says %q", got)
	}
	if n := count(t, laptop, "li.session"); n != 1 {
		t.Errorf("after signing out everywhere else, the laptop lists %d sessions, want 1", n)
	}
	navigating(t, phone, "phone: reload", chromedp.Reload())
	step(t, phone, "phone: the sign-in form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if n := count(t, phone, "#ended"); n != 1 {
		t.Error("after sign out everywhere else, the phone does not say it was signed out")
	}

	// The laptop signs itself out.
	navigating(t, laptop, "laptop: sign out", chromedp.Click(chromedp.ID("sign-out")))
	step(t, laptop, "laptop: the sign-in form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if got := text(t, laptop, "#signed-out"); got != "You signed out." {
		t.Errorf("after signing out, the laptop says %q", got)
	}
	d.stop()
}
