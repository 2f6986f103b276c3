package qsessions

import (
	"net/netip"
	"time"
)

// ObserveForTest records a request's IP and User-Agent on s, as the
// middleware does.
func ObserveForTest(s *Session, ip, ua string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr, _ := netip.ParseAddr(ip)
	s.observe(addr, ua)
}

// BrowserCloseForTest reports whether s's cookie is dropped when the
// browser closes.
func BrowserCloseForTest(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensureLocked() != nil || s.vals.decodeExpiry(s.base) != nil {
		return false
	}
	return s.vals.browserClose
}

// SetRetryBudgetForTest sets how long a write whose context has no
// deadline retries, until the test ends.
func SetRetryBudgetForTest(t interface{ Cleanup(func()) }, d time.Duration) {
	old := retryBudget
	retryBudget = d
	t.Cleanup(func() { retryBudget = old })
}

// WriteStats are what a Store's write loop counted.
type WriteStats struct{ Waits, Conflicts, GiveUps int64 }

// StatsForTest returns what st's write loop counted.
func StatsForTest(st *Store) WriteStats {
	return WriteStats{st.stats.waits.Load(), st.stats.conflicts.Load(), st.stats.giveUps.Load()}
}

// NewTokenForTest returns a well-formed qsessions token.
func NewTokenForTest() string { return newToken() }
