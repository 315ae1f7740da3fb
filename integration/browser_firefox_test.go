package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testjs"
)

// Firefox ESR (Debian package firefox-esr) is driven over WebDriver BiDi
// by npm puppeteer-core, installed without a browser download in the
// test-only folder test/js by scripts/deps.sh. The driver script reads
// one JSON command per line and answers one line each.
const (
	browserFirefoxPath = "/usr/bin/firefox-esr"
	firefoxDriver      = "firefox-driver.mjs" // in test/js
)

// errFirefox is a command the driver reported as failed.
var errFirefox = errors.New("firefox")

// browserFox is one headless Firefox ESR with one tab, whose fake
// microphone plays a sine at the tone the test chose.
type browserFox struct {
	t       *testing.T
	stdin   io.WriteCloser
	replies chan firefoxReply
	mu      sync.Mutex
	next    int
	console *logcapture.Capture
}

// firefoxReply is one line of the driver's output.
type firefoxReply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
	Ready bool            `json:"ready"`
}

// firefoxStart starts headless Firefox ESR whose microphone is its fake
// sine at toneHz, and returns its tab. t.Cleanup stops it. It fails the
// test loudly when Firefox, Node or puppeteer-core is missing.
func firefoxStart(t *testing.T, toneHz int) *browserFox {
	t.Helper()
	if _, err := exec.LookPath(browserFirefoxPath); err != nil {
		t.Fatalf("Firefox ESR not found at %s: install the Debian package firefox-esr (scripts/deps.sh test): %v", browserFirefoxPath, err)
	}
	driverDir := testjs.Require(t, "puppeteer-core")
	console := logcapture.NewWriter(t, logcapture.Name("firefox console"), logcapture.Tail(60))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", firefoxDriver, browserFirefoxPath, filepath.Join(t.TempDir(), "profile"), fmt.Sprint(toneHz))
	cmd.Dir = driverDir
	cmd.Env = append(os.Environ(), "PUPPETEER_SKIP_DOWNLOAD=1", "MOZ_CRASHREPORTER_DISABLE=1")
	cmd.Stderr = console
	cmd.WaitDelay = 10 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the Firefox driver: %v", err)
	}
	f := &browserFox{t: t, stdin: stdin, replies: make(chan firefoxReply, 1), console: console}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(f.replies)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 1<<20), 16<<20)
		for lines.Scan() {
			var r firefoxReply
			if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
				fmt.Fprintf(console, "driver: %s\n", lines.Text())

				continue
			}
			f.replies <- r
		}
	})
	t.Cleanup(func() {
		_ = stdin.Close() // the driver closes Firefox and exits
		done := make(chan struct{})
		go func() {
			for range f.replies { //nolint:revive // drain until the driver exits
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cancel()
		}
		_ = cmd.Wait()
		cancel()
		wg.Wait()
	})
	select {
	case r, ok := <-f.replies:
		if !ok || !r.Ready {
			t.Fatalf("the Firefox driver did not start (reply %+v)", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Firefox did not start within 60 s")
	}

	return f
}

// do sends one command and waits up to timeout for its reply.
func (f *browserFox) do(timeout time.Duration, cmd map[string]any) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	cmd["id"] = f.next
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := f.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%w: driver: %w", errFirefox, err)
	}
	deadline := time.After(timeout)
	for {
		select {
		case r, ok := <-f.replies:
			switch {
			case !ok:
				return nil, fmt.Errorf("%w: the driver exited", errFirefox)
			case r.ID != f.next:
				continue // the late reply of a command that timed out
			case !r.OK:
				return nil, fmt.Errorf("%w: %s", errFirefox, r.Error)
			}

			return r.Value, nil
		case <-deadline:
			return nil, fmt.Errorf("%w: no reply within %v", errFirefox, timeout)
		}
	}
}

// gotoURL loads url in the tab.
func (f *browserFox) gotoURL(url string) {
	f.t.Helper()
	if _, err := f.do(30*time.Second, map[string]any{"op": "goto", "url": url}); err != nil {
		f.t.Fatalf("open %s: %v", url, err)
	}
}

// eval evaluates the JavaScript expression expr in the page (awaiting a
// promise) and decodes its JSON value into out, which may be nil. It
// fails the test with what when the evaluation fails.
func (f *browserFox) eval(what, expr string, out any) {
	f.t.Helper()
	if err := f.tryEval(expr, out); err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

// tryEval is eval returning the error.
func (f *browserFox) tryEval(expr string, out any) error {
	v, err := f.do(30*time.Second, map[string]any{"op": "eval", "expr": expr})
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}

	return json.Unmarshal(v, out)
}

// poll evaluates the boolean expression cond every 50 ms until it holds,
// or fails the test after timeout with the value of describe.
func (f *browserFox) poll(what, cond, describe string, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := f.tryEval(cond, &ok)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var state any
			_ = f.tryEval(describe, &state)
			f.t.Fatalf("%s: not within %v (last error %v); %v", what, timeout, err, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHears waits until the audio element with id elementID plays the far
// end with want Hz dominating it (and little of unwant Hz), analysed with
// WebAudio by captureJS, or fails the test after timeout.
func (f *browserFox) waitHears(elementID string, want, unwant float64, timeout time.Duration) ear.ToneReport {
	f.t.Helper()
	capture := func() (browserCapture, error) {
		var c browserCapture
		err := f.tryEval(captureJS(elementID), &c)

		return c, err
	}

	return pollTone(f.t, "Firefox", capture, want, unwant, timeout, nil)
}
