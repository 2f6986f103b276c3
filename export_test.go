package qsessions

// ObserveForTest records a request's IP and User-Agent on s, as the
// middleware does.
func ObserveForTest(s *Session, ip, ua string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(ip, ua)
	if s.loaded {
		s.applyObservationLocked()
	}
}
