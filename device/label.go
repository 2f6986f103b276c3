package device

import (
	"cmp"
	"strings"

	"github.com/qsessions/qsessions"
)

// Label renders d for people: "Chrome on macOS", "Safari on iOS",
// "Googlebot (bot)", calling the browser and the OS what people call them
// ("Chrome" for uap-core's "Chrome Mobile", "macOS" for "Mac OS X"). It
// returns "" for the zero Device, and "Unknown browser" when neither the
// browser nor the OS is known.
func Label(d qsessions.Device) string {
	if d == (qsessions.Device{}) {
		return ""
	}
	browser := known(cmp.Or(friendlyBrowsers[d.Browser], d.Browser))
	os := known(cmp.Or(friendlyOSes[d.OS], d.OS))
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

// Detail renders d the way django-qsessions does,
// "device / OS version / browser version":
// "K / Android 10 / Chrome Mobile 118.0.0". Unknown parts read "Other";
// the zero Device renders as "".
func Detail(d qsessions.Device) string {
	if d == (qsessions.Device{}) {
		return ""
	}
	return orOther(d.Family) + " / " + orOther(join(d.OS, d.OSVersion)) + " / " + orOther(join(d.Browser, d.BrowserVersion))
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

// join joins a family and its version with a space, leaving out what is
// empty.
func join(family, version string) string {
	family, version = strings.TrimSpace(family), strings.TrimSpace(version)
	switch {
	case family == "":
		return version
	case version == "":
		return family
	}
	return family + " " + version
}
