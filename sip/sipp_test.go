package sip

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
)

// sipp is one sipp process (Debian package sip-tester) running a scenario from testdata.
type sipp struct {
	t        *testing.T
	cmd      *exec.Cmd
	port     int // SIP port
	rtpPort  int // -mp media port
	dir      string
	msgFile  string
	stderr   *logcapture.Capture
	done     chan struct{}
	waitErr  error
	scenario string
}

// sippOptions configures startSipp.
type sippOptions struct {
	scenario string   // file in testdata
	remote   string   // host:port to send to (UAC scenarios)
	service  string   // -s, the user part of the Request-URI for UAC scenarios
	echo     bool     // -rtp_echo on the media port
	extra    []string // more arguments
	files    map[string]func(path string)
}

// startSipp starts sipp on 127.0.0.1 with message tracing; the process is killed at the end of
// the test if it is still running. It fails the test loudly when sipp is not installed.
func startSipp(t *testing.T, o sippOptions) *sipp {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found (install the Debian package sip-tester): %v", err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", o.scenario))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, o.scenario), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, write := range o.files {
		write(filepath.Join(dir, name))
	}
	s := &sipp{t: t, port: freePort(t), rtpPort: freeEvenPort(t), dir: dir, done: make(chan struct{}), scenario: o.scenario,
		stderr: logcapture.NewWriter(t, logcapture.Name("sipp "+o.scenario+" output"))}
	s.msgFile = filepath.Join(dir, "messages.log")
	args := []string{
		"-sf", o.scenario,
		"-i", "127.0.0.1", "-p", fmt.Sprint(s.port),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(s.rtpPort),
		"-cp", fmt.Sprint(freePort(t)),
		"-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
		"-trace_msg", "-message_file", s.msgFile,
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}
	if o.echo {
		args = append(args, "-rtp_echo")
	}
	if o.service != "" {
		args = append(args, "-s", o.service)
	}
	args = append(args, o.extra...)
	if o.remote != "" {
		args = append(args, o.remote)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cmd = exec.CommandContext(ctx, bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	s.awaitBound(slices.Contains(o.extra, "t1") || slices.Contains(o.extra, "l1"))
	return s
}

// awaitBound waits until sipp has bound its SIP port, as a listening TCP socket when tcp is set,
// or has exited; the kernel's socket tables (/proc/net/udp and tcp) show when. It fails the test
// after 10 s.
func (s *sipp) awaitBound(tcp bool) {
	s.t.Helper()
	table, state := "/proc/net/udp", ""
	if tcp {
		table, state = "/proc/net/tcp", "0A" // TCP_LISTEN
	}
	port := fmt.Sprintf(":%04X", s.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		text, err := os.ReadFile(table)
		if err != nil {
			s.t.Fatalf("read %s: %v", table, err)
		}
		for _, line := range strings.Split(string(text), "\n")[1:] {
			// sl local_address rem_address st ...
			if f := strings.Fields(line); len(f) > 3 && strings.HasSuffix(f[1], port) && (state == "" || f[3] == state) {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sipp did not bind port %d within 10 s\n%s", s.port, s.output())
		}
		select {
		case <-s.done:
			return // its failure shows in wait
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait waits for sipp to end and fails the test, with sipp's output and error log, unless it
// exited successfully (the scenario ran to its end).
func (s *sipp) wait(d time.Duration) {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		s.t.Fatalf("sipp %s still running after %v\n%s", s.scenario, d, s.output())
	}
	if s.waitErr != nil {
		s.t.Fatalf("sipp %s failed: %v\n%s", s.scenario, s.waitErr, s.output())
	}
}

func (s *sipp) output() string {
	errLog, _ := os.ReadFile(filepath.Join(s.dir, "errors.log"))
	return "--- sipp output:\n" + s.stderr.String() + "\n--- sipp errors:\n" + string(errLog) + "\n--- messages:\n" + s.messagesRaw()
}

func (s *sipp) messagesRaw() string {
	b, _ := os.ReadFile(s.msgFile)
	return string(b)
}

// sippMessage is one SIP message of sipp's trace.
type sippMessage struct {
	sent bool // sent by sipp (false: received by sipp, i.e. sent by us)
	text string
}

func (m sippMessage) firstLine() string {
	line, _, _ := strings.Cut(m.text, "\n")
	return strings.TrimSpace(line)
}

// header returns the value of the first header called name (case-insensitive), "" if absent.
func (m sippMessage) header(name string) string {
	for _, line := range strings.Split(m.text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sippTraceMark matches the line before each message in sipp's trace, "UDP message received
// [613] bytes :" or "UDP message sent (295 bytes):".
var sippTraceMark = regexp.MustCompile(`(?m)^(UDP|TCP|TLS) message (sent|received) [\[(]\d+[\])]? ?bytes\)? ?:\s*$`)

// messages parses sipp's -trace_msg file.
func (s *sipp) messages() []sippMessage {
	raw := strings.ReplaceAll(s.messagesRaw(), "\r\n", "\n")
	idx := sippTraceMark.FindAllStringSubmatchIndex(raw, -1)
	var out []sippMessage
	for i, m := range idx {
		end := len(raw)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := raw[m[1]:end]
		if j := strings.Index(body, "\n-----------"); j >= 0 {
			body = body[:j]
		}
		out = append(out, sippMessage{sent: raw[m[4]:m[5]] == "sent", text: strings.TrimLeft(body, "\n")})
	}
	return out
}

// received returns the messages sipp received (those we sent) whose first line starts with
// prefix, each once: a retransmission over UDP (the same first line, Via branch and CSeq,
// RFC 3261 section 17) is left out.
func (s *sipp) received(prefix string) []sippMessage {
	var out []sippMessage
	seen := map[string]bool{}
	for _, m := range s.messages() {
		if m.sent || !strings.HasPrefix(m.firstLine(), prefix) {
			continue
		}
		key := m.firstLine() + "|" + viaBranch.FindString(m.header("Via")) + "|" + m.header("CSeq")
		if !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}
	return out
}

// viaBranch matches the branch parameter of a Via header.
var viaBranch = regexp.MustCompile(`branch=[^;,\s]+`)

// mustReceive fails unless sipp received at least one message starting with prefix, and returns the first.
func (s *sipp) mustReceive(prefix string) sippMessage {
	s.t.Helper()
	ms := s.received(prefix)
	if len(ms) == 0 {
		s.t.Fatalf("sipp received no %q message\n%s", prefix, s.output())
	}
	return ms[0]
}
