package geo_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/qsessions/qsessions/geo"
	"github.com/qsessions/qsessions/internal/mmdbtest"
)

// FuzzOpenBytes feeds OpenBytes arbitrary bytes and looks up a few
// addresses in whatever opens: errors are expected, panics are bugs.
func FuzzOpenBytes(f *testing.F) {
	city := mmdbtest.City(f)
	country := mmdbtest.Country(f)
	v4 := mmdbtest.Build(f, "GeoLite2-City", 4, mmdbtest.Places)
	meta := bytes.LastIndex(city, []byte("\xab\xcd\xefMaxMind.com"))
	f.Add(city)
	f.Add(country)
	f.Add(v4)
	f.Add([]byte{})
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	f.Add(city[:len(city)/2])
	f.Add(city[:len(city)-1])
	f.Add(city[meta:])
	flipped := bytes.Clone(city)
	for i := 0; i < meta; i += 97 {
		flipped[i] ^= 0x5a
	}
	f.Add(flipped)

	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("198.51.100.200"),
		netip.MustParseAddr("203.0.113.7"),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("8.8.8.8"),
		netip.MustParseAddr("2a00:1450::1"),
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The DB reads b in place and the fuzzer reuses it; copy.
		db, err := geo.OpenBytes(bytes.Clone(b), nil)
		if err != nil {
			return
		}
		defer db.Close()
		for _, ip := range addrs {
			_, _ = db.Locate(ip)
		}
	})
}
