// Package mmdbtest builds what the tests of geo/ and cmd/qsessions download
// and open: small MaxMind DB files of known places, in City or Country
// shape, the archives that MaxMind and DB-IP publish them in, and fakes of
// their download servers.
package mmdbtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// A Place is one network of a test database and what it says about it.
// Tests derive the Location they expect from the same Place, so a field
// that a reader drops or misplaces shows.
type Place struct {
	Network   string
	City      string
	CityDE    string // German city name, "" for none
	Region    string
	Country   string
	CountryDE string
	ISO       string
	Continent string
	ContCode  string
	TimeZone  string
	Lat, Lon  *float64
}

func ptr(f float64) *float64 { return &f }

// Places are the networks of [City] and [Country]: IPv4 and IPv6, with and
// without a city, coordinates at 0,0 (a real place) and none, and private
// networks with data that a lookup must not report. 192.0.2.0/24 is
// Berlin, Germany.
var Places = []Place{
	{Network: "192.0.2.0/24", City: "Berlin", CityDE: "Berlin", Region: "Land Berlin", Country: "Germany", CountryDE: "Deutschland",
		ISO: "DE", Continent: "Europe", ContCode: "EU", TimeZone: "Europe/Berlin", Lat: ptr(52.5196), Lon: ptr(13.4069)},
	{Network: "198.51.100.0/25", City: "Munich", CityDE: "München", Region: "Bavaria", Country: "Germany", CountryDE: "Deutschland",
		ISO: "DE", Continent: "Europe", ContCode: "EU", TimeZone: "Europe/Berlin", Lat: ptr(48.1374), Lon: ptr(11.5755)},
	{Network: "198.51.100.128/25", Country: "France", ISO: "FR", Continent: "Europe", ContCode: "EU"},
	{Network: "203.0.113.0/24", City: "Null Island", Country: "Atlantis", ISO: "AA", Continent: "Africa", ContCode: "AF",
		TimeZone: "Etc/UTC", Lat: ptr(0), Lon: ptr(0)},
	{Network: "2001:db8::/32", City: "Tokyo", Region: "Tokyo", Country: "Japan", CountryDE: "Japan", ISO: "JP",
		Continent: "Asia", ContCode: "AS", TimeZone: "Asia/Tokyo", Lat: ptr(35.6895), Lon: ptr(139.6917)},
	{Network: "2001:db9::/32", City: "São Paulo", Country: "Brazil", ISO: "BR", Continent: "South America", ContCode: "SA",
		TimeZone: "America/Sao_Paulo"}, // a city without coordinates
	{Network: "10.0.0.0/8", City: "Intranet", Country: "Germany", ISO: "DE"},
	{Network: "127.0.0.0/8", City: "Localhost", Country: "Germany", ISO: "DE"},
	{Network: "fc00::/7", City: "ULA", Country: "Germany", ISO: "DE"},
}

// City returns a GeoLite2-City database of [Places].
func City(tb testing.TB) []byte { return Build(tb, "GeoLite2-City", 6, Places) }

// Country returns a GeoLite2-Country database of [Places].
func Country(tb testing.TB) []byte { return Build(tb, "GeoLite2-Country", 6, Places) }

