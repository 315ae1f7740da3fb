package transcode

import (
	"slices"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/telephony"
)

// recordStage is a packetStage that records the sequence numbers handed to
// it.
type recordStage struct{ seqs []uint16 }

func (r *recordStage) push(seq uint16, _ uint32, _ []byte) error {
	r.seqs = append(r.seqs, seq)
	return nil
}

func (r *recordStage) String() string { return "record" }

// arrival is one packet given to a jitter buffer: its sequence number and
// when it arrived, in milliseconds.
type arrival struct {
	seq uint16
	ms  int
}

func TestJitterBufferOrder(t *testing.T) {
	tests := []struct {
		name      string
		in        []arrival
		want      []uint16
		reordered int
		skipped   int
	}{
		{
			name: "in order passes at once",
			in:   []arrival{{1, 0}, {2, 20}, {3, 40}},
			want: []uint16{1, 2, 3},
		},
		{
			name:      "a swapped pair is put in order",
			in:        []arrival{{1, 0}, {3, 40}, {2, 45}, {4, 60}},
			want:      []uint16{1, 2, 3, 4},
			reordered: 1,
		},
		{
			name: "a lost packet is given up after the depth",
			// Depth 20 ms: 3 waits from 40 ms, given up at 60 ms.
			in:      []arrival{{1, 0}, {3, 40}, {4, 50}, {5, 60}, {2, 70}, {6, 80}},
			want:    []uint16{1, 3, 4, 5, 2, 6},
			skipped: 1,
		},
		{
			name: "a duplicate held is dropped",
			in:   []arrival{{1, 0}, {3, 40}, {3, 41}, {2, 45}},
			want: []uint16{1, 2, 3},
			// The duplicate counts in Stats.Duplicates.
			reordered: 1,
		},
		{
			name: "a jump far ahead flushes and goes on",
			in:   []arrival{{1, 0}, {3, 40}, {1000, 41}, {1001, 60}},
			want: []uint16{1, 3, 1000, 1001},
			// 2 was skipped by the flush.
			skipped: 1,
		},
		{
			name: "a full buffer gives up at once",
			in: []arrival{
				{1, 0}, {3, 1}, {4, 1}, {5, 1}, {6, 1}, {7, 1}, {8, 1}, {9, 1}, {10, 1},
				{11, 1}, {12, 1}, {13, 1}, {14, 1}, {15, 1}, {16, 1}, {17, 1},
			},
			want:    []uint16{1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17},
			skipped: 1,
		},
		{
			name: "sequence numbers wrap",
			in:   []arrival{{65534, 0}, {0, 40}, {65535, 45}, {1, 60}},
			want: []uint16{65534, 65535, 0, 1},
			// 65535 arrived after 0.
			reordered: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recordStage
			var st Stats
			j := newJitterBuffer(8000, 20*time.Millisecond, 80*time.Millisecond, &rec, &st)
			for _, a := range tt.in {
				if err := j.pushAt(a.seq, uint32(a.seq)*160, time.Duration(a.ms)*time.Millisecond, []byte{0xff}); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(rec.seqs, tt.want) {
				t.Errorf("handed on %v, want %v", rec.seqs, tt.want)
			}
			if st.Reordered != tt.reordered || st.Skipped != tt.skipped {
				t.Errorf("reordered %d skipped %d, want %d and %d", st.Reordered, st.Skipped, tt.reordered, tt.skipped)
			}
		})
	}
}

