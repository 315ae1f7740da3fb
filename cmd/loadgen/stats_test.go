package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}

		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 .. 1, unsorted
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(30, 10, 20), 50, 20 * time.Millisecond},
		{"median of even takes the lower", ms(40, 10, 30, 20), 50, 20 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p1 of 100", ms(hundred...), 1, time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tt.samples...)
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
			for i := range before {
				if before[i] != tt.samples[i] {
					t.Fatal("percentile reordered its input")
				}
			}
		})
	}
}

func TestRxTracker(t *testing.T) {
	type pkt struct {
		seq uint16
		at  int // ms since start
	}
	every20 := func(seqs ...uint16) []pkt {
		out := make([]pkt, len(seqs))
		for i, s := range seqs {
			out[i] = pkt{s, 20 * i}
		}

		return out
	}
	tests := []struct {
		name                     string
		pkts                     []pkt
		received, expected, late uint64
		lost                     uint64
	}{
		{"in order", every20(10, 11, 12, 13), 4, 4, 0, 0},
		{"gap of two", every20(10, 11, 14, 15), 4, 6, 0, 2},
		{"reordered counts nothing lost", every20(10, 12, 11, 13), 4, 4, 0, 0},
		{"duplicate is not loss", every20(10, 11, 11, 12), 4, 3, 0, 0},
		{"wraps around", every20(65534, 65535, 0, 1), 4, 4, 0, 0},
		{"gap across the wrap", every20(65534, 1), 2, 4, 0, 2},
		{"restart far behind", every20(5000, 5001, 100, 101), 4, 4, 0, 0},
		{"late arrivals", []pkt{{1, 0}, {2, 20}, {3, 61}, {4, 80}, {5, 120}, {6, 200}}, 6, 6, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c rxCounters
			tr := rxTracker{c: &c}
			t0 := time.Unix(1000, 0)
			for _, p := range tt.pkts {
				tr.record(p.seq, t0.Add(time.Duration(p.at)*time.Millisecond))
			}
			s := c.snapshot()
			if s.Received != tt.received || s.Expected != tt.expected || s.Late != tt.late || s.Lost() != tt.lost {
				t.Errorf("got received %d expected %d late %d lost %d, want %d %d %d %d",
					s.Received, s.Expected, s.Late, s.Lost(), tt.received, tt.expected, tt.late, tt.lost)
			}
		})
	}
}

func TestRxSnapshotWindow(t *testing.T) {
	var c rxCounters
	tr := rxTracker{c: &c}
	t0 := time.Unix(0, 0)
	for i := range 10 {
		tr.record(uint16(i), t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	a := c.snapshot()
	// Three lost, one late in the window.
	tr.record(14, t0.Add(300*time.Millisecond))
	tr.record(15, t0.Add(320*time.Millisecond))
	d := c.snapshot().sub(a)
	if d.Received != 2 || d.Expected != 6 || d.Lost() != 4 || d.Late != 1 {
		t.Errorf("window = %+v lost %d, want received 2, expected 6, lost 4, late 1", d, d.Lost())
	}
	if got := time.Duration(c.maxGapNs.Load()); got != 120*time.Millisecond {
		t.Errorf("largest gap %v, want 120ms", got)
	}
}

func TestPacer(t *testing.T) {
	t0 := time.Unix(50, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at         int
		send, skip int
	}
	tests := []struct {
		name                string
		steps               []step
		wantSkipped, behind uint64
	}{
		{"on time", []step{{0, 1, 0}, {20, 1, 0}, {40, 1, 0}, {60, 1, 0}}, 0, 0},
		{"early ticks send nothing twice", []step{{0, 1, 0}, {5, 0, 0}, {19, 0, 0}, {20, 1, 0}}, 0, 0},
		{"before start", []step{{-5, 0, 0}, {0, 1, 0}}, 0, 0},
		{"late tick catches up", []step{{0, 1, 0}, {45, 2, 0}, {60, 1, 0}}, 0, 1},
		{"far behind skips", []step{{0, 1, 0}, {110, 3, 2}, {120, 1, 0}}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacer{start: t0, interval: 20 * time.Millisecond, maxBurst: 3}
			for _, s := range tt.steps {
				send, skip := p.due(at(s.at))
				if send != s.send || skip != s.skip {
					t.Errorf("at %d ms: send %d skip %d, want %d %d", s.at, send, skip, s.send, s.skip)
				}
			}
			if p.skipped != tt.wantSkipped || p.behind != tt.behind {
				t.Errorf("skipped %d behind %d, want %d %d", p.skipped, p.behind, tt.wantSkipped, tt.behind)
			}
		})
	}
}

// TestPacerKeepsRate: a sender whose ticks jitter by up to half an
// interval still sends exactly one frame per interval over time.
func TestPacerKeepsRate(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := pacer{start: t0.Add(-10 * time.Millisecond), interval: 20 * time.Millisecond, maxBurst: 3}
	sent := 0
	for k := range 500 {
		jitter := time.Duration((k*7919)%19-9) * time.Millisecond // -9 .. +9 ms
		send, skip := p.due(t0.Add(time.Duration(k)*20*time.Millisecond + jitter))
		if send != 1 || skip != 0 {
			t.Fatalf("tick %d (jitter %v): send %d skip %d, want exactly one frame", k, jitter, send, skip)
		}
		sent += send
	}
	if sent != 500 {
		t.Errorf("sent %d frames in 500 intervals", sent)
	}
}
