package transcode

import (
	"fmt"
	"time"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/telephony"
)

const (
	// maxPacketSlots is the longest input packet accepted, 120 ms at 8 kHz
	// (the longest Opus packet, RFC 6716 section 3.2.5).
	maxPacketSlots = 960
	// plcGranule is the granularity of libopus concealment: 2.5 ms at 8 kHz.
	plcGranule = 20
)

// Stats counts what a transcoder did with its input. All fields are plain
// integers read by the transcoder's owning goroutine.
type Stats struct {
	// Packets is the number of input packets decoded.
	Packets int
	// Frames is the number of output frames produced by Next.
	Frames int
	// FEC is the number of lost Opus packets recovered from the in-band
	// FEC of the packet after them (RFC 6716 section 2.1.7).
	FEC int
	// PLC is the number of lost Opus packets (or untransmitted intervals)
	// filled by libopus packet loss concealment.
	PLC int
	// Silence is the number of lost G.711 packets filled with silence:
	// those lost before 35 ms of the stream (since its start or a restart)
	// had been received, too little audio to conceal from.
	Silence int
	// Concealed is the number of lost G.711 packets synthesised by packet
	// loss concealment from the audio before them (pitch-period repetition
	// after ITU-T G.711 Appendix I, see the package documentation).
	Concealed int
	// Duplicates is the number of packets dropped because their sequence
	// number was the last one accepted.
	Duplicates int
	// Late is the number of packets dropped because they arrived after
	// later ones had been accepted (their interval was already concealed).
	Late int
	// Restarts is the number of times the stream started over: a gap longer
	// than the maximum concealed gap, or a sequence or timestamp jump.
	Restarts int
	// Malformed is the number of packets rejected as not decodable.
	Malformed int
	// Overruns is the number of output frames discarded because Next was not
	// called often enough to drain them.
	Overruns int
	// EncodeErrors is the number of output frames the encoder failed on
	// (including a destination buffer too small).
	EncodeErrors int
	// Switches is the number of times the trunk's codec (G.711 format or
	// payload type) was changed on a running transcoder with
	// Downlink.SetInput or Uplink.SetOutput.
	Switches int
}

// pipeline is the engine shared by Uplink and Downlink: one RTP stream in,
// decoded into a queue of 8 kHz slots, re-chunked into output frames and
// encoded. In passthrough mode (equal G.711 formats, unless
// WithTranscodeSameCodec) a slot holds the G.711 byte itself.
type pipeline struct {
	in, out     telephony.Codec
	passthrough bool
	inRatio     uint32 // input clock ticks per 8 kHz slot
	outRatio    uint32 // output clock ticks per 8 kHz slot
	frame       int    // output frame length in slots
	silence     int16  // value of a silent slot

	track    sequenceTracker
	dec      *opus.Decoder
	enc      *opus.Encoder
	pkt      OpusPacket
	lastCELT bool     // the last Opus packet decoded was CELT-only
	plc      *g711PLC // concealment of G.711 input, nil for Opus input

	buf    []int16 // queue storage: buf[head:tail] is pending
	head   int
	tail   int
	headTS uint32 // output timestamp of buf[head]
	jumpAt int    // index where the output timestamp jumps to jumpTS, or -1
	jumpTS uint32

	refIn  uint32 // input timestamp of the last accepted packet
	refOut uint32 // output timestamp of its first slot

	stats Stats
	desc  string

	// The trunk side may change its G.711 format mid-call (switch.go).
	trunkIn  bool      // the trunk is the input (Downlink), else the output (Uplink)
	reencode bool      // WithTranscodeSameCodec: equal formats are decoded and re-encoded
	descs    [2]string // desc with the trunk side in PCMU and in PCMA, by g711Index
}

