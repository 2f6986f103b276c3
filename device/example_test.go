package device_test

import (
	"fmt"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/device"
)

func ExampleParser_Parse() {
	p := device.New(nil) // cheap: the regexes are built on first use
	for _, ua := range []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	} {
		d := p.Parse(ua)
		fmt.Printf("%s | %s\n", device.Label(d), device.Detail(d))
	}
	// Output:
	// Chrome on macOS | Mac / Mac OS X 10.15.7 / Chrome 124.0.0
	// Chrome on Android | K / Android 10 / Chrome Mobile 118.0.0
	// Googlebot (bot) | Spider / Other / Googlebot 2.1
}

func ExampleNew() {
	p := device.New(&device.Options{
		CacheSize: 10_000, // distinct User-Agents kept parsed
		MaxLength: 300,    // as much as qsessions records by default
	})
	p.Warm() // build the regexes at start-up, not on the first request

	d := p.Parse("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1")
	fmt.Println(device.Label(d), d.Brand, d.Model, d.Bot)
	// Output:
	// Safari on iOS Apple iPhone false
}

// Label and Detail render any Device, whichever DeviceParser made it.
func ExampleLabel() {
	d := qsessions.Device{Browser: "Chrome Mobile", BrowserVersion: "118.0.0", OS: "Android", OSVersion: "10", Family: "K"}
	fmt.Println(device.Label(d))
	fmt.Println(device.Detail(d))
	fmt.Println(device.Label(qsessions.Device{Browser: "Chrome", OS: "Mac OS X"}))
	fmt.Println(device.Label(qsessions.Device{Browser: "Other", OS: "Other"}))
	// Output:
	// Chrome on Android
	// K / Android 10 / Chrome Mobile 118.0.0
	// Chrome on macOS
	// Unknown browser
}
