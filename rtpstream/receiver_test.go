package rtpstream

import (
	"testing"
	"time"
)

// ptime is the packet interval of the test streams: 20 ms, 160 ticks at
// 8000 Hz.
const ptime = 20 * time.Millisecond

func TestReceiverArrivals(t *testing.T) {
	tests := []struct {
		name     string
		seqs     []uint16
		want     []Arrival
		gaps     []uint16
		received uint64
		expected uint64
		lost     int64
	}{
		{"in order", []uint16{10, 11, 12}, []Arrival{First, InOrder, InOrder}, []uint16{0, 0, 0}, 3, 3, 0},
		{"gap of two", []uint16{10, 11, 14}, []Arrival{First, InOrder, InOrder}, []uint16{0, 0, 2}, 3, 5, 2},
		{"late fills the gap", []uint16{10, 12, 11}, []Arrival{First, InOrder, Late}, []uint16{0, 1, 0}, 3, 3, 0},
		{"duplicate", []uint16{10, 11, 11}, []Arrival{First, InOrder, Duplicate}, []uint16{0, 0, 0}, 3, 2, -1},
		{"wrap", []uint16{65534, 65535, 0, 1}, []Arrival{First, InOrder, InOrder, InOrder}, []uint16{0, 0, 0, 0}, 4, 4, 0},
		{"stray jump is ignored", []uint16{10, 11, 20000, 12}, []Arrival{First, InOrder, Jump, InOrder}, []uint16{0, 0, 0, 0}, 3, 3, 0},
		{"confirmed jump restarts", []uint16{10, 11, 20000, 20001, 20002}, []Arrival{First, InOrder, Jump, Restart, InOrder},
			[]uint16{0, 0, 0, 0, 0}, 2, 2, 0},
		{"far behind is a jump", []uint16{1000, 1001, 500}, []Arrival{First, InOrder, Jump}, []uint16{0, 0, 0}, 2, 2, 0},
		{"largest dropout is loss", []uint16{0, MaxDropout - 1}, []Arrival{First, InOrder}, []uint16{0, MaxDropout - 2}, 2, MaxDropout, MaxDropout - 2},
	}
	// Update and UpdateSequence classify and count alike.
	updates := []struct {
		name   string
		update func(r *Receiver, i int, seq uint16) (Arrival, uint16)
	}{
		{"Update", func(r *Receiver, i int, seq uint16) (Arrival, uint16) {
			return r.Update(seq, uint32(seq)*160, time.Duration(i)*ptime)
		}},
		{"UpdateSequence", func(r *Receiver, _ int, seq uint16) (Arrival, uint16) { return r.UpdateSequence(seq) }},
	}
	for _, u := range updates {
		for _, tt := range tests {
			t.Run(u.name+"/"+tt.name, func(t *testing.T) {
				var r Receiver
				for i, seq := range tt.seqs {
					a, gap := u.update(&r, i, seq)
					if a != tt.want[i] || gap != tt.gaps[i] {
						t.Errorf("packet %d (seq %d): %v gap %d, want %v gap %d", i, seq, a, gap, tt.want[i], tt.gaps[i])
					}
				}
				st := r.Stats()
				if st.Received != tt.received || st.Expected != tt.expected || st.Lost != tt.lost {
					t.Errorf("received %d expected %d lost %d, want %d %d %d", st.Received, st.Expected, st.Lost, tt.received, tt.expected, tt.lost)
				}
			})
		}
	}
}

func TestReceiverUpdateSequenceLeavesJitter(t *testing.T) {
	var r Receiver
	for i := range 100 {
		// Timestamps and arrival times play no part: jitter stays 0.
		r.UpdateSequence(uint16(i))
	}
	if st := r.Stats(); st.Jitter != 0 || st.Received != 100 || st.Lost != 0 {
		t.Errorf("Stats = %+v, want 100 received, none lost, no jitter", st)
	}
}

