package qsessions

// A Device is what a User-Agent string says about the software and hardware
// behind a session, in the families and versions of uap-core (package
// device renders it for people). The zero Device means "unknown".
type Device struct {
	Browser        string // family, "Chrome Mobile"
	BrowserVersion string // "118.0.0"
	OS             string // family, "Android"
	OSVersion      string // "10"
	Family         string // device family, "K", "iPhone", "Other"
	Brand          string // "Samsung", "Apple"
	Model          string // "SM-G960F", "iPhone"
	Bot            bool   // a crawler or other automated client
}

// A DeviceParser turns a User-Agent string into a [Device]. The device
// package implements it over uap-core's regexes, and renders a Device for
// people.
//
// Parse never fails: a User-Agent it cannot make sense of (empty, garbage,
// unknown) yields a Device whose fields are empty or "Other".
// Implementations must be safe for concurrent use and should cache results,
// since the same few User-Agents recur.
type DeviceParser interface {
	Parse(userAgent string) Device
}
