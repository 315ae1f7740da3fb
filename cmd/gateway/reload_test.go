package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// secondOfAudio is one second of 8 kHz audio, in samples.
const secondOfAudio = 8000

// TestSIGHUPReload runs the gateway in this process on a file, with a
// call in progress: SIGHUP with a new dial rule lets the next dial reach
// the trunk while the call carries on with audio both ways; SIGHUP with a
// broken file changes nothing, logs the problem with its field path and
// counts the failed reload.
func TestSIGHUPReload(t *testing.T) {
	// A SIGHUP of this test must never reach a process without a handler.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(guard) })

	trunk := faketrunk.New(t)
	path := filepath.Join(t.TempDir(), "webtrunk.yaml")
	maxCalls := 5
	conf := testconfig.Gateway{
		RTPMin: 32000, RTPMax: 32199,
		Trunk:    testconfig.Trunk{Name: "fake", Port: trunk.Addr().Port(), CallerID: "+15550199"},
		Users:    []testconfig.User{{ID: "alice", CallerID: "+15550100", MaxCalls: &maxCalls}},
		Allow:    []string{"+1555*"},
		Outbound: []string{"+1555*", "+1666*"},
		LogLevel: "info",
	}
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(conf.YAML(t))
	logs := logcapture.NewWriter(t, logcapture.Name("gateway log"))
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, []string{"-config", path}, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exit:
			if code != 0 {
				t.Errorf("exit code %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	m := regexp.MustCompile(`http=(\S+).* admin=(\S+)`).FindStringSubmatch(logs.WaitLine(t, "gateway listening"))
	httpAddr, adminAddr := m[1], m[2]

	b := gobrowser.Connect(t, "ws://"+httpAddr+"/ws")
	b.Login(t, "alice", testconfig.Password)
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Dial(t, "c1", "+15550123", p)
	tc := trunk.NextCall(t)
	gobrowser.Next[signaling.Connected](t, b, signaling.TypeRinging, signaling.TypeProgress)
	tc.Heard().WaitSamples(t, secondOfAudio)
	p.Heard().WaitSamples(t, secondOfAudio)

	dialDenied := func(id, to string) {
		t.Helper()
		b.Send(t, signaling.Dial{ID: id, To: to, SDP: gobrowser.NewPeer(t, gobrowser.PeerOptions{}).Offer(t), Ref: id})
		r := gobrowser.Next[signaling.ErrorReply](t, b)
		if r.Code != signaling.CodeForbiddenNumber || r.CallID != id {
			t.Fatalf("dial %s: %+v, want forbidden_number", to, r)
		}
	}
	dialDenied("c2", "+16660001")

	conf.Allow = []string{"+1555*", "+1666*"}
	write(conf.YAML(t))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.WaitLine(t, "configuration reloaded")
	// The call in progress carries on with audio both ways.
	upMark, downMark := tc.Heard().Len(), p.Heard().Len()
	testcodec.AssertTone(t, tc.Heard().WaitSamples(t, upMark+secondOfAudio)[upMark:], 440, 1000)
	testcodec.AssertTone(t, p.Heard().WaitSamples(t, downMark+secondOfAudio)[downMark:], 1000, 440)
	// The next dial follows the new rule: it reaches the trunk.
	p3 := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Dial(t, "c3", "+16660001", p3)
	if tc3 := trunk.NextCall(t); tc3.Number() != "+16660001" {
		t.Errorf("the trunk was called for %q, want +16660001", tc3.Number())
	}
	b.Expect(t, "connected c3", gobrowser.Is[signaling.Connected]("c3"))

	// A broken file changes nothing.
	broken := strings.Replace(string(conf.YAML(t)), "default_dial_rules:", "default_dial_rules:\n  allow_typo: [\"+1777*\"]", 1)
	write([]byte(broken))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if line := logs.WaitLine(t, "reload refused"); !strings.Contains(line, "path=default_dial_rules.allow_typo") {
		t.Errorf("refusal %q does not name the field", line)
	}
	dialDenied("c4", "+17770001")
	p5 := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Dial(t, "c5", "+16660002", p5)
	trunk.NextCall(t)
	b.Expect(t, "connected c5", gobrowser.Is[signaling.Connected]("c5"))
	mark := tc.Heard().Len()
	tc.Heard().WaitSamples(t, mark+secondOfAudio/2)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testconfig.AdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, want := range []string{`webtrunk_config_reloads_total{result="ok"} 1`, `webtrunk_config_reloads_total{result="failed"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
