package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qsessions/qsessions/geo"
)

func runDownloadGeoIP(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("download-geoip", "qsessions download-geoip --dir DIR [flags]", `
Download a MaxMind GeoIP2 or GeoLite2 database into DIR as <edition>.mmdb,
or do nothing when the installed one is current. The archive is checked
against MaxMind's published SHA-256 and the database is verified before it
is renamed into place, so a running program never sees half a file.

GeoLite2 databases are free with a MaxMind account:
https://www.maxmind.com/en/geolite2/signup. The credentials are read from
--account-id and --license-key, or else from the environment variables
MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY (prefer them: flags show in ps).

Then run the demo with --geoip DIR/<edition>.mmdb.`)
	account := fs.String("account-id", "", "MaxMind account `ID` (default $MAXMIND_ACCOUNT_ID)")
	key := fs.String("license-key", "", "MaxMind licence `key` (default $MAXMIND_LICENSE_KEY)")
	edition := fs.String("edition", "GeoLite2-City", "the database `edition`: GeoLite2-City, GeoLite2-Country, GeoIP2-City, ...")
	dir := fs.String("dir", "", "the existing `directory` to install the database in (required)")
	baseURL := fs.String("base-url", geo.DefaultDownloadURL, "the download server `URL`, for mirrors and tests")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this `duration`")
	if err := fs.parseFlags(e, args); err != nil {
		return err
	}
	if *account == "" {
		*account = e.getenv("MAXMIND_ACCOUNT_ID")
	}
	if *key == "" {
		*key = e.getenv("MAXMIND_LICENSE_KEY")
	}
	var missing []string
	if *account == "" {
		missing = append(missing, "account ID (--account-id or MAXMIND_ACCOUNT_ID)")
	}
	if *key == "" {
		missing = append(missing, "licence key (--license-key or MAXMIND_LICENSE_KEY)")
	}
	if len(missing) > 0 {
		return usagef(fs.cmd, "no MaxMind %s; a free GeoLite2 account: https://www.maxmind.com/en/geolite2/signup",
			strings.Join(missing, " and no "))
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
	res, err := geo.Download(ctx, geo.DownloadOptions{
		AccountID:  *account,
		LicenseKey: *key,
		Edition:    *edition,
		Dir:        *dir,
		BaseURL:    *baseURL,
		Progress:   p.update,
	})
	p.finish()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w (gave up after --timeout %s)", err, *timeout)
		}
		return err
	}
	if res.Updated {
		fmt.Fprintf(e.stdout, "installed %s (sha256 %s)\n", res.Path, res.SHA256)
	} else {
		fmt.Fprintf(e.stdout, "%s is up to date (sha256 %s)\n", res.Path, res.SHA256)
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
