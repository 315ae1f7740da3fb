// Package logcapture collects what code under test logs, or what a process
// a test runs writes, in a buffer that any goroutine may write to and the
// test may read at any time: it waits for a line to appear, picks out the
// lines that name something, and shows the last lines when the test fails.
// Lines are kept rather than passed to t.Log, which must not be called
// once the test has ended, while a goroutine of the code under test may
// still log. It is imported only by tests.
package logcapture

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitTimeout bounds WaitLine: long enough for a busy machine, short
// enough to fail a stuck test.
const WaitTimeout = 15 * time.Second

// defaultTail is how many of the last lines a failing test shows.
const defaultTail = 80

// Capture is a log sink shared by goroutines: an io.Writer whose every
// write wakes the test's waits. The zero value is not usable; use New or
// NewWriter.
type Capture struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

// options are the knobs of New and NewWriter.
type options struct {
	level slog.Level
	name  string
	tail  int
}

// Option changes how New or NewWriter capture.
type Option func(*options)

// Level sets the lowest level New's logger records (slog.LevelDebug by
// default).
func Level(l slog.Level) Option { return func(o *options) { o.level = l } }

// Name names the capture in the lines a failing test shows ("log" by
// default), for a test that captures several processes.
func Name(name string) Option { return func(o *options) { o.name = name } }

// Tail sets how many of the last lines a failing test shows (80 by
// default; 0 or less shows all).
func Tail(n int) Option { return func(o *options) { o.tail = n } }

// New returns a text logger writing into a new Capture, and the Capture.
// When tb has failed by the end of the test, its last lines are logged.
func New(tb testing.TB, opts ...Option) (*slog.Logger, *Capture) {
	tb.Helper()
	o := options{level: slog.LevelDebug, name: "log", tail: defaultTail}
	for _, opt := range opts {
		opt(&o)
	}
	c := newCapture(tb, o)

	return slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: o.level})), c
}

// NewWriter returns a Capture for a process's output (give it as the
// command's Stdout and Stderr). When tb has failed by the end of the test,
// its last lines are logged; New's level option does not apply.
func NewWriter(tb testing.TB, opts ...Option) *Capture {
	tb.Helper()
	o := options{name: "output", tail: defaultTail}
	for _, opt := range opts {
		opt(&o)
	}

	return newCapture(tb, o)
}

func newCapture(tb testing.TB, o options) *Capture {
	tb.Helper()
	c := &Capture{changed: make(chan struct{})}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("%s (last lines):\n%s", o.name, c.Tail(o.tail))
		}
	})

	return c
}

// Write appends p; it never fails.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	close(c.changed)
	c.changed = make(chan struct{})

	return len(p), nil
}

// String returns everything written so far.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.buf.String()
}

// Lines returns the lines written so far that contain substr, each with
// its newline.
func (c *Capture) Lines(substr string) []string {
	var out []string
	for line := range strings.Lines(c.String()) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}

	return out
}

// Tail returns the last n lines written so far (all of them when n is 0
// or less).
func (c *Capture) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(c.String(), "\n"), "\n")
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}

// WaitLine waits until a line containing substr has been written and
// returns the first such line; it checks again at each write and fails tb
// after WaitTimeout.
func (c *Capture) WaitLine(tb testing.TB, substr string) string {
	tb.Helper()
	line, _ := c.AwaitLine(tb, substr, nil, WaitTimeout)

	return line
}

// AwaitLine is WaitLine with its own timeout, which also gives up, returning
// ok false without failing tb, once stop is closed (for example when the
// process writing the output exited); a nil stop never closes.
func (c *Capture) AwaitLine(tb testing.TB, substr string, stop <-chan struct{}, timeout time.Duration) (line string, ok bool) {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for stopped := false; ; {
		c.mu.Lock()
		text, changed := c.buf.String(), c.changed
		c.mu.Unlock()
		for line := range strings.Lines(text) {
			if strings.Contains(line, substr) {
				return line, true
			}
		}
		if stopped {
			return "", false
		}
		select {
		case <-changed:
		case <-stop:
			stopped = true // look once more: the line may have come just before
		case <-timer.C:
			tb.Fatalf("no log line with %q within %v", substr, timeout)

			return "", false
		}
	}
}
