package qsessions

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxAuthMethod is the longest authentication method that Login records,
// in bytes.
const maxAuthMethod = 64

// checkAuthMethod reports an authentication method that Login refuses: too
// long, not UTF-8, or holding control characters.
func checkAuthMethod(method string) error {
	if len(method) > maxAuthMethod {
		return fmt.Errorf("qsessions: login: method %.20q... is longer than %d bytes", method, maxAuthMethod)
	}
	if !utf8.ValidString(method) {
		return fmt.Errorf("qsessions: login: method %q is not UTF-8", method)
	}
	for _, r := range method {
		if unicode.IsControl(r) {
			return fmt.Errorf("qsessions: login: method %q holds a control character", method)
		}
	}
	return nil
}

// A LoginEvent describes a successful sign-in, for Options.OnLogin: the
// new session, and whether its user was seen before on its device and in
// its location, judged against the user's other live sessions.
type LoginEvent struct {
	// Session is the new session. Its Location and Device methods use the
	// Store's Locator and DeviceParser.
	Session SessionInfo

	// Reauthentication is true when the session already belonged to the
	// user: a Reauthenticate (or a Login of its own user), which proves
	// the user again rather than signing in somewhere new. A "new sign-in"
	// notice has no reason to go out for it.
	Reauthentication bool

	// OtherSessions is how many other live sessions the user has.
	OtherSessions int

	// NewDevice is true when none of the user's other live sessions runs
	// the same browser family on the same OS (as the DeviceParser reads
	// their User-Agents; without one, the same User-Agent).
	NewDevice bool

	// NewLocation is true when none of the user's other live sessions is
	// in the same country, and the same city when both cities are known
	// (as the Locator places their IPs; without one, at the same IP).
	NewLocation bool
}

// afterLogin runs the OnLogin hook for the session i that a request signed
// in, on a goroutine of its own: the hook may be slow (a mailer) and must
// not hold up the response. A panic or error in it is logged. Store.Wait
// waits for the hooks in flight.
func (st *Store) afterLogin(ctx context.Context, i SessionInfo, reauth bool) {
	if st.onLogin == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	st.hooks.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				st.log.LogAttrs(ctx, slog.LevelError, "qsessions: OnLogin panicked",
					slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			}
		}()
		e, err := st.loginEvent(ctx, i)
		e.Reauthentication = reauth
		if err == nil {
			err = st.onLogin(ctx, e)
		}
		if err != nil {
			st.log.LogAttrs(ctx, slog.LevelError, "qsessions: OnLogin failed", slog.String("user", i.UserID), slog.Any("error", err))
		}
	})
}

// loginEvent compares the new session i with its user's other live
// sessions.
func (st *Store) loginEvent(ctx context.Context, i SessionInfo) (LoginEvent, error) {
	e := LoginEvent{Session: i, NewDevice: true, NewLocation: true}
	others, err := st.Sessions(ctx, i.UserID)
	if err != nil {
		return e, err
	}
	dev := deviceKey(e.Session)
	loc, locErr := st.locationKey(e.Session)
	for _, o := range others {
		if o.ID == i.ID {
			continue
		}
		e.OtherSessions++
		if deviceKey(o) == dev {
			e.NewDevice = false
		}
		if k, err := st.locationKey(o); err == nil && locErr == nil && loc.same(k) {
			e.NewLocation = false
		}
	}
	return e, nil
}

// deviceKey is what identifies a device for NewDevice: browser family and
// OS, or the whole User-Agent without a DeviceParser.
func deviceKey(i SessionInfo) string {
	if i.parser == nil {
		return i.UserAgent
	}
	d := i.Device()
	return d.Browser + "\x00" + d.OS
}

type placeKey struct{ country, city, ip string }

// same reports whether two places count as one for NewLocation: the same
// country, and the same city when both are known; without a country, the
// same IP.
func (a placeKey) same(b placeKey) bool {
	if a.country == "" || b.country == "" {
		return a.country == b.country && a.ip == b.ip && a.ip != ""
	}
	return a.country == b.country && (a.city == "" || b.city == "" || a.city == b.city)
}

func (st *Store) locationKey(i SessionInfo) (placeKey, error) {
	k := placeKey{ip: i.IP}
	if st.locator == nil {
		return k, nil
	}
	l, err := i.Location()
	k.country, k.city = l.CountryCode, l.City
	if k.country == "" {
		k.country = l.Country
	}
	return k, err
}

// Wait blocks until every OnLogin call in progress has returned. Call it
// at shutdown, once the HTTP server has stopped taking requests.
func (st *Store) Wait() { st.hooks.Wait() }

// enforceCap makes room for one more session of userID within
// Options.MaxSessionsPerUser: it revokes the user's least recently active
// live sessions beyond the cap.
func (st *Store) enforceCap(ctx context.Context, userID string) error {
	if st.maxPerUser <= 0 {
		return nil
	}
	live, err := st.Sessions(ctx, userID) // most recently active first
	if err != nil {
		return err
	}
	if len(live) < st.maxPerUser {
		return nil
	}
	ids := make([]string, 0, len(live)-st.maxPerUser+1)
	for _, i := range live[st.maxPerUser-1:] {
		ids = append(ids, i.ID)
	}
	if err := st.revoke(ctx, "login: revoke sessions over MaxSessionsPerUser", ids, nil); err != nil {
		return err
	}
	st.log.LogAttrs(ctx, slog.LevelInfo, "qsessions: signed out the least recently active sessions over MaxSessionsPerUser",
		slog.String("user", userID), slog.Int("sessions", len(ids)))
	return nil
}

// AuthenticatedWithin reports whether the session's user authenticated
// less than d ago: whether the session is fresh enough for a sensitive
// action (GitHub's sudo mode). When it is not, ask for the password again
// and call Reauthenticate.
func (s *Session) AuthenticatedWithin(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil || s.metaLocked() != nil || s.base.UserID == "" || s.meta.authAt.IsZero() {
		return false
	}
	return s.store.clock().Sub(s.meta.authAt) < d
}

// Reauthenticate records that the session's user has just proved who they
// are again (entered their password, used their passkey), by method. Like
// a Login of the same user, it rotates the token and keeps the values; the
// user's other sessions are untouched. It fails with ErrNoUser for an
// anonymous session.
func (s *Session) Reauthenticate(ctx context.Context, method string) error {
	s.mu.Lock()
	if err := s.ensureLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	userID := s.base.UserID
	s.mu.Unlock()
	if userID == "" {
		return fmt.Errorf("qsessions: reauthenticate: %w", ErrNoUser)
	}
	return s.LoginWith(ctx, userID, method)
}