// Build writes a database of type dbType for ps and returns its bytes. Its
// records are Country records when dbType names a Country database, City
// records otherwise. ipVersion 4 leaves out the IPv6 places.
func Build(tb testing.TB, dbType string, ipVersion int, ps []Place) []byte {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IPVersion:               ipVersion,
		IncludeReservedNetworks: true, // the places are documentation ranges
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "qsessions test database"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	country := strings.Contains(dbType, "Country")
	for _, p := range ps {
		_, n, err := net.ParseCIDR(p.Network)
		if err != nil {
			tb.Fatal(err)
		}
		if ipVersion == 4 && n.IP.To4() == nil {
			continue
		}
		if err := tree.Insert(n, record(p, country)); err != nil {
			tb.Fatalf("insert %s: %v", p.Network, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
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
func record(p Place, country bool) mmdbtype.Map {
	r := mmdbtype.Map{}
	if p.Country != "" {
		r["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(p.ISO), "names": names(p.Country, p.CountryDE)}
		// The ISP's country: a lookup must report the located one.
		r["registered_country"] = mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": names("United States", "")}
	}
	if p.Continent != "" {
		r["continent"] = mmdbtype.Map{"code": mmdbtype.String(p.ContCode), "names": names(p.Continent, "")}
	}
	if country {
		return r
	}
	if p.City != "" {
		r["city"] = mmdbtype.Map{"names": names(p.City, p.CityDE)}
	}
	if p.Region != "" {
		r["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"names": names(p.Region, "")},
			mmdbtype.Map{"names": names("Second-level "+p.Region, "")},
		}
	}
	loc := mmdbtype.Map{}
	if p.TimeZone != "" {
		loc["time_zone"] = mmdbtype.String(p.TimeZone)
	}
	if p.Lat != nil {
		loc["latitude"] = mmdbtype.Float64(*p.Lat)
		loc["longitude"] = mmdbtype.Float64(*p.Lon)
		loc["accuracy_radius"] = mmdbtype.Uint16(100)
	}
	if len(loc) > 0 {
		r["location"] = loc
	}
	return r
}

// A Member is one file of an [Archive].
type Member struct {
	Name string
	Body []byte // a symlink's target for tar.TypeSymlink
	Type byte   // tar.TypeReg when 0
}

// Archive returns a tar.gz of members, in order.
func Archive(tb testing.TB, members ...Member) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range members {
		typ := m.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: m.Name, Typeflag: typ, Mode: 0o644, Size: int64(len(m.Body)), ModTime: time.Unix(1700000000, 0)}
		if typ == tar.TypeDir || typ == tar.TypeSymlink {
			hdr.Size = 0
			hdr.Mode = 0o755
			hdr.Linkname = string(m.Body)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(m.Body); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// MaxMindArchive wraps db in a tar.gz shaped like MaxMind's: a dated
// directory holding the database and its licence files.
func MaxMindArchive(tb testing.TB, edition string, db []byte) []byte {
	tb.Helper()
	dir := edition + "_20260101"
	return Archive(tb,
		Member{Name: dir + "/", Type: tar.TypeDir},
		Member{Name: dir + "/COPYRIGHT.txt", Body: []byte("Database and Contents Copyright (c) MaxMind, Inc.\n")},
		Member{Name: dir + "/LICENSE.txt", Body: []byte("Use of this MaxMind product is governed by ...\n")},
		Member{Name: dir + "/" + edition + ".mmdb", Body: db},
	)
}

// Gzip returns b compressed, as DB-IP publishes its databases.
func Gzip(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// DBIPFile names DB-IP's City Lite file of a month, "2026-05".
func DBIPFile(month string) string { return "dbip-city-lite-" + month + ".mmdb.gz" }

// DBIP is a fake of DB-IP's download server: it serves the files it holds
// at /free/<name>, and 404 for anything else. Its methods are safe for
// concurrent use.
type DBIP struct {
	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

// Set serves body as the file name, "dbip-city-lite-2026-05.mmdb.gz"; a
// nil body stops serving it.
func (d *DBIP) Set(name string, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files == nil {
		d.files = map[string][]byte{}
	}
	if body == nil {
		delete(d.files, name)
		return
	}
	d.files[name] = body
}

// Requests returns the names requested so far, in order.
func (d *DBIP) Requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.requests...)
}

func (d *DBIP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name, ok := strings.CutPrefix(r.URL.Path, "/free/")
	d.requests = append(d.requests, name)
	b, found := d.files[name]
	if !ok || !found || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(b)
}

// MaxMind is a fake of MaxMind's download server. It answers
// /geoip/databases/{edition}/download to HTTP basic authentication as
// Account and Key, and a 401 naming the account otherwise: suffix=tar.gz.sha256
// gives the archive's sha256sum line, and suffix=tar.gz redirects to
// pre-signed storage, which serves the archive. Its methods are safe for
// concurrent use.
type MaxMind struct {
	Account, Key string

	mu        sync.Mutex
	archives  map[string][]byte // edition → archive
	sums      map[string]string // edition → published checksum, overriding the real one
	truncate  bool              // storage sends half an archive with the full Content-Length
	status    int               // every API request gets this status, if set
	hits      int               // requests to the API, authenticated or not
	requests  []string          // "edition suffix" per authenticated request
	downloads int               // archive requests that reached storage
}

// Set serves archive as the edition's, and publishes its checksum.
func (m *MaxMind) Set(edition string, archive []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.archives == nil {
		m.archives, m.sums = map[string][]byte{}, map[string]string{}
	}
	m.archives[edition] = archive
	delete(m.sums, edition)
}

// SetSum publishes sum as the checksum of the edition's archive, whatever
// the archive is.
func (m *MaxMind) SetSum(edition, sum string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sums[edition] = sum
}

// Truncate makes storage send half of each archive, with the Content-Length
// of the whole.
func (m *MaxMind) Truncate() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.truncate = true
}

// Fail answers every API request with status.
func (m *MaxMind) Fail(status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = status
}

// Hits returns how many API requests arrived, authenticated or not.
func (m *MaxMind) Hits() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits
}

// Requests returns "edition suffix" for each authenticated request, in
// order.
func (m *MaxMind) Requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.requests...)
}

// Downloads returns how many archive downloads reached storage.
func (m *MaxMind) Downloads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downloads
}

func (m *MaxMind) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name, ok := strings.CutPrefix(r.URL.Path, "/storage/"); ok {
		m.downloads++
		a := m.archives[name]
		w.Header().Set("Content-Type", "application/gzip")
		if m.truncate {
			w.Header().Set("Content-Length", strconv.Itoa(len(a)))
			w.WriteHeader(http.StatusOK)
			w.Write(a[:len(a)/2])
			return
		}
		w.Write(a)
		return
	}
	m.hits++
	if m.status != 0 {
		http.Error(w, http.StatusText(m.status), m.status)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != m.Account || pass != m.Key {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"code":"INVALID_LICENSE_KEY","error":"Invalid license key for account ` + user + `"}`))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "geoip" || parts[1] != "databases" || parts[3] != "download" {
		http.NotFound(w, r)
		return
	}
	edition, suffix := parts[2], r.URL.Query().Get("suffix")
	a, ok := m.archives[edition]
	if !ok {
		http.NotFound(w, r)
		return
	}
	m.requests = append(m.requests, edition+" "+suffix)
	switch suffix {
	case "tar.gz":
		http.Redirect(w, r, "/storage/"+edition+"?X-Amz-Signature=deadbeef", http.StatusFound)
	case "tar.gz.sha256":
		sum, ok := m.sums[edition]
		if !ok {
			h := sha256.Sum256(a)
			sum = hex.EncodeToString(h[:])
		}
		w.Write([]byte(sum + "  " + edition + "_20260101.tar.gz\n"))
	default:
		http.Error(w, "bad suffix", http.StatusBadRequest)
	}
}
