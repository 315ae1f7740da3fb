package fraud

import (
	"testing"
	"time"
)

// TestMemoryLimits: each limit refuses the call past it with its own
// refusal, counts nothing for a refused call, and frees its place when
// the window passes, a call ends or the UTC day turns.
func TestMemoryLimits(t *testing.T) {
	testLimits(t, func(*testing.T) Counter { return &Memory{} })
	day := time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
	var m Memory
	tk, _ := m.Begin("bob", "+1555", Limits{DailyMinutes: 30}, day)
	if tk.Remaining != 30*time.Minute {
		t.Errorf("remaining %v, want 30m", tk.Remaining)
	}
	// A new day forgets users without a call in progress.
	done, _ := m.Begin("carol", "+1555", Limits{}, day)
	m.End(done, time.Minute, day)
	m.Begin("dave", "+1555", Limits{}, day.Add(2*time.Hour))
	if _, ok := m.users["carol"]; ok || m.users["bob"] == nil || len(m.users) != 2 {
		t.Errorf("users after the day turned: %v, want bob (on a call) and dave", len(m.users))
	}
}

// limitStep is one step of a limits case: a call begun at a time, or
// an earlier call ended.
type limitStep struct {
	at     time.Duration // since the case's day
	number string
	end    int // end the ticket of step end-1 instead of beginning (answered 10 min)
	want   Refusal
}

// testLimits runs the limits cases against the counters newCounter
// returns, a fresh one per case: each limit refuses the call past it
// with its own refusal, counts nothing for a refused call, and frees its
// place when the window passes, a call ends or the UTC day turns.
func testLimits(t *testing.T, newCounter func(*testing.T) Counter) {
	t.Helper()
	day := time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
	type step = limitStep
	tests := []struct {
		name  string
		lim   Limits
		steps []step
	}{
		{"per minute", Limits{CallsPerMinute: 2}, []step{
			{0, "+1555", 0, None}, {time.Second, "+1555", 0, None}, {2 * time.Second, "+1555", 0, CallsPerMinute},
			{61 * time.Second, "+1555", 0, None},
		}},
		{"concurrent", Limits{ConcurrentCalls: 1}, []step{
			{0, "+1555", 0, None}, {time.Minute, "+1555", 0, ConcurrentCalls}, {2 * time.Minute, "", 1, None},
			{3 * time.Minute, "+1555", 0, None},
		}},
		{"daily minutes", Limits{DailyMinutes: 15}, []step{
			{0, "+1555", 0, None}, {time.Minute, "", 1, None}, {2 * time.Minute, "+1555", 0, None},
			{3 * time.Minute, "", 3, None}, {4 * time.Minute, "+1555", 0, DailyMinutes},
			{61 * time.Minute, "+1555", 0, None}, // the next UTC day
		}},
		{"prefix", Limits{Prefixes: []PrefixCap{{Prefix: "+1900", MaxConcurrent: 1, MaxPerDay: 2}}}, []step{
			{0, "+19005550000", 0, None}, {time.Second, "+19005550001", 0, Prefix}, {2 * time.Second, "+15550000", 0, None},
			{3 * time.Second, "", 1, None}, {4 * time.Second, "+19005550002", 0, None}, {5 * time.Second, "", 5, None},
			{6 * time.Second, "+19005550003", 0, Prefix},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newCounter(t)
			tickets := map[int]Ticket{}
			for i, s := range tc.steps {
				now := day.Add(s.at)
				if s.end > 0 {
					m.End(tickets[s.end-1], 10*time.Minute, now)

					continue
				}
				tk, got := m.Begin("alice", s.number, tc.lim, now)
				if got != s.want {
					t.Fatalf("step %d (%s at %v): %q, want %q", i, s.number, s.at, got, s.want)
				}
				tickets[i] = tk
			}
		})
	}
}
