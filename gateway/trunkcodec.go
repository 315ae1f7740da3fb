package gateway

import (
	"strconv"

	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// trunkMedia is the trunk's negotiated audio of a bridged call, as both
// bridge goroutines must send and receive it. A trunk may change it while
// media flows: the 2xx of an outbound INVITE answers with another codec
// than the 183 that started early media (RFC 3261 section 13.2.1: the
// answer in the 2xx is the one that counts), or a re-INVITE or UPDATE
// negotiates a new one (RFC 3264 section 8.3.2). A value is never
// modified once published: a change publishes a new one.
type trunkMedia struct {
	// codec is the trunk's G.711 codec with the payload type it
	// negotiated.
	codec telephony.Codec
	// tePT is the trunk's telephone-event/8000 payload type (RFC 4733),
	// 0 when it negotiated none.
	tePT uint8
}

// newTrunkMedia converts the trunk's negotiated media. It returns an error
// wrapping transcode.ErrUnsupportedCodec for a codec other than G.711.
func newTrunkMedia(m sip.Media) (*trunkMedia, error) {
	c, err := trunkCodec(m.Codec)
	if err != nil {
		return nil, err
	}

	return &trunkMedia{codec: c, tePT: m.TelephoneEventPT}, nil
}

// String describes the trunk's audio for logs, for example
// "PCMA/8000 pt 8, telephone-event pt 101".
func (m *trunkMedia) String() string {
	if m.tePT == 0 {
		return m.codec.String() + ", no telephone-event"
	}

	return m.codec.String() + ", telephone-event pt " + strconv.Itoa(int(m.tePT))
}

// followTrunk hands the trunk's current negotiated media to a bridged
// call's two media goroutines when it differs from what they run with:
// after the 2xx of a call whose early media started on a 183, and on each
// dialog event of an established call. It publishes a new trunkMedia
// that the uplink and downlink goroutines pick up with one atomic load
// per packet and apply at a packet boundary (transcode.Uplink.SetOutput,
// transcode.Downlink.SetInput, transcode.DTMFMapper.SetOutput), and logs
// one line per change. A codec the bridge cannot carry (not G.711) is
// logged and ignored: the bridge keeps the previous one.
func (s *session) followTrunk(m sip.Media) {
	next, err := newTrunkMedia(m)
	if err != nil {
		s.logger().Warn("trunk codec change ignored", "error", err)

		return
	}
	s.mu.Lock()
	cur := s.negotiated.Load()
	if !s.bridged || cur == nil || *cur == *next {
		s.mu.Unlock()

		return
	}
	s.negotiated.Store(next)
	log := s.log
	s.mu.Unlock()
	log.Info("trunk codec changed", "old", cur.String(), "new", next.String())
}

// follow makes the uplink send what the trunk negotiated last: m's G.711
// codec and payload type for audio (the transcoder switches at this
// packet boundary, keeping timestamps and sequence numbers), G.711
// silence of that codec while held, and m's telephone-event payload type
// for mapped and generated DTMF. It runs in the uplink goroutine and
// neither allocates nor locks. m is never nil.
func (u *uplink) follow(m *trunkMedia) {
	u.applied = m
	// The session checked that m.codec is G.711, the only error cause.
	_ = u.tc.SetOutput(m.codec)
	out := u.tc.Output()
	u.hdr.PayloadType = out.PayloadType
	u.silence = transcode.SilencePCMU
	if out.IsPCMA() {
		u.silence = transcode.SilencePCMA
	}
	u.evHdr.PayloadType = m.tePT
	te := telephony.TelephoneEvent8k.WithPayloadType(m.tePT)
	for _, mapper := range u.dtmf {
		_ = mapper.SetOutput(te)
	}
}

// follow makes the downlink read what the trunk negotiated last: audio of
// m's payload type decoded as m's G.711 codec (the transcoder switches at
// this packet boundary, keeping the browser's timestamps and sequence
// numbers), and telephone-events of m's payload type. It runs in the
// downlink goroutine and neither allocates nor locks. m is never nil.
func (d *downlink) follow(m *trunkMedia) {
	d.applied = m
	// The session checked that m.codec is G.711, the only error cause.
	_ = d.tc.SetInput(m.codec)
	d.audioPT = d.tc.Input().PayloadType
	d.tePT = m.tePT
}
