package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qsessions/qsessions/geo"
)

func runDownloadGeoIP(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("download-geoip", "qsessions download-geoip --dir DIR [--source dbip] [flags]", `
Download a GeoIP database into DIR as <edition>.mmdb, or do nothing when the
installed one is current, from one of two sources:

  maxmind  MaxMind's GeoLite2 editions (free with an account:
           https://www.maxmind.com/en/geolite2/signup) and GeoIP2 ones. The
           credentials are read from --account-id and --license-key, or else
           from the environment variables MAXMIND_ACCOUNT_ID and
           MAXMIND_LICENSE_KEY (prefer them: flags show in ps). The default
           when credentials are set.
  dbip     DB-IP's IP to City Lite, free and without an account, published
           monthly under CC BY 4.0: whoever shows its locations must credit
           DB-IP ("IP Geolocation by DB-IP", linked to https://db-ip.com),
           as the demo does. This month's file, or last month's until this
           month's is out.

MaxMind's archive is checked against its published SHA-256; DB-IP publishes
no checksum, so its file must open as a City database. Either way the
database is verified before it is renamed into place, so a running program
never sees half a file.

Then run the demo with --geoip DIR/<edition>.mmdb.`)
	source := fs.String("source", "", "the `source` to download from: maxmind, or dbip for DB-IP's free City Lite\n(default maxmind when MaxMind credentials are set)")
	account := fs.String("account-id", "", "MaxMind account `ID` (default $MAXMIND_ACCOUNT_ID)")
	key := fs.String("license-key", "", "MaxMind licence `key` (default $MAXMIND_LICENSE_KEY)")
	edition := fs.String("edition", "", "the database `edition`: GeoLite2-City (the default), GeoLite2-Country, GeoIP2-City, ...\nfrom MaxMind; dbip-city-lite from DB-IP")
	dir := fs.String("dir", "", "the existing `directory` to install the database in (required)")
	baseURL := fs.String("base-url", "", "the download server `URL`, for mirrors and tests (default "+geo.DefaultDownloadURL+"\nor "+geo.DefaultDBIPURL+")")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this `duration`")
	if err := fs.parseFlags(e, args); err != nil {
		return err
	}
	opts := geo.DownloadOptions{Source: geo.Source(*source), Edition: *edition, Dir: *dir, BaseURL: *baseURL}
	switch opts.Source {
	case "", geo.MaxMind:
		opts.AccountID = cmp.Or(*account, e.getenv("MAXMIND_ACCOUNT_ID"))
		opts.LicenseKey = cmp.Or(*key, e.getenv("MAXMIND_LICENSE_KEY"))
		var missing []string
		if opts.AccountID == "" {
			missing = append(missing, "account ID (--account-id or MAXMIND_ACCOUNT_ID)")
		}
		if opts.LicenseKey == "" {
			missing = append(missing, "licence key (--license-key or MAXMIND_LICENSE_KEY)")
		}
		if len(missing) > 0 {
			return usagef(fs.cmd, "no MaxMind %s; a free GeoLite2 account: https://www.maxmind.com/en/geolite2/signup; "+
				"or, without an account, DB-IP's free City Lite: --source dbip", strings.Join(missing, " and no "))
		}
	case geo.DBIP:
	default:
		return usagef(fs.cmd, "--source %q: want maxmind or dbip", *source)
	}
	if *dir == "" {
		return usagef(fs.cmd, "no target directory: pass --dir DIR")
	}
	if *timeout <= 0 {
		return usagef(fs.cmd, "--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	p := newProgressPrinter(e.stdout, e.terminal)
	opts.Progress = p.update
	res, err := geo.Download(ctx, opts)
	p.finish()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (gave up after --timeout %s)", err, *timeout)
		}
		return err
	}
	if res.Updated {
		fmt.Fprintf(e.stdout, "installed %s from %s (sha256 %s)\n", res.Path, res.Archive, res.SHA256)
	} else {
		fmt.Fprintf(e.stdout, "%s is up to date: %s (sha256 %s)\n", res.Path, res.Archive, res.SHA256)
	}
	if g, err := geo.Open(res.Path, nil); err == nil {
		if info, _ := g.Info(); info.Attribution != "" {
			fmt.Fprintf(e.stdout, "its licence asks you to credit it wherever you show its data: %q, linked to %s\n", info.Attribution, info.AttributionURL)
		}
		g.Close()
	}
	fmt.Fprintf(e.stdout, "use it with: qsessions demo --geoip %s\n", res.Path)
	return nil
}

// A progressPrinter shows a Download's progress: a bar redrawn in place on
// a terminal, one line per phase otherwise.
type progressPrinter struct {
	w        io.Writer
	terminal bool
	phase    geo.Phase
	started  bool
	drawn    bool // a bar is on the current line
	last     time.Time
}

func newProgressPrinter(w io.Writer, terminal bool) *progressPrinter {
	return &progressPrinter{w: w, terminal: terminal}
}

func (p *progressPrinter) update(pr geo.Progress) {
	newPhase := !p.started || pr.Phase != p.phase
	p.started, p.phase = true, pr.Phase
	if pr.Phase == geo.PhaseDownloading && p.terminal {
		// Redraw at most ten times a second, and at the end.
		now := time.Now()
		if !newPhase && now.Sub(p.last) < 100*time.Millisecond && pr.Bytes != pr.Total {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r%s\x1b[K", bar(pr))
		p.drawn = true
		return
	}
	if !newPhase {
		return
	}
	p.endBar()
	switch pr.Phase {
	case geo.PhaseChecking:
		fmt.Fprintf(p.w, "checking %s for updates\n", pr.Edition)
	case geo.PhaseDownloading:
		if pr.Total >= 0 {
			fmt.Fprintf(p.w, "downloading %s (%s)\n", pr.Edition, size(pr.Total))
		} else {
			fmt.Fprintf(p.w, "downloading %s\n", pr.Edition)
		}
	case geo.PhaseVerifying:
		fmt.Fprintf(p.w, "verifying %s (%s received)\n", pr.Edition, size(pr.Bytes))
	}
}

// endBar ends the line a bar is drawn on.
func (p *progressPrinter) endBar() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progressPrinter) finish() { p.endBar() }

// bar renders "downloading GeoLite2-City [=======>      ]  52%  14.1 MB / 27.0 MB".
func bar(pr geo.Progress) string {
	if pr.Total <= 0 {
		return fmt.Sprintf("downloading %s  %s", pr.Edition, size(pr.Bytes))
	}
	const width = 30
	frac := min(float64(pr.Bytes)/float64(pr.Total), 1)
	filled := int(frac * width)
	b := strings.Repeat("=", filled)
	if filled < width {
		b += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("downloading %s [%s] %3.0f%%  %s / %s", pr.Edition, b, frac*100, size(pr.Bytes), size(pr.Total))
}

// size renders a byte count for people: "512 B", "14.1 MB".
func size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
