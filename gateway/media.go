package gateway

import (
	"errors"
	"fmt"
	"os"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// trunkCodec converts the trunk's negotiated codec to the transcoder's
// description of it, with the trunk's payload type.
func trunkCodec(c telephony.Codec) (telephony.Codec, error) {
	switch c.Name {
	case telephony.PCMU.Name:
		return telephony.PCMU.WithPayloadType(c.PayloadType), nil
	case telephony.PCMA.Name:
		return telephony.PCMA.WithPayloadType(c.PayloadType), nil
	default:
		return telephony.Codec{}, fmt.Errorf("%w: trunk codec %s", transcode.ErrUnsupportedCodec, c)
	}
}

// newTranscoders builds the two transcoders of a call: the uplink from the
// browser's audio codec to the trunk's G.711 codec trunk, and the downlink
// back. When both legs negotiated the same G.711 format, reencode
// (calls.transcode_same_codec) decides between relaying the payloads
// re-chunked (false) and decoding and re-encoding them (true); it changes
// nothing when the codecs differ. complexity (calls.opus_complexity) is
// the Opus encoder's, used when the browser's codec is Opus. Errors wrap
// transcode.ErrUnsupportedCodec or transcode.ErrInvalidOption.
func newTranscoders(browser, trunk telephony.Codec, reencode bool, complexity int) (*transcode.Uplink, *transcode.Downlink, error) {
	same := transcode.WithTranscodeSameCodec(reencode)
	up, err := transcode.NewUplink(browser, trunk, same)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: uplink: %w", err)
	}
	down, err := transcode.NewDownlink(trunk, browser, same, transcode.WithOpusComplexity(complexity))
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: downlink: %w", err)
	}

	return up, down, nil
}

// describeMedia is the codecs attribute of a call's log lines: both legs'
// codecs and each direction's pipeline, which says whether the audio is
// passed through or decoded and encoded, for example "browser PCMU/8000
// pt 0, trunk PCMU/8000 pt 0; up: PCMU/8000 decode -> PCMU re-encode,
// ptime 20ms; down: PCMU/8000 decode -> PCMU re-encode, ptime 20ms".
func describeMedia(browser browserMedia, trunk telephony.Codec, up *transcode.Uplink, down *transcode.Downlink) string {
	return "browser " + browser.String() + ", trunk " + trunk.String() + "; up: " + up.String() + "; down: " + down.String()
}

// describeBridge sets the codecs of the call's log line to what the bridge
// ran with at the end: the trunk's last negotiated codec and each
// direction's last pipeline, after any codec change. It runs in finish,
// once both media goroutines ended (their transcoders are then safe to
// read).
func (s *session) describeBridge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.negotiated.Load(); m != nil && s.upTC != nil {
		s.codecs = describeMedia(s.leg.media, m.codec, s.upTC, s.downTC)
	}
}

// startMedia starts the bridge between the browser's PeerConnection and
// the trunk call's RTP socket, once per session: on early media (183 with
// SDP) or when the trunk answers. It builds the per-call transcoders and
// starts the uplink and downlink goroutines. Called again on a bridged
// call (the 2xx after early media, or another 18x with SDP), it makes the
// bridge follow the trunk's codec if that changed (followTrunk). It does
// not block.
func (s *session) startMedia(call *sip.Call) error {
	s.mu.Lock()
	bridged := s.bridged
	s.mu.Unlock()
	if bridged {
		s.followTrunk(call.Media())

		return nil
	}

	return s.bridge(call)
}

// bridge builds the transcoders and DTMF mappers of the call and starts
// the two media goroutines, unless the session is bridged or ended.
func (s *session) bridge(call *sip.Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridged || s.ctx.Err() != nil {
		return nil
	}
	media, err := newTrunkMedia(call.Media())
	if err != nil {
		return err
	}
	browser := s.leg.media
	up, down, err := newTranscoders(browser.Audio, media.codec, s.g.cfg.Calls.TranscodeSameCodec, s.g.cfg.Calls.OpusComplexity)
	if err != nil {
		return err
	}
	// One mapper per browser telephone-event format, even while the trunk
	// has none: a re-INVITE may add it (the uplink drops events meanwhile).
	mappers := make([]*transcode.DTMFMapper, 0, len(browser.Events))
	for _, ev := range browser.Events {
		mapper, err := transcode.NewDTMFMapper(ev, telephony.TelephoneEvent8k.WithPayloadType(media.tePT), up)
		if err != nil {
			return fmt.Errorf("gateway: dtmf: %w", err)
		}
		mappers = append(mappers, mapper)
	}
	s.negotiated.Store(media)
	u := newUplink(up, browser.Audio.PayloadType, mappers, s.dtmf, &s.negotiated, randomUint32(), call.RTP(), &s.up, &s.browserH, s.epoch)
	d := newDownlink(down, &s.negotiated, browser.Audio.PayloadType, randomUint32(), s.leg.local, &s.down, s.digit, s.epoch)
	s.bridged = true
	s.rtp = call.RTP()
	s.upTC, s.downTC = up, down
	s.codecs = describeMedia(browser, media.codec, up, down)
	s.log.Debug("media bridged", "codecs", s.codecs)
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
