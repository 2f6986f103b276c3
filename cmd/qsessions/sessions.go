package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/geo"
)

const sessionsAbout = `
Usage: qsessions sessions <list|revoke> [flags]

List a user's sessions, or revoke (sign out) sessions, in the database an
application uses.

	qsessions sessions list --user ID (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [--geoip FILE] [--json]
	qsessions sessions revoke SESSION-ID... (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [--redis ADDR]
	qsessions sessions revoke --user ID [--except SESSION-ID]... (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [--redis ADDR]

Run 'qsessions sessions list --help' or 'qsessions sessions revoke --help'
for the flags.
`

func runSessions(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("sessions", "missing subcommand: list or revoke")
	}
	switch args[0] {
	case "list":
		return runSessionsList(ctx, e, args[1:])
	case "revoke":
		return runSessionsRevoke(ctx, e, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, strings.TrimPrefix(sessionsAbout, "\n"))
		return errHelpShown
	}
	return usagef("sessions", "unknown subcommand %q: use list or revoke", args[0])
}

func runSessionsList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("sessions list", "qsessions sessions list --user ID (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [flags]", `
List the live sessions of a user, most recently active first: session ID
(what revoke takes), device, IP, when created, last active and when it
expires. --json prints a JSON array for scripts, with RFC 3339 times, how
and when each session's user authenticated, and whether it is bound to a
device.

With a DB-IP database, whose licence (CC BY 4.0) asks for credit wherever
its locations are shown, the table ends with DB-IP's credit line and each
JSON entry carries it in geoip_attribution and geoip_attribution_url.`)
	var db backendFlags
	db.register(fs)
	user := fs.String("user", "", "the user `ID` whose sessions to list (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	geoPath := fs.String("geoip", "", "a City or Country database `file` (DB-IP, GeoLite2, GeoIP2), to show locations")
	if err := fs.parseFlags(e, args); err != nil {
		return err
	}
	if *user == "" {
		return usagef(fs.cmd, "missing --user ID")
	}
	if err := db.check(fs.cmd); err != nil {
		return err
	}
	opts := &qsessions.Options{DeviceParser: newDeviceParser(), Logger: slog.New(newFaultLog(e.stderr))}
	var credit, creditURL string // the GeoIP database's attribution
	if *geoPath != "" {
		g, err := geo.Open(*geoPath, nil)
		if err != nil {
			return fmt.Errorf("GeoIP database: %w", err)
		}
		defer g.Close()
		opts.Locator = g
		if info, err := g.Info(); err == nil {
			credit, creditURL = info.Attribution, info.AttributionURL
		}
	}
	b, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := qsessions.New(nil, b, opts)
	if err != nil {
		return err
	}
	infos, err := st.Sessions(ctx, *user)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]sessionJSON, 0, len(infos))
		for _, in := range infos {
			j := newSessionJSON(in, opts.Locator != nil)
			j.GeoCredit, j.GeoCreditURL = credit, creditURL
			out = append(out, j)
		}
		return writeJSON(e.stdout, out)
	}
	if len(infos) == 0 {
		fmt.Fprintf(e.stdout, "user %q has no live sessions\n", *user)
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	header := "ID\tDEVICE\tIP\tCREATED\tLAST ACTIVE\tEXPIRES"
	if opts.Locator != nil {
		header = "ID\tDEVICE\tLOCATION\tIP\tCREATED\tLAST ACTIVE\tEXPIRES"
	}
	fmt.Fprintln(tw, header)
	for _, in := range infos {
		v := newSessionView(in, "", opts.Locator != nil, now)
		cells := []string{v.ID, v.Device, v.IP, v.Created, v.Active, v.Expires}
		if opts.Locator != nil {
			cells = []string{v.ID, v.Device, v.Location, v.IP, v.Created, v.Active, v.Expires}
		}
		for i, c := range cells {
			cells[i] = tableCell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if credit != "" {
		_, err = fmt.Fprintf(e.stdout, "Locations: %s (%s)\n", credit, creditURL)
	}
	return err
}

// tableCell keeps a value on one line of one cell.
func tableCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func runSessionsRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("sessions revoke", "qsessions sessions revoke (SESSION-ID... | --user ID [--except SESSION-ID]...) (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [flags]", `
Revoke (sign out) sessions: the sessions with the given IDs, or every
session of --user except those listed with --except. With --user and
session IDs, only sessions of that user are revoked. Session IDs are what
'qsessions sessions list' prints.

The rows are deleted from the database. A cache in front of the database is
NOT evicted unless you pass --redis: without it, an application that caches
sessions keeps accepting a revoked session until its cache entry expires.
Pass --redis with the address of the Redis cache the application uses (and
--key-prefix if it changed qsessions' KeyPrefix), so revoked sessions are
refused on their very next request. An in-process cache (the demo's) cannot
be reached from here: revoke through the application instead.

The exit status is 1 when a named session does not exist.`)
	var db backendFlags
	db.register(fs)
	user := fs.String("user", "", "revoke the sessions of this user `ID`")
	var except stringList
	fs.Var(&except, "except", "with --user, keep this `SESSION-ID` (repeatable)")
	redisAddr := fs.String("redis", "", "also evict the sessions from this Redis cache: `ADDR` host:port or a redis:// URL")
	prefix := fs.String("key-prefix", "qsessions:", "the cache key `prefix` the application uses (its Options.KeyPrefix)")
	asJSON := fs.Bool("json", false, "print JSON: {\"revoked\": N, \"missing\": [...]}")
	ids, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	switch {
	case len(except) > 0 && *user == "":
		return usagef(fs.cmd, "--except needs --user")
	case len(ids) == 0 && *user == "":
		return usagef(fs.cmd, "nothing to revoke: give session IDs or --user ID")
	case len(except) > 0 && len(ids) > 0:
		return usagef(fs.cmd, "--except applies to --user without session IDs")
	case *prefix == "":
		return usagef(fs.cmd, "--key-prefix must not be empty")
	}
	for _, id := range append(append([]string{}, ids...), except...) {
		if !qsessions.ValidToken(id) {
			return usagef(fs.cmd, "%q is not a session ID (43 characters of base64url, as 'sessions list' prints)", id)
		}
	}
	if err := db.check(fs.cmd); err != nil {
		return err
	}
	flog := newFaultLog(e.stderr)
	opts := &qsessions.Options{KeyPrefix: *prefix, Logger: slog.New(flog)}
	var cache qsessions.Cache
	if *redisAddr != "" {
		c, closeRedis, err := openRedis(ctx, *redisAddr)
		if err != nil {
			return err
		}
		defer closeRedis()
		cache = c
	}
	b, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := qsessions.New(cache, b, opts)
	if err != nil {
		return err
	}

	revoked, missing := 0, []string{}
	var lines []string
	if len(ids) == 0 {
		n, err := st.RevokeUser(ctx, *user, except...)
		if err != nil {
			return err
		}
		revoked = n
		line := fmt.Sprintf("revoked %s of user %q", plural(n, "session"), *user)
		if len(except) > 0 {
			line += fmt.Sprintf(" (except the %s given)", plural(len(except), "session"))
		}
		lines = append(lines, line)
	}
	for _, id := range ids {
		ok, owner, err := revokeOne(ctx, st, b, *user, id)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, id)
			continue
		}
		revoked++
		if owner == "" {
			lines = append(lines, fmt.Sprintf("revoked session %s (anonymous)", id))
		} else {
			lines = append(lines, fmt.Sprintf("revoked session %s of user %q", id, owner))
		}
	}
	if flog.errors.Load() > 0 {
		return errors.New("the sessions were deleted from the database, but evicting them from the cache failed (see above): " +
			"they may stay valid until their cache entries expire")
	}
	if *asJSON {
		if err := writeJSON(e.stdout, map[string]any{"revoked": revoked, "missing": missing}); err != nil {
			return err
		}
	} else {
		for _, l := range lines {
			fmt.Fprintln(e.stdout, l)
		}
	}
	if len(missing) > 0 {
		whose := ""
		if *user != "" {
			whose = fmt.Sprintf(" of user %q", *user)
		}
		msg := fmt.Sprintf("no session%s with ID %s in the database (already signed out or expired?)", whose, strings.Join(missing, ", "))
		if cache != nil && *user == "" {
			msg += "; its cache entry, if any, was evicted"
		}
		return errors.New(msg)
	}
	return nil
}

// revokeOne revokes the session id, of user when user is not empty, and
// reports whether it existed and whose it was. Without a user, the cache
// entry is evicted even when the row is gone: a revocation made without
// --redis can be completed with it.
func revokeOne(ctx context.Context, st *qsessions.Store, p qsessions.Persister, user, id string) (bool, string, error) {
	if user != "" {
		ok, err := st.RevokeUserSession(ctx, user, id)
		return ok, user, err
	}
	r, err := p.Load(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, qsessions.ErrNotFound) {
		return false, "", err
	}
	if err := st.Revoke(ctx, id); err != nil {
		return false, "", err
	}
	return found, r.UserID, nil
}
