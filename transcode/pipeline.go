package transcode

import (
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// pipeline assembles the stages of one direction (stage.go) from codec in
// to codec out and holds every stage the direction may switch to; Uplink
// and Downlink are its two faces. trunkIn says which side is the trunk's
// G.711, the one SetInput or SetOutput may switch (switch.go).
type pipeline struct {
	in, out  telephony.Codec
	trunkIn  bool // the trunk is the input (Downlink), else the output (Uplink)
	reencode bool // WithTranscodeSameCodec: equal formats are decoded and re-encoded
	stats    Stats

	head  packetStage   // the first stage: the jitter buffer or the sequencer
	jb    *jitterBuffer // nil without WithJitterBuffer
	clock int64         // input RTP clock, Hz
	// Without arrival times (push), the jitter buffer's clock is the
	// media time of the RTP timestamps, unwrapped.
	lastTS  uint32
	mediaAt time.Duration
	seq     sequencer
	queue   frameQueue

	// The stages the codecs may call for, built once.
	opusIn   *opusDecoder // nil unless the input is Opus
	g711In   g711Decoder
	relayIn  g711Relay
	plc      g711PLC      // shared by g711In and relayIn across codec switches
	opusOut  *opusEncoder // nil unless the output is Opus
	g711Out  g711Encoder
	rechunk  g711Rechunk
	descs    [2]string // String with the trunk side in PCMU and in PCMA, by g711Index
	desc     string    // String of the current chain
	relaying bool      // the current chain is passthrough
}

// newPipeline builds the stages from in to out with the default settings
// changed by opts.
func newPipeline(in, out telephony.Codec, trunkIn bool, opts []Option) (*pipeline, error) {
	s := defaultSettings()
	for _, o := range opts {
		o(&s)
	}
	if err := s.validate(out); err != nil {
		return nil, err
	}
	p := &pipeline{trunkIn: trunkIn, reencode: s.reencode}
	maxGap := int(s.maxGap * pcmRate / time.Second)
	frame := int(s.ptime / time.Millisecond * pcmRate / 1000)
	p.seq = newSequencer(in, maxGap, &p.stats)
	p.head = &p.seq
	p.clock = int64(in.ClockRate)
	if s.jitterMax > 0 {
		p.jb = newJitterBuffer(in.ClockRate, s.jitterMin, s.jitterMax, &p.seq, &p.stats)
		p.head = p.jb
	}
	p.queue = newFrameQueue(frame, maxGap, uint32(out.ClockRate/pcmRate), &p.stats)
	g := g711Input{plc: &p.plc, q: &p.queue, stats: &p.stats}
	p.g711In, p.relayIn = g711Decoder{g}, g711Relay{g}
	if in.IsOpus() {
		dec, err := newOpusDecoder()
		if err != nil {
			return nil, err
		}
		p.opusIn = &opusDecoder{dec: dec, q: &p.queue, stats: &p.stats}
	}
	if out.IsOpus() {
		enc, err := newOpusStage(out.Name, s)
		if err != nil {
			return nil, err
		}
		p.opusOut = enc
	}
	p.describe(in, out)
	return p, nil
}

// describe prepares String for each G.711 format of the trunk side, so that
// a switch sets it without allocating, and connects the stages from in to
// out. The current format keeps the codec's own spelling.
func (p *pipeline) describe(in, out telephony.Codec) {
	for i, c := range [2]telephony.Codec{telephony.PCMU, telephony.PCMA} {
		p.connect(p.withTrunk(in, out, c))
		p.descs[i] = p.head.String()
	}
	p.connect(in, out)
	p.desc = p.head.String()
	if trunk := p.trunk(); trunk.IsG711() {
		p.descs[g711Index(trunk)] = p.desc
	}
}

// relays reports whether the stages from in to out pass G.711 bytes
// through (only re-chunked) rather than decoding and encoding them.
func relays(in, out telephony.Codec, reencode bool) bool {
	return in.IsG711() && out.IsG711() && in.SameFormat(out) && !reencode
}

// connect wires the stages from in to out. It does not allocate.
func (p *pipeline) connect(in, out telephony.Codec) {
	pass := relays(in, out, p.reencode)
	var dec audioInput
	switch {
	case in.IsOpus():
		dec = p.opusIn
	case pass:
		p.relayIn.set(in, true)
		dec = &p.relayIn
	default:
		p.g711In.set(in, false)
		dec = &p.g711In
	}
	switch {
	case out.IsOpus():
		p.queue.next = p.opusOut
	case pass:
		p.rechunk.name = out.Name
		p.queue.next = &p.rechunk
	default:
		p.g711Out.set(out, in.SameFormat(out))
		p.queue.next = &p.g711Out
	}
	p.seq.connect(in, dec)
	p.in, p.out, p.relaying = in, out, pass
}

// push handles one input RTP packet. A jitter buffer measures its
// arrival by its RTP timestamp.
func (p *pipeline) push(seq uint16, ts uint32, payload []byte) error {
	if p.jb == nil {
		return p.head.push(seq, ts, payload)
	}
	if p.jb.started {
		p.mediaAt += time.Duration(int64(int32(ts-p.lastTS)) * int64(time.Second) / p.clock) //nolint:gosec // timestamp distance wraps by design
	}
	p.lastTS = ts
	return p.jb.pushAt(seq, ts, p.mediaAt, payload)
}

// pushAt handles one input RTP packet that arrived at time at.
func (p *pipeline) pushAt(seq uint16, ts uint32, at time.Duration, payload []byte) error {
	if p.jb == nil {
		return p.head.push(seq, ts, payload)
	}
	return p.jb.pushAt(seq, ts, at, payload)
}

// next encodes the oldest complete output frame into dst.
func (p *pipeline) next(dst []byte) (n int, ts uint32, ok bool) { return p.queue.take(dst) }

// maxPayload is the destination size Next needs.
func (p *pipeline) maxPayload() int { return p.queue.maxPayload() }

// mapTimestamp converts an input-clock timestamp near the last accepted
// packet into the output clock on the output timeline.
func (p *pipeline) mapTimestamp(ts uint32) uint32 { return p.queue.mapSlots(p.seq.since(ts)) }
