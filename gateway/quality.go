package gateway

import (
	"context"
	"math"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// qualityAttrs counts the ended call's quality in the metrics (the MOS of
// each direction that carried media, the jitter buffer's reordered and
// late packets) and returns the attributes of its end log line: per
// direction the jitter in milliseconds and the estimated MOS (0 without
// media), and each jitter buffer's reordered and late packets.
func (s *session) qualityAttrs(rec cdr.Record, up, down bridge.Stats) []any {
	q := &s.g.metrics.Quality
	for _, d := range []struct {
		name string
		m    cdr.Media
	}{{mediaUplink, rec.Uplink}, {mediaDownlink, rec.Downlink}} {
		if d.m.Packets > 0 {
			q.MOS.WithLabelValues(d.name).Observe(d.m.MOS)
		}
	}
	q.JitterBuffer.WithLabelValues(jitterReordered).Add(float64(up.Reordered + down.Reordered))
	q.JitterBuffer.WithLabelValues(jitterLate).Add(float64(up.Late + down.Late))

	return []any{
		"uplink_jitter_ms", rec.Uplink.JitterMS, "uplink_mos", rec.Uplink.MOS,
		"uplink_reordered", up.Reordered, "uplink_late", up.Late,
		"downlink_jitter_ms", rec.Downlink.JitterMS, "downlink_mos", rec.Downlink.MOS,
		"downlink_reordered", down.Reordered, "downlink_late", down.Late,
	}
}

// qualityWatch measures one bridged call every quality.interval: it sends
// the trunk the gateway's RTCP report (RFC 3550 section 6.4) and raises or
// clears the browser's quality warnings (signaling.Quality) for each
// direction: the loss over the interval, the jitter and the estimated
// MOS. It runs in its own goroutine until ctx ends.
type qualityWatch struct {
	s      *session
	b      *bridge.Bridge
	cfg    config.QualityConfig
	prev   [2]bridge.Stats // uplink, downlink at the last measurement
	raised map[qualityKey]bool
}

// qualityKey is one warning of one direction.
type qualityKey struct {
	name signaling.QualityWarning
	dir  string
}

// watchQuality starts the quality watch of the call's bridge b, whose
// trunk leg is rtp: the trunk's RTCP goes to b.TrunkRTCP, and the watch
// runs until ctx ends, counted in s.bridgeWG.
func (s *session) watchQuality(ctx context.Context, b *bridge.Bridge, rtp *sip.RTPConn) {
	readTrunkRTCP(b, rtp)
	w := &qualityWatch{s: s, b: b, cfg: s.pol.cfg.Quality, raised: make(map[qualityKey]bool, 6)}
	s.bridgeWG.Add(1)
	go func() {
		defer s.bridgeWG.Done()
		w.run(ctx)
	}()
}

// readTrunkRTCP hands the RTCP arriving on the trunk leg rtp (nil: none)
// to b's TrunkRTCP.
func readTrunkRTCP(b *bridge.Bridge, rtp *sip.RTPConn) {
	if rtp != nil {
		rtp.SetRTCPHandler(func(pkt []byte) { _ = b.TrunkRTCP().Handle(pkt, time.Now()) })
	}
}

// trunkRTP is the RTP socket of the session's trunk leg, nil before the
// bridge starts.
func (s *session) trunkRTP() *sip.RTPConn {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.rtp
}

// run measures every interval until ctx ends.
func (w *qualityWatch) run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			w.measure(now)
		}
	}
}

// measure sends the trunk its RTCP report and checks each direction
// against the thresholds.
func (w *qualityWatch) measure(now time.Time) {
	if rtp := w.s.trunkRTP(); rtp != nil {
		if pkt, err := w.b.TrunkRTCP().Report(now); err == nil {
			_, _ = rtp.WriteRTCP(pkt)
		}
	}
	trunk := w.b.TrunkRTCP().Last()
	cur := [2]bridge.Stats{w.b.Uplink(), w.b.Downlink()}
	for i, dir := range []string{signaling.QualityUplink, signaling.QualityDownlink} {
		prev := w.prev[i]
		received, lost := cur[i].Received-prev.Received, cur[i].Lost-prev.Lost
		if cur[i].Lost < prev.Lost {
			lost = 0
		}
		if received == 0 {
			continue // no media this interval: held or muted
		}
		loss := float64(lost) / float64(received+lost)
		var rtt time.Duration
		if dir == signaling.QualityUplink && trunk.Reports > 0 {
			// The browser's audio is lost on either hop.
			loss = 1 - (1-loss)*(1-trunk.FractionLost)
			rtt = trunk.RTT
		}
		jitterMS := float64(cur[i].Jitter) / float64(time.Millisecond)
		mos := cdr.EstimateMOSRTT(loss, cur[i].Jitter, rtt)
		w.check(signaling.WarningHighLoss, dir, loss, w.cfg.MaxLossPercent/100, loss > w.cfg.MaxLossPercent/100)
		maxJitter := float64(w.cfg.MaxJitter) / float64(time.Millisecond)
		w.check(signaling.WarningHighJitter, dir, jitterMS, maxJitter, jitterMS > maxJitter)
		w.check(signaling.WarningLowMOS, dir, mos, w.cfg.MinMOS, mos < w.cfg.MinMOS)
	}
	w.prev = cur
}

// check raises warning name of direction dir when bad and it is not
// raised, and clears it when it is raised and no longer bad.
func (w *qualityWatch) check(name signaling.QualityWarning, dir string, value, threshold float64, bad bool) {
	k := qualityKey{name, dir}
	if bad == w.raised[k] {
		return
	}
	w.raised[k] = bad
	if bad {
		w.s.g.metrics.Quality.Events.WithLabelValues(string(name)).Inc()
	}
	w.s.logger().Debug("quality", "warning", string(name), "media", dir, "raised", bad, "value", value, "threshold", threshold)
	w.s.conn.send(signaling.Quality{
		CallID: w.s.id, Name: name, Raised: bad, Direction: dir,
		Value: math.Round(value*1000) / 1000, Threshold: threshold,
	})
}

// mediaRecords returns both directions' media figures for the call's
// record and the admin API, with the jitter buffer's counts and, where
// the trunk's RTCP gave it, the round-trip time to the trunk in the MOS
// estimates and what the trunk reported of the uplink with its MOS: the
// trunk leg's view of the uplink (nil without a report).
func (s *session) mediaRecords() (up, down cdr.Media, trunk *cdr.TrunkQuality) {
	upSt, downSt := s.mediaStats()
	s.mu.Lock()
	b := s.bridge
	s.mu.Unlock()
	var tr bridge.TrunkReport
	if b != nil {
		tr = b.TrunkRTCP().Last()
	}
	up = cdr.NewMediaRTT(upSt.Received, upSt.Lost, upSt.Jitter, tr.RTT, upSt.Reordered, upSt.Late)
	down = cdr.NewMediaRTT(downSt.Received, downSt.Lost, downSt.Jitter, tr.RTT, 0, 0)
	if tr.Reports > 0 {
		var loss float64
		if upSt.Sent > 0 {
			loss = float64(max(tr.Lost, 0)) / float64(upSt.Sent)
		}
		trunk = &cdr.TrunkQuality{
			RTTMS:    float64(tr.RTT.Microseconds()) / 1000,
			Lost:     tr.Lost,
			JitterMS: float64(tr.Jitter.Microseconds()) / 1000,
			MOS:      cdr.EstimateMOSRTT(loss, tr.Jitter, tr.RTT),
		}
	}

	return up, down, trunk
}
