package transcode

import (
	"fmt"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Each transcoder prints its chain of stages: the input stream and its
// audio input, then the frame output and the frame length, with the
// settings that shape them.
func TestChainDescriptions(t *testing.T) {
	up := func(in, out telephony.Codec, opts ...Option) func() (fmt.Stringer, error) {
		return func() (fmt.Stringer, error) { return NewUplink(in, out, opts...) }
	}
	down := func(in, out telephony.Codec, opts ...Option) func() (fmt.Stringer, error) {
		return func() (fmt.Stringer, error) { return NewDownlink(in, out, opts...) }
	}
	tests := []struct {
		name  string
		build func() (fmt.Stringer, error)
		want  string
	}{
		{"uplink from Opus", up(telephony.Opus, telephony.PCMU),
			"opus/48000 decode@8k (FEC, PLC) -> PCMU encode, ptime 20ms"},
		{"uplink converting G.711, 30 ms", up(telephony.PCMU, telephony.PCMA, WithPtime(30*time.Millisecond)),
			"PCMU/8000 decode -> PCMA encode, ptime 30ms"},
		{"uplink passthrough", up(telephony.PCMA, telephony.PCMA),
			"PCMA/8000 passthrough -> PCMA re-chunk, ptime 20ms"},
		{"downlink to Opus", down(telephony.PCMU, telephony.Opus),
			"PCMU/8000 decode -> opus encode@8k (VOIP, 24000 bit/s, complexity 5, FEC for 10% loss, no DTX), ptime 20ms"},
		{"downlink to Opus, other settings", down(telephony.PCMA, telephony.Opus, WithPtime(40*time.Millisecond),
			WithOpusBitrate(32000), WithOpusComplexity(8), WithOpusExpectedLoss(20)),
			"PCMA/8000 decode -> opus encode@8k (VOIP, 32000 bit/s, complexity 8, FEC for 20% loss, no DTX), ptime 40ms"},
		{"downlink re-encoding", down(telephony.PCMU, telephony.PCMU, WithTranscodeSameCodec(true)),
			"PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
