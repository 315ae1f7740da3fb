package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// sippOptions describes one sipp run (Debian package sip-tester).
type sippOptions struct {
	scenario string         // file in testdata/sipp
	port     int            // SIP port on 127.0.0.1
	remote   netip.AddrPort // where a UAC scenario sends its INVITE
	service  string         // the Request-URI user of a UAC scenario
	// mediaPort is the port written in the scenario's SDP ([$mport]).
	// With echo, sipp listens there itself and echoes RTP (-rtp_echo);
	// otherwise it is a socket of the test.
	mediaPort int
	echo      bool
}

// sippProc is a running sipp.
type sippProc struct {
	cmd  *exec.Cmd
	dir  string
	out  *logcapture.Capture
	done chan struct{}
	err  error
}

// sippEvenPort returns an even UDP port of 127.0.0.1 whose odd neighbour is
// free too (sipp binds RTP and RTCP on -mp and -mp+1).
func sippEvenPort(t *testing.T) int {
	t.Helper()
	for range 200 {
		p := int(freeUDPPort(t).Port())
		if p%2 == 0 && p < 65535 && portsFree(p, p+1) == nil {
			return p
		}
	}
	t.Fatal("no free even UDP port pair")

	return 0
}

// sippStart starts sipp on 127.0.0.1, bounded to one call and 60 s, and
// kills it at the end of the test if it still runs. It fails the test
// loudly when sipp is not installed.
func sippStart(t *testing.T, o sippOptions) *sippProc {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found: install the Debian package sip-tester (%v)", err)
	}
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", o.scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rtpPort := o.mediaPort
	if !o.echo {
		rtpPort = sippEvenPort(t) // unused by the scenario, but sipp binds it
	}
	args := []string{
		"-sf", scenario,
		"-i", "127.0.0.1", "-p", fmt.Sprint(o.port),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(rtpPort),
		"-cp", fmt.Sprint(freeUDPPort(t).Port()),
		"-set", "mport", fmt.Sprint(o.mediaPort),
		"-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}
	if o.echo {
		args = append(args, "-rtp_echo")
	}
	if o.service != "" {
		args = append(args, "-s", o.service)
	}
	if o.remote.IsValid() {
		args = append(args, o.remote.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &sippProc{dir: dir, out: logcapture.NewWriter(t, logcapture.Name("sipp "+o.scenario+" output")), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("sipp %s: %s", o.scenario, p.report())
		}
	})

	return p
}

// report returns sipp's output, error log and the tail of its message trace.
func (p *sippProc) report() string {
	errs, _ := os.ReadFile(filepath.Join(p.dir, "errors.log"))
	msgs, _ := os.ReadFile(filepath.Join(p.dir, "messages.log"))

	return fmt.Sprintf("output:\n%s\nerrors:\n%s\nmessages (last lines):\n%s",
		p.out.Tail(20), errs, lastLines(string(msgs), 60))
}

// wait waits for sipp to end and fails the test unless its scenario ran to
// the end (exit status 0).
func (p *sippProc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("sipp still running after %v", timeout)
	}
	if p.err != nil {
		t.Fatalf("sipp failed: %v", p.err)
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}
