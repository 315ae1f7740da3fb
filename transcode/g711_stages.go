package transcode

import "github.com/webtrunk/webtrunk/telephony"

// The G.711 stages. G.711 carries no redundancy and its decoder no state,
// so both audio inputs conceal lost packets themselves with g711PLC
// (g711plc.go), from a history of the audio they produced.

// g711Input is what the two G.711 audio inputs share: the payload check,
// the concealer and the queue they write into.
type g711Input struct {
	pcma    bool  // A-law, else mu-law
	silence int16 // the slot value of silence in the queue
	plc     *g711PLC
	q       *frameQueue
	stats   *Stats
}

// set makes the input read codec c (PCMU or PCMA); codes says whether the
// queue holds G.711 codes rather than PCM.
func (g *g711Input) set(c telephony.Codec, codes bool) {
	g.pcma = c.IsPCMA()
	g.silence = 0
	if codes {
		g.silence = int16(silenceByte(c))
	}
}

func (g *g711Input) duration(payload []byte) (int, error) {
	switch {
	case len(payload) == 0:
		return 0, errG711Empty
	case len(payload) > maxPacketSlots:
		return 0, errG711TooLong
	}
	return len(payload), nil
}

func (g *g711Input) begin(ts uint32) { g.q.begin(ts) }

func (g *g711Input) restart(skip int) {
	g.plc.reset()
	g.q.restart(skip, g.silence)
}

// synthesize fills slots lost slots: with the concealer's synthetic PCM,
// returned uncommitted in the queue's room for the caller to convert and
// commit, or, with too little audio to conceal from, with silence, and
// then it returns nil.
func (g *g711Input) synthesize(slots, lost int) []int16 {
	g.q.reserve(slots)
	if !g.plc.ready() {
		g.q.fill(slots, g.silence)
		g.plc.recordSilence(slots)
		g.stats.Silence += max(lost, 1)
		return nil
	}
	out := g.q.room(slots)
	g.plc.begin()
	g.plc.synthesize(out)
	g.stats.Concealed += max(lost, 1)
	return out
}

// g711Decoder is the audio input of a G.711 stream decoded to PCM.
type g711Decoder struct{ g711Input }

func (d *g711Decoder) conceal(slots, lost int, _ []byte) {
	if out := d.synthesize(slots, lost); out != nil {
		d.q.commit(len(out))
	}
}

func (d *g711Decoder) decode(payload []byte, slots int) error {
	out := d.q.packet(slots)
	decodeFrame(out, payload, d.pcma)
	d.plc.finish(out)
	d.plc.record(out)
	d.stats.Packets++
	d.q.commit(len(out))
	return nil
}

func (d *g711Decoder) String() string { return "decode -> " + d.q.String() }

// g711Relay is the audio input of passthrough: a G.711 stream relayed to
// the same format, its codes queued as they are and only re-chunked. The
// concealer's history is decoded from the codes and its synthetic audio
// encoded back to them.
type g711Relay struct{ g711Input }

func (r *g711Relay) conceal(slots, lost int, _ []byte) {
	if out := r.synthesize(slots, lost); out != nil {
		pcmToCodes(out, r.pcma)
		r.q.commit(len(out))
	}
}

func (r *g711Relay) decode(payload []byte, slots int) error {
	out := r.q.packet(slots)
	for i, b := range payload {
		out[i] = int16(b)
	}
	r.plc.finishG711(out, r.pcma)
	r.plc.recordG711(out, r.pcma)
	r.stats.Packets++
	r.q.commit(len(out))
	return nil
}

func (r *g711Relay) String() string { return "passthrough -> " + r.q.String() }

// g711Encoder is the frame output of a G.711 stream encoded from PCM.
type g711Encoder struct {
	name string // the output codec's name, "PCMU"
	pcma bool
	same bool // the input is the same format: re-encoding
}

// set makes the output encode to codec c; same says whether the input is
// c's format too.
func (e *g711Encoder) set(c telephony.Codec, same bool) {
	e.name, e.pcma, e.same = c.Name, c.IsPCMA(), same
}

func (e *g711Encoder) encode(dst []byte, frame []int16) (int, error) {
	if len(dst) < len(frame) {
		return 0, ErrShortBuffer
	}
	return encodeFrame(dst, frame, e.pcma), nil
}

func (e *g711Encoder) maxPayload(frame int) int { return frame }

func (e *g711Encoder) String() string {
	if e.same {
		return e.name + " re-encode"
	}
	return e.name + " encode"
}

// g711Rechunk is the frame output of passthrough: the queued G.711 codes
// written out in frames of the output ptime.
type g711Rechunk struct {
	name string // the codec's name, "PCMU"
}

func (r *g711Rechunk) encode(dst []byte, frame []int16) (int, error) {
	if len(dst) < len(frame) {
		return 0, ErrShortBuffer
	}
	for i, s := range frame {
		dst[i] = byte(s)
	}
	return len(frame), nil
}

func (r *g711Rechunk) maxPayload(frame int) int { return frame }

func (r *g711Rechunk) String() string { return r.name + " re-chunk" }
