package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testproc"
)

// TestBrowserDemoSetup is the README's "Try it": the gateway on
// config/example.yaml and the demo endpoint cmd/echo with its default flags;
// a person signs in as demo/demo, dials a +1555 number and hears their own
// voice, dials +1 555 1000 and hears a 1 kHz tone. It binds the example's
// fixed ports (8080, 5060, 5070, 50000, RTP ranges), so it runs only where
// they are free, as in the loopback-only namespace of scripts/test.sh.
func TestBrowserDemoSetup(t *testing.T) {
	for _, p := range []int{5060, 5070, 50000} {
		if err := portsFree(p, p); err != nil {
			t.Fatalf("the demo's port %d is in use (%v): run the test inside scripts/isolated.sh", p, err)
		}
	}
	cfg, err := config.Load(filepath.Join("..", "config", "example.yaml"))
	if err != nil {
		t.Fatalf("config/example.yaml: %v", err)
	}
	logger, _ := logcapture.New(t, logcapture.Name("gateway log"), logcapture.Tail(60))
	gw, err := gateway.New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("gateway.Listen on the example's addresses: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	browserStartEcho(t)
	pageURL := "http://" + gw.HTTPAddr().String() + "/"
	checkServesPage(t, pageURL)

	b := browserStart(t, browserToneHz)
	b.login(pageURL, "demo", "demo")

	tests := []struct {
		number       string
		want, unwant float64
	}{
		{"+1 555 0123", browserToneHz, trunkToneHz}, // the echo: your own voice
		{"+1 555 1000", 1000, browserToneHz},        // the tone number
	}
	for _, tc := range tests {
		t.Run(tc.number, func(t *testing.T) {
			b.dial(tc.number)
			b.waitState("connected", 20*time.Second)
			b.waitHears(tc.want, tc.unwant, 15*time.Second)
			b.click("hangup")
			b.waitState("idle", 10*time.Second)
		})
	}
}

// browserStartEcho builds cmd/echo and runs it with its default flags (the
// "demo" trunk of config/example.yaml, 127.0.0.1:5070) until the test ends,
// as scripts/run.sh does; its log is shown if the test fails.
func browserStartEcho(t *testing.T) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not found to build cmd/echo: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "echo")
	build := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, "../cmd/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/echo: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	logs := logcapture.NewWriter(t, logcapture.Name("echo endpoint log"), logcapture.Tail(40))
	cmd.Stderr = logs
	echo := testproc.Start(t, "echo endpoint", cmd, cancel)
	t.Cleanup(func() {
		echo.Stop()
		// Wait reports the cancelled context even after a clean exit: the
		// exit status is what tells.
		if code := echo.ExitCode(); code != 0 {
			t.Errorf("echo endpoint exited with %d on SIGINT (%v):\n%s", code, echo.Err(), logs)
		}
	})
	echo.AwaitLine(t, logs, "echo endpoint listening", 15*time.Second)
}
