package transcode

import (
	"fmt"
	"slices"
	"testing"

	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
)

// recordingInput is an audioInput that records what the sequencer told
// it, for packets of 160 slots (20 ms of G.711); a payload of one byte is
// malformed.
type recordingInput struct{ calls []string }

func (r *recordingInput) duration(payload []byte) (int, error) {
	if len(payload) == 1 {
		return 0, errG711Empty
	}
	return 160, nil
}
func (r *recordingInput) begin(ts uint32)  { r.add("begin %d", ts) }
func (r *recordingInput) restart(skip int) { r.add("restart %d", skip) }
func (r *recordingInput) conceal(slots, lost int, _ []byte) {
	r.add("conceal %d slots, %d lost", slots, lost)
}

func (r *recordingInput) decode(_ []byte, slots int) error {
	r.add("decode %d", slots)
	return nil
}
func (r *recordingInput) String() string { return "recording" }
func (r *recordingInput) add(format string, a ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
}

// The sequencer's verdict on each packet, as the audio input sees it: a
// G.711 stream of 20 ms packets (160 ticks) with a maximum gap of 100 ms.
func TestSequencerClassifies(t *testing.T) {
	type pkt struct {
		seq uint16
		ts  uint32
	}
	far := uint16(rtpstream.MaxDropout)
	tests := []struct {
		name   string
		pkts   []pkt
		resync int // index of the packet before which the codec changes, or 0
		bad    int // index of a malformed packet, or 0
		calls  []string
		want   Stats
	}{
		{"in order", []pkt{{10, 1600}, {11, 1760}},
			0, 0, []string{"begin 1600", "decode 160", "decode 160"}, Stats{}},
		{"duplicate", []pkt{{10, 1600}, {10, 1600}, {11, 1760}},
			0, 0, []string{"begin 1600", "decode 160", "decode 160"}, Stats{Duplicates: 1}},
		{"late after its gap was concealed", []pkt{{10, 1600}, {12, 1920}, {11, 1760}},
			0, 0, []string{"begin 1600", "decode 160", "conceal 160 slots, 1 lost", "decode 160"}, Stats{Late: 1}},
		{"timestamp gap alone", []pkt{{10, 1600}, {11, 1840}},
			0, 0, []string{"begin 1600", "decode 160", "conceal 80 slots, 0 lost", "decode 160"}, Stats{}},
		{"gap beyond the maximum skips ahead", []pkt{{10, 1600}, {17, 1600 + 7*160}},
			0, 0, []string{"begin 1600", "decode 160", "restart 960", "decode 160"}, Stats{Restarts: 1}},
		{"timestamp far behind", []pkt{{10, 16000}, {11, 1600}},
			0, 0, []string{"begin 16000", "decode 160", "restart 0", "decode 160"}, Stats{Restarts: 1}},
		{"misordered by the most", []pkt{{200, 1600}, {200 - rtpstream.MaxMisorder, 0}},
			0, 0, []string{"begin 1600", "decode 160"}, Stats{Late: 1}},
		{"far behind needs the next packet", []pkt{{200, 1600}, {199 - rtpstream.MaxMisorder, 0}, {200 - rtpstream.MaxMisorder, 160}},
			0, 0, []string{"begin 1600", "decode 160", "restart 0", "decode 160"}, Stats{Late: 1, Restarts: 1}},
		{"far ahead needs the next packet", []pkt{{10, 1600}, {10 + far, 1760}, {11 + far, 1920}},
			0, 0, []string{"begin 1600", "decode 160", "restart 0", "decode 160"}, Stats{Late: 1, Restarts: 1}},
		{"malformed", []pkt{{10, 1600}, {11, 1760}, {12, 1920}},
			0, 1, []string{"begin 1600", "decode 160", "conceal 160 slots, 1 lost", "decode 160"}, Stats{Malformed: 1}},
		{"new stream after a codec change", []pkt{{10, 1600}, {11, 1760}, {40000, 123456}, {40001, 123616}},
			2, 0, []string{"begin 1600", "decode 160", "decode 160", "decode 160", "decode 160"}, Stats{}},
		{"same stream after a codec change", []pkt{{10, 1600}, {11, 1760}, {13, 2080}},
			2, 0, []string{"begin 1600", "decode 160", "decode 160", "conceal 160 slots, 1 lost", "decode 160"}, Stats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st Stats
			var rec recordingInput
			s := newSequencer(telephony.PCMU, 800, &st)
			s.connect(telephony.PCMU, &rec)
			for i, p := range tt.pkts {
				if tt.resync > 0 && i == tt.resync {
					s.resync = true
				}
				payload := make([]byte, 160)
				if tt.bad > 0 && i == tt.bad {
					payload = payload[:1]
				}
				_ = s.push(p.seq, p.ts, payload)
			}
			if !slices.Equal(rec.calls, tt.calls) {
				t.Errorf("calls %q, want %q", rec.calls, tt.calls)
			}
			if st != tt.want {
				t.Errorf("Stats %+v, want %+v", st, tt.want)
			}
		})
	}
}
