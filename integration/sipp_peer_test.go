package integration

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/transcode"
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
	out  *lockedBuffer
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
	p := &sippProc{dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
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
		lastLines(p.out.String(), 20), errs, lastLines(string(msgs), 60))
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

// sippMedia is the test's own RTP socket for a sipp scenario whose SDP
// names it: it records the telephone-events (RFC 4733) and the G.711 audio
// the gateway sends there.
type sippMedia struct {
	conn    *net.UDPConn
	digits  digitLog
	heard   *recording
	packets int
	mu      sync.Mutex
	wg      sync.WaitGroup
}

// sippListenMedia binds the socket on 127.0.0.1 and records until the test
// ends.
func sippListenMedia(t *testing.T) *sippMedia {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := &sippMedia{conn: c, heard: newRecording(8000)}
	m.wg.Go(m.receive)
	t.Cleanup(func() {
		_ = c.Close()
		m.wg.Wait()
	})

	return m
}

// port is the socket's UDP port.
func (m *sippMedia) port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

// receive records packets until the socket is closed.
func (m *sippMedia) receive() {
	buf := make([]byte, 1500)
	pcm := make([]int16, 1500)
	var p rtp.Packet
	for {
		n, err := m.conn.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		m.mu.Lock()
		m.packets++
		m.mu.Unlock()
		switch {
		case p.PayloadType == ptPCMU:
			m.heard.add(pcm[:transcode.DecodePCMU(pcm, p.Payload)])
		case p.PayloadType == ptTrunkDTMF && len(p.Payload) == transcode.EventPayloadSize:
			m.digits.addEvent(p.Timestamp, p.Payload)
		}
	}
}
