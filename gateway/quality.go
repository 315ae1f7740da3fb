package gateway

import (
	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/cdr"
)

// qualityAttrs counts the ended call's quality in the metrics (the MOS of
// each direction that carried media, the jitter buffer's reordered and
// late packets) and returns the attributes of its end log line: per
// direction the jitter in milliseconds and the estimated MOS (0 without
// media), and the uplink's reordered and late packets.
func (s *session) qualityAttrs(rec cdr.Record, up bridge.Stats) []any {
	q := &s.g.metrics.Quality
	for _, d := range []struct {
		name string
		m    cdr.Media
	}{{mediaUplink, rec.Uplink}, {mediaDownlink, rec.Downlink}} {
		if d.m.Packets > 0 {
			q.MOS.WithLabelValues(d.name).Observe(d.m.MOS)
		}
	}
	q.JitterBuffer.WithLabelValues(jitterReordered).Add(float64(up.Reordered))
	q.JitterBuffer.WithLabelValues(jitterLate).Add(float64(up.Late))

	return []any{
		"uplink_jitter_ms", rec.Uplink.JitterMS, "uplink_mos", rec.Uplink.MOS,
		"uplink_reordered", up.Reordered, "uplink_late", up.Late,
		"downlink_jitter_ms", rec.Downlink.JitterMS, "downlink_mos", rec.Downlink.MOS,
	}
}
