package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/webtrunk/webtrunk/gateway/bridge"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/telephony"
)

// Blind transfer carried out by the gateway (transfer: bridge), for trunks
// that take no REFER: the browser's transfer message is checked as a dial
// (checkTransferTarget), the gateway calls the target through the
// number's route, and once it answers the session hands over: the call's
// party and the target are bridged to each other (their G.711 RTP, the
// call's party in the bridge's browser seat), the browser's leg is closed
// and the browser gets hangup reason transferred. The session goes on
// without a browser, holding both calls, until either party hangs up, the
// media stops or the maximum duration passes; finish ends both. The call's
// record and limits cover the whole, as the transferred call is the
// user's. A failure of the new call is reported to the browser as
// transfer_failed and the call goes on.

// errNoMediaToTransfer ends a hand-over of a call whose bridge is gone.
var errNoMediaToTransfer = errors.New("gateway: transfer of a call without media")

// closedLeg is the trunk leg a bridge is given when its trunk leg is taken
// out to be bridged elsewhere: reads and writes fail as closed.
type closedLeg struct{}

func (closedLeg) ReadRTP([]byte) (int, error)  { return 0, net.ErrClosed }
func (closedLeg) WriteRTP([]byte) (int, error) { return 0, net.ErrClosed }
func (closedLeg) Close() error                 { return nil }

// startBridgeTransfer places the call a browser's transfer asks for, on a
// trunk with transfer: bridge, in a goroutine whose outcome arrives on
// s.referred.
func (s *session) startBridgeTransfer(rt route, from string) {
	s.referring.Store(true)
	s.referWG.Add(1)
	go func() {
		defer s.referWG.Done()
		s.referred <- trunkTransfer{call: s.placeTransfer(rt, from), bridged: true}
	}()
}

// placeTransfer calls rt.E164 through the first trunk of rt that may take
// a call, within calls.ring_timeout: the answered call, or nil once the
// browser was told why not (transfer_failed).
func (s *session) placeTransfer(rt route, from string) *sip.Call {
	fail := func(msg string) *sip.Call {
		ref := s.xfer.finish()
		s.g.metrics.Transfers.WithLabelValues(transferFailed).Inc()
		s.logger().Info("transfer failed", "to", rt.E164, "error", msg)
		if s.ctx.Err() == nil {
			s.conn.send(signaling.ErrorReply{Code: signaling.CodeTransferFailed, Message: msg, CallID: s.id, Ref: ref})
		}

		return nil
	}
	trunk := ""
	for _, t := range rt.Trunks {
		if ok, _ := s.g.trunkAvailable(t.trunk.Name); ok {
			trunk = t.trunk.Name

			break
		}
	}
	if trunk == "" {
		return fail("no trunk of the number's route is available")
	}
	rtp, err := s.g.ua.ReservePorts()
	if err != nil {
		return fail("the gateway has no free media port")
	}
	call, code, reason, err := s.dialTransfer(trunk, rt.E164, from, rtp)
	if err == nil {
		return call
	}

	return fail(fmt.Sprintf("the transfer target answered %d %s", code, reason))
}

// handOver bridges the call's party (call) to the transfer's answered
// call (target) and lets the browser go. It runs in the session goroutine.
func (s *session) handOver(call, target *sip.Call) error {
	s.mu.Lock()
	old, stop := s.bridge, s.stopBridge
	s.mu.Unlock()
	if old == nil {
		return errNoMediaToTransfer
	}
	party := call.RTP()
	// The old bridge lets go of the party's socket without closing it:
	// its downlink, woken by a past read deadline, finds a closed leg.
	if _, _, _, err := old.ReplaceTrunk(closedLeg{}, old.TrunkMedia()); err != nil {
		return err
	}
	_ = party.SetReadDeadline(time.Now())
	stop()
	s.bridgeWG.Wait()
	_ = party.SetReadDeadline(time.Time{})

	pm, tm := call.Media(), target.Media()
	var events []telephony.Codec
	if pm.TelephoneEventPT != 0 {
		events = append(events, telephony.TelephoneEvent8k.WithPayloadType(pm.TelephoneEventPT))
	}
	nb, err := bridge.New(bridge.Config{
		Browser:            party,
		Trunk:              target.RTP(),
		BrowserCodec:       pm.Codec,
		BrowserEvents:      events,
		TrunkMedia:         bridge.TrunkMedia{Codec: tm.Codec, EventPT: tm.TelephoneEventPT},
		TranscodeSameCodec: s.pol.cfg.Calls.TranscodeSameCodec,
		OpusComplexity:     s.pol.cfg.Calls.OpusComplexity,
		Epoch:              s.epoch,
		DownlinkJitterMin:  s.pol.cfg.Quality.JitterMin,
		DownlinkJitterMax:  s.pol.cfg.Quality.JitterMax,
	})
	if err != nil {
		return err
	}
	ctx, newStop := context.WithCancel(context.WithoutCancel(s.ctx))
	s.mu.Lock()
	s.earlier = [2]bridge.Stats{old.Uplink(), old.Downlink()}
	s.bridge, s.stopBridge, s.target = nb, newStop, target
	s.log = s.log.With("transfer_sip_call_id", target.CallID())
	s.mu.Unlock()
	s.mediaRef.Store(s.since())
	s.bridgeWG.Add(1)
	go s.runBridge(ctx, nb)

	ref := s.xfer.finish()
	s.detached.Store(true)
	_ = s.leg.Close()
	s.conn.send(signaling.HangupEvent{CallID: s.id, Reason: signaling.ReasonTransferred})
	s.conn.removeCall(s.id, s)
	s.g.metrics.Transfers.WithLabelValues(transferSucceeded).Inc()
	s.logger().Info("transferred: the call's party is bridged to the target", "to", target.To(), "ref", ref,
		"codecs", pm.Codec.String()+" <-> "+tm.Codec.String())

	return nil
}

// targetEvent follows a dialog event of the transfer's target once handed
// over: a new codec or telephone-event payload type, or its hold, goes to
// the bridge; a REFER is refused (the gateway keeps the call).
func (s *session) targetEvent(ev sip.DialogEvent) {
	switch ev.Kind {
	case sip.EventRefer:
		s.refuseRefer(ev.Refer, 603, "Decline", errTrunkTransferOff)
	case sip.EventHold, sip.EventResume, sip.EventMediaChanged:
		s.followTrunk(ev.Media)
	}
}
