package gateway

import (
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// iceRestart answers a browser's new offer on one of its calls (an ICE
// restart after its network path changed, RFC 8445 section 2.4): the
// browser leg answers with new ICE credentials, the bridge and the trunk
// leg are not touched. A refused offer (a codec change among them) leaves
// the call as it was.
func (c *wsConn) iceRestart(m signaling.ICERestart) error {
	s := c.call(m.CallID)
	if s == nil {
		return errNotFound
	}
	if s.leg == nil {
		return &callError{Code: signaling.CodeOutOfOrder, Msg: "the call has no media yet"}
	}
	start := time.Now()
	answer, err := s.leg.Restart(m.SDP)
	if err != nil {
		s.logger().Info("ice restart refused", "error", err.Error())

		return legError(err)
	}
	s.g.metrics.ICERestarts.Inc()
	s.logger().Info("ice restart", "answered_in", time.Since(start).Round(time.Microsecond))
	c.send(signaling.ICERestarted{CallID: s.id, SDP: answer})

	return nil
}
