// Package sipp runs sipp (Debian package sip-tester) as a real SIP peer of
// a test: one scenario on 127.0.0.1, bounded to one call, with its
// messages traced to a file the test reads back. The process is killed and
// reaped at the end of the test; a test fails loudly when sipp is not
// installed. It is imported only by tests.
package sipp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testproc"
)

// Options describe one sipp run.
type Options struct {
	// Scenario is the scenario file; it is copied into the run's
	// directory, where sipp runs and looks for the files it names.
	Scenario string
	// Port is sipp's SIP port (-p) on 127.0.0.1; a free one when 0.
	Port int
	// MediaPort is sipp's RTP port (-mp, RTCP on the next); a free even
	// one when 0.
	MediaPort int
	// Remote is where a UAC scenario sends (host:port).
	Remote string
	// Service is the user part of a UAC scenario's Request-URI (-s).
	Service string
	// Echo makes sipp echo the RTP it receives on MediaPort (-rtp_echo).
	Echo bool
	// Vars are scenario variables (-set name value).
	Vars map[string]string
	// Extra are more arguments, given before Remote.
	Extra []string
	// Files are written into the run's directory before sipp starts, by
	// name.
	Files map[string]func(path string)
	// Timeout ends the scenario as a failure (-timeout); 30 s when 0.
	Timeout time.Duration
}

// Proc is a running sipp.
type Proc struct {
	tb        testing.TB
	scenario  string
	port      int
	mediaPort int
	dir       string
	out       *logcapture.Capture
	proc      *testproc.Proc
}

// Start starts sipp on 127.0.0.1 with message tracing and waits until it
// has bound its SIP port (or has exited).
func Start(tb testing.TB, o Options) *Proc {
	tb.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		tb.Fatalf("sipp not found (install the Debian package sip-tester): %v", err)
	}
	dir := tb.TempDir()
	name := filepath.Base(o.Scenario)
	src, err := os.ReadFile(o.Scenario)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), src, 0o600); err != nil {
		tb.Fatal(err)
	}
	for file, write := range o.Files {
		write(filepath.Join(dir, file))
	}
	p := &Proc{tb: tb, scenario: name, port: o.Port, mediaPort: o.MediaPort, dir: dir,
		out: logcapture.NewWriter(tb, logcapture.Name("sipp "+name+" output"))}
	if p.mediaPort == 0 {
		p.mediaPort = FreeEvenPort(tb)
	}
	if p.port == 0 {
		p.port = p.portBesideMedia(tb)
	}
	control := p.portBesideMedia(tb)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	args := []string{
		"-sf", name,
		"-i", "127.0.0.1", "-p", fmt.Sprint(p.port),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(p.mediaPort),
		"-cp", fmt.Sprint(control),
		"-m", "1", "-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())), "-timeout_error",
		"-trace_msg", "-message_file", p.messageFile(),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}
	if o.Echo {
		args = append(args, "-rtp_echo")
	}
	if o.Service != "" {
		args = append(args, "-s", o.Service)
	}
	for k, v := range o.Vars {
		args = append(args, "-set", k, v)
	}
	args = append(args, o.Extra...)
	if o.Remote != "" {
		args = append(args, o.Remote)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, p.out, p.out
	p.proc = testproc.Start(tb, "sipp", cmd, cancel)
	p.awaitBound(slices.Contains(o.Extra, "t1") || slices.Contains(o.Extra, "l1"))

	return p
}

// Port is sipp's SIP port.
func (p *Proc) Port() int { return p.port }

// MediaPort is sipp's RTP port.
func (p *Proc) MediaPort() int { return p.mediaPort }

func (p *Proc) messageFile() string { return filepath.Join(p.dir, "messages.log") }

