package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// certFile reads the certificate of the PEM file path, as a client that
// knows nothing of the demo's code would.
func certFile(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			t.Fatalf("%s holds no certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

// chromiumLine returns the Chromium command line the demo printed.
func chromiumLine(t *testing.T, d *demo) []string {
	t.Helper()
	for _, line := range strings.Split(d.stdoutText(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "chromium" {
			return f
		}
	}
	t.Fatalf("the demo printed no Chromium command line\n%s", d.output())
	return nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestDemoDBSC runs the demo with --dbsc: it serves HTTPS on
// https://localhost:PORT with a certificate for localhost that it made
// beside its database, mode 0600, and that verifies; it prints a Chromium
// command line with the DBSC features, the SPKI hash of that certificate
// (computed here from the file), and the URL; a sign-in offers DBSC; a
// restart reuses the certificate.
func TestDemoDBSC(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	d := startDemo(t, nil, "--dbsc", "--sqlite", db)
	certPath := filepath.Join(filepath.Dir(db), "demo-tls.pem")
	info, err := os.Stat(certPath)
	if err != nil {
		t.Fatalf("no certificate beside the database: %v\n%s", err, d.output())
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("the certificate file has mode %v, want 0600", info.Mode().Perm())
	}
	cert := certFile(t, certPath)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	spki := base64.StdEncoding.EncodeToString(sum[:])

	args := chromiumLine(t, d)
	if got := flagValue(args, "ignore-certificate-errors-spki-list"); got != spki {
		t.Errorf("the printed --ignore-certificate-errors-spki-list is %q, want %q, the SPKI hash of %s", got, spki, certPath)
	}
	if got := flagValue(args, "enable-features"); got != "DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting" {
		t.Errorf("the printed --enable-features is %q", got)
	}
	if flagValue(args, "user-data-dir") == "" {
		t.Error("the printed command line has no --user-data-dir: flags do not apply to a Chromium already running")
	}
	if args[len(args)-1] != d.url {
		t.Errorf("the printed command line opens %q, want %q", args[len(args)-1], d.url)
	}
	if !strings.Contains(d.stdoutText(), certPath+" (new)") {
		t.Errorf("the demo does not say it made the certificate %s\n%s", certPath, d.output())
	}

	// The demo serves TLS with that certificate, which verifies for
	// localhost.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Get(d.url + "/")
	if err != nil {
		t.Fatalf("GET %s/ with the certificate as the only root: %v", d.url, err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !bytes.Equal(resp.TLS.PeerCertificates[0].Raw, cert.Raw) {
		t.Fatalf("GET /: status %d, TLS %v, or another certificate", resp.StatusCode, resp.TLS != nil)
	}

	// A sign-in is offered DBSC; this client ignores the offer and stays
	// signed in, unbound, with its Secure session cookie.
	resp, err = c.PostForm(d.url+"/login", url.Values{"name": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if offer := resp.Request.Response.Header.Get("Secure-Session-Registration"); !strings.Contains(offer, `path="/dbsc/register"`) {
		t.Errorf("the sign-in response offers no DBSC registration: %q", offer)
	}
	if sc := resp.Request.Response.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("the session cookie over HTTPS is not Secure: %q", sc)
	}
	b := &browser{t: t, c: c, ua: macChrome, hdr: http.Header{}}
	if code, v := b.sessions(d.url); code != http.StatusOK || len(v.Sessions) != 1 || v.Sessions[0].DeviceBound {
		t.Errorf("after a sign-in that ignored DBSC: %d, %+v; want one unbound session", code, v.Sessions)
	}
	d.stop()

	// The next run reuses the certificate, and prints the same hash.
	d = startDemo(t, nil, "--dbsc", "--sqlite", db)
	if got := flagValue(chromiumLine(t, d), "ignore-certificate-errors-spki-list"); got != spki {
		t.Errorf("after a restart, the SPKI hash is %q, want %q", got, spki)
	}
	if !strings.Contains(d.stdoutText(), certPath+" (from an earlier run)") {
		t.Errorf("the restarted demo does not say it reused the certificate\n%s", d.output())
	}
	if !certFile(t, certPath).Equal(cert) {
		t.Error("the restarted demo replaced the certificate")
	}
	d.stop()
}

// TestDemoDBSCBadCert: the demo refuses a certificate file other users
// can read, and one it cannot parse, and says what to do.
func TestDemoDBSCBadCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	certPath := filepath.Join(dir, "demo-tls.pem")
	pemBytes, err := newLocalhostCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(certPath, 0o644) // whatever the umask
	r := cli(t, nil, "demo", "--dbsc", "--sqlite", db, "--addr", "127.0.0.1:0")
	wantExit(t, r, 1, certPath, "readable by other users", "chmod 600")
	if err := os.WriteFile(certPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "demo", "--dbsc", "--sqlite", db, "--addr", "127.0.0.1:0")
	wantExit(t, r, 1, certPath, "delete it")
}

func TestLocalhostCert(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.pem")
	now := time.Now()
	c1, made, err := localhostCert(path, now)
	if err != nil || !made {
		t.Fatalf("first call: made %v, %v", made, err)
	}
	if err := c1.Leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if err := c1.Leaf.VerifyHostname(ip); err != nil {
			t.Error(err)
		}
	}
	if _, ok := c1.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("the key is a %T, want ECDSA", c1.PrivateKey)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v; want mode 0600", info.Mode(), err)
	}
	c2, made, err := localhostCert(path, now.Add(time.Hour))
	if err != nil || made || !c2.Leaf.Equal(c1.Leaf) {
		t.Errorf("an hour later: made %v, %v, same %v; want the same certificate", made, err, c2.Leaf.Equal(c1.Leaf))
	}
	// Close to its expiry, it is renewed.
	c3, made, err := localhostCert(path, c1.Leaf.NotAfter.Add(-time.Hour))
	if err != nil || !made || c3.Leaf.Equal(c1.Leaf) {
		t.Errorf("an hour before expiry: made %v, %v; want a new certificate", made, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the certificate only", len(entries))
	}
}

// TestBrowserDemoDBSC starts a Chromium with the flags the demo prints for
// --dbsc, signs in, and sees its session marked Device-bound on the
// demo's page: the printed command line does what it says.
func TestBrowserDemoDBSC(t *testing.T) {
	d := startDemo(t, nil, "--dbsc")
	args := chromiumLine(t, d)
	tab := newChromium(t,
		chromedp.Flag("enable-features", flagValue(args, "enable-features")),
		chromedp.Flag("ignore-certificate-errors-spki-list", flagValue(args, "ignore-certificate-errors-spki-list")))
	events := listenDBSC(t, tab)

	navigating(t, tab, "open the demo", chromedp.Navigate(args[len(args)-1]))
	step(t, tab, "type a name", chromedp.SendKeys(chromedp.ID("name"), "alice"))
	ctx, cancel := context.WithTimeout(tab, browserStep)
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#login-form button[value="password"]`)))
	cancel()
	switch {
	case err != nil:
		t.Fatalf("sign in: %v", err)
	case resp.Status == http.StatusServiceUnavailable:
		// The page the sign-in redirects to lost the race with the
		// registration (see signInRacingRegistration): dbsc answered
		// "signing you in" with a page that reloads itself.
		t.Log("the page after the sign-in raced the registration (503); it reloads itself")
	case resp.Status != http.StatusOK:
		t.Fatalf("sign in: HTTP %d", resp.Status)
	}
	events.wait(t, "creation event", func(all []*network.EventDeviceBoundSessionEventOccurred) bool {
		return first(all, isCreation) != nil
	})
	if e := first(events.all(), isCreation); !e.Succeeded {
		t.Fatalf("Chromium did not register: %s", describeDBSCEvent(e))
	}
	openUntil(t, tab, d.url+"/", "the session marked Device-bound", "li.session.current .badge.bound")
	if n := count(t, tab, ".badge.bound"); n != 1 {
		t.Errorf("%d sessions marked Device-bound, want 1", n)
	}
	screenshot(t, tab, "device-bound")
	d.stop()
}
