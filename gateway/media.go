package gateway

import (
	"context"
	"time"

	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// startMedia starts the bridge between the browser's leg and the trunk
// call's RTP socket, once per session: on early media (183 with SDP) or
// when the trunk answers. Called again on a bridged call (the 2xx after
// early media, or another 18x with SDP), it makes the bridge follow the
// trunk's codec if that changed (followTrunk). It does not block.
func (s *session) startMedia(call *sip.Call) error {
	s.mu.Lock()
	bridged := s.bridge != nil
	s.mu.Unlock()
	if bridged {
		s.followTrunk(call.Media())

		return nil
	}

	return s.startBridge(call)
}

// startBridge builds the call's bridge and starts its goroutine, unless
// the session is bridged or ended. The bridge runs until finish has
// closed both legs.
func (s *session) startBridge(call *sip.Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridge != nil || s.ctx.Err() != nil {
		return nil
	}
	browser, trunk := s.leg.Media(), call.Media()
	var onBrowserDigit func(rune, time.Duration)
	if s.infoQ == nil && s.digitsByInfo(call) {
		s.infoQ = make(chan infoDigit, infoQueueLen)
		onBrowserDigit = s.browserDigit
	}
	b, err := bridge.New(bridge.Config{
		Browser:            s.leg,
		Trunk:              call.RTP(),
		BrowserCodec:       browser.Audio,
		BrowserEvents:      browser.Events,
		TrunkMedia:         bridge.TrunkMedia{Codec: trunk.Codec, EventPT: trunk.TelephoneEventPT},
		TranscodeSameCodec: s.pol.cfg.Calls.TranscodeSameCodec,
		OpusComplexity:     s.pol.cfg.Calls.OpusComplexity,
		OnDigit:            s.digit,
		OnBrowserDigit:     onBrowserDigit,
		Epoch:              s.epoch,
		UplinkJitterMin:    s.pol.cfg.Quality.JitterMin,
		UplinkJitterMax:    s.pol.cfg.Quality.JitterMax,
		DownlinkJitterMin:  s.pol.cfg.Quality.JitterMin,
		DownlinkJitterMax:  s.pol.cfg.Quality.JitterMax,
	})
	if err != nil {
		return err
	}
	b.SetMuted(s.hold.want || s.hold.have)
	s.bridge = b
	s.rtp = call.RTP()
	s.codecs = s.describeMediaLocked()
	s.log.Debug("media bridged", "codecs", s.codecs)
	ctx, stop := context.WithCancel(context.WithoutCancel(s.ctx))
	s.stopBridge = stop
	s.bridgeWG.Add(1)
	go s.runBridge(ctx, b)
	if onBrowserDigit != nil {
		s.bridgeWG.Add(1)
		go s.sendInfoDigits(ctx, call, s.infoQ)
	}
	s.watchQuality(ctx, b, call.RTP())

	return nil
}

// runBridge is the bridge's goroutine. The bridge's loops end without
// error when finish closes the legs; anything else is logged.
func (s *session) runBridge(ctx context.Context, b *bridge.Bridge) {
	defer s.bridgeWG.Done()
	if err := b.Run(ctx); err != nil {
		s.logger().Debug("media bridge", "error", err)
	}
}

// followTrunk hands the trunk's current negotiated media to a bridged
// call's bridge: after the 2xx of a call whose early media started on a
// 183, and on each dialog event of an established call. The bridge's two
// directions apply a change at their next packet (bridge.FollowTrunk); it
// is logged once. A codec the bridge cannot carry (not G.711) is logged
// and ignored: the bridge keeps the previous one.
func (s *session) followTrunk(m sip.Media) {
	s.mu.Lock()
	b, log := s.bridge, s.log
	s.mu.Unlock()
	if b == nil {
		return
	}
	old, cur, err := b.FollowTrunk(bridge.TrunkMedia{Codec: m.Codec, EventPT: m.TelephoneEventPT})
	if err != nil {
		log.Warn("trunk codec change ignored", "error", err)

		return
	}
	if old != cur {
		log.Info("trunk codec changed", "old", old.String(), "new", cur.String())
	}
}

// describeMediaLocked is the codecs attribute of a call's log lines: both
// legs' codecs and each direction's pipeline, which says whether the audio
// is passed through or decoded and encoded, for example "browser
// PCMU/8000 pt 0, trunk PCMU/8000 pt 0; up: PCMU/8000 decode -> PCMU
// re-encode, ptime 20ms; down: PCMU/8000 decode -> PCMU re-encode, ptime
// 20ms". s.mu is held and the bridge is not running (before Run, or after
// it returned).
func (s *session) describeMediaLocked() string {
	if s.target != nil {
		return "party " + s.call.Media().Codec.String() + ", transfer target " + s.bridge.TrunkMedia().Codec.String() + "; " + s.bridge.String()
	}

	return "browser " + s.leg.Media().String() + ", trunk " + s.bridge.TrunkMedia().Codec.String() + "; " + s.bridge.String()
}

// describeBridge sets the codecs of the call's log line to what the bridge
// ran with at the end: the trunk's last negotiated codec and each
// direction's last pipeline, after any codec change. It runs in finish,
// once the bridge has returned.
func (s *session) describeBridge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridge != nil {
		s.codecs = s.describeMediaLocked()
	}
}

// mediaStats returns the counters of both directions (zero before the
// bridge starts), including those of the bridge a transfer by the gateway
// replaced.
func (s *session) mediaStats() (up, down bridge.Stats) {
	s.mu.Lock()
	b, earlier := s.bridge, s.earlier
	s.mu.Unlock()
	if b == nil {
		return earlier[0], earlier[1]
	}

	return earlier[0].Plus(b.Uplink()), earlier[1].Plus(b.Downlink())
}

// muteLocked mutes the uplink while the browser holds the call (see
// hold.go); s.mu is held.
func (s *session) muteLocked(on bool) {
	if s.bridge != nil {
		s.bridge.SetMuted(on)
	}
}

// digit sends a DTMF digit received from the trunk to the browser.
func (s *session) digit(r rune) {
	s.conn.send(signaling.DTMFEvent{CallID: s.id, Digit: string(r)})
}
