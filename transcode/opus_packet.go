package transcode

// OpusMode is the coding mode of an Opus frame, given by its TOC
// configuration (RFC 6716 section 3.1, Table 2).
type OpusMode uint8

// Opus coding modes (RFC 6716 section 3.1).
const (
	// OpusModeSILK is the linear-prediction layer alone (configurations 0-11).
	OpusModeSILK OpusMode = iota
	// OpusModeHybrid is SILK plus CELT (configurations 12-15).
	OpusModeHybrid
	// OpusModeCELT is the transform layer alone (configurations 16-31); it
	// carries no in-band FEC.
	OpusModeCELT
)

// String returns "SILK", "Hybrid" or "CELT".
func (m OpusMode) String() string {
	switch m {
	case OpusModeSILK:
		return "SILK"
	case OpusModeHybrid:
		return "Hybrid"
	default:
		return "CELT"
	}
}

const (
	// opusMaxFrameBytes is the largest compressed frame (RFC 6716 3.4 R2).
	opusMaxFrameBytes = 1275
	// opusMaxFrames is the most frames a packet can hold: 120 ms of 2.5 ms
	// frames (RFC 6716 section 3.2.5).
	opusMaxFrames = 48
	// opusMaxSamples48k is the longest packet, 120 ms, in 48 kHz samples.
	opusMaxSamples48k = 5760
	// maxRTPPayload bounds any payload this package reads: the largest UDP
	// datagram, so frame offsets fit 16 bits.
	maxRTPPayload = 65535
)

// OpusPacket is the table of contents of one Opus packet (RFC 6716 section
// 3): what libopus would decode, read without decoding. It is a plain value
// with fixed-size arrays: parsing into an existing OpusPacket allocates
// nothing. The zero value is an empty packet.
type OpusPacket struct {
	// Config is the 5-bit TOC configuration number, 0-31 (RFC 6716 3.1).
	Config uint8
	// Stereo is the TOC s bit: the frames code two channels.
	Stereo bool
	// Code is the TOC frame count code c, 0-3 (RFC 6716 section 3.2).
	Code uint8
	// FrameCount is the number of frames in the packet, 1-48.
	FrameCount int
	// Padding is the number of padding bytes of a code 3 packet.
	Padding int

	offsets [opusMaxFrames]uint16
	lengths [opusMaxFrames]uint16
}

// Parse reads the TOC byte and the frame lengths of payload, an Opus packet
// as carried in one RTP payload (RFC 7587 section 4.2), and checks every
// rule of RFC 6716 section 3.4 (R1-R7). On success p describes payload and
// FrameData returns its frames. On error p is left empty and the error wraps
// ErrMalformedPacket. It never allocates and never reads beyond payload.
func (p *OpusPacket) Parse(payload []byte) error {
	*p = OpusPacket{}
	err := p.parse(payload)
	if err != nil {
		*p = OpusPacket{}
	}
	return err
}

func (p *OpusPacket) parse(b []byte) error {
	if len(b) < 1 {
		return errOpusEmpty
	}
	if len(b) > maxRTPPayload {
		return errOpusFrameLen
	}
	toc := b[0]
	p.Config = toc >> 3
	p.Stereo = toc&0x04 != 0
	p.Code = toc & 0x03
	rest := b[1:]
	off := 1
	switch p.Code {
	case 0: // one frame (RFC 6716 3.2.2)
		return p.setFrames(off, 1, len(rest))
	case 1: // two frames of equal size (RFC 6716 3.2.3)
		if len(rest)%2 != 0 {
			return errOpusCode1Odd
		}
		return p.setFrames(off, 2, len(rest)/2)
	case 2: // two frames, the first with an explicit length (RFC 6716 3.2.4)
		n1, used, err := readFrameLength(rest)
		if err != nil {
			return err
		}
		rest = rest[used:]
		off += used
		if n1 > len(rest) {
			return errOpusTruncated
		}
		if err := p.addFrame(0, off, n1); err != nil {
			return err
		}
		if err := p.addFrame(1, off+n1, len(rest)-n1); err != nil {
			return err
		}
		p.FrameCount = 2
		return nil
	default: // arbitrary number of frames (RFC 6716 3.2.5)
		return p.parseCode3(b)
	}
}

