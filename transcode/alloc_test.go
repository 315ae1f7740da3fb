package transcode

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/internal/testaudio"

	"github.com/webtrunk/webtrunk/telephony"
)

// The media path must not allocate per packet: every direction, with and
// without loss, passthrough and same-codec re-encoding, and the DTMF
// mapping.
func TestNoAllocationPerPacket(t *testing.T) {
	pk := opusPackets(t, 50, 20)
	g711 := make([]byte, 160)
	EncodePCMU(g711, testaudio.Sine(600, 8000, 160, 0.3))
	out := make([]byte, 1500)
	drain := func(next func([]byte) (int, uint32, bool)) { discardFrames(next, out) }
	upOpus := mustUplink(t, telephony.Opus, telephony.PCMU)
	upLossy := mustUplink(t, telephony.Opus, telephony.PCMA)
	upPass := mustUplink(t, telephony.PCMU, telephony.PCMU)
	down := mustDownlink(t, telephony.PCMA, telephony.Opus)
	downLossy := mustDownlink(t, telephony.PCMU, telephony.Opus)
	downPass := mustDownlink(t, telephony.PCMU, telephony.PCMU)
	downPassLossy := mustDownlink(t, telephony.PCMA, telephony.PCMA)
	upSame := mustUplink(t, telephony.PCMA, telephony.PCMA, WithTranscodeSameCodec(true))
	downSame := mustDownlink(t, telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(true))
	mapper, err := NewDTMFMapper(telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 126}, telephony.TelephoneEvent8k, upOpus)
	if err != nil {
		t.Fatal(err)
	}
	dtmf := eventPacket(t, 126, 0, true, Event{Code: 5, Duration: 960})
	malformed := []byte{1, 2, 3, 3} // code 1 with an odd length
	var hdr rtp.Header
	var pkt OpusPacket
	var ev Event

	var i, j, k, l, m, n, o, p, q, r int
	// g711Step pushes the G.711 frame to s at sequence number *seq and
	// takes what comes out; *seq then moves on by one, or with lose by
	// 1 + *seq%lose, losing packets.
	g711Step := func(s interface {
		Push(seq uint16, ts uint32, payload []byte) error
		Next(out []byte) (int, uint32, bool)
	}, seq *int, lose int) func() {
		return func() {
			_ = s.Push(uint16(*seq), uint32(*seq*160), g711)
			drain(s.Next)
			if lose > 0 {
				*seq += 1 + *seq%lose
			} else {
				*seq++
			}
		}
	}
	tests := []struct {
		name string
		fn   func()
	}{
		{"uplink Opus to PCMU", func() {
			_ = upOpus.Push(uint16(i), uint32(i*960), pk[i%len(pk)])
			drain(upOpus.Next)
			i++
		}},
		{"uplink with loss (FEC and PLC)", func() {
			j += 1 + j%3 // lose 0, 1 or 2 packets each time
			_ = upLossy.Push(uint16(j), uint32(j*960), pk[j%len(pk)])
			drain(upLossy.Next)
		}},
		{"uplink passthrough", g711Step(upPass, &k, 0)},
		{"uplink duplicate, late, restart", func() {
			_ = upOpus.Push(uint16(i-1), uint32((i-1)*960), pk[0])
			_ = upOpus.Push(uint16(i-3), uint32((i-3)*960), pk[0])
			i += 20 // 400 ms gap
			_ = upOpus.Push(uint16(i), uint32(i*960), pk[i%len(pk)])
			drain(upOpus.Next)
			i++
		}},
		{"downlink PCMA to Opus", g711Step(down, &l, 0)},
		{"downlink with loss", g711Step(downLossy, &m, 2)},
		{"downlink passthrough", g711Step(downPass, &n, 0)},
		{"downlink passthrough with loss", g711Step(downPassLossy, &r, 3)}, // lose 0, 1 or 2 packets each time
		{"uplink same codec re-encoded", g711Step(upSame, &p, 0)},
		{"downlink same codec re-encoded, with loss", g711Step(downSame, &q, 2)},
		{"DTMF mapping", func() {
			dtmf.Timestamp = uint32(i * 960)
			_, _ = mapper.Map(dtmf, &hdr, out)
			o++
		}},
		{"Opus TOC parse and FEC flag", func() {
			_ = pkt.Parse(pk[o%len(pk)])
			_ = pkt.HasFEC(pk[o%len(pk)])
			_ = pkt.Parse([]byte{3, 0})
			o++
		}},
		{"telephone-event payload", func() {
			_ = ev.Unmarshal(dtmf.Payload)
			_, _ = ev.MarshalTo(out)
			_ = ev.Unmarshal(nil)
		}},
		{"malformed input", func() {
			_ = upOpus.Push(uint16(i), uint32(i*960), malformed)
			_ = down.Push(uint16(l), uint32(l*160), nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(200, tc.fn); a != 0 {
				t.Errorf("%.2f allocations per packet, want 0", a)
			}
		})
	}
	if s := upLossy.Stats(); s.FEC == 0 || s.PLC == 0 {
		t.Errorf("lossy uplink did not exercise FEC and PLC: %+v", s)
	}
	if s := downLossy.Stats(); s.Concealed == 0 {
		t.Errorf("lossy downlink did not exercise concealment: %+v", s)
	}
	if s := downSame.Stats(); s.Concealed == 0 || s.Frames == 0 {
		t.Errorf("re-encoding downlink did not exercise concealment and output: %+v", s)
	}
	if s := downPassLossy.Stats(); s.Concealed == 0 || s.Frames == 0 {
		t.Errorf("lossy passthrough downlink did not exercise concealment and output: %+v", s)
	}
	if s := upSame.String(); s != "PCMA/8000 decode -> PCMA re-encode, ptime 20ms" {
		t.Errorf("same-codec uplink is %q, not re-encoding", s)
	}
}

