package main

import (
	"context"
	"fmt"

	"github.com/qsessions/qsessions"
)

func runClearExpired(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("clear-expired", "qsessions clear-expired (--sqlite FILE | --postgres DSN | --redis-persister ADDR) [flags]", `
Delete the sessions that have expired and print how many were deleted:
Django's clearsessions. The backend deletes in short transactions, so that
the sessions in use are not kept waiting. Expired sessions are already refused; this
only reclaims their rows. Run it from cron or a systemd timer, hourly say.
Cache entries expire on their own, so no cache is needed.`)
	var db backendFlags
	db.register(fs)
	if err := fs.parseFlags(e, args); err != nil {
		return err
	}
	if err := db.check(fs.cmd); err != nil {
		return err
	}
	b, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	st, err := qsessions.New(nil, b, nil)
	if err != nil {
		return err
	}
	n, err := st.DeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("%w (%s deleted before the failure)", err, plural(n, "expired session"))
	}
	fmt.Fprintf(e.stdout, "deleted %s\n", plural(n, "expired session"))
	return nil
}

// plural returns "1 session", "2 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