// newPipeline builds the engine from in to out; trunkIn says which side is
// the trunk's G.711, the one that SetInput or SetOutput may switch.
func newPipeline(in, out telephony.Codec, trunkIn bool, s settings) (*pipeline, error) {
	if err := s.validate(out); err != nil {
		return nil, err
	}
	p := &pipeline{
		in:       in,
		out:      out,
		inRatio:  uint32(in.ClockRate / pcmRate),
		outRatio: uint32(out.ClockRate / pcmRate),
		frame:    int(s.ptime / time.Millisecond * pcmRate / 1000),
		jumpAt:   -1,
		trunkIn:  trunkIn,
		reencode: s.reencode,
	}
	maxGap := int(s.maxGap * pcmRate / time.Second)
	p.track.maxGap = uint32(maxGap) * p.inRatio
	p.buf = make([]int16, maxPacketSlots+maxGap+3*p.frame+maxPacketSlots)
	p.passthrough = relays(in, out, s.reencode)
	if p.passthrough {
		p.silence = int16(silenceByte(in))
	}
	var err error
	if in.IsOpus() {
		if p.dec, err = newOpusDecoder(); err != nil {
			return nil, err
		}
	} else {
		p.plc = new(g711PLC)
	}
	if out.IsOpus() {
		if p.enc, err = newOpusEncoder(s); err != nil {
			return nil, err
		}
	}
	p.desc = describe(in, out, s)
	p.describeSwitches(s)
	return p, nil
}

// relays reports whether a pipeline from in to out passes the G.711 bytes
// through (only re-chunked) rather than decoding and encoding them.
func relays(in, out telephony.Codec, reencode bool) bool {
	return in.IsG711() && out.IsG711() && in.SameFormat(out) && !reencode
}

// describe is the String of a pipeline from in to out with settings s.
func describe(in, out telephony.Codec, s settings) string {
	ptime := fmt.Sprintf("ptime %dms", s.ptime.Milliseconds())
	inName, outName := in.Name+"/"+fmt.Sprint(in.ClockRate), out.Name
	if relays(in, out, s.reencode) {
		return fmt.Sprintf("%s passthrough -> %s re-chunk, %s", inName, outName, ptime)
	}
	var dec, enc string
	switch {
	case in.IsOpus():
		dec = "decode@8k (FEC, PLC)"
	default:
		dec = "decode"
	}
	switch {
	case out.IsOpus():
		enc = fmt.Sprintf("encode@8k (VOIP, %d bit/s, complexity %d, FEC for %d%% loss, no DTX)", s.bitrate, s.complexity, s.loss)
	case in.SameFormat(out):
		enc = "re-encode"
	default:
		enc = "encode"
	}
	return fmt.Sprintf("%s %s -> %s %s, %s", inName, dec, outName, enc, ptime)
}

// push handles one input RTP packet.
func (p *pipeline) push(seq uint16, ts uint32, payload []byte) error {
	dur, err := p.inspect(payload)
	if err != nil {
		p.stats.Malformed++
		return err
	}
	a, lost, gap, jump := p.track.classify(seq, ts)
	switch a {
	case arrivalDuplicate:
		p.stats.Duplicates++
		return nil
	case arrivalLate:
		p.stats.Late++
		return nil
	case arrivalRestart:
		p.restart(ts, jump)
	default:
		if gap > 0 {
			p.conceal(int(gap/p.inRatio), lost, payload)
		}
	}
	p.refIn, p.refOut = ts, p.tsAt(p.tail)
	p.track.accept(seq, ts, uint32(dur)*p.inRatio)
	return p.decode(payload, dur)
}

// inspect validates payload and returns its duration in slots.
func (p *pipeline) inspect(payload []byte) (int, error) {
	if p.dec != nil {
		if err := p.pkt.Parse(payload); err != nil {
			return 0, err
		}
		return p.pkt.Samples48k() / int(p.inRatio), nil
	}
	switch {
	case len(payload) == 0:
		return 0, errG711Empty
	case len(payload) > maxPacketSlots:
		return 0, errG711TooLong
	}
	return len(payload), nil
}