// awaitBound waits until sipp has bound its SIP port, as a listening TCP
// socket when tcp is set, or has exited; the kernel's socket tables
// (/proc/net/udp and tcp) show when. It fails the test after 10 s.
func (p *Proc) awaitBound(tcp bool) {
	p.tb.Helper()
	table, state := "/proc/net/udp", ""
	if tcp {
		table, state = "/proc/net/tcp", "0A" // TCP_LISTEN
	}
	port := fmt.Sprintf(":%04X", p.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		text, err := os.ReadFile(table)
		if err != nil {
			p.tb.Fatalf("read %s: %v", table, err)
		}
		for _, line := range strings.Split(string(text), "\n")[1:] {
			// sl local_address rem_address st ...
			if f := strings.Fields(line); len(f) > 3 && strings.HasSuffix(f[1], port) && (state == "" || f[3] == state) {
				return
			}
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("sipp did not bind port %d within 10 s\n%s", p.port, p.Report())
		}
		select {
		case <-p.proc.Done():
			return // its failure shows in Wait
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Wait waits for sipp to end and fails the test, with sipp's report,
// unless it exited successfully: the scenario ran to its end.
func (p *Proc) Wait(d time.Duration) {
	p.tb.Helper()
	select {
	case <-p.proc.Done():
	case <-time.After(d):
		p.tb.Fatalf("sipp %s still running after %v\n%s", p.scenario, d, p.Report())
	}
	if err := p.proc.Err(); err != nil {
		p.tb.Fatalf("sipp %s failed: %v\n%s", p.scenario, err, p.Report())
	}
}

// Report is sipp's output, its error log and its message trace, for
// failure messages.
func (p *Proc) Report() string {
	errLog, _ := os.ReadFile(filepath.Join(p.dir, "errors.log"))

	return "--- sipp output:\n" + p.out.String() + "\n--- sipp errors:\n" + string(errLog) + "\n--- messages:\n" + p.Trace()
}

// Trace is sipp's message trace as it wrote it.
func (p *Proc) Trace() string {
	b, _ := os.ReadFile(p.messageFile())

	return string(b)
}

// Message is one SIP message of sipp's trace.
type Message struct {
	// Sent is set for messages sipp sent; the others it received.
	Sent bool
	Text string
}

// FirstLine is the message's start line.
func (m Message) FirstLine() string {
	line, _, _ := strings.Cut(m.Text, "\n")

	return strings.TrimSpace(line)
}

// Header returns the value of the first header called name
// (case-insensitive), "" if absent.
func (m Message) Header(name string) string {
	for _, line := range strings.Split(m.Text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}

	return ""
}

// traceMark matches the line before each message in sipp's trace, "UDP
// message received [613] bytes :" or "UDP message sent (295 bytes):".
var traceMark = regexp.MustCompile(`(?m)^(UDP|TCP|TLS) message (sent|received) [\[(]\d+[\])]? ?bytes\)? ?:\s*$`)

// Messages parses sipp's message trace.
func (p *Proc) Messages() []Message {
	raw := strings.ReplaceAll(p.Trace(), "\r\n", "\n")
	idx := traceMark.FindAllStringSubmatchIndex(raw, -1)
	out := make([]Message, 0, len(idx))
	for i, m := range idx {
		end := len(raw)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := raw[m[1]:end]
		if j := strings.Index(body, "\n-----------"); j >= 0 {
			body = body[:j]
		}
		out = append(out, Message{Sent: raw[m[4]:m[5]] == "sent", Text: strings.TrimLeft(body, "\n")})
	}

	return out
}

// viaBranch matches the branch parameter of a Via header.
var viaBranch = regexp.MustCompile(`branch=[^;,\s]+`)

// Received returns the messages sipp received whose first line starts
// with prefix, each once: a retransmission over UDP (the same first line,
// Via branch and CSeq, RFC 3261 section 17) is left out unless all is set.
func (p *Proc) Received(prefix string, all bool) []Message {
	var out []Message
	seen := map[string]bool{}
	for _, m := range p.Messages() {
		if m.Sent || !strings.HasPrefix(m.FirstLine(), prefix) {
			continue
		}
		key := m.FirstLine() + "|" + viaBranch.FindString(m.Header("Via")) + "|" + m.Header("CSeq")
		if all || !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}

	return out
}

// MustReceive fails the test unless sipp received a message starting with
// prefix, and returns the first.
func (p *Proc) MustReceive(prefix string) Message {
	p.tb.Helper()
	ms := p.Received(prefix, false)
	if len(ms) == 0 {
		p.tb.Fatalf("sipp received no %q message\n%s", prefix, p.Report())
	}

	return ms[0]
}

// FreePort returns a UDP port of 127.0.0.1 that was free a moment ago:
// sipp takes port numbers, not sockets, so its ports are picked for it.
func FreePort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer c.Close()

	return c.LocalAddr().(*net.UDPAddr).Port //nolint:forcetypeassert // a UDP socket
}

// mediaPorts is how many ports from its media port (-mp) sipp binds: RTP
// and RTCP of audio, then of video.
const mediaPorts = 4

// portBesideMedia returns a free UDP port outside the ports sipp binds
// from p's media port on.
func (p *Proc) portBesideMedia(tb testing.TB) int {
	tb.Helper()
	for {
		port := FreePort(tb)
		if port < p.mediaPort || port >= p.mediaPort+mediaPorts {
			return port
		}
	}
}

// FreeEvenPort returns an even UDP port of 127.0.0.1 whose three
// neighbours above were free as well a moment ago: the RTP and RTCP ports
// of audio and of video that sipp binds from its media port on.
func FreeEvenPort(tb testing.TB) int {
	tb.Helper()
	for range 200 {
		p := FreePort(tb)
		if p%2 != 0 || p+mediaPorts > 65536 || !portsFree(p+1, p+mediaPorts) {
			continue
		}

		return p
	}
	tb.Fatal("no free even UDP port pair")

	return 0
}

// portsFree reports whether the UDP ports of 127.0.0.1 from first up to,
// not including, end could all be bound a moment ago.
func portsFree(first, end int) bool {
	for port := first; port < end; port++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return false
		}
		_ = c.Close()
	}

	return true
}