func (p *OpusPacket) parseCode3(b []byte) error {
	if len(b) < 2 {
		return errOpusTruncated
	}
	fc := b[1]
	vbr := fc&0x80 != 0
	hasPadding := fc&0x40 != 0
	m := int(fc & 0x3F)
	if m == 0 || m*p.FrameSamples48k() > opusMaxSamples48k {
		return errOpusFrameCount
	}
	off := 2
	end := len(b)
	if hasPadding {
		// Each padding length byte of 255 adds 254 bytes and is followed
		// by another length byte; the first byte below 255 ends the list.
		for {
			if off >= end {
				return errOpusPadding
			}
			v := int(b[off])
			off++
			if v == 255 {
				p.Padding += 254
				continue
			}
			p.Padding += v
			break
		}
		end -= p.Padding
		if end < off {
			return errOpusPadding
		}
	}
	if !vbr {
		data := end - off
		if data%m != 0 {
			return errOpusCBR
		}
		return p.setFrames(off, m, data/m)
	}
	// VBR: M-1 explicit lengths, the last frame takes what remains.
	var sum int
	lens := p.lengths[:m]
	for i := 0; i < m-1; i++ {
		n, used, err := readFrameLength(b[off:end])
		if err != nil {
			return err
		}
		if n > opusMaxFrameBytes {
			return errOpusFrameLen
		}
		lens[i] = uint16(n)
		off += used
		sum += n
	}
	if sum > end-off {
		return errOpusTruncated
	}
	last := end - off - sum
	if last > opusMaxFrameBytes {
		return errOpusFrameLen
	}
	lens[m-1] = uint16(last)
	for i := range m {
		p.offsets[i] = uint16(off)
		off += int(lens[i])
	}
	p.FrameCount = m
	return nil
}

// setFrames records count frames of size bytes each, starting at off.
func (p *OpusPacket) setFrames(off, count, size int) error {
	if size > opusMaxFrameBytes {
		return errOpusFrameLen
	}
	for i := range count {
		if err := p.addFrame(i, off+i*size, size); err != nil {
			return err
		}
	}
	p.FrameCount = count
	return nil
}

func (p *OpusPacket) addFrame(i, off, size int) error {
	if size > opusMaxFrameBytes {
		return errOpusFrameLen
	}
	p.offsets[i] = uint16(off)
	p.lengths[i] = uint16(size)
	return nil
}

// readFrameLength decodes the one- or two-byte frame length of RFC 6716
// section 3.2.1 and returns the length and the bytes it used.
func readFrameLength(b []byte) (n, used int, err error) {
	if len(b) < 1 {
		return 0, 0, errOpusTruncated
	}
	if b[0] < 252 {
		return int(b[0]), 1, nil
	}
	if len(b) < 2 {
		return 0, 0, errOpusTruncated
	}
	return int(b[1])*4 + int(b[0]), 2, nil
}

// Mode returns the coding mode of the packet's configuration.
func (p *OpusPacket) Mode() OpusMode {
	switch {
	case p.Config < 12:
		return OpusModeSILK
	case p.Config < 16:
		return OpusModeHybrid
	default:
		return OpusModeCELT
	}
}

// FrameSamples48k returns the duration of one frame in samples at 48 kHz
// (120 for 2.5 ms up to 2880 for 60 ms), from RFC 6716 section 3.1 Table 2.
func (p *OpusPacket) FrameSamples48k() int {
	c := int(p.Config)
	switch {
	case c < 12: // SILK: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[c&3]
	case c < 16: // Hybrid: 10, 20 ms
		return [2]int{480, 960}[c&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		return [4]int{120, 240, 480, 960}[c&3]
	}
}

// Samples48k returns the duration of the whole packet in samples at 48 kHz,
// the RTP timestamp increment it accounts for (RFC 7587 section 4.1).
func (p *OpusPacket) Samples48k() int {
	return p.FrameSamples48k() * p.FrameCount
}

// FrameData returns frame i (0 <= i < FrameCount) of payload, the packet p
// was parsed from. A zero-length frame is a DTX or lost frame (RFC 6716
// section 3.2.1). It returns nil when i is out of range.
func (p *OpusPacket) FrameData(payload []byte, i int) []byte {
	if i < 0 || i >= p.FrameCount {
		return nil
	}
	off, n := int(p.offsets[i]), int(p.lengths[i])
	if off+n > len(payload) {
		return nil
	}
	return payload[off : off+n]
}
