package qsessions

import "net/netip"

// A Location is where an IP address is, as far as a GeoIP database knows
// (package geo renders it for people). The zero Location means "unknown".
type Location struct {
	City          string // "Berlin"
	Region        string // first subdivision, "Land Berlin"
	Country       string // "Germany"
	CountryCode   string // ISO 3166-1 alpha-2, "DE"
	Continent     string // "Europe"
	ContinentCode string // "EU"
	TimeZone      string // IANA name, "Europe/Berlin"

	// Latitude and Longitude are meaningful only when HasCoordinates is
	// true: 0,0 is a real place in the Gulf of Guinea.
	Latitude       float64
	Longitude      float64
	HasCoordinates bool
}

// A Locator finds where an IP address is. The geo package implements it
// over MaxMind GeoIP2 and GeoLite2 databases.
//
// Locate returns the zero Location and a nil error for addresses it knows
// nothing about, including private and loopback addresses; an error means
// the lookup itself failed (a corrupt database, say). Implementations must
// be safe for concurrent use.
type Locator interface {
	Locate(ip netip.Addr) (Location, error)
}
