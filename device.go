package qsessions

import (
	"cmp"
	"strings"
)

// A Device is what a User-Agent string says about the software and hardware
// behind a session. The zero Device means "unknown".
type Device struct {
	Browser        string // family, "Chrome Mobile"
	BrowserVersion string // "118.0.0"
	OS             string // family, "Android"
	OSVersion      string // "10"
	Family         string // device family, "K", "iPhone", "Other"
	Brand          string // "Samsung", "Apple"
	Model          string // "SM-G960F", "iPhone"
	Bot            bool   // a crawler or other automated client

	// BrowserName and OSName are what people call the browser and the OS
	// where that differs from the family, as the parser knows it: "Chrome"
	// for "Chrome Mobile", "macOS" for "Mac OS X". "" means the family.
	BrowserName string
	OSName      string
}

// IsZero reports whether d holds no information.
func (d Device) IsZero() bool { return d == Device{} }

// String renders d the way django-qsessions does,
// "device / OS version / browser version":
// "K / Android 10 / Chrome Mobile 118.0.0". Unknown parts read "Other".
func (d Device) String() string {
	if d.IsZero() {
		return ""
	}
	return orOther(d.Family) + " / " + orOther(join(d.OS, d.OSVersion, " ")) + " / " + orOther(join(d.Browser, d.BrowserVersion, " "))
}

// Friendly renders d for people: "Chrome on macOS", "Safari on iOS",
// "Googlebot (bot)", from BrowserName and OSName where they are set and the
// families otherwise. It returns "" for the zero Device, and "Unknown
// browser" when neither the browser nor the OS is known.
func (d Device) Friendly() string {
	if d.IsZero() {
		return ""
	}
	browser := known(cmp.Or(d.BrowserName, d.Browser))
	os := known(cmp.Or(d.OSName, d.OS))
	var s string
	switch {
	case browser != "" && os != "":
		s = browser + " on " + os
	case browser != "":
		s = browser
	case os != "":
		s = os
	default:
		s = "Unknown browser"
	}
	if d.Bot {
		s += " (bot)"
	}
	return s
}

// known returns name, or "" for the "Other" that parsers give for what
// they could not identify.
func known(name string) string {
	if name == "Other" {
		return ""
	}
	return name
}

func orOther(s string) string {
	if s == "" {
		return "Other"
	}
	return s
}

func join(a, b, sep string) string {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + sep + b
}

// A DeviceParser turns a User-Agent string into a [Device]. The device
// package implements it over uap-core's regexes.
//
// Parse never fails: a User-Agent it cannot make sense of (empty, garbage,
// unknown) yields a Device whose fields are empty or "Other".
// Implementations must be safe for concurrent use and should cache results,
// since the same few User-Agents recur.
type DeviceParser interface {
	Parse(userAgent string) Device
}
