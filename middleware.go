package qsessions

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

type ctxKey struct{}

// FromContext returns the session of the request whose context ctx is, as
// set up by Store.Middleware, or nil when ctx did not pass through it.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// errReplaced is returned by Write when the ErrorHandler has replaced the
// handler's response.
var errReplaced = errors.New("qsessions: response replaced by the ErrorHandler after a session failure")

// Middleware loads the session of each request from its cookie, lazily, on
// the handler's first use of FromContext(r.Context()), and saves it.
//
// # Order of events
//
// The session is saved, and its cookie set or deleted, at the first of:
// the handler's first WriteHeader (other than 1xx), Write, Flush, ReadFrom
// or Hijack, or the handler's return. So the save happens before the first
// byte of the response leaves, while a cookie can still be set, and a
// failed save can still be answered by the ErrorHandler, whose response
// replaces the handler's (later writes by the handler are discarded and
// return an error). A change made to the session after the response has
// started cannot be saved: it is dropped and logged. A handler that panics
// saves nothing.
//
// The session is written only when something changed (values, user, IP,
// User-Agent, expiry) or when TouchInterval has passed since its last
// write. The response gets "Vary: Cookie" when the handler used the
// session, and `Cache-Control: no-cache="Set-Cookie"` when it carries a
// session cookie.
func (st *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &requestState{} // the session and the writer in one allocation
		s := &rs.session
		s.store, s.ctx = st, r.Context()
		s.hadCookie = st.requestTokens(r, &s.pending)
		var ip netip.Addr
		var ua string
		if st.recordIP {
			ip = st.ip.ClientIP(r)
		}
		if st.recordUA {
			ua = truncateUserAgent(r.Header.Get("User-Agent"), st.maxUA)
		}
		s.observe(ip, ua)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		sw := &rs.writer
		sw.ResponseWriter, sw.st, sw.s, sw.r = w, st, s, r
		next.ServeHTTP(sw, r)
		if !sw.committed {
			sw.commit()
			return
		}
		s.mu.Lock()
		changedLate := s.phase == late
		s.mu.Unlock()
		if changedLate {
			st.log.LogAttrs(r.Context(), slog.LevelWarn, "qsessions: session changed after the response started; the change is not saved",
				slog.String("path", r.URL.Path))
		}
	})
}

// requestState is what Middleware allocates per request.
type requestState struct {
	session Session
	writer  responseWriter
}

// requestTokens adds to ts the values of the request's session cookies
// that have the shape of a token, in order, and reports whether the
// request carried a session cookie at all. Every well-formed one is tried
// when the session loads, so a cookie planted for a parent domain or a
// longer path, which the browser sends first, cannot shadow the user's
// own. It reads the Cookie headers as net/http does (names and values
// trimmed, one pair of double quotes removed from a value) without
// allocating.
func (st *Store) requestTokens(r *http.Request, ts *tokens) (had bool) {
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(part, "=")
			if !ok || strings.TrimSpace(name) != st.cookie.Name {
				continue
			}
			had = true
			value = strings.TrimSpace(value)
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if st.validToken(value) {
				ts.add(value)
			}
		}
	}
	return had
}

// finish saves the session and writes the cookie headers. It runs once per
// request, before the response starts.
func (st *Store) finish(w http.ResponseWriter, r *http.Request, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = committed
	if !s.accessed {
		return nil
	}
	addVary(w.Header())
	action, err := s.saveLocked(r.Context(), true)
	switch {
	case err != nil:
		return err
	case action == cookieSet:
		st.setCookie(w, r, s)
	case action == cookieDelete:
		st.deleteCookie(w, r)
	}
	s.afterSaveLocked(r.Context())
	return nil
}

func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, "Cookie") {
				return
			}
		}
	}
	h.Add("Vary", "Cookie")
}

func (st *Store) setCookie(w http.ResponseWriter, r *http.Request, s *Session) {
	c := st.cookieFor(r)
	c.Value = s.token
	if !s.vals.browserClose {
		exp := s.cookieExpiryLocked()
		c.Expires = exp
		c.MaxAge = max(1, int(exp.Sub(st.clock())/time.Second))
	}
	st.writeCookie(w, c)
}

// deleteCookie expires the session cookie in the browser.
func (st *Store) deleteCookie(w http.ResponseWriter, r *http.Request) {
	c := st.cookieFor(r)
	c.MaxAge = -1
	c.Expires = time.Unix(0, 0)
	st.writeCookie(w, c)
}

func (st *Store) cookieFor(r *http.Request) *http.Cookie {
	o := &st.cookie
	return &http.Cookie{
		Name:        o.Name,
		Path:        o.Path,
		Domain:      o.Domain,
		Secure:      o.Secure.or(st.ip.IsHTTPS(r)),
		HttpOnly:    o.HttpOnly.or(true),
		SameSite:    o.SameSite,
		Partitioned: o.Partitioned,
	}
}

func (st *Store) writeCookie(w http.ResponseWriter, c *http.Cookie) {
	h := w.Header()
	h.Add("Set-Cookie", c.String())
	const directive = `no-cache="Set-Cookie"`
	switch cc := h.Get("Cache-Control"); {
	case cc == "":
		h.Set("Cache-Control", directive)
	case !strings.Contains(cc, "no-cache") && !strings.Contains(cc, "no-store"):
		h.Set("Cache-Control", cc+", "+directive)
	}
}

func (st *Store) defaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		st.deleteCookie(w, r)
		http.Error(w, "Your session has ended. Please sign in again.", http.StatusUnauthorized)
		return
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// responseWriter saves the session before the response starts.
type responseWriter struct {
	http.ResponseWriter
	st        *Store
	s         *Session
	r         *http.Request
	committed bool
	failed    bool
}

// commit saves the session once; it reports whether the handler's response
// may go ahead.
func (w *responseWriter) commit() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	err := w.st.finish(w.ResponseWriter, w.r, w.s)
	if err == nil {
		return true
	}
	w.failed = true
	level := slog.LevelError
	if errors.Is(err, ErrNotFound) {
		level = slog.LevelInfo
	}
	w.st.log.LogAttrs(w.r.Context(), level, "qsessions: session save failed", slog.String("path", w.r.URL.Path), slog.Any("error", err))
	w.st.onError(w.ResponseWriter, w.r, err)
	return false
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if !w.committed || !w.failed {
			w.ResponseWriter.WriteHeader(code)
		}
		return
	}
	if w.commit() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.commit() {
		return 0, errReplaced
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps io.Copy's fast path (sendfile) after the save.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.commit() {
		return 0, errReplaced
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

// writerOnly hides ReadFrom so io.Copy does not recurse.
type writerOnly struct{ io.Writer }

func (w *responseWriter) Flush() {
	w.FlushError()
}

// FlushError is what http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	if !w.commit() {
		return errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack saves the session before handing over the connection. Headers,
// and so cookies, are not sent on a hijacked connection.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.commit() {
		return nil, nil, errReplaced
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// truncateUserAgent replaces invalid UTF-8 and cuts ua to at most max bytes
// on a rune boundary.
func truncateUserAgent(ua string, max int) string {
	if !utf8.ValidString(ua) {
		ua = strings.ToValidUTF8(ua, "\uFFFD")
	}
	if len(ua) <= max {
		return ua
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}
