package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qsessions/qsessions"
)

// Bounds of the notice board: the demo signs in anyone under any name, so
// what it keeps in memory must not grow with them.
const (
	maxNoticesPerUser = 5
	maxNoticeUsers    = 1000
)

// A signInNotice is a "new sign-in" notice: a sign-in from a device or a
// location that none of the user's other sessions had, while they had
// some. Every session of the user shows it until one of them dismisses it.
type signInNotice struct {
	ID          string    // random, for dismissing
	SessionID   string    // the session that signed in
	Device      string    // "Chrome on Linux"
	Location    string    // "Berlin, Germany"; "" when not known
	IP          string    // "" when not recorded
	At          time.Time // when the session signed in
	NewDevice   bool
	NewLocation bool
}

// Text is the notice's headline: "New sign-in from Chrome on Linux in
// Berlin, Germany".
func (n signInNotice) Text() string {
	s := "New sign-in from " + n.Device
	if n.Location != "" {
		s += " in " + n.Location
	}
	return s
}

// What says what was new about the sign-in: "a new device", "a new
// location" or "a new device and a new location".
func (n signInNotice) What() string {
	switch {
	case n.NewDevice && n.NewLocation:
		return "a new device and a new location"
	case n.NewDevice:
		return "a new device"
	default:
		return "a new location"
	}
}

// A noticeBoard keeps the demo's "new sign-in" notices in memory, by user.
// Its onLogin is the Store's OnLogin hook: it files a notice under a lock
// and returns, so that a slow consumer never holds up the hook (an
// application would hand the event to its mail queue here instead). The
// notices are lost when the demo stops.
type noticeBoard struct {
	geoIP bool // a Locator is configured: describeLocation's argument

	mu     sync.Mutex
	byUser map[string][]signInNotice // newest last
}

func newNoticeBoard(geoIP bool) *noticeBoard {
	return &noticeBoard{geoIP: geoIP, byUser: map[string][]signInNotice{}}
}

// onLogin is the Store's OnLogin hook: it files a notice for a sign-in
// whose device or location is new to a user who has other sessions.
func (b *noticeBoard) onLogin(_ context.Context, e qsessions.LoginEvent) error {
	in := e.Session
	// A re-authentication proves the user again where they already are:
	// no new sign-in to tell the other sessions about.
	if e.Reauthentication || e.OtherSessions == 0 || !e.NewDevice && !e.NewLocation {
		return nil
	}
	n := signInNotice{
		ID:          noticeID(),
		SessionID:   in.ID,
		Device:      deviceName(in),
		IP:          in.IP,
		At:          in.AuthenticatedAt,
		NewDevice:   e.NewDevice,
		NewLocation: e.NewLocation,
	}
	if loc := describeLocation(in, b.geoIP); loc != "local network" && !strings.HasPrefix(loc, "unknown") {
		n.Location = loc
	}
	b.add(in.UserID, n)
	return nil
}

func (b *noticeBoard) add(user string, n signInNotice) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list, ok := b.byUser[user]
	if !ok && len(b.byUser) >= maxNoticeUsers {
		b.evictUserLocked()
	}
	list = append(list, n)
	if len(list) > maxNoticesPerUser {
		list = slices.Delete(list, 0, len(list)-maxNoticesPerUser)
	}
	b.byUser[user] = list
}

// evictUserLocked forgets the user whose newest notice is the oldest.
func (b *noticeBoard) evictUserLocked() {
	var oldest string
	var at time.Time
	for u, list := range b.byUser {
		if last := list[len(list)-1].At; oldest == "" || last.Before(at) {
			oldest, at = u, last
		}
	}
	delete(b.byUser, oldest)
}

// notices returns user's notices, newest first.
func (b *noticeBoard) notices(user string) []signInNotice {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := slices.Clone(b.byUser[user])
	slices.Reverse(list)
	return list
}

// dismiss removes user's notice id and reports whether there was one.
func (b *noticeBoard) dismiss(user, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.byUser[user]
	i := slices.IndexFunc(list, func(n signInNotice) bool { return n.ID == id })
	if i < 0 {
		return false
	}
	list = slices.Delete(list, i, i+1)
	if len(list) == 0 {
		delete(b.byUser, user)
	} else {
		b.byUser[user] = list
	}
	return true
}

// noticeID returns a random notice ID.
func noticeID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
