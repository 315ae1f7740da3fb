package logcapture

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCapture: lines logged from another goroutine are waited for, picked
// out by what they contain, and the tail keeps the last ones.
func TestCapture(t *testing.T) {
	log, c := New(t, Tail(3))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			log.Info("step", "n", i)
		}
		log.Info("call ended", "reason", "local_hangup")
	}()
	line := c.WaitLine(t, `msg="call ended"`)
	<-done
	if !strings.Contains(line, "reason=local_hangup") {
		t.Errorf("line %q", line)
	}
	if got := len(c.Lines("msg=step")); got != 5 {
		t.Errorf("%d step lines, want 5", got)
	}
	if tail := c.Tail(2); strings.Count(tail, "\n") != 1 || !strings.Contains(tail, "call ended") {
		t.Errorf("tail %q", tail)
	}
	w := NewWriter(t)
	fmt.Fprintf(w, "a\nb\n")
	if w.String() != "a\nb\n" {
		t.Errorf("writer holds %q", w.String())
	}
}

// TestAwaitLineStops: AwaitLine finds a line written before stop closed,
// and gives up without failing once stop is closed and no line matches.
func TestAwaitLineStops(t *testing.T) {
	tests := []struct {
		name   string
		write  string
		wantOK bool
	}{
		{"line then stop", "ready\n", true},
		{"stop without the line", "starting\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(t)
			stop := make(chan struct{})
			go func() {
				fmt.Fprint(w, tc.write)
				close(stop)
			}()
			line, ok := w.AwaitLine(t, "ready", stop, time.Minute)
			if ok != tc.wantOK || (ok && line != "ready\n") {
				t.Errorf("AwaitLine = %q, %v; want ok %v", line, ok, tc.wantOK)
			}
		})
	}
}
