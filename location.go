package qsessions

import "net/netip"

// A Location is where an IP address is, as far as a GeoIP database knows.
// The zero Location means "unknown".
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

// IsZero reports whether l holds no information.
func (l Location) IsZero() bool { return l == Location{} }

// String renders l the way django-qsessions does: "Berlin, Germany" when the
// city is known, "Germany" when only the country is, and "" otherwise.
func (l Location) String() string {
	switch {
	case l.City != "" && l.Country != "":
		return l.City + ", " + l.Country
	case l.Country != "":
		return l.Country
	case l.City != "":
		return l.City
	}
	return ""
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