// restart starts the stream over at input timestamp ts. jump is the
// distance in input ticks from the expected timestamp when the stream
// simply resumed after a long gap, else 0.
func (p *pipeline) restart(ts uint32, jump int64) {
	if !p.track.started {
		// The very first packet: the output timeline starts at the input
		// timestamp converted to the output clock.
		p.headTS = uint32(uint64(ts) * uint64(p.out.ClockRate) / uint64(p.in.ClockRate))
		return
	}
	p.stats.Restarts++
	if p.plc != nil {
		p.plc.reset()
	}
	// Finish the partial frame with silence so that no audio is lost and the
	// queue holds whole frames only.
	before := p.tsAt(p.tail)
	if part := (p.tail - p.head) % p.frame; part != 0 {
		p.fill(p.frame - part)
	}
	after := p.tsAt(p.tail)
	next := after
	if jump > 0 {
		skip := uint32(jump) / p.inRatio * p.outRatio
		if pad := after - before; skip > pad {
			next = before + skip
		}
	}
	switch {
	case p.tail == p.head:
		p.headTS = next
	case p.jumpAt < 0:
		p.jumpAt, p.jumpTS = p.tail, next
	default:
		// A second restart before the first was drained: drop the backlog.
		p.stats.Overruns += (p.tail - p.head) / p.frame
		p.head, p.tail, p.jumpAt = 0, 0, -1
		p.headTS = next
	}
}

// tsAt returns the output timestamp of queue index i.
func (p *pipeline) tsAt(i int) uint32 {
	if p.jumpAt >= 0 && i >= p.jumpAt {
		return p.jumpTS + uint32(i-p.jumpAt)*p.outRatio
	}
	return p.headTS + uint32(i-p.head)*p.outRatio
}

// conceal fills slots 8 kHz slots lost before the packet payload: Opus FEC
// from payload and/or PLC, or for G.711 input pitch-period repetition
// (g711plc.go), or silence when too little audio preceded the gap.
func (p *pipeline) conceal(slots, lost int, payload []byte) {
	p.reserve(slots)
	if p.dec == nil {
		p.concealG711(slots, lost)
		return
	}
	// libopus conceals in multiples of 2.5 ms; a remainder (only from odd
	// timestamps) is silence.
	if rem := slots % plcGranule; rem != 0 {
		p.fill(rem)
		slots -= rem
	}
	if slots == 0 {
		return
	}
	out := p.buf[p.tail : p.tail+slots : p.tail+slots]
	fecSlots := p.pkt.FrameSamples48k() / int(p.inRatio)
	var err error
	if lost >= 1 && !p.lastCELT && slots >= fecSlots && p.pkt.HasFEC(payload) {
		// libopus runs PLC over all but the last frame of the gap, then
		// decodes that frame from the FEC data in payload.
		err = p.dec.DecodeFEC(payload, out)
		p.stats.FEC++
		p.stats.PLC += lost - 1
	} else {
		err = p.dec.DecodePLC(out)
		p.stats.PLC += max(lost, 1)
	}
	if err != nil {
		clear(out)
	}
	p.tail += slots
}

// concealG711 fills slots slots lost from a G.711 input.
func (p *pipeline) concealG711(slots, lost int) {
	if !p.plc.ready() {
		p.fill(slots)
		p.plc.recordSilence(slots)
		p.stats.Silence += max(lost, 1)
		return
	}
	slots = min(slots, len(p.buf)-p.tail)
	out := p.buf[p.tail : p.tail+slots : p.tail+slots]
	p.plc.begin()
	p.plc.synthesize(out)
	if p.passthrough {
		pcma := p.in.IsPCMA()
		for i, v := range out {
			out[i] = int16(encodeSample(v, pcma))
		}
	}
	p.tail += slots
	p.stats.Concealed += max(lost, 1)
}

