package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildGateway compiles this command into a temporary directory and returns
// the binary's path.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	return bin
}

// exampleWithEphemeralPorts returns a copy of config/example.yaml whose
// listeners bind port 0, so the test never collides with a running gateway.
func exampleWithEphemeralPorts(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`"127\.0\.0\.1:(8080|9090|5060|50000)"`).ReplaceAllString(string(data), `"127.0.0.1:0"`)
	path := filepath.Join(t.TempDir(), "webtrunk.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}

	return path
}

func TestCheckExample(t *testing.T) {
	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"-check", "-config", "../../config/example.yaml"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "configuration is valid") {
		t.Errorf("stdout %q does not confirm the configuration", stdout.String())
	}
}

func TestBadConfigListsEveryError(t *testing.T) {
	data, err := os.ReadFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	// Three independent mistakes: a misspelt key, a bad duration and an
	// unknown codec.
	for old, repl := range map[string]string{
		"  user_agent: ":       "  user_agnet: ",
		"  ring_timeout: ":     "  ring_timeout: soon #",
		"codecs: [PCMU, PCMA]": "codecs: [PCMU, G729]",
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("example.yaml no longer contains %q; update the test", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-check", "-config", path}, {"-config", path}} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Fatalf("%v: exit code %d, want 2", args, code)
		}
		out := stderr.String()
		for _, want := range []string{"sip.user_agnet", "routes[0].ring_timeout", "trunks[0].codecs[1]"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: errors do not name %s:\n%s", args, want, out)
			}
		}
		if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 3 {
			t.Errorf("%v: %d error lines, want 3:\n%s", args, n, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-config"}, {"-nosuchflag"}, {"-config", "a.yaml", "extra"}} {
		var stdout, stderr strings.Builder
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit code %d, want 2", args, code)
		}
	}
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, &stdout, &stderr); code != 2 {
		t.Errorf("missing file: exit code %d, want 2", code)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"-memprofilerate", "-1", "-config", "../../config/example.yaml"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "-memprofilerate must not be negative") {
		t.Errorf("-memprofilerate -1: exit code %d, stderr %q; want 2 and the flag named", code, stderr.String())
	}
}

// TestServeAndSIGTERM runs the real binary, reads the HTTP and admin
// addresses from its log, checks /healthz and /readyz on the first and
// /metrics on the second (not on the first), then sends SIGTERM and
// expects a clean exit well within the grace period.
func TestServeAndSIGTERM(t *testing.T) {
	bin := buildGateway(t)
	cfg := exampleWithEphemeralPorts(t)
	cmd := exec.CommandContext(t.Context(), bin, "-config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	addrRe := regexp.MustCompile(`msg="gateway listening".* http=(\S+).* admin=(\S+)`)
	lines := bufio.NewScanner(stderr)
	var addr, admin string
	var logged []string
	for lines.Scan() {
		logged = append(logged, lines.Text())
		if m := addrRe.FindStringSubmatch(lines.Text()); m != nil {
			addr, admin = m[1], m[2]

			break
		}
	}
	if addr == "" {
		t.Fatalf("no listening address logged:\n%s", strings.Join(logged, "\n"))
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(stderr)
		rest <- string(b)
	}()

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct {
		url, want string
		code      int
	}{
		{"http://" + addr + "/healthz", "ok", http.StatusOK},
		{"http://" + addr + "/readyz", "ready", http.StatusOK},
		{"http://" + admin + "/metrics", "webtrunk_calls_active", http.StatusOK},
		{"http://" + addr + "/metrics", "", http.StatusNotFound},
		{"http://" + admin + "/v1/calls", "unauthorized", http.StatusUnauthorized},
	} {
		path, want := c.url, c.want
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: status %d, want %d, body lacks %q", path, resp.StatusCode, c.code, want)
		}
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Fatalf("exit code %d after SIGTERM, log:\n%s", exitErr.ExitCode(), <-rest)
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway still running 10 s after SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if log := <-rest; !strings.Contains(log, "gateway stopped") {
		t.Errorf("shutdown not logged:\n%s", log)
	}
}