func TestReceiverReset(t *testing.T) {
	var r Receiver
	r.SetClockRate(48000)
	for i, seq := range []uint16{10, 11, 14, 40000} { // a loss, then a pending jump
		r.Update(seq, uint32(seq)*960, time.Duration(i)*ptime+time.Duration(i%2)*time.Millisecond)
	}
	r.Reset()
	if st := r.Stats(); st != (Stats{}) {
		t.Errorf("Stats after Reset = %+v, want zero", st)
	}
	// The pending jump is forgotten: 40001 starts a stream, it does not
	// confirm a restart.
	if a, gap := r.Update(40001, 0, 0); a != First || gap != 0 {
		t.Errorf("first packet after Reset: %v gap %d, want first", a, gap)
	}
	if a, _ := r.Update(40002, 960, ptime); a != InOrder {
		t.Errorf("second packet after Reset: %v, want in-order", a)
	}
	if r.rate() != 48000 {
		t.Errorf("clock rate after Reset = %d, want 48000 kept", r.rate())
	}
}

func TestReceiverStatsBeforeFirstPacket(t *testing.T) {
	var r Receiver
	if st := r.Stats(); st != (Stats{}) {
		t.Errorf("Stats = %+v, want zero", st)
	}
	if f := r.Interval(); f != 0 {
		t.Errorf("Interval = %d, want 0", f)
	}
}

func TestReceiverExtendedHighestAcrossWrap(t *testing.T) {
	var r Receiver
	for i, seq := range []uint16{65535, 0, 1} {
		r.Update(seq, uint32(i)*160, time.Duration(i)*ptime)
	}
	if got, want := r.Stats().ExtendedHighest, uint32(1<<16+1); got != want {
		t.Errorf("ExtendedHighest = %d, want %d", got, want)
	}
}

func TestReceiverInterval(t *testing.T) {
	var r Receiver
	// 100 packets with every fourth lost: a quarter, 64/256.
	seq := uint16(0)
	for i := range 100 {
		if i%4 != 3 {
			r.Update(seq, uint32(seq)*160, time.Duration(seq)*ptime)
		}
		seq++
	}
	r.Update(seq, uint32(seq)*160, time.Duration(seq)*ptime) // closes the last gap
	if f := r.Interval(); f < 60 || f > 66 {
		t.Errorf("fraction lost = %d/256, want about 64", f)
	}
	// The next interval has no loss.
	for range 50 {
		seq++
		r.Update(seq, uint32(seq)*160, time.Duration(seq)*ptime)
	}
	if f := r.Interval(); f != 0 {
		t.Errorf("fraction lost of a clean interval = %d, want 0", f)
	}
}

func TestReceiverJitter(t *testing.T) {
	tests := []struct {
		name      string
		clockRate int
		delay     func(i int) time.Duration // network delay of packet i
		min, max  time.Duration
	}{
		{"steady", 8000, func(int) time.Duration { return 5 * time.Millisecond }, 0, 0},
		// Alternating 0 and 10 ms delays: |D| = 10 ms every packet, so the
		// estimate converges to 10 ms (RFC 3550 section 6.4.1).
		{"alternating 10 ms", 8000, func(i int) time.Duration { return time.Duration(i%2) * 10 * time.Millisecond }, 9 * time.Millisecond, 10 * time.Millisecond},
		{"alternating 10 ms at 48 kHz", 48000, func(i int) time.Duration { return time.Duration(i%2) * 10 * time.Millisecond }, 9 * time.Millisecond, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Receiver
			r.SetClockRate(tt.clockRate)
			step := uint32(tt.clockRate / 50)
			for i := range 500 {
				r.Update(uint16(i), uint32(i)*step, time.Duration(i)*ptime+tt.delay(i))
			}
			if j := r.JitterDuration(); j < tt.min || j > tt.max {
				t.Errorf("jitter = %v, want %v to %v", j, tt.min, tt.max)
			}
		})
	}
}

func TestReceiverUpdateDoesNotAllocate(t *testing.T) {
	var r Receiver
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		r.Update(seq, uint32(seq)*160, time.Duration(seq)*ptime)
		seq++
	})
	if allocs != 0 {
		t.Errorf("Update allocates %v times per packet", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		r.UpdateSequence(seq)
		seq += 7
		if seq%64 == 0 {
			r.Reset()
		}
	})
	if allocs != 0 {
		t.Errorf("UpdateSequence and Reset allocate %v times per packet", allocs)
	}
}

func BenchmarkReceiverUpdate(b *testing.B) {
	var r Receiver
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Update(uint16(i), uint32(i)*160, time.Duration(i)*ptime)
	}
}
