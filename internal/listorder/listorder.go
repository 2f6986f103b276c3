// Package listorder holds the order in which a Persister's ListByUser
// returns a user's records, for the in-tree Persisters that sort them in
// Go: newest UpdatedAt first, ties in ascending ID order (the Persister
// contract's words).
package listorder

import (
	"strings"

	"github.com/qsessions/qsessions"
)

// Compare orders a before b when a was updated later, or at the same time
// with a smaller ID: slices.SortFunc(records, listorder.Compare).
func Compare(a, b qsessions.Record) int {
	if c := b.UpdatedAt.Compare(a.UpdatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
