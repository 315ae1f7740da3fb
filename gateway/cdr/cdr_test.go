package cdr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRecordJSON: times are RFC 3339 UTC with milliseconds, events that
// did not happen are null, and a record reads back as it was written.
func TestRecordJSON(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 45, 678_901_234, time.FixedZone("x", 3600))
	r := Record{RecordID: "r", ID: "c1", Direction: Outbound, Start: At(at), End: At(at.Add(90 * time.Second)), Reason: "busy"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"start":"2026-03-01T11:30:45.678Z"`, `"end":"2026-03-01T11:32:15.678Z"`, `"ring":null`, `"answer":null`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Start.Equal(r.Start.Time) || !back.Ring.IsZero() || back.ID != "c1" {
		t.Errorf("read back %+v", back)
	}
}

// TestEstimateMOS: a clean G.711 stream scores about 4.4, loss and jitter
// lower it, and the result stays within 1 to 4.5.
func TestEstimateMOS(t *testing.T) {
	tests := []struct {
		loss     float64
		jitter   time.Duration
		min, max float64
	}{
		{0, 0, 4.35, 4.45},
		{0.01, 5 * time.Millisecond, 4.1, 4.35},
		{0.05, 20 * time.Millisecond, 3.4, 4.0},
		{0.2, 50 * time.Millisecond, 1.9, 3.0},
		{1, time.Second, 1, 1},
	}
	prev := 5.0
	for _, tc := range tests {
		got := EstimateMOS(tc.loss, tc.jitter)
		if got < tc.min || got > tc.max || got > prev {
			t.Errorf("EstimateMOS(%v, %v) = %v, want %v..%v and not above %v", tc.loss, tc.jitter, got, tc.min, tc.max, prev)
		}
		prev = got
	}
	if m := NewMedia(0, 0, 0); m.MOS != 0 {
		t.Errorf("MOS without packets %v, want 0", m.MOS)
	}
}

// TestBillable: answered time, in milliseconds, rounded up to whole
// seconds.
func TestBillable(t *testing.T) {
	a := time.Now()
	for _, tc := range []struct {
		answer, end time.Time
		want        int64
	}{
		{time.Time{}, a, 0},
		{a, a, 0},
		{a, a.Add(time.Millisecond), 1},
		{a, a.Add(61 * time.Second), 61},
		{a, a.Add(61*time.Second + time.Millisecond), 62},
	} {
		if got := Billable(tc.answer, tc.end); got != tc.want {
			t.Errorf("Billable(%v) = %d, want %d", tc.end.Sub(tc.answer), got, tc.want)
		}
	}
}

// flakySink fails while down is set and stores what it is given.
type flakySink struct {
	mu    sync.Mutex
	down  bool
	calls int
	got   []string
	fed   chan struct{}
}

func (s *flakySink) Name() string { return "flaky" }
func (s *flakySink) Close() error { return nil }

var errDown = errors.New("sink down")

func (s *flakySink) Write(_ context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	defer func() {
		select {
		case s.fed <- struct{}{}:
		default:
		}
	}()
	if s.down {
		return errDown
	}
	for _, r := range recs {
		s.got = append(s.got, r.ID)
	}

	return nil
}

func (s *flakySink) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

func (s *flakySink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()

	return append([]string(nil), s.got...)
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fileIDs returns the ids of the records in a JSON Lines file.
func fileIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for line := range strings.Lines(string(data)) {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, r.ID)
	}

	return ids
}

// TestRecorderSpoolsForADownSink: while a sink is down every record is in
// the file at once and waits in the sink's spool (counted); once the sink
// is back it gets them all, in order; records spooled when the process
// stopped are delivered by the next one; a reopen after a rename writes a
// new file.
func TestRecorderSpoolsForADownSink(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cdr.jsonl")
	sink := &flakySink{down: true, fed: make(chan struct{}, 1)}
	rec, err := New(Options{File: file, Sync: true, SpoolDir: dir, SpoolMaxBytes: 1 << 20, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	go rec.Run()
	for i := range 5 {
		rec.Record(Record{ID: fmt.Sprint("a", i)})
	}
	waitFor(t, "five records in the file", func() bool { return rec.Stats().Written == 5 })
	waitFor(t, "a failed write", func() bool { return rec.SinkStats()[0].Errors > 0 })
	if st := rec.SinkStats()[0]; st.Spooled != 5 || st.Delivered != 0 {
		t.Errorf("while down: %+v, want 5 spooled", st)
	}
	sink.setDown(false)
	waitFor(t, "delivery", func() bool { return len(sink.ids()) == 5 })
	if got := strings.Join(sink.ids(), " "); got != "a0 a1 a2 a3 a4" {
		t.Errorf("delivered %s", got)
	}

	// Logrotate moves the file away; a reopen starts a new one.
	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	rec.Reopen()
	sink.setDown(true)
	rec.Record(Record{ID: "b0"})
	rec.Record(Record{ID: "b1"})
	waitFor(t, "the new file", func() bool { return rec.Stats().Written == 7 })
	rec.Close()
	if got := strings.Join(fileIDs(t, file+".1"), " "); got != "a0 a1 a2 a3 a4" {
		t.Errorf("rotated file %s", got)
	}
	if got := strings.Join(fileIDs(t, file), " "); got != "b0 b1" {
		t.Errorf("new file %s", got)
	}

	// The next process delivers what was spooled.
	sink2 := &flakySink{fed: make(chan struct{}, 1)}
	rec2, err := New(Options{File: file, SpoolDir: dir, Sinks: []Sink{sink2}})
	if err != nil {
		t.Fatal(err)
	}
	go rec2.Run()
	waitFor(t, "delivery after restart", func() bool { return len(sink2.ids()) == 2 })
	rec2.Close()
	if got := strings.Join(sink2.ids(), " "); got != "b0 b1" {
		t.Errorf("after restart delivered %s", got)
	}
	if !regexp.MustCompile(`^[0-9]+\n$`).MatchString(readFile(t, filepath.Join(dir, "flaky.spool.head"))) {
		t.Error("no head offset beside the spool")
	}
}

// readFile returns a file's content.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	return string(b)
}

// BenchmarkRecorderFile measures records written to the JSON Lines file
// per second with fsync per batch, records handed over as fast as the
// caller can (the writer batches what waits).
func BenchmarkRecorderFile(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) {
			rec, err := New(Options{File: filepath.Join(b.TempDir(), "cdr.jsonl"), Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			go rec.Run()
			r := Record{RecordID: "0123456789abcdef0123456789abcdef", ID: "c1", Direction: Outbound, User: "alice",
				From: "+15550100", To: "+15550123", Trunk: "carrier", Start: At(time.Now()), End: At(time.Now()),
				Reason: "remote_hangup", Codecs: strings.Repeat("x", 200)}
			b.ResetTimer()
			for range b.N {
				for len(rec.queue) == cap(rec.queue) {
					time.Sleep(time.Millisecond) // never drop: wait for room
				}
				rec.Record(r)
			}
			for rec.Stats().Written < uint64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			rec.Close()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
