package listorder_test

import (
	"slices"
	"testing"
	"time"

	"github.com/qsessions/qsessions"
	"github.com/qsessions/qsessions/internal/listorder"
)

func TestCompare(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rs := []qsessions.Record{
		{ID: "b", UpdatedAt: at},
		{ID: "c", UpdatedAt: at.Add(time.Millisecond)},
		{ID: "a", UpdatedAt: at},
		{ID: "d", UpdatedAt: at.Add(-time.Hour)},
	}
	slices.SortFunc(rs, listorder.Compare)
	var ids string
	for _, r := range rs {
		ids += r.ID
	}
	if ids != "cabd" {
		t.Fatalf("order %q, want newest first and ties by ID: cabd", ids)
	}
}
