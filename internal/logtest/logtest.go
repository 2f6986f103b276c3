// Package logtest holds the Buffer that tests read logs and process output
// from while other goroutines write them.
package logtest

import (
	"bytes"
	"sync"
)

// A Buffer collects what is written to it, and is safe for concurrent use.
// The zero Buffer is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
