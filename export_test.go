package qsessions

import "net/netip"

// ObserveForTest records a request's IP and User-Agent on s, as the
// middleware does.
func ObserveForTest(s *Session, ip, ua string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr, _ := netip.ParseAddr(ip)
	s.observe(addr, ua)
}
