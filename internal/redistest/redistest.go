// Package redistest runs a real Redis server for a test: redis-server of
// the Debian package (installed by scripts/deps.sh test) on 127.0.0.1 at
// a free port, without persistence, in a temporary directory; it is
// killed at cleanup. It fails the test loudly when the binary is
// missing. It is imported only by tests.
package redistest

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/freeport"
)

// startTimeout bounds the wait for a server to accept connections.
const startTimeout = 30 * time.Second

// Server is one redis-server process, which Kill stops and Start starts
// again on the same port.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	addr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	logMu sync.Mutex
	log   strings.Builder
}

// output returns what the server printed so far.
func (s *Server) output() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()

	return s.log.String()
}

// Start starts a server on 127.0.0.1 at a free port; it is killed at
// cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatal("redistest: redis-server not found (install the Debian package redis-server: scripts/deps.sh test)")
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), addr: freeport.TCP(tb).String()}
	tb.Cleanup(s.Kill)
	s.Start()

	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.addr + "/0" }

// Start starts the server again after Kill, on the same port, and waits
// until it says it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.addr)
	cmd := exec.CommandContext(context.Background(), s.bin, //nolint:gosec // the test's own binary and arguments
		"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			s.logMu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.logMu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_ = cmd.Wait()
	}()
	s.cmd, s.done = cmd, done
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-done:
		s.cmd = nil
		s.tb.Fatalf("redistest: redis-server exited at start:\n%s", s.output())
	case <-timer.C:
		s.tb.Fatalf("redistest: redis-server not ready after %v:\n%s", startTimeout, s.output())
	}
}

// Kill kills the server at once (SIGKILL) and waits for it to exit; its
// data is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}