// decode appends the decoded payload, dur slots long.
func (p *pipeline) decode(payload []byte, dur int) error {
	p.reserve(dur)
	out := p.buf[p.tail : p.tail+dur : p.tail+dur]
	p.stats.Packets++
	switch {
	case p.dec != nil:
		n, err := p.dec.Decode(payload, out)
		if err != nil || n != dur {
			// The TOC was valid but libopus refused the frames: conceal
			// their duration to keep the cadence, and report it.
			p.stats.Packets--
			p.stats.Malformed++
			if p.dec.DecodePLC(out) != nil {
				clear(out)
			}
			p.tail += dur
			return errOpusDecode
		}
		p.lastCELT = p.pkt.Mode() == OpusModeCELT
	case p.passthrough:
		for i, b := range payload {
			out[i] = int16(b)
		}
		p.plc.finishG711(out, p.in.IsPCMA())
		p.plc.recordG711(out, p.in.IsPCMA())
	default:
		if p.in.IsPCMA() {
			DecodePCMA(out, payload)
		} else {
			DecodePCMU(out, payload)
		}
		p.plc.finish(out)
		p.plc.record(out)
	}
	p.tail += dur
	return nil
}

// fill appends n silent slots; room must have been reserved.
func (p *pipeline) fill(n int) {
	n = min(n, len(p.buf)-p.tail)
	s := p.buf[p.tail : p.tail+n]
	for i := range s {
		s[i] = p.silence
	}
	p.tail += n
}

// reserve makes room for n more slots at the tail: it compacts the queue
// and, if the caller has not drained it, drops its oldest whole frames.
func (p *pipeline) reserve(n int) {
	if p.tail+n <= len(p.buf) {
		return
	}
	for p.tail-p.head+n > len(p.buf) && p.tail-p.head >= p.frame {
		p.dropFrame()
	}
	if p.head > 0 {
		copy(p.buf, p.buf[p.head:p.tail])
		if p.jumpAt >= 0 {
			p.jumpAt -= p.head
		}
		p.tail -= p.head
		p.head = 0
	}
}

// dropFrame discards the oldest output frame.
func (p *pipeline) dropFrame() {
	p.advance()
	p.stats.Overruns++
}

// advance moves the head past one output frame.
func (p *pipeline) advance() {
	p.head += p.frame
	p.headTS += uint32(p.frame) * p.outRatio
	if p.jumpAt >= 0 && p.head >= p.jumpAt {
		p.headTS = p.jumpTS + uint32(p.head-p.jumpAt)*p.outRatio
		p.jumpAt = -1
	}
	if p.head == p.tail {
		p.head, p.tail = 0, 0
	}
}

// maxPayload is the destination size Next needs.
func (p *pipeline) maxPayload() int {
	if p.enc != nil {
		return opusMaxFrameBytes
	}
	return p.frame
}

// next encodes the oldest complete output frame into dst.
func (p *pipeline) next(dst []byte) (n int, ts uint32, ok bool) {
	for p.tail-p.head >= p.frame {
		pcm := p.buf[p.head : p.head+p.frame]
		ts = p.headTS
		var err error
		switch {
		case p.enc != nil:
			if len(dst) == 0 {
				err = ErrShortBuffer
				break
			}
			n, err = p.enc.Encode(pcm, dst[:len(dst):len(dst)])
		case len(dst) < p.frame:
			err = ErrShortBuffer
		case p.passthrough:
			for i, s := range pcm {
				dst[i] = byte(s)
			}
			n = p.frame
		case p.out.IsPCMA():
			n = EncodePCMA(dst, pcm)
		default:
			n = EncodePCMU(dst, pcm)
		}
		p.advance()
		if err != nil {
			p.stats.EncodeErrors++
			continue
		}
		p.stats.Frames++
		return n, ts, true
	}
	return 0, 0, false
}

// mapTimestamp converts an input-clock timestamp near the last accepted
// packet into the output clock on the output timeline.
func (p *pipeline) mapTimestamp(ts uint32) uint32 {
	d := int64(int32(ts-p.refIn)) / int64(p.inRatio)
	return p.refOut + uint32(d)*p.outRatio
}
