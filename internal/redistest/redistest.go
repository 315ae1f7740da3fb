// Package redistest runs a real Redis server for a test: redis-server of
// the Debian package (installed by scripts/deps.sh test) on 127.0.0.1 at
// a free port, without persistence, in a temporary directory; it is
// killed at cleanup. It fails the test loudly when the binary is
// missing. It is imported only by tests.
package redistest

import (
	"context"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/freeport"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testproc"
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
	proc *testproc.Proc // nil while killed
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
	if s.proc != nil {
		return
	}
	_, port, _ := net.SplitHostPort(s.addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, s.bin, //nolint:gosec // the test's own binary and arguments
		"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "notice")
	out := logcapture.NewWriter(s.tb, logcapture.Name("redis-server"), logcapture.Tail(40))
	cmd.Stdout, cmd.Stderr = out, out
	proc := testproc.Start(s.tb, "redis-server", cmd, cancel)
	proc.AwaitLine(s.tb, out, "Ready to accept connections", startTimeout)
	s.proc = proc
}

// Kill kills the server at once (SIGKILL) and waits for it to exit; its
// data is lost.
func (s *Server) Kill() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc != nil {
		proc.Stop()
	}
}
