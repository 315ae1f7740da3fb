package gateway

import "github.com/webtrunk/webtrunk/sip"

// srtpAttrs returns the SRTP fields of an ended call's log line, the trunk
// media's crypto suite ("srtp") and the packets dropped for failing
// authentication ("srtp_failed"), and counts both in the metrics; nothing
// for a call whose trunk media was plain RTP. The keys are never logged.
func (s *session) srtpAttrs(rtpConn *sip.RTPConn) []any {
	s.mu.Lock()
	call := s.call
	s.mu.Unlock()
	if call == nil {
		return nil
	}
	suite := call.Media().SRTP
	if suite == "" {
		return nil
	}
	var failed uint64
	if rtpConn != nil {
		failed = rtpConn.Stats().SRTPFailed
	}
	m := s.g.metrics
	m.SRTPCalls.WithLabelValues(suite).Inc()
	m.SRTPFailed.Add(float64(failed))

	return []any{"srtp", suite, "srtp_failed", failed}
}
