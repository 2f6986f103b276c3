package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/qsessions/qsessions"
)

// errHelpShown reports that --help was asked for and answered.
var errHelpShown = errors.New("help shown")

// A usageError is a bad command line: exit status 2.
type usageError struct {
	cmd string // the command whose --help to suggest, "sessions list"
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, a...)}
}

// A flagSet is a flag.FlagSet with the usage text of one command.
type flagSet struct {
	*flag.FlagSet
	cmd   string // "sessions list"
	usage string // "qsessions sessions list --user ID [flags]"
	about string // what the command does, a paragraph or more
}

func newFlagSet(cmd, usage, about string) *flagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, cmd: cmd, usage: usage, about: about}
}

// printHelp writes the command's usage and flags in the --flag style.
func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", fs.usage, strings.TrimSpace(fs.about))
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parse parses args, flags and positional arguments in any order ("--"
// ends the flags), and returns the positional arguments. --help prints the
// help to stdout and returns errHelpShown; a bad flag is a usageError.
func (fs *flagSet) parse(e *env, args []string) ([]string, error) {
	pos, args := fs.dashIDs(args)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printHelp(e.stdout)
				return nil, errHelpShown
			}
			return nil, &usageError{cmd: fs.cmd, err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first argument that is not a flag, and
		// consumes a "--" that ends the flags.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseFlags parses args for a command that takes flags only: a positional
// argument is a usageError.
func (fs *flagSet) parseFlags(e *env, args []string) error {
	pos, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef(fs.cmd, "unexpected argument %q", pos[0])
	}
	return nil
}

// dashIDs takes out of args the session IDs that begin with "-" (base64url
// has "-" in its alphabet) and stand where a positional argument may, so
// that the flag package does not read them as flags. An ID that is the
// value of a flag (--except -abc...) stays where it is.
func (fs *flagSet) dashIDs(args []string) (ids, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ids, append(rest, args[i:]...)
		case strings.HasPrefix(a, "-") && qsessions.ValidToken(a):
			ids = append(ids, a)
			continue
		}
		rest = append(rest, a)
		if fs.takesValue(a) && i+1 < len(args) {
			i++
			rest = append(rest, args[i])
		}
	}
	return ids, rest
}

// takesValue reports whether a is a flag, without "=value", whose value is
// the next argument.
func (fs *flagSet) takesValue(a string) bool {
	if !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(a, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}
