package geo_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/qsessions/qsessions"

	"github.com/qsessions/qsessions/geo"
)

// tinyCityDB writes a one-network GeoLite2-City database. Real programs
// open MaxMind's file instead; see Download.
func tinyCityDB() []byte {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", IncludeReservedNetworks: true})
	if err != nil {
		log.Fatal(err)
	}
	_, network, _ := net.ParseCIDR("192.0.2.0/24")
	en := func(s string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(s)} }
	err = tree.Insert(network, mmdbtype.Map{
		"city":         mmdbtype.Map{"names": en("Berlin")},
		"subdivisions": mmdbtype.Slice{mmdbtype.Map{"names": en("Land Berlin")}},
		"country":      mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": en("Germany")},
		"continent":    mmdbtype.Map{"code": mmdbtype.String("EU"), "names": en("Europe")},
		"location": mmdbtype.Map{
			"latitude":  mmdbtype.Float64(52.5244),
			"longitude": mmdbtype.Float64(13.4105),
			"time_zone": mmdbtype.String("Europe/Berlin"),
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func ExampleOpenBytes() {
	db, err := geo.OpenBytes(tinyCityDB(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	for _, ip := range []string{"192.0.2.10", "10.0.0.1", "198.51.100.1"} {
		loc, err := db.Locate(netip.MustParseAddr(ip))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %q\n", ip, geo.Label(loc))
	}
	loc, _ := db.Locate(netip.MustParseAddr("192.0.2.10"))
	fmt.Println(loc.Region, loc.CountryCode, loc.ContinentCode, loc.TimeZone)
	fmt.Printf("%.2f, %.2f (%v)\n", loc.Latitude, loc.Longitude, loc.HasCoordinates)
	// Output:
	// 192.0.2.10: "Berlin, Germany"
	// 10.0.0.1: ""
	// 198.51.100.1: ""
	// Land Berlin DE EU Europe/Berlin
	// 52.52, 13.41 (true)
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "geo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/GeoLite2-City.mmdb"
	if err := os.WriteFile(path, tinyCityDB(), 0o644); err != nil {
		log.Fatal(err)
	}

	db, err := geo.Open(path, &geo.Options{Language: "en"})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	info, _ := db.Info()
	loc, _ := db.Locate(netip.MustParseAddr("192.0.2.10"))
	fmt.Println(info.Type, geo.Label(loc))
	// Output:
	// GeoLite2-City Berlin, Germany
}

// Download the free GeoLite2 City database, then keep a DB in step with the
// file. Run the download daily (MaxMind updates GeoLite2 twice a week); it
// downloads nothing when the installed file is current.
func ExampleDownload() {
	ctx := context.Background()
	res, err := geo.Download(ctx, geo.DownloadOptions{
		AccountID:  os.Getenv("MAXMIND_ACCOUNT_ID"),
		LicenseKey: os.Getenv("MAXMIND_LICENSE_KEY"),
		Edition:    "GeoLite2-City",
		Dir:        "/var/lib/geoip",
		Progress: func(p geo.Progress) {
			if p.Phase == geo.PhaseDownloading && p.Total > 0 {
				fmt.Printf("\r%s: %d%%", p.Edition, 100*p.Bytes/p.Total)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("installed", res.Path, "updated:", res.Updated)

	db, err := geo.Open(res.Path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	go db.Watch(ctx, time.Minute) // picks up the next Download
}

// Download DB-IP's free City Lite database, which needs no account, and
// credit DB-IP wherever its locations are shown, as its licence (CC BY 4.0)
// asks. Run the download monthly, or daily: it downloads nothing while the
// installed file is the latest.
func ExampleDownload_dbip() {
	res, err := geo.Download(context.Background(), geo.DownloadOptions{
		Source: geo.DBIP,
		Dir:    "/var/lib/geoip",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("installed", res.Path, "from", res.Archive) // /var/lib/geoip/dbip-city-lite.mmdb

	db, err := geo.Open(res.Path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	info, _ := db.Info()
	fmt.Printf("<a href=%q>%s</a>\n", info.AttributionURL, info.Attribution) // for the page footer
}

func ExampleLabel() {
	fmt.Printf("%q\n", geo.Label(qsessions.Location{City: "Berlin", Country: "Germany"}))
	fmt.Printf("%q\n", geo.Label(qsessions.Location{Country: "Germany"}))
	fmt.Printf("%q\n", geo.Label(qsessions.Location{}))
	// Output:
	// "Berlin, Germany"
	// "Germany"
	// ""
}