// The depth follows the measured jitter: three times it, within the
// bounds.
func TestJitterBufferDepthAdapts(t *testing.T) {
	tests := []struct {
		name   string
		jitter int // each packet arrives this many ms early or late, alternately
		want   time.Duration
	}{
		{"steady stream keeps the minimum", 0, 20 * time.Millisecond},
		{"10 ms of jitter waits 30 ms", 5, 30 * time.Millisecond},
		{"large jitter stops at the maximum", 40, 80 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recordStage
			var st Stats
			j := newJitterBuffer(48000, 20*time.Millisecond, 80*time.Millisecond, &rec, &st)
			for i := range 500 {
				at := i*20 + tt.jitter*(i%2*2-1)
				_ = j.pushAt(uint16(i), uint32(i)*960, time.Duration(at)*time.Millisecond, []byte{0xff})
			}
			// The estimate of an alternating offset of ±o converges on 2o.
			if d := st.JitterDepth; d < tt.want-2*time.Millisecond || d > tt.want+2*time.Millisecond {
				t.Errorf("depth %v, want %v", d, tt.want)
			}
		})
	}
}

// timedPipeline is what Uplink and Downlink share for the reordering
// tests: packets with arrival times in, G.711 frames out.
type timedPipeline interface {
	PushAt(seq uint16, ts uint32, at time.Duration, payload []byte) error
	Next(dst []byte) (n int, ts uint32, ok bool)
	Stats() Stats
}

// swappedPairs returns payloads as packets numbered from seq0 with
// timestamps step apart from ts0, every other pair swapped: 0 1 3 2 4 5 7 6.
func swappedPairs(payloads [][]byte, seq0 uint16, ts0, step uint32) []sentPacket {
	pkts := make([]sentPacket, len(payloads))
	for i, p := range payloads {
		pkts[i] = sentPacket{seq0 + uint16(i), ts0 + uint32(i)*step, p} //nolint:gosec // test sizes
	}
	for i := 2; i+1 < len(pkts); i += 4 {
		pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
	}
	return pkts
}

// sentPacket is one packet of a reordering test.
type sentPacket struct {
	seq     uint16
	ts      uint32
	payload []byte
}

// With a jitter buffer, a stream whose packets arrive in swapped pairs is
// decoded whole, in order, and the 500 Hz tone goes on unbroken; without
// one, every second packet is dropped as late and concealed. The uplink
// takes Opus from the browser, the downlink G.711 from the trunk.
func TestJitterBufferUsesReorderedPackets(t *testing.T) {
	pcmu := encodeG711(telephony.PCMU, testaudio.Sine(500, 8000, 100*160, 0.25))
	var g711 [][]byte
	for i := range 100 {
		g711 = append(g711, pcmu[i*160:(i+1)*160])
	}
	streams := []struct {
		name string
		pkts []sentPacket
		out  telephony.Codec // of the frames Next returns
		new  func(t *testing.T, opts ...Option) timedPipeline
	}{
		{"uplink", swappedPairs(opusPackets(t, 100, 20), 0, 0, 960), telephony.PCMU,
			func(t *testing.T, opts ...Option) timedPipeline {
				return mustUplink(t, telephony.Opus, telephony.PCMU, opts...)
			}},
		{"downlink", swappedPairs(g711, 40000, 1000, 160), telephony.PCMA,
			func(t *testing.T, opts ...Option) timedPipeline {
				return mustDownlink(t, telephony.PCMU, telephony.PCMA, opts...)
			}},
	}
	buffers := []struct {
		name      string
		opts      []Option
		wantLate  int
		reordered int
		minShare  float64
	}{
		{"without buffer", nil, 25, 0, 0},
		{"with buffer", []Option{WithJitterBuffer(DefaultJitterMin, DefaultJitterMax)}, 0, 25, 0.99},
	}
	for _, st := range streams {
		for _, tt := range buffers {
			t.Run(st.name+" "+tt.name, func(t *testing.T) {
				p := st.new(t, tt.opts...)
				var pcm []int16
				for i, pk := range st.pkts {
					if err := p.PushAt(pk.seq, pk.ts, time.Duration(i)*20*time.Millisecond, pk.payload); err != nil {
						t.Fatal(err)
					}
					for _, f := range drainWhole(t, p.Next, 160) {
						pcm = append(pcm, decodeG711(st.out, f.payload)...)
					}
				}
				stats := p.Stats()
				if stats.Late != tt.wantLate || stats.Reordered != tt.reordered {
					t.Errorf("late %d reordered %d, want %d and %d", stats.Late, stats.Reordered, tt.wantLate, tt.reordered)
				}
				if stats.Packets != len(st.pkts)-tt.wantLate {
					t.Errorf("decoded %d packets, want %d", stats.Packets, len(st.pkts)-tt.wantLate)
				}
				if share := testaudio.Share(pcm[800:], 8000, 500, testaudio.Hann); share < tt.minShare {
					t.Errorf("500 Hz tone is %.3f of the energy, want at least %.3f", share, tt.minShare)
				}
			})
		}
	}
}

