package bridge

import (
	"testing"
	"time"
)

// TestCountersNewSource: a trunk that changes codec by re-INVITE may open
// a new RTP stream (a new SSRC) whose sequence numbers follow on from the
// old ones but whose timestamps start anywhere (RFC 3550 section 8.2).
// The jump in timestamps is not jitter and the stream loses nothing.
func TestCountersNewSource(t *testing.T) {
	tests := []struct {
		name    string
		seqNext uint16 // the new stream's first sequence number
		tsNext  uint32 // and timestamp
	}{
		{"sequence follows on, timestamp jumps", 3050, 1_900_000_000},
		{"sequence and timestamp both restart", 12, 4242},
		{"sequence slightly behind", 3040, 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounters(8000)
			at := time.Duration(0)
			seq, ts := uint16(3000), uint32(77000)
			for range 50 {
				c.arrived(0x1001, seq, ts, at)
				seq, ts, at = seq+1, ts+160, at+20*time.Millisecond
			}
			seq, ts = tt.seqNext, tt.tsNext
			for range 50 {
				c.arrived(0x1002, seq, ts, at)
				seq, ts, at = seq+1, ts+160, at+20*time.Millisecond
			}
			st := c.stats()
			if st.Jitter > 5*time.Millisecond {
				t.Errorf("jitter %v across a new stream with steady packets, want under 5ms", st.Jitter)
			}
			if st.Lost != 0 {
				t.Errorf("lost %d, want 0", st.Lost)
			}
			if st.Received != 100 {
				t.Errorf("received %d, want 100", st.Received)
			}
		})
	}
}

// TestStatsPlus: the counters of two bridges one after the other add up;
// the jitter is the later one's once it received, LastPacket the latest.
func TestStatsPlus(t *testing.T) {
	a := Stats{Received: 10, Sent: 9, Lost: 1, Dropped: 2, Jitter: 3 * time.Millisecond, Transcode: time.Second, LastPacket: 5 * time.Second, Late: 1, Reordered: 2}
	b := Stats{Received: 4, Sent: 4, Lost: 1, Jitter: 7 * time.Millisecond, Transcode: time.Second, LastPacket: 9 * time.Second, Late: 1}
	want := Stats{Received: 14, Sent: 13, Lost: 2, Dropped: 2, Jitter: 7 * time.Millisecond, Transcode: 2 * time.Second, LastPacket: 9 * time.Second, Late: 2, Reordered: 2}
	if got := a.Plus(b); got != want {
		t.Errorf("Plus = %+v, want %+v", got, want)
	}
	if got := a.Plus(Stats{}); got != a {
		t.Errorf("Plus(zero) = %+v, want %+v", got, a)
	}
}
