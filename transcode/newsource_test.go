package transcode

import (
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// After a transfer the trunk's audio comes from another party: a new RTP
// source with the same codec and unrelated numbering. Told of it
// (NewSource), the downlink decodes every packet of the new source and its
// output goes on without a jump, with or without a jitter buffer; even a
// new source numbered just behind the old one (which would otherwise be
// dropped as late) is heard.
func TestDownlinkNewSource(t *testing.T) {
	tests := []struct {
		name string
		seq  uint16 // of the new source's first packet
		ts   uint32
	}{
		{"numbered just behind", 105, 777},
		{"numbered far ahead", 40000, 3_000_000_000},
		{"numbered as the next packet", 110, 4000 + 160*10},
	}
	for _, tc := range tests {
		for _, jb := range []bool{false, true} {
			name := tc.name
			if jb {
				name += ", jitter buffer"
			}
			t.Run(name, func(t *testing.T) {
				var opts []Option
				if jb {
					opts = append(opts, WithJitterBuffer(20*time.Millisecond, 80*time.Millisecond))
				}
				d := mustDownlink(t, telephony.PCMU, telephony.PCMU, append(opts, WithTranscodeSameCodec(true))...)
				payloads, _, _ := trunkStream([]trunkSegment{{telephony.PCMU, 20}}, 160)
				var tss []uint32
				for i, p := range payloads {
					seq, ts := uint16(100+i), uint32(4000+160*i)
					if i >= 10 {
						seq, ts = tc.seq+uint16(i-10), tc.ts+uint32(160*(i-10))
					}
					if i == 10 {
						d.NewSource()
					}
					if err := d.PushAt(seq, ts, time.Duration(i)*20*time.Millisecond, p); err != nil {
						t.Fatal(err)
					}
					for _, f := range drainFrames(d.Next, d.MaxPayloadSize()) {
						tss = append(tss, f.ts)
					}
				}
				if len(tss) != len(payloads) {
					t.Fatalf("%d frames out, want %d", len(tss), len(payloads))
				}
				for i := 1; i < len(tss); i++ {
					if tss[i] != tss[i-1]+160 {
						t.Fatalf("frame %d: timestamp %d after %d: the output jumped", i, tss[i], tss[i-1])
					}
				}
				if st := d.Stats(); st.Restarts != 0 || st.Late != 0 || st.Concealed != 0 || st.Packets != len(payloads) {
					t.Errorf("Stats = %+v, want all %d packets decoded, none late or concealed", st, len(payloads))
				}
			})
		}
	}
}

// NewSource does not allocate.
func TestDownlinkNewSourceAllocs(t *testing.T) {
	d := mustDownlink(t, telephony.PCMU, telephony.Opus, WithJitterBuffer(20*time.Millisecond, 80*time.Millisecond))
	if n := testing.AllocsPerRun(100, d.NewSource); n != 0 {
		t.Errorf("NewSource: %.0f allocs, want 0", n)
	}
}
