package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/device"
	"github.com/qsessions/qsessions/geo"
)

// A sessionView is one session as the demo page and the sessions command
// show it.
type sessionView struct {
	ID           string
	Current      bool   // the session of the request: "this device"
	Device       string // "Chrome on macOS"
	DeviceDetail string // "Mac / Mac OS X 10.15.7 / Chrome 131.0.0"
	Location     string // "Berlin, Germany", or why there is none
	IP           string
	UserAgent    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	ExpiresAt    time.Time
	Created      string // relative: "5 minutes ago"
	Active       string
	Expires      string // "in 14 days"

	AuthMethod      string    // "password", "" when not recorded
	AuthenticatedAt time.Time // zero when not recorded
	Authenticated   string    // how and when: "password, 5 minutes ago"
	DeviceBound     bool      // bound to a device key (DBSC): its cookie alone does not sign it in
}

// newSessionView describes in; geoIP says whether a Locator is configured.
func newSessionView(in qsessions.SessionInfo, current string, geoIP bool, now time.Time) sessionView {
	v := sessionView{
		ID:           in.ID,
		Current:      in.ID == current,
		Device:       deviceName(in),
		DeviceDetail: device.Detail(in.Device()),
		Location:     describeLocation(in, geoIP),
		IP:           in.IP,
		UserAgent:    in.UserAgent,
		CreatedAt:    in.CreatedAt,
		UpdatedAt:    in.UpdatedAt,
		ExpiresAt:    in.ExpiresAt,
		Created:      relTime(in.CreatedAt, now),
		Active:       relTime(in.UpdatedAt, now),
		Expires:      relTime(in.ExpiresAt, now),

		AuthMethod:      in.AuthMethod,
		AuthenticatedAt: in.AuthenticatedAt,
		Authenticated:   describeAuth(in, now),
		DeviceBound:     in.DeviceBound(),
	}
	if v.IP == "" {
		v.IP = "unknown"
	}
	return v
}

// deviceName is in's device for people: "Chrome on macOS", or "Unknown
// device".
func deviceName(in qsessions.SessionInfo) string {
	if d := device.Label(in.Device()); d != "" {
		return d
	}
	return "Unknown device"
}

// describeAuth says how and when in's user last proved who they are:
// "password, 5 minutes ago"; "5 minutes ago" when the method is not
// known, and "not recorded" when the time is not (a session signed in
// before it was recorded, or kept by a Persister that does not store it).
func describeAuth(in qsessions.SessionInfo, now time.Time) string {
	if in.AuthenticatedAt.IsZero() {
		return "not recorded"
	}
	when := relTime(in.AuthenticatedAt, now)
	if in.AuthMethod == "" {
		return when
	}
	return in.AuthMethod + ", " + when
}

// describeLocation says where in's IP is, or why that is not known.
func describeLocation(in qsessions.SessionInfo, geoIP bool) string {
	if !geoIP {
		return "unknown (no GeoIP database)"
	}
	loc, err := in.Location()
	if err != nil {
		return "unknown (lookup failed)"
	}
	if s := geo.Label(loc); s != "" {
		return s
	}
	if ip, err := netip.ParseAddr(in.IP); err == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() {
			return "local network"
		}
	}
	return "unknown"
}

// sessionJSON is one session in JSON output, for scripts.
type sessionJSON struct {
	ID           string    `json:"id"`
	UserID       string    `json:"user_id"`
	Device       string    `json:"device"`
	DeviceDetail string    `json:"device_detail"`
	Location     string    `json:"location"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"user_agent"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	ExpiresAt    time.Time `json:"expires_at"`

	// How and when the user last authenticated on the session: its
	// sign-in or its last re-authentication. The method is "" and the time
	// left out when they were not recorded.
	AuthMethod      string    `json:"auth_method"`
	AuthenticatedAt time.Time `json:"authenticated_at,omitzero"`
	DeviceBound     bool      `json:"device_bound"`

	// The credit the GeoIP database's licence asks for wherever its
	// locations are shown (DB-IP's), for 'sessions list --json'; left out
	// for other databases, and in the demo's JSON, which carries it once.
	GeoCredit    string `json:"geoip_attribution,omitempty"`
	GeoCreditURL string `json:"geoip_attribution_url,omitempty"`
}

func newSessionJSON(in qsessions.SessionInfo, geoIP bool) sessionJSON {
	d := in.Device()
	return sessionJSON{
		ID:           in.ID,
		UserID:       in.UserID,
		Device:       device.Label(d),
		DeviceDetail: device.Detail(d),
		Location:     describeLocation(in, geoIP),
		IP:           in.IP,
		UserAgent:    in.UserAgent,
		CreatedAt:    in.CreatedAt,
		UpdatedAt:    in.UpdatedAt,
		ExpiresAt:    in.ExpiresAt,

		AuthMethod:      in.AuthMethod,
		AuthenticatedAt: in.AuthenticatedAt,
		DeviceBound:     in.DeviceBound(),
	}
}

// relTime renders t relative to now for people: "just now", "5 minutes
// ago", "in 14 days", and a date beyond a month.
func relTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if future {
		// "in 14 days" for a session that expires in 13 days 23 hours.
		d = d.Round(time.Minute)
		switch {
		case d >= 24*time.Hour:
			d = d.Round(24 * time.Hour)
		case d >= time.Hour:
			d = d.Round(time.Hour)
		}
	}
	var s string
	switch {
	case d < time.Minute && future:
		return "in under a minute"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = unitCount(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		s = unitCount(int(d/time.Hour), "hour")
	case d < 31*24*time.Hour:
		s = unitCount(int(d/(24*time.Hour)), "day")
	default:
		return "on " + t.UTC().Format("2 Jan 2006")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// humanDuration renders a whole number of hours, minutes or seconds for
// people: "5 minutes", "an hour"; other durations as Go writes them.
func humanDuration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		return unitCount(int(d/time.Hour), "hour")
	case d > 0 && d%time.Minute == 0:
		return unitCount(int(d/time.Minute), "minute")
	case d > 0 && d%time.Second == 0:
		return unitCount(int(d/time.Second), "second")
	}
	return d.String()
}

func unitCount(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "an hour"
		}
		return "a " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
