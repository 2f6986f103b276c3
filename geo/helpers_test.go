package geo_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

// addrIn returns an address inside p's network.
func addrIn(t testing.TB, p mmdbtest.Place) string {
	t.Helper()
	_, n, err := net.ParseCIDR(p.Network)
	if err != nil {
		t.Fatal(err)
	}
	ip := append(net.IP(nil), n.IP...)
	ip[len(ip)-1] |= 7
	return ip.String()
}

// want is the Location that a City (or Country) database built from p
// should give, with names in lang.
func want(p mmdbtest.Place, country bool, lang string) qsessions.Location {
	pick := func(en, de string) string {
		if lang == "de" && de != "" {
			return de
		}
		return en
	}
	l := qsessions.Location{
		Country:       pick(p.Country, p.CountryDE),
		CountryCode:   p.ISO,
		Continent:     p.Continent,
		ContinentCode: p.ContCode,
	}
	if country {
		return l
	}
	l.City = pick(p.City, p.CityDE)
	l.Region = p.Region
	l.TimeZone = p.TimeZone
	if p.Lat != nil {
		l.Latitude, l.Longitude, l.HasCoordinates = *p.Lat, *p.Lon, true
	}
	return l
}

// writeFile writes b to a new file in dir by renaming a temporary file over
// name, the way a database update should be installed.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}
