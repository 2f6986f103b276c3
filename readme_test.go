package qsessions_test

import (
	"os"
	"strings"
	"testing"
)

// The README's complete program is examples/complete, which the build
// compiles and vets: the two must not drift apart.
func TestREADMEProgram(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile("examples/complete/main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "This is `examples/complete/main.go`")
	if !ok {
		t.Fatal("README.md does not show examples/complete/main.go")
	}
	_, rest, _ = strings.Cut(rest, "```go\n")
	block, _, _ := strings.Cut(rest, "```\n")
	// The program's doc comment stays in the file.
	_, body, _ := strings.Cut(string(prog), "package main\n")
	if want := "package main\n" + body; block != want {
		t.Errorf("README.md's complete program differs from examples/complete/main.go (after its doc comment):\n%s", block)
	}
}
