// Package testproc runs another program as a peer of a test (sipp,
// Kamailio, baresip, coturn, redis-server, a command of this repository):
// it starts it, lets the test see it end, waits for the line of its output
// that says it is ready, and at the test's cleanup stops it and waits for
// it to exit, so that no process outlives its test. It is imported only by
// tests.
package testproc

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// Proc is one started program.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what cmd.Wait returned; valid once done is closed
	stop   sync.Once
}

// Start starts cmd, made by exec.CommandContext with a context that cancel
// ends; cmd.Cancel says how the program is stopped (a kill when nil) and
// cmd.WaitDelay how long its output may stay open after that. The test's
// cleanup stops it (see Stop). Start fails the test, naming the program
// name, when cmd cannot start.
func Start(tb testing.TB, name string, cmd *exec.Cmd, cancel context.CancelFunc) *Proc {
	tb.Helper()
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{name: name, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(p.Stop)

	return p
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the program returned (nil for a successful exit,
// an *exec.ExitError otherwise); it is valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// ExitCode is the program's exit code, or -1 when a signal ended it; it is
// valid once Done is closed.
func (p *Proc) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Stop stops the program (cancels its context) and waits for it to exit.
// Calling it again, or after the program ended by itself, only waits.
func (p *Proc) Stop() {
	p.stop.Do(p.cancel)
	<-p.done
}

// AwaitLine waits until out, where the program writes its output, has a
// line containing substr. It fails the test, with the program's exit,
// when the program ends first, and after timeout.
func (p *Proc) AwaitLine(tb testing.TB, out *logcapture.Capture, substr string, timeout time.Duration) {
	tb.Helper()
	if _, ok := out.AwaitLine(tb, substr, p.done, timeout); !ok {
		tb.Fatalf("%s exited at start (%v):\n%s", p.name, p.err, out.Tail(40))
	}
}
