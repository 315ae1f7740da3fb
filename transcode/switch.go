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
// encoder or decoder, and only rewires the G.711 stages of the trunk side.

// g711Index numbers the G.711 formats for pipeline.descs: 0 PCMU, 1 PCMA.
func g711Index(c telephony.Codec) int {
	if c.IsPCMA() {
		return 1
	}
	return 0
}

// trunk returns the codec of the trunk side.
func (p *pipeline) trunk() telephony.Codec {
	if p.trunkIn {
		return p.in
	}
	return p.out
}

// withTrunk returns in and out with the trunk side replaced by c.
func (p *pipeline) withTrunk(in, out, c telephony.Codec) (telephony.Codec, telephony.Codec) {
	if p.trunkIn {
		return c, out
	}
	return in, c
}

// switchTrunk changes the trunk side to codec c between two packets. The
// pending audio is kept: in passthrough the queue holds G.711 codes of the
// common format, otherwise 8 kHz PCM, so entering or leaving passthrough
// converts the pending slots once. When the input changes, the next packet
// may start a new RTP numbering (sequencer.resync). It returns an error
// wrapping ErrUnsupportedCodec, and changes nothing, when c is not G.711
// at 8000 Hz. It does not allocate unless it fails.
func (p *pipeline) switchTrunk(c telephony.Codec) error {
	if !c.IsG711() {
		return fmt.Errorf("%w: trunk codec %s is not G.711 at 8000 Hz", ErrUnsupportedCodec, c)
	}
	if cur := p.trunk(); c.SameFormat(cur) && c.PayloadType == cur.PayloadType {
		return nil
	}
	if p.trunkIn && p.jb != nil {
		// Packets held for reordering belong to the old input: decode
		// them with it, and measure the new input's jitter afresh.
		_ = p.jb.flush() // a failed packet is counted in Stats
		p.jb.rx.Reset()
	}
	in, out := p.withTrunk(p.in, p.out, c)
	pending := p.queue.pending()
	switch pass := relays(in, out, p.reencode); {
	case p.relaying && !pass:
		codesToPCM(pending, pending, p.in.IsPCMA())
	case !p.relaying && pass:
		pcmToCodes(pending, in.IsPCMA())
	}
	p.connect(in, out)
	p.desc = p.descs[g711Index(c)]
	if p.trunkIn && p.seq.started() {
		p.seq.resync = true
	}
	p.stats.Switches++
	return nil
}
