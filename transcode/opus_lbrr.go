package transcode

// HasFEC reports whether the first Opus frame of payload (the packet p was
// parsed from) carries in-band forward error correction for the frame
// before it: SILK "LBRR" data (RFC 6716 section 4.2.4). Only SILK and Hybrid
// frames can carry it. The LBRR flag is the symbol that follows the
// per-frame VAD flags at the very start of the range-coded frame (RFC 6716
// section 4.2.3), so reading it costs a few range decoder steps, not a
// decode. It never allocates.
func (p *OpusPacket) HasFEC(payload []byte) bool {
	if p.FrameCount == 0 || p.Mode() == OpusModeCELT {
		return false
	}
	frame := p.FrameData(payload, 0)
	if len(frame) == 0 {
		return false
	}
	// One SILK frame per 20 ms of the Opus frame, at least one (RFC 6716
	// section 4.2.2): 10 and 20 ms frames have one VAD flag, 40 ms two,
	// 60 ms three.
	vadFlags := max(1, p.FrameSamples48k()/960)
	var rd rangeDecoder
	rd.init(frame)
	for range vadFlags {
		rd.decodeBitLogp(1)
	}
	return rd.decodeBitLogp(1)
}

// rangeDecoder is the start of the Opus range decoder of RFC 6716 section
// 4.1, enough to read the binary symbols at the head of a SILK frame.
type rangeDecoder struct {
	buf []byte
	pos int
	rng uint32
	val uint32
	rem uint32 // the last byte read, half of which is not yet in val
}

// readByte returns the next input byte, or 0 past the end (RFC 6716 section
// 4.1.1: the decoder reads zeros once the frame is exhausted).
func (d *rangeDecoder) readByte() uint32 {
	if d.pos >= len(d.buf) {
		return 0
	}
	b := d.buf[d.pos]
	d.pos++
	return uint32(b)
}

// init starts decoding frame (RFC 6716 section 4.1.1): rng starts at 128,
// val at 127 minus the top 7 bits of the first byte, then normalises.
func (d *rangeDecoder) init(frame []byte) {
	*d = rangeDecoder{buf: frame}
	d.rng = 128
	d.rem = d.readByte()
	d.val = 127 - d.rem>>1
	d.normalize()
}

// normalize keeps rng above 2^23 by shifting in 8 bits at a time; each new
// symbol is the low bit of the previous byte and the top 7 of the next, and
// val holds the inverted code bits (RFC 6716 section 4.1.2.1).
func (d *rangeDecoder) normalize() {
	for d.rng <= 1<<23 {
		d.rng <<= 8
		prev := d.rem
		d.rem = d.readByte()
		sym := (prev<<8 | d.rem) >> 1
		d.val = ((d.val << 8) + (255 &^ sym)) & (1<<31 - 1)
	}
}

// decodeBitLogp decodes one binary symbol whose value 1 has probability
// 1/2^logp (RFC 6716 section 4.1.3.2).
func (d *rangeDecoder) decodeBitLogp(logp uint) bool {
	s := d.rng >> logp
	one := d.val < s
	if one {
		d.rng = s
	} else {
		d.val -= s
		d.rng -= s
	}
	d.normalize()
	return one
}
