package qsessions_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/clientip"
	"github.com/qsessions/qsessions/memory"
)

// The proxy is 10.0.0.5; 10.0.0.0/8 and fd00::/8 are trusted proxies.
var proxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}

type ipCase struct {
	name   string
	remote string // default "10.0.0.5:443", the trusted proxy
	header http.Header
	want   string
}

// recordedIP returns the IP that a Store with opts records for a request
// from remote with header.
func recordedIP(t *testing.T, opts func(*qsessions.Options), remote string, header http.Header) string {
	t.Helper()
	f := newFixture(t)
	f.opts.TrustedProxies = proxies
	opts(&f.opts)
	st := f.store(t)
	var got string
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = qsessions.FromContext(r.Context()).Info().IP
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = remote
	if remote == "" {
		req.RemoteAddr = "10.0.0.5:443"
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return got
}

func runIPCases(t *testing.T, opts func(*qsessions.Options), cases []ipCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := recordedIP(t, opts, c.remote, c.header); got != c.want {
				t.Fatalf("IP = %q, want %q (header %q)", got, c.want, c.header)
			}
		})
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestClientIPXForwardedFor(t *testing.T) {
	const xff = "X-Forwarded-For"
	cases := []ipCase{
		// Issue 14, exactly: a client-sent Forwarded header behind a proxy
		// that appends to X-Forwarded-For.
		{"issue 14: client-sent Forwarded is ignored", "", hdr(xff, "203.0.113.9", "Forwarded", "for=198.51.100.77"), "203.0.113.9"},
		{"issue 14: Forwarded for=unknown erases nothing", "", hdr(xff, "203.0.113.9", "Forwarded", "for=unknown"), "203.0.113.9"},
		{"Forwarded alone is not read", "", hdr("Forwarded", "for=198.51.100.77"), "10.0.0.5"},
		{"single-IP headers are not read", "", hdr("X-Real-IP", "198.51.100.77", "CF-Connecting-IP", "198.51.100.78"), "10.0.0.5"},
		{"no header: the proxy", "", nil, "10.0.0.5"},
		{"spoofed by an untrusted peer", "192.0.2.1:1234", hdr(xff, "203.0.113.9"), "192.0.2.1"},
		{"client-prepended spoof", "", hdr(xff, "6.6.6.6, 203.0.113.9"), "203.0.113.9"},
		{"repeated lines, proxy's last", "", hdr(xff, "6.6.6.6, 7.7.7.7", xff, "203.0.113.9"), "203.0.113.9"},
		{"repeated lines, list split across them", "", hdr(xff, "6.6.6.6", xff, "203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"trusted hops are skipped", "", hdr(xff, "6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.3"), "203.0.113.9"},
		{"all hops trusted: the outermost", "", hdr(xff, "10.0.0.9, 10.0.0.2"), "10.0.0.9"},
		{"no spaces", "", hdr(xff, "6.6.6.6,203.0.113.9"), "203.0.113.9"},
		{"IPv6", "", hdr(xff, "2001:db8::9"), "2001:db8::9"},
		{"IPv6 with zone", "", hdr(xff, "fe80::1%eth0"), "fe80::1"},
		{"IPv6 bracketed with port", "", hdr(xff, "[2001:db8::9]:4711"), "2001:db8::9"},
		{"IPv6 bracketed, zone and port", "", hdr(xff, "[fe80::9%25eth0]:4711"), "fe80::9"},
		{"IPv6 bracketed", "", hdr(xff, "[2001:db8::9]"), "2001:db8::9"},
		{"IPv4 with port", "", hdr(xff, "203.0.113.9:4711"), "203.0.113.9"},
		{"IPv4-mapped", "", hdr(xff, "::ffff:203.0.113.9"), "203.0.113.9"},
		{"quoted", "", hdr(xff, `"203.0.113.9"`), "203.0.113.9"},
		{"trusted IPv6 peer", "[fd00::1]:443", hdr(xff, "203.0.113.9"), "203.0.113.9"},
		{"trusted IPv4-mapped peer", "[::ffff:10.0.0.5]:443", hdr(xff, "203.0.113.9"), "203.0.113.9"},
		// Values that are not an address never erase or replace one.
		{"garbage: the proxy", "", hdr(xff, "not-an-ip"), "10.0.0.5"},
		{"unknown: the proxy", "", hdr(xff, "unknown"), "10.0.0.5"},
		{"obfuscated: the proxy", "", hdr(xff, "_hidden"), "10.0.0.5"},
		{"empty: the proxy", "", hdr(xff, ""), "10.0.0.5"},
		{"trailing comma: the proxy", "", hdr(xff, "203.0.113.9,"), "10.0.0.5"},
		{"unbalanced quote", "", hdr(xff, `"203.0.113.9`), "10.0.0.5"},
		{"bracketed IPv4", "", hdr(xff, "[203.0.113.9]:80"), "10.0.0.5"},
		{"port out of range", "", hdr(xff, "203.0.113.9:99999"), "10.0.0.5"},
		{"leading zeros", "", hdr(xff, "203.0.113.09"), "10.0.0.5"},
		{"unspecified", "", hdr(xff, "0.0.0.0"), "10.0.0.5"},
		{"multicast", "", hdr(xff, "ff02::1"), "10.0.0.5"},
		{"broadcast", "", hdr(xff, "255.255.255.255"), "10.0.0.5"},
		{"garbage after good: the proxy", "", hdr(xff, "203.0.113.9, garbage"), "10.0.0.5"},
		{"garbage behind a trusted hop: that hop", "", hdr(xff, "203.0.113.9, unknown, 10.0.0.2"), "10.0.0.2"},
		{"garbage left of the client is never read", "", hdr(xff, "garbage, 203.0.113.9"), "203.0.113.9"},
		{"empty last line: the proxy", "", hdr(xff, "203.0.113.9", xff, ""), "10.0.0.5"},
		{"walk is bounded", "", hdr(xff, "203.0.113.9, "+strings.Repeat("10.0.0.8, ", 100)+"10.0.0.2"), "10.0.0.8"},
		// An untrusted peer's own address, whatever it sends.
		{"untrusted peer with zone", "[fe80::1%eth0]:1234", hdr(xff, "203.0.113.9"), "fe80::1"},
		{"unparsable peer", "garbage", hdr(xff, "203.0.113.9"), ""},
	}
	t.Run("Default", func(t *testing.T) { runIPCases(t, func(*qsessions.Options) {}, cases) })
	t.Run("Named", func(t *testing.T) {
		runIPCases(t, func(o *qsessions.Options) { o.ClientIPHeader = "x-FORWARDED-for" }, cases)
	})
}

func TestClientIPForwarded(t *testing.T) {
	const fwd = "Forwarded"
	cases := []ipCase{
		{"for", "", hdr(fwd, "for=203.0.113.9"), "203.0.113.9"},
		{"X-Forwarded-For is not read", "", hdr("X-Forwarded-For", "198.51.100.77"), "10.0.0.5"},
		{"X-Forwarded-For beside it is ignored", "", hdr("X-Forwarded-For", "198.51.100.77", fwd, "for=203.0.113.9"), "203.0.113.9"},
		{"spoofed by an untrusted peer", "192.0.2.1:1234", hdr(fwd, "for=203.0.113.9"), "192.0.2.1"},
		{"client-prepended spoof", "", hdr(fwd, "for=6.6.6.6, for=203.0.113.9"), "203.0.113.9"},
		{"client-prepended spoof with quotes and commas", "", hdr(fwd, `for="6.6.6.6, for=7.7.7.7", for=203.0.113.9`), "203.0.113.9"},
		{"unbalanced quote from the client", "", hdr(fwd, `for="6.6.6.6, for=203.0.113.9`), "203.0.113.9"},
		{"repeated lines", "", hdr(fwd, "for=6.6.6.6", fwd, "for=203.0.113.9;proto=https"), "203.0.113.9"},
		{"other parameters", "", hdr(fwd, "by=10.0.0.5;for=203.0.113.9;host=example.com;proto=https"), "203.0.113.9"},
		{"mixed-case parameter", "", hdr(fwd, "For=203.0.113.9;Proto=https"), "203.0.113.9"},
		{"upper-case parameter", "", hdr(fwd, `FOR="[2001:db8::9]:4711"`), "2001:db8::9"},
		{"spaces", "", hdr(fwd, " for=6.6.6.6 , for=203.0.113.9 ; proto=https "), "203.0.113.9"},
		{"quoted IPv6 with port", "", hdr(fwd, `for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"quoted IPv6", "", hdr(fwd, `for="[2001:db8:cafe::17]"`), "2001:db8:cafe::17"},
		{"IPv6 with zone", "", hdr(fwd, `for="[fe80::1%25eth0]"`), "fe80::1"},
		{"quoted IPv4 with port", "", hdr(fwd, `for="203.0.113.9:4711"`), "203.0.113.9"},
		{"trusted hops are skipped", "", hdr(fwd, "for=203.0.113.9, for=10.0.0.2;proto=http"), "203.0.113.9"},
		// Values that are not an address never erase or replace one.
		{"unknown: the proxy", "", hdr(fwd, "for=unknown"), "10.0.0.5"},
		{"obfuscated: the proxy", "", hdr(fwd, "for=_hidden"), "10.0.0.5"},
		{"quoted obfuscated with port: the proxy", "", hdr(fwd, `for="_hidden:_port"`), "10.0.0.5"},
		{"unknown after good: the proxy", "", hdr(fwd, "for=203.0.113.9, for=unknown"), "10.0.0.5"},
		{"obfuscated behind a trusted hop: that hop", "", hdr(fwd, "for=203.0.113.9, for=_hidden, for=10.0.0.2"), "10.0.0.2"},
		{"element without for: the proxy", "", hdr(fwd, "for=203.0.113.9, by=10.0.0.5;proto=https"), "10.0.0.5"},
		{"for twice in one element: the proxy", "", hdr(fwd, "for=203.0.113.9;for=6.6.6.6"), "10.0.0.5"},
		{"empty for: the proxy", "", hdr(fwd, "for="), "10.0.0.5"},
		{"unclosed bracket: the proxy", "", hdr(fwd, `for="[2001:db8::1"`), "10.0.0.5"},
		{"garbage: the proxy", "", hdr(fwd, "garbage"), "10.0.0.5"},
		{"empty: the proxy", "", hdr(fwd, ""), "10.0.0.5"},
	}
	runIPCases(t, func(o *qsessions.Options) { o.ClientIPHeader = clientip.Forwarded }, cases)
	t.Run("lower-case name", func(t *testing.T) {
		runIPCases(t, func(o *qsessions.Options) { o.ClientIPHeader = "forwarded" }, cases[:1])
	})
}

func TestClientIPSingleHeader(t *testing.T) {
	for _, name := range []string{
		clientip.CFConnectingIP, clientip.TrueClientIP, clientip.FlyClientIP,
		clientip.XRealIP, "X-Client-Address", "x_real_ip",
	} {
		cases := []ipCase{
			{"set by the proxy", "", hdr(name, "203.0.113.9"), "203.0.113.9"},
			{"lower-case name", "", hdr(strings.ToLower(name), "203.0.113.9"), "203.0.113.9"},
			{"trusted address", "", hdr(name, "10.0.0.9"), "10.0.0.9"},
			{"list headers are not read", "", hdr("X-Forwarded-For", "198.51.100.77", "Forwarded", "for=198.51.100.78"), "10.0.0.5"},
			{"list headers beside it are ignored", "", hdr(name, "203.0.113.9", "X-Forwarded-For", "198.51.100.77", "Forwarded", "for=198.51.100.78"), "203.0.113.9"},
			{"spoofed by an untrusted peer", "192.0.2.1:1234", hdr(name, "203.0.113.9"), "192.0.2.1"},
			{"IPv6 with zone", "", hdr(name, "fe80::1%eth0"), "fe80::1"},
			{"IPv6 bracketed with port", "", hdr(name, "[2001:db8::9]:4711"), "2001:db8::9"},
			{"quoted", "", hdr(name, `"203.0.113.9"`), "203.0.113.9"},
			{"spaces", "", hdr(name, " 203.0.113.9 "), "203.0.113.9"},
			// A header the proxy did not overwrite, or garbage: the proxy.
			{"repeated: the proxy", "", hdr(name, "6.6.6.6", name, "203.0.113.9"), "10.0.0.5"},
			{"list: the proxy", "", hdr(name, "6.6.6.6, 203.0.113.9"), "10.0.0.5"},
			{"unknown: the proxy", "", hdr(name, "unknown"), "10.0.0.5"},
			{"garbage: the proxy", "", hdr(name, "not-an-ip"), "10.0.0.5"},
			{"empty: the proxy", "", hdr(name, ""), "10.0.0.5"},
			{"missing: the proxy", "", nil, "10.0.0.5"},
		}
		t.Run(name, func(t *testing.T) {
			runIPCases(t, func(o *qsessions.Options) { o.ClientIPHeader = name }, cases)
		})
	}
}

func TestClientIPHeaderValidated(t *testing.T) {
	for _, name := range []string{"X Real IP", "X-Real-IP:", "CF-Connecting-IP\r\n", "(ip)", "Fly-Client-IP,", "Ünicode"} {
		f := newFixture(t)
		f.opts.ClientIPHeader = name
		if _, err := qsessions.New(f.cache, f.persister, &f.opts); err == nil || !strings.Contains(err.Error(), "ClientIPHeader") {
			t.Errorf("ClientIPHeader %q: New returned %v, want an error naming ClientIPHeader", name, err)
		}
	}
}

// TestHTTPClientIPHeaders sends requests over a real connection, so that
// net/http's own parsing of header names and repeated lines is part of the
// test.
func TestHTTPClientIPHeaders(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	serve := func(t *testing.T, trusted []netip.Prefix, header string) string {
		t.Helper()
		f := newFixture(t)
		f.opts.TrustedProxies = trusted
		f.opts.ClientIPHeader = header
		st := f.store(t)
		srv := httptest.NewServer(st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := qsessions.FromContext(r.Context())
			s.Set("seen", true) // a new session: Set-Cookie
			io.WriteString(w, s.Info().IP)
		})))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	// send writes a request with the raw header lines and returns the
	// recorded IP and the Set-Cookie header.
	send := func(t *testing.T, addr string, lines ...string) (ip, cookie string) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n" + strings.Join(lines, "\r\n")
		if len(lines) > 0 {
			req += "\r\n"
		}
		if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return string(body), resp.Header.Get("Set-Cookie")
	}

	xff := serve(t, loopback, "")
	fwd := serve(t, loopback, "forwarded")
	cf := serve(t, loopback, "cf-connecting-ip")
	direct := serve(t, nil, "")
	for _, c := range []struct {
		name   string
		addr   string
		lines  []string
		want   string
		secure bool
	}{
		{"issue 14 reproduction", xff, []string{"X-Forwarded-For: 203.0.113.9", "Forwarded: for=198.51.100.77"}, "203.0.113.9", false},
		{"issue 14 reproduction, unknown", xff, []string{"X-Forwarded-For: 203.0.113.9", "Forwarded: for=unknown"}, "203.0.113.9", false},
		{"mixed-case names", xff, []string{"x-forwarded-for: 203.0.113.9", "FORWARDED: for=198.51.100.77"}, "203.0.113.9", false},
		{"repeated lines", xff, []string{"X-Forwarded-For: 6.6.6.6", "x-FORWARDED-for: 203.0.113.9"}, "203.0.113.9", false},
		{"garbage", xff, []string{"X-Forwarded-For: 203.0.113.9, garbage"}, "127.0.0.1", false},
		{"X-Forwarded-Proto from a trusted proxy", xff, []string{"X-Forwarded-For: 203.0.113.9", "x-forwarded-proto: HTTPS"}, "203.0.113.9", true},
		{"X-Forwarded-Proto, the outermost proxy's", xff, []string{"X-Forwarded-Proto: https, http"}, "127.0.0.1", true},
		{"X-Forwarded-Proto, the outermost proxy's line", xff, []string{"X-Forwarded-Proto: http", "X-Forwarded-Proto: https"}, "127.0.0.1", false},
		{"Forwarded", fwd, []string{"X-Forwarded-For: 198.51.100.77", "forwarded: For=203.0.113.9;Proto=https"}, "203.0.113.9", true},
		{"Forwarded: X-Forwarded-Proto is not read", fwd, []string{"Forwarded: for=203.0.113.9", "X-Forwarded-Proto: https"}, "203.0.113.9", false},
		{"Forwarded, repeated lines", fwd, []string{"Forwarded: for=6.6.6.6", "Forwarded: for=\"[2001:db8::9]:4711\""}, "2001:db8::9", false},
		{"Forwarded, unknown", fwd, []string{"Forwarded: for=unknown"}, "127.0.0.1", false},
		{"CF-Connecting-IP", cf, []string{"Cf-Connecting-Ip: 203.0.113.9", "X-Forwarded-For: 198.51.100.77", "X-Forwarded-Proto: https"}, "203.0.113.9", true},
		{"CF-Connecting-IP repeated", cf, []string{"CF-Connecting-IP: 6.6.6.6", "cf-connecting-ip: 203.0.113.9"}, "127.0.0.1", false},
		{"untrusted peer", direct, []string{"X-Forwarded-For: 203.0.113.9", "Forwarded: for=198.51.100.77;proto=https", "X-Forwarded-Proto: https"}, "127.0.0.1", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ip, cookie := send(t, c.addr, c.lines...)
			if ip != c.want {
				t.Errorf("IP = %q, want %q", ip, c.want)
			}
			if cookie == "" {
				t.Fatal("no Set-Cookie")
			}
			if got := strings.Contains(cookie, "; Secure"); got != c.secure {
				t.Errorf("Secure = %v, want %v: %s", got, c.secure, cookie)
			}
		})
	}
}

func ExampleOptions_clientIPHeader() {
	// Behind Cloudflare, whose addresses are the only ones allowed to
	// connect: believe CF-Connecting-IP, and nothing else, from them.
	st, err := qsessions.New(nil, memory.NewPersister(), &qsessions.Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("173.245.48.0/20") /* ... */},
		ClientIPHeader: clientip.CFConnectingIP,
	})
	if err != nil {
		panic(err)
	}
	h := st.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(qsessions.FromContext(r.Context()).Info().IP)
	}))
	for _, remote := range []string{"173.245.48.1:443", "192.0.2.1:50000"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("CF-Connecting-IP", "203.0.113.9")
		req.Header.Set("X-Forwarded-For", "198.51.100.77")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Output:
	// 203.0.113.9
	// 192.0.2.1
}
