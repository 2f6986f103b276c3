// Command qsessions is the command line of github.com/qsessions/qsessions:
// a demo web app that shows what the library does, and the admin jobs of an
// application that uses it. Start with the demo:
//
//	go run ./cmd/qsessions demo
//
// then open http://127.0.0.1:8080 in two browsers (or a normal and a
// private window), sign in under the same name in both, and sign one out
// from the other.
//
// # Commands
//
//	qsessions demo [--addr host:port] [--sqlite FILE] [--geoip FILE] [--redis ADDR]
//		[--trust-proxy NETWORKS [--client-ip-header NAME]]
//
// runs the demo: sign-in under any name (no password), the list of the
// user's sessions with device, location, IP, and created and last-active
// times, buttons to sign out one session, everywhere else, or here, and
// the same list as JSON at /sessions.json. Sessions are kept in an SQLite
// file behind an in-process go-cache, or behind Redis with --redis. The
// file is demo.db in a qsessions directory of the user's cache directory
// (os.UserCacheDir: ~/.cache/qsessions/demo.db on Linux) by default; the
// directory is created 0700 and the database 0600. Behind a reverse
// proxy, --trust-proxy names its networks and --client-ip-header the one
// header it sets (X-Forwarded-For by default). Forms are protected with
// http.CrossOriginProtection. It stops cleanly on SIGINT or SIGTERM.
//
//	qsessions clear-expired (--sqlite FILE | --postgres DSN) [--batch N]
//
// deletes expired sessions in batches and prints how many: Django's
// clearsessions. Schedule it.
//
//	qsessions download-geoip --dir DIR [--edition GeoLite2-City]
//
// downloads or updates a MaxMind database, with the credentials from
// --account-id and --license-key or MAXMIND_ACCOUNT_ID and
// MAXMIND_LICENSE_KEY.
//
//	qsessions sessions list --user ID (--sqlite FILE | --postgres DSN) [--json]
//	qsessions sessions revoke (SESSION-ID... | --user ID [--except SESSION-ID]...) (--sqlite FILE | --postgres DSN) [--redis ADDR]
//
// lists or revokes a user's sessions. Without --redis, a cache in front of
// the database is not evicted.
//
// Every command takes --help. The exit status is 0 on success, 1 when the
// command failed, and 2 for a bad command line; errors go to stderr,
// prefixed "qsessions: ".
package main
