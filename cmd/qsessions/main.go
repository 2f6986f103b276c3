package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stdout)}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure
	exitUsage   = 2 // bad command line
)

// An env is what a command may use of the outside world.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	terminal       bool // stdout is a terminal: progress bars instead of lines
}

// A command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "run the demo web app: sign in, see your sessions, sign them out", runDemo},
		{"clear-expired", "delete expired sessions from the database (Django's clearsessions)", runClearExpired},
		{"download-geoip", "download or update a MaxMind GeoIP2/GeoLite2 database", runDownloadGeoIP},
		{"sessions", "list or revoke a user's sessions (list, revoke)", runSessions},
		{"help", "show help for qsessions or for a command", nil},
	}
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			// "qsessions help demo" is "qsessions demo --help".
			return run(ctx, e, append(append([]string{}, rest...), "--help"))
		}
		printUsage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return report(e, name, c.run(ctx, e, rest))
		}
	}
	fmt.Fprintf(e.stderr, "qsessions: unknown command %q\n", name)
	fmt.Fprintln(e.stderr, "Run 'qsessions help' for the list of commands.")
	return exitUsage
}

// report prints err, if any, and returns the exit status for it.
func report(e *env, name string, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "qsessions: %s: %v\n", name, ue.err)
		fmt.Fprintf(e.stderr, "Run 'qsessions %s --help' for usage.\n", ue.cmd)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "qsessions: %s: %v\n", name, err)
	return exitFailure
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `qsessions is the command line of github.com/qsessions/qsessions, server-side
web sessions that know who they belong to.

Usage:

	qsessions <command> [flags] [arguments]

Commands:

`)
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'qsessions <command> --help' for a command's flags. Start with

	go run ./cmd/qsessions demo

Exit status: 0 on success, 1 when the command failed, 2 for a bad command line.
`)
}

// isTerminal reports whether f is a terminal (a character device), without
// golang.org/x/term.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