// The jitter buffer allocates nothing: in order, reordered, lost and given
// up on, and late after that.
func TestJitterBufferDoesNotAllocate(t *testing.T) {
	pk := opusPackets(t, 50, 20)
	out := make([]byte, 1500)
	up := mustUplink(t, telephony.Opus, telephony.PCMU, WithJitterBuffer(DefaultJitterMin, DefaultJitterMax))
	// Each run sends eight packets: 0 1 3 2 4 6 7 8, then 5 late.
	order := []int{0, 1, 3, 2, 4, 6, 7, 8, 5}
	arrive := []int{0, 20, 60, 65, 80, 120, 140, 160, 170}
	base, at := 0, time.Duration(0)
	fn := func() {
		for k, o := range order {
			seq := base + o
			_ = up.PushAt(uint16(seq), uint32(seq*960), at+time.Duration(arrive[k])*time.Millisecond, pk[seq%len(pk)])
			discardFrames(up.Next, out)
		}
		base += 9
		at += 180 * time.Millisecond
	}
	if a := testing.AllocsPerRun(200, fn); a != 0 {
		t.Errorf("%.2f allocations per run, want 0", a)
	}
	if st := up.Stats(); st.Reordered == 0 || st.Skipped == 0 || st.Late == 0 {
		t.Errorf("did not exercise reordering, giving up and late packets: %+v", st)
	}
}

// A trunk codec change decodes the packets the buffer held with the codec
// they were sent in: none is lost or decoded with the new one.
func TestDownlinkJitterBufferFlushesOnCodecChange(t *testing.T) {
	down := mustDownlink(t, telephony.PCMU, telephony.PCMU, WithJitterBuffer(DefaultJitterMin, DefaultJitterMax), WithTranscodeSameCodec(true))
	pcmu := encodeG711(telephony.PCMU, testaudio.Sine(500, 8000, 160*3, 0.25))
	// 0 arrives, 2 is held waiting for 1, which never comes; then PCMA.
	for _, p := range []struct {
		seq uint16
		at  time.Duration
	}{{0, 0}, {2, 40 * time.Millisecond}} {
		if err := down.PushAt(p.seq, uint32(p.seq)*160, p.at, pcmu[int(p.seq)*160:int(p.seq+1)*160]); err != nil {
			t.Fatal(err)
		}
	}
	var out []int16
	for _, f := range drainWhole(t, down.Next, 160) {
		out = append(out, decodeG711(telephony.PCMU, f.payload)...)
	}
	if err := down.SetInput(telephony.PCMA); err != nil {
		t.Fatal(err)
	}
	for _, f := range drainWhole(t, down.Next, 160) {
		out = append(out, decodeG711(telephony.PCMU, f.payload)...)
	}
	// Packet 0, the gap of 1 concealed, packet 2: three frames of tone.
	if len(out) != 3*160 {
		t.Fatalf("%d samples out, want 480", len(out))
	}
	if share := testaudio.Share(out[320:], 8000, 500, testaudio.Hann); share < 0.95 {
		t.Errorf("the held packet decoded as %.3f tone, want it decoded as PCMU (at least 0.95)", share)
	}
}
