package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/qsessions/qsessions"
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
}

// newSessionView describes in; geoIP says whether a Locator is configured.
func newSessionView(in qsessions.SessionInfo, current string, geoIP bool, now time.Time) sessionView {
	d := in.Device()
	v := sessionView{
		ID:           in.ID,
		Current:      in.ID == current,
		Device:       d.Friendly(),
		DeviceDetail: d.String(),
		Location:     describeLocation(in, geoIP),
		IP:           in.IP,
		UserAgent:    in.UserAgent,
		CreatedAt:    in.CreatedAt,
		UpdatedAt:    in.UpdatedAt,
		ExpiresAt:    in.ExpiresAt,
		Created:      relTime(in.CreatedAt, now),
		Active:       relTime(in.UpdatedAt, now),
		Expires:      relTime(in.ExpiresAt, now),
	}
	if v.Device == "" {
		v.Device = "Unknown device"
	}
	if v.IP == "" {
		v.IP = "unknown"
	}
	return v
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
	if s := loc.String(); s != "" {
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
}

func newSessionJSON(in qsessions.SessionInfo, geoIP bool) sessionJSON {
	d := in.Device()
	return sessionJSON{
		ID:           in.ID,
		UserID:       in.UserID,
		Device:       d.Friendly(),
		DeviceDetail: d.String(),
		Location:     describeLocation(in, geoIP),
		IP:           in.IP,
		UserAgent:    in.UserAgent,
		CreatedAt:    in.CreatedAt,
		UpdatedAt:    in.UpdatedAt,
		ExpiresAt:    in.ExpiresAt,
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

func unitCount(n int, unit string) string {
	if n == 1 {
		if unit == "hour" {
			return "an hour"
		}
		return "a " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
