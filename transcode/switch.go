package transcode

import (
	"fmt"

	"github.com/webtrunk/webtrunk/telephony"
)

// A trunk may change the G.711 codec of a call after media started: the
// 2xx answer of an INVITE selects another codec than the early media of
// its 183 (RFC 3261 section 13.2.1 makes the answer in the 2xx the one
// that counts when the 18x carried none reliably), or a re-INVITE makes a
// new offer (RFC 3264 section 8.3.2). G.711 is stateless, one byte per
// sample, so switching between mu-law and A-law at a packet boundary is
// exact: the pipeline keeps its queue, its output timeline and any Opus
// encoder or decoder, and only the conversion of the trunk side changes.

// g711Index numbers the G.711 formats for pipeline.descs: 0 PCMU, 1 PCMA.
func g711Index(c telephony.Codec) int {
	if c.IsPCMA() {
		return 1
	}
	return 0
}

// describeSwitches prepares the description of the pipeline for each
// format of the trunk side, so that a switch sets String without
// allocating. The current format keeps the codec's own spelling.
func (p *pipeline) describeSwitches(s settings) {
	for i, c := range [2]telephony.Codec{telephony.PCMU, telephony.PCMA} {
		in, out := p.in, p.out
		if p.trunkIn {
			in = c
		} else {
			out = c
		}
		p.descs[i] = describe(in, out, s)
	}
	if trunk := p.trunk(); trunk.IsG711() {
		p.descs[g711Index(trunk)] = p.desc
	}
}

// trunk returns the codec of the trunk side.
func (p *pipeline) trunk() telephony.Codec {
	if p.trunkIn {
		return p.in
	}
	return p.out
}

// switchTrunk changes the trunk side to codec c between two packets. The
// pending audio is kept: in passthrough the queue holds G.711 bytes of the
// common format, otherwise 8 kHz PCM, so entering or leaving passthrough
// converts the pending slots once. When the input changes, the next packet
// may start a new RTP numbering (sequenceTracker.resync). It returns an
// error wrapping ErrUnsupportedCodec, and changes nothing, when c is not
// G.711 at 8000 Hz. It does not allocate unless it fails.
func (p *pipeline) switchTrunk(c telephony.Codec) error {
	if !c.IsG711() {
		return fmt.Errorf("%w: trunk codec %s is not G.711 at 8000 Hz", ErrUnsupportedCodec, c)
	}
	if cur := p.trunk(); c.SameFormat(cur) && c.PayloadType == cur.PayloadType {
		return nil
	}
	in, out := p.in, p.out
	if p.trunkIn {
		in = c
	} else {
		out = c
	}
	pass := relays(in, out, p.reencode)
	switch {
	case p.passthrough && !pass:
		p.decodePending(p.in)
	case !p.passthrough && pass:
		p.encodePending(in)
	}
	p.in, p.out, p.passthrough = in, out, pass
	p.silence = 0
	if pass {
		p.silence = int16(silenceByte(in))
	}
	p.desc = p.descs[g711Index(c)]
	if p.trunkIn && p.track.started {
		p.track.resync = true
	}
	p.stats.Switches++
	return nil
}

// decodePending turns the pending slots of a passthrough queue, G.711
// bytes of format c, into 8 kHz PCM.
func (p *pipeline) decodePending(c telephony.Codec) {
	pcma := c.IsPCMA()
	for i, v := range p.buf[p.head:p.tail] {
		p.buf[p.head+i] = decodeSample(byte(v), pcma)
	}
}

// encodePending turns the pending slots, 8 kHz PCM, into G.711 bytes of
// format c for a passthrough queue.
func (p *pipeline) encodePending(c telephony.Codec) {
	pcma := c.IsPCMA()
	for i, v := range p.buf[p.head:p.tail] {
		p.buf[p.head+i] = int16(encodeSample(v, pcma))
	}
}
