package clientip_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/qsessions/qsessions/clientip"
)

var proxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

func request(remote string, header ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

func TestClientIP(t *testing.T) {
	xff, _ := clientip.New(proxies, "")
	real, _ := clientip.New(proxies, "x-real-ip")
	fwd, _ := clientip.New(proxies, clientip.Forwarded)
	for _, c := range []struct {
		name string
		r    *clientip.Resolver
		req  *http.Request
		want string
	}{
		{"no proxy: the peer", xff, request("203.0.113.9:1234", "X-Forwarded-For", "192.0.2.1"), "203.0.113.9"},
		{"trusted proxy appends", xff, request("10.0.0.5:443", "X-Forwarded-For", "198.51.100.7, 192.0.2.1"), "192.0.2.1"},
		{"past trusted hops", xff, request("10.0.0.5:443", "X-Forwarded-For", "192.0.2.1, 10.1.1.1"), "192.0.2.1"},
		{"unknown stops the walk", xff, request("10.0.0.5:443", "X-Forwarded-For", "192.0.2.1, unknown"), "10.0.0.5"},
		{"the other header is ignored", xff, request("10.0.0.5:443", "X-Real-IP", "192.0.2.1"), "10.0.0.5"},
		{"single-IP header", real, request("10.0.0.5:443", "X-Real-IP", "192.0.2.1"), "192.0.2.1"},
		{"single-IP header twice", real, request("10.0.0.5:443", "X-Real-IP", "192.0.2.1", "X-Real-IP", "192.0.2.2"), "10.0.0.5"},
		{"Forwarded", fwd, request("10.0.0.5:443", "Forwarded", `for=192.0.2.1;proto=https, for="[2001:db8::1]:443"`), "2001:db8::1"},
		{"IPv4-mapped peer", xff, request("[::ffff:203.0.113.9]:1234"), "203.0.113.9"},
	} {
		if got := c.r.ClientIP(c.req); got.String() != c.want {
			t.Errorf("%s: ClientIP = %s, want %s", c.name, got, c.want)
		}
	}
	if got := xff.ClientIP(request("not an address")); got.IsValid() {
		t.Errorf("ClientIP of a request with an unparsable RemoteAddr = %s, want the zero Addr", got)
	}
}

func TestIsHTTPS(t *testing.T) {
	xff, _ := clientip.New(proxies, "")
	fwd, _ := clientip.New(proxies, clientip.Forwarded)
	for _, c := range []struct {
		name string
		r    *clientip.Resolver
		req  *http.Request
		want bool
	}{
		{"trusted proxy says https", xff, request("10.0.0.5:443", "X-Forwarded-Proto", "https"), true},
		{"untrusted peer says https", xff, request("203.0.113.9:1", "X-Forwarded-Proto", "https"), false},
		{"first value counts", xff, request("10.0.0.5:443", "X-Forwarded-Proto", "http, https"), false},
		{"Forwarded proto", fwd, request("10.0.0.5:443", "Forwarded", "for=192.0.2.1;proto=https"), true},
		{"Forwarded ignores X-Forwarded-Proto", fwd, request("10.0.0.5:443", "X-Forwarded-Proto", "https"), false},
	} {
		if got := c.r.IsHTTPS(c.req); got != c.want {
			t.Errorf("%s: IsHTTPS = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, name := range []string{"X Real IP", "X-Real-IP:", "(ip)", "Ünicode"} {
		if _, err := clientip.New(nil, name); err == nil || !strings.Contains(err.Error(), "header") {
			t.Errorf("New(nil, %q) = %v; want an error about the header", name, err)
		}
	}
	if _, err := clientip.New([]netip.Prefix{{}}, ""); err == nil || !strings.Contains(err.Error(), "index 0") {
		t.Errorf("New with an invalid prefix = %v; want an error naming its index", err)
	}
}

func ExampleResolver_ClientIP() {
	// nginx on 10.0.0.5 appends its peer's address:
	// proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
	r, err := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}, clientip.XForwardedFor)
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.5:51234"
	req.Header.Set("X-Forwarded-For", "203.0.113.9, 192.0.2.44") // the client wrote the first
	fmt.Println(r.ClientIP(req))
	// Output: 192.0.2.44
}
