package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qsessions/qsessions/internal/testenv"
)

// The loopback addresses of TestBehindNginx: the client, nginx, and the
// demo each on its own, so that the address a session records says who
// it is. Linux answers on all of 127.0.0.0/8.
const (
	clientAddr = "127.0.0.2" // the browser, as the client's local address
	nginxAddr  = "127.0.0.1" // nginx listens here, and connects to the demo from here (proxy_bind)
	demoAddr   = "127.0.0.3" // the demo, which trusts nginxAddr/32 only
)

// nginxPath returns the nginx binary to run, or ends the test the way
// testenv says when there is none. QSESSIONS_NGINX names one explicitly.
func nginxPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("QSESSIONS_NGINX"); p != "" {
		return p
	}
	for _, name := range []string{"nginx", "/usr/sbin/nginx"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "no nginx found (apt-get install nginx-light, or set QSESSIONS_NGINX)")
	return ""
}

// requireLoopbackAddrs ends the test the way testenv says when this
// machine does not answer on the test's loopback addresses (macOS has
// only 127.0.0.1 unless told otherwise).
func requireLoopbackAddrs(t *testing.T) {
	t.Helper()
	for _, a := range []string{clientAddr, demoAddr} {
		ln, err := net.Listen("tcp", a+":0")
		if err != nil {
			testenv.Missing(t, fmt.Sprintf("cannot listen on %s (%v): this test needs 127.0.0.0/8 on the loopback interface", a, err))
		}
		ln.Close()
	}
}

// startNginx runs nginx in front of the demo at upstream (host:port), with
// xff as the value of its proxy_set_header X-Forwarded-For, and returns
// its base URL. It runs in the foreground as a single process (daemon
// off, master_process off), a child of the test with a temp prefix and
// config, so that stopping it by its PID stops all of it, and it needs no
// other user to read its files. It is stopped when the test ends.
func startNginx(t *testing.T, exe, upstream, xff string) string {
	t.Helper()
	var lastErr error
	for range 3 { // the free port found may be taken before nginx binds it
		u, err := tryNginx(t, exe, upstream, xff)
		if err == nil {
			return u
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return ""
}

func tryNginx(t *testing.T, exe, upstream, xff string) (string, error) {
	ln, err := net.Listen("tcp", nginxAddr+":0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()

	prefix := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
error_log %[1]s/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location / {
			proxy_pass http://%[3]s;
			proxy_bind %[4]s;
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For %[5]s;
		}
	}
}
`, prefix, addr, upstream, nginxAddr, xff)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(exe, "-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "error.log"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return stderr.String() + string(b)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-done:
			return "", fmt.Errorf("nginx exited: %v\n%s", err, errorLog())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return "", fmt.Errorf("nginx is not listening on %s within 10s\n%s", addr, errorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: finish the requests in flight
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("nginx's error log:\n%s", errorLog())
		}
	})
	return "http://" + addr, nil
}

// clientFrom returns a browser whose connections come from the local
// address ip.
func clientFrom(t *testing.T, ip string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, c: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}, ua: macChrome, hdr: http.Header{}}
}

// A spoof is what a client sends to pass for another address.
type spoof struct {
	name string
	hdr  http.Header
}

var spoofs = []spoof{
	{"no header", http.Header{}},
	{"X-Forwarded-For one address", http.Header{"X-Forwarded-For": {"203.0.113.9"}}},
	{"X-Forwarded-For a list", http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113.9"}}},
	{"X-Forwarded-For two lines", http.Header{"X-Forwarded-For": {"198.51.100.7", "203.0.113.9"}}},
	{"X-Forwarded-For unknown", http.Header{"X-Forwarded-For": {"unknown"}}},
	{"X-Forwarded-For the proxy's address", http.Header{"X-Forwarded-For": {nginxAddr}}},
	{"Forwarded", http.Header{"Forwarded": {"for=203.0.113.9;proto=https"}}},
	{"X-Real-IP", http.Header{"X-Real-IP": {"203.0.113.9"}}},
	{"all three", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"for=198.51.100.7"}, "X-Real-IP": {"192.0.2.1"}}},
}

// recordedIP signs b in as user at base with the spoof's headers on every
// request, and returns the IP that the session list shows for the new
// session.
func recordedIP(t *testing.T, b *browser, base, user string) string {
	t.Helper()
	signIn(t, b, base, user)
	_, v := b.sessions(base)
	return find(t, v, v.Current).IP
}

// TestBehindNginx runs the demo behind a real nginx, with --trust-proxy
// naming nginx's address only, and a client on another loopback address
// that sends spoofed X-Forwarded-For (one address, a list, two lines,
// unknown, the proxy's own address), Forwarded and X-Real-IP headers.
//
// With nginx configured as the README says (proxy_set_header
// X-Forwarded-For $proxy_add_x_forwarded_for), the session list shows the
// client's real address every time: nginx appends it, and the demo walks
// the list from the right to the first address it does not trust; the
// other headers are never read.
//
// With nginx configured the wrong way (proxy_set_header X-Forwarded-For
// $http_x_forwarded_for, the client's header passed on untouched), the
// demo records whatever the client wrote last in X-Forwarded-For, when it
// is an address it does not trust: 203.0.113.9, spoofed. With no header,
// unknown, or the proxy's address, it records the proxy's own address,
// 127.0.0.1; never the client's. Forwarded and X-Real-IP are ignored
// either way.
//
// A client that bypasses nginx cannot spoof either: its own address is not
// trusted.
func TestBehindNginx(t *testing.T) {
	exe := nginxPath(t)
	requireLoopbackAddrs(t)
	d := startDemo(t, nil, "--addr", demoAddr+":0", "--trust-proxy", nginxAddr+"/32")
	upstream := strings.TrimPrefix(d.url, "http://")

	for _, c := range []struct {
		name, xff string
		want      map[string]string // the recorded IP per spoof, clientAddr when not listed
	}{
		{"append", "$proxy_add_x_forwarded_for", nil},
		{"pass-through", "$http_x_forwarded_for", map[string]string{
			"no header":                           nginxAddr,
			"X-Forwarded-For one address":         "203.0.113.9",
			"X-Forwarded-For a list":              "203.0.113.9",
			"X-Forwarded-For two lines":           "203.0.113.9",
			"X-Forwarded-For unknown":             nginxAddr,
			"X-Forwarded-For the proxy's address": nginxAddr,
			"Forwarded":                           nginxAddr,
			"X-Real-IP":                           nginxAddr,
			"all three":                           "203.0.113.9",
		}},
		{"bypassing nginx", "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := d.url
			if c.xff != "" {
				base = startNginx(t, exe, upstream, c.xff)
			}
			for i, s := range spoofs {
				b := clientFrom(t, clientAddr)
				b.hdr = s.hdr
				want := clientAddr
				if w, ok := c.want[s.name]; ok {
					want = w
				}
				got := recordedIP(t, b, base, fmt.Sprintf("%s-%d", c.name, i))
				if got != want {
					t.Errorf("%s: the session list shows %s, want %s", s.name, got, want)
				}
				t.Logf("%-36s recorded %s", s.name+":", got)
			}
		})
	}
	d.stop()
}
