// Package pgtest runs a real PostgreSQL server for a test: a fresh
// cluster (initdb) in a temporary directory, listening on 127.0.0.1 at a
// free port and on a Unix socket in that directory, stopped and removed
// at cleanup. It uses the server binaries of the Debian package
// (postgresql, installed by scripts/deps.sh test) and fails the test
// loudly when they are missing. Run as root, the server runs as the user
// nobody, as PostgreSQL refuses root. It is imported only by tests.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/freeport"
)

// User is the database superuser of the cluster; Database its database.
const (
	User     = "webtrunk"
	Database = "postgres"
)

// nobody is the user id the server runs as when the test runs as root.
const nobody = 65534

// Server is one running PostgreSQL cluster.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	data string
	port int
	up   bool
}

// bindir finds the directory of initdb and pg_ctl.
func bindir(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(resolved)
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		tb.Fatal("pgtest: PostgreSQL server binaries not found (install the Debian package postgresql: scripts/deps.sh test)")
	}

	return filepath.Dir(matches[len(matches)-1])
}

// Start initialises a cluster and starts its server; both end at cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	dir, err := os.MkdirTemp("", "webtrunk-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{tb: tb, bin: bindir(tb), dir: dir, data: filepath.Join(dir, "data"), port: int(freeport.TCP(tb).Port())}
	tb.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	if os.Getuid() == 0 {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			tb.Fatal(err)
		}
	}
	s.run("initdb", "-D", s.data, "-U", User, "--auth=trust", "-E", "UTF8", "--no-sync")
	s.Start()

	return s
}

// DSN is the connection string of the server's database over TCP.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.port, Database)
}

// Start starts the server again after Stop (on the same port) and waits
// until it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	opts := "-c listen_addresses=127.0.0.1 -p " + strconv.Itoa(s.port) + " -c unix_socket_directories=" + s.dir +
		" -c fsync=off -c full_page_writes=off"
	s.run("pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
	s.up = true
}

// Stop stops the server at once (immediate shutdown); the cluster stays
// for Start.
func (s *Server) Stop() {
	s.tb.Helper()
	if !s.up {
		return
	}
	s.up = false
	s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop")
}

// run runs a server binary (as nobody when the test is root), failing
// the test with its output and the server log when it fails.
func (s *Server) run(name string, args ...string) {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=" + strconv.Itoa(nobody), "--regid=" + strconv.Itoa(nobody), "--clear-groups", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		s.tb.Fatalf("pgtest: %s: %v\n%s\nserver log:\n%s", name, err, out, log)
	}
}
