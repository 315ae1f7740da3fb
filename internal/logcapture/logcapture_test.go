package logcapture

import (
	"fmt"
	"strings"
	"testing"
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