// Switching and the packets after it allocate nothing.
func TestSetTrunkDoesNotAllocate(t *testing.T) {
	pk := opusPackets(t, 50, 20)
	ulaw := encodeG711(telephony.PCMU, testaudio.Sine(600, 8000, 160, 0.3))
	alaw := encodeG711(telephony.PCMA, testaudio.Sine(600, 8000, 160, 0.3))
	out := make([]byte, 1500)
	drain := func(next func([]byte) (int, uint32, bool)) { discardFrames(next, out) }
	codec := func(i int) (telephony.Codec, []byte) {
		if i/7%2 == 1 {
			return telephony.PCMA, alaw
		}
		return telephony.PCMU, ulaw
	}
	upOpus := mustUplink(t, telephony.Opus, telephony.PCMU)
	upPass := mustUplink(t, telephony.PCMU, telephony.PCMU)
	downOpus := mustDownlink(t, telephony.PCMU, telephony.Opus)
	downPass := mustDownlink(t, telephony.PCMU, telephony.PCMU)
	mapper, err := NewDTMFMapper(telephony.Codec{Name: "telephone-event", ClockRate: 48000, PayloadType: 110}, telephony.TelephoneEvent8k, upOpus)
	if err != nil {
		t.Fatal(err)
	}
	var i, j, k, l, m int
	tests := []struct {
		name string
		fn   func()
	}{
		{"uplink Opus to PCMU and PCMA", func() {
			c, _ := codec(i)
			_ = upOpus.SetOutput(c)
			_ = upOpus.Push(uint16(i), uint32(960*i), pk[i%len(pk)])
			drain(upOpus.Next)
			i++
		}},
		{"uplink passthrough and transcoding", func() {
			c, _ := codec(j)
			_ = upPass.SetOutput(c)
			_ = upPass.Push(uint16(j), uint32(160*j), ulaw[:120+j%3*20])
			drain(upPass.Next)
			j++
		}},
		{"downlink PCMU and PCMA to Opus", func() {
			c, p := codec(k)
			_ = downOpus.SetInput(c)
			_ = downOpus.Push(uint16(k), uint32(160*k), p)
			drain(downOpus.Next)
			k++
		}},
		{"downlink passthrough and transcoding, new stream", func() {
			c, p := codec(l)
			_ = downPass.SetInput(c)
			_ = downPass.Push(uint16(l*l), uint32(240*l*l), p[:120])
			drain(downPass.Next)
			l++
		}},
		{"DTMF mapper payload type", func() {
			_ = mapper.SetOutput(telephony.TelephoneEvent8k.WithPayloadType(uint8(96 + m%2)))
			m++
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(200, tc.fn); a != 0 {
				t.Errorf("%.2f allocations per packet, want 0", a)
			}
		})
	}
	for _, s := range []interface{ Stats() Stats }{upOpus, upPass, downOpus, downPass} {
		if st := s.Stats(); st.Switches < 20 || st.Frames == 0 {
			t.Errorf("%v: Stats = %+v, want switches and output", s, st)
		}
	}
}
