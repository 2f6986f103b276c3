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
//		[--max-sessions N] [--reauth-after DURATION] [--dbsc]
//
// runs the demo: sign-in under any name (no password), with a password or
// a simulated passkey button that records the method; the list of the
// user's sessions with device, location, IP, how and when each signed in,
// last activity, and a "Device-bound" badge for sessions bound to a device
// key; buttons to sign out one session, everywhere else, or here; and the
// same list as JSON at /sessions.json. A sign-in from a new device or
// location, while the user has other sessions, shows a "new sign-in"
// notice on all of them (the OnLogin hook), saying whether the device, the
// location or both were new, until one dismisses it. "Sign out everywhere
// else" asks a session that signed in more than --reauth-after ago
// (default 5m; 0 asks every time) to confirm it's you by re-entering the
// name, which re-authenticates it. --max-sessions caps the sessions per
// user: a sign-in beyond the cap signs out the least recently active
// (Options.MaxSessionsPerUser; 0, the default, is no cap).
//
// Sessions are kept in an SQLite file behind an in-process go-cache, or
// behind Redis with --redis. The file is demo.db in a qsessions directory
// of the user's cache directory (os.UserCacheDir:
// ~/.cache/qsessions/demo.db on Linux) by default; the directory is
// created 0700 and the database 0600. Behind a reverse proxy,
// --trust-proxy names its networks and --client-ip-header the one header
// it sets (X-Forwarded-For by default). With --dbsc it serves
// https://localhost with a self-signed certificate kept beside the
// database (demo-tls.pem beside demo.db, 0600), binds sessions with
// package dbsc, and prints the Chromium command line (the DBSC features,
// the certificate's SPKI hash) under which a browser binds its session.
// Forms are protected with http.CrossOriginProtection, and every change
// is a POST. It stops cleanly on SIGINT or SIGTERM, once the OnLogin hooks
// in flight have returned.
//
//	qsessions clear-expired (--sqlite FILE | --postgres DSN | --redis-persister ADDR)
//
// deletes expired sessions in batches and prints how many: Django's
// clearsessions. Schedule it.
//
//	qsessions download-geoip --dir DIR [--source dbip] [--edition GeoLite2-City]
//
// downloads or updates a GeoIP database: DB-IP's free City Lite with
// --source dbip (no account), or a MaxMind one, with the credentials from
// --account-id and --license-key or MAXMIND_ACCOUNT_ID and
// MAXMIND_LICENSE_KEY.
//
//	qsessions sessions list --user ID (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [--geoip FILE] [--json]
//	qsessions sessions revoke (SESSION-ID... | --user ID [--except SESSION-ID]...) (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [--redis ADDR]
//
// lists or revokes a user's sessions. --json adds, per session, how and
// when it was authenticated and whether it is device-bound. With a DB-IP
// database, whose licence asks for credit wherever its locations are
// shown, the table ends with DB-IP's credit line and each JSON entry
// carries it. Without --redis, a cache in front of the database is not
// evicted.
//
// Where the application keeps its sessions in Redis alone (package redis),
// these three commands take --redis-persister ADDR instead of --sqlite or
// --postgres: host:port, a redis:// URL, or the host:port of one or more
// nodes of a Redis Cluster, with --redis-prefix when the application set
// Options.Prefix.
//
// Every command takes --help. The exit status is 0 on success, 1 when the
// command failed, and 2 for a bad command line; errors go to stderr,
// prefixed "qsessions: ".
package main
