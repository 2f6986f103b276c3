package geo_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/qsessions/qsessions"
)

// A place is one network of a test database and what it says about it.
// Tests derive the Location they expect from the same place, so a field
// that Locate drops or misplaces shows.
type place struct {
	network   string
	city      string
	cityDE    string // German city name, "" for none
	region    string
	country   string
	countryDE string
	iso       string
	continent string
	contCode  string
	timeZone  string
	lat, lon  *float64
}

func ptr(f float64) *float64 { return &f }

// places are the networks of the test City databases: IPv4 and IPv6,
// with and without a city, coordinates at 0,0 (a real place) and none.
var places = []place{
	{network: "192.0.2.0/24", city: "Berlin", cityDE: "Berlin", region: "Land Berlin", country: "Germany", countryDE: "Deutschland",
		iso: "DE", continent: "Europe", contCode: "EU", timeZone: "Europe/Berlin", lat: ptr(52.5196), lon: ptr(13.4069)},
	{network: "198.51.100.0/25", city: "Munich", cityDE: "München", region: "Bavaria", country: "Germany", countryDE: "Deutschland",
		iso: "DE", continent: "Europe", contCode: "EU", timeZone: "Europe/Berlin", lat: ptr(48.1374), lon: ptr(11.5755)},
	{network: "198.51.100.128/25", country: "France", iso: "FR", continent: "Europe", contCode: "EU"},
	{network: "203.0.113.0/24", city: "Null Island", country: "Atlantis", iso: "AA", continent: "Africa", contCode: "AF",
		timeZone: "Etc/UTC", lat: ptr(0), lon: ptr(0)},
	{network: "2001:db8::/32", city: "Tokyo", region: "Tokyo", country: "Japan", countryDE: "Japan", iso: "JP",
		continent: "Asia", contCode: "AS", timeZone: "Asia/Tokyo", lat: ptr(35.6895), lon: ptr(139.6917)},
	{network: "2001:db9::/32", city: "São Paulo", country: "Brazil", iso: "BR", continent: "South America", contCode: "SA",
		timeZone: "America/Sao_Paulo"}, // a city without coordinates
	// Private and loopback networks with data: Locate must not report it.
	{network: "10.0.0.0/8", city: "Intranet", country: "Germany", iso: "DE"},
	{network: "127.0.0.0/8", city: "Localhost", country: "Germany", iso: "DE"},
	{network: "fc00::/7", city: "ULA", country: "Germany", iso: "DE"},
}

// addrIn returns an address inside p's network.
func addrIn(t testing.TB, p place) string {
	t.Helper()
	_, n, err := net.ParseCIDR(p.network)
	if err != nil {
		t.Fatal(err)
	}
	ip := append(net.IP(nil), n.IP...)
	ip[len(ip)-1] |= 7
	return ip.String()
}

func names(en, de string) mmdbtype.Map {
	m := mmdbtype.Map{"en": mmdbtype.String(en)}
	if de != "" {
		m["de"] = mmdbtype.String(de)
	}
	return m
}

// record is p as a GeoIP2 City record, or a Country record when country
// is true.
func record(p place, country bool) mmdbtype.Map {
	r := mmdbtype.Map{}
	if p.country != "" {
		r["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(p.iso), "names": names(p.country, p.countryDE)}
		// The ISP's country: Locate must report the located one.
		r["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": names("United States", "")}
	}
	if p.continent != "" {
		r["continent"] = mmdbtype.Map{"code": mmdbtype.String(p.contCode), "names": names(p.continent, "")}
	}
	if country {
		return r
	}
	if p.city != "" {
		r["city"] = mmdbtype.Map{"names": names(p.city, p.cityDE)}
	}
	if p.region != "" {
		r["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"names": names(p.region, "")},
			mmdbtype.Map{"names": names("Second-level "+p.region, "")},
		}
	}
	loc := mmdbtype.Map{}
	if p.timeZone != "" {
		loc["time_zone"] = mmdbtype.String(p.timeZone)
	}
	if p.lat != nil {
		loc["latitude"] = mmdbtype.Float64(*p.lat)
		loc["longitude"] = mmdbtype.Float64(*p.lon)
		loc["accuracy_radius"] = mmdbtype.Uint16(100)
	}
	if len(loc) > 0 {
		r["location"] = loc
	}
	return r
}

// want is the Location that a City (or Country) database built from p
// should give, with names in lang.
func want(p place, country bool, lang string) qsessions.Location {
	pick := func(en, de string) string {
		if lang == "de" && de != "" {
			return de
		}
		return en
	}
	l := qsessions.Location{
		Country:       pick(p.country, p.countryDE),
		CountryCode:   p.iso,
		Continent:     p.continent,
		ContinentCode: p.contCode,
	}
	if country {
		return l
	}
	l.City = pick(p.city, p.cityDE)
	l.Region = p.region
	l.TimeZone = p.timeZone
	if p.lat != nil {
		l.Latitude, l.Longitude, l.HasCoordinates = *p.lat, *p.lon, true
	}
	return l
}

// buildDB writes a database of type dbType (its name decides City or
// Country records) for ps and returns its bytes.
func buildDB(t testing.TB, dbType string, ipVersion int, ps []place) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IPVersion:               ipVersion,
		IncludeReservedNetworks: true,
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "qsessions geo test database"},
	})
	if err != nil {
		t.Fatal(err)
	}
	country := bytes.Contains([]byte(dbType), []byte("Country"))
	for _, p := range ps {
		_, n, err := net.ParseCIDR(p.network)
		if err != nil {
			t.Fatal(err)
		}
		if ipVersion == 4 && n.IP.To4() == nil {
			continue
		}
		if err := tree.Insert(n, record(p, country)); err != nil {
			t.Fatalf("insert %s: %v", p.network, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func cityDB(t testing.TB) []byte    { return buildDB(t, "GeoLite2-City", 6, places) }
func countryDB(t testing.TB) []byte { return buildDB(t, "GeoLite2-Country", 6, places) }

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
