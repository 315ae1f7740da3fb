package gateway

import (
	"errors"
	"fmt"
	"os"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"
)

// trunkCodec converts the trunk's negotiated codec to the transcoder's
// description of it, with the trunk's payload type.
func trunkCodec(c sip.Codec) (transcode.Codec, error) {
	switch c.Name {
	case sip.PCMU.Name:
		return transcode.CodecPCMU.WithPayloadType(c.PayloadType), nil
	case sip.PCMA.Name:
		return transcode.CodecPCMA.WithPayloadType(c.PayloadType), nil
	default:
		return transcode.Codec{}, fmt.Errorf("%w: trunk codec %s", transcode.ErrUnsupportedCodec, c)
	}
}

// startMedia starts the bridge between the browser's PeerConnection and
// the trunk call's RTP socket, once per session: on early media (183 with
// SDP) or when the trunk answers. It builds the per-call transcoders and
// starts the uplink and downlink goroutines. It does not block.
func (s *session) startMedia(call *sip.Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridged || s.ctx.Err() != nil {
		return nil
	}
	media := call.Media()
	tc, err := trunkCodec(media.Codec)
	if err != nil {
		return err
	}
	browser := s.leg.media
	up, err := transcode.NewUplink(browser.Audio, tc)
	if err != nil {
		return fmt.Errorf("gateway: uplink: %w", err)
	}
	down, err := transcode.NewDownlink(tc, browser.Audio)
	if err != nil {
		return fmt.Errorf("gateway: downlink: %w", err)
	}
	var mapper *transcode.DTMFMapper
	if browser.Event.Name != "" && media.TelephoneEventPT != 0 {
		mapper, err = transcode.NewDTMFMapper(browser.Event,
			transcode.CodecTelephoneEvent8k.WithPayloadType(media.TelephoneEventPT), up)
		if err != nil {
			return fmt.Errorf("gateway: dtmf: %w", err)
		}
	}
	ssrc := randomUint32()
	u := newUplink(up, browser.Audio.PayloadType, tc, mapper, s.dtmf, media.TelephoneEventPT,
		ssrc, call.RTP(), &s.up, &s.browserH, s.epoch)
	d := newDownlink(down, tc.PayloadType, media.TelephoneEventPT, browser.Audio.PayloadType, randomUint32(),
		s.leg.local, &s.down, s.digit, s.epoch)
	s.bridged = true
	s.rtp = call.RTP()
	s.trunkTEPT = media.TelephoneEventPT
	s.codecs = "browser " + browser.String() + ", trunk " + tc.String() + "; up: " + up.String() + "; down: " + down.String()
	s.bridgeWG.Add(2)
	go s.runUplink(u)
	go s.runDownlink(d, call.RTP())

	return nil
}

// runUplink is the uplink goroutine: it waits for the browser's track and
// relays its packets to the trunk until the PeerConnection closes.
func (s *session) runUplink(u *uplink) {
	defer s.bridgeWG.Done()
	tr := s.leg.waitTrack(s.ctx)
	if tr == nil {
		return
	}
	for {
		n, _, err := tr.Read(u.buf[:])
		if err != nil {
			return
		}
		u.handle(u.buf[:n])
	}
}

// runDownlink is the downlink goroutine: it relays the trunk's packets to
// the browser until the call's RTP socket closes.
func (s *session) runDownlink(d *downlink, conn *sip.RTPConn) {
	defer s.bridgeWG.Done()
	for {
		n, err := conn.ReadRTP(d.buf[:])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}

			return
		}
		d.handle(d.buf[:n])
	}
}

// digit sends a DTMF digit received from the trunk to the browser.
func (s *session) digit(r rune) {
	s.conn.send(signaling.DTMFEvent{CallID: s.id, Digit: string(r)})
}
