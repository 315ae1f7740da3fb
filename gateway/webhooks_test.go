package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// hookSecret signs the test's webhooks.
const hookSecret = "test-webhook-secret-0123456789"

// hookEvent is an event as a receiver saw it.
type hookEvent struct {
	ID, Type, Call, Reason string
	SignatureOK            bool
}

// hookReceiver is a webhook receiver on 127.0.0.1 that records what it
// gets and can be stopped and started again on the same port.
type hookReceiver struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	events []hookEvent
	wake   chan struct{}
	srv    *http.Server
	done   chan struct{}
}

// startHookReceiver binds a receiver on a free port.
func startHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{t: t, wake: make(chan struct{}, 1)}
	r.start("127.0.0.1:0")
	t.Cleanup(r.stop)

	return r
}

// url is where the receiver takes events.
func (r *hookReceiver) url() string { return "http://" + r.addr + "/events" }

// start serves on addr.
func (r *hookReceiver) start(addr string) {
	r.t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.done = make(chan struct{})
	go func() { defer close(r.done); _ = r.srv.Serve(ln) }()
}

// stop closes the listener, lets the request in progress finish (its
// answer sent: an event the receiver recorded counts as delivered) and
// closes every connection: the receiver is down.
func (r *hookReceiver) stop() {
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			_ = r.srv.Close()
		}
		<-r.done
		r.srv = nil
	}
}

func (r *hookReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)

		return
	}
	var ev struct {
		ID   string          `json:"id"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	var data struct {
		CallID string `json:"call_id"`
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(ev.Data, &data)
	he := hookEvent{ID: ev.ID, Type: ev.Type, Call: data.CallID + data.ID, Reason: data.Reason,
		SignatureOK: webhook.Verify([]byte(hookSecret), req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) == nil &&
			req.Header.Get(webhook.EventIDHeader) == ev.ID}
	r.mu.Lock()
	r.events = append(r.events, he)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitEvents waits until the receiver got n events and returns them.
func (r *hookReceiver) waitEvents(t *testing.T, n int, within time.Duration) []hookEvent {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got := append([]hookEvent(nil), r.events...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.wake:
		case <-deadline.C:
			t.Fatalf("receiver got %d events in %v, want %d: %+v", len(got), within, n, got)
		}
	}
}

// summary renders events as "type:call" for comparison.
func summary(evs []hookEvent) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.Type + ":" + e.Call
	}

	return strings.Join(parts, " ")
}

// hookConfig is the webhooks section of a test gateway.
func hookConfig(t *testing.T, receivers string, dialAuth string) string {
	t.Helper()

	return "webhooks:\n  secret: \"" + hookSecret + "\"\n  spool_dir: " + t.TempDir() + "\n  timeout: 2s\n" + receivers + dialAuth
}

// upCall dials id to number, waits for connected and returns how long
// that took.
func upCall(t *testing.T, e *env, b *gobrowser.Client, id, number string) time.Duration {
	t.Helper()
	start := time.Now()
	dial(t, b, id, number)
	e.trunk.NextCall(t)
	if c := expectProgress[signaling.Connected](t, b); c.CallID != id {
		t.Fatalf("connected %+v, want %s", c, id)
	}

	return time.Since(start)
}

// TestWebhooksDeliverInOrder: a receiver gets every event with a valid
// signature; while it is down for 10 s (and while another receiver hangs
// on every request) calls are set up as fast as ever, and once it is back
// it gets the queued events, in order, each once.
func TestWebhooksDeliverInOrder(t *testing.T) {
	t.Parallel()
	rec := startHookReceiver(t)
	hang := make(chan struct{})
	var lc net.ListenConfig
	slowLn, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	slow := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})}
	go func() { _ = slow.Serve(slowLn) }()
	t.Cleanup(func() { close(hang); _ = slow.Close() })

	receivers := "  receivers:\n    - {name: backend, url: \"" + rec.url() + "\"}\n" +
		"    - {name: slow, url: \"http://" + slowLn.Addr().String() + "/\", events: [call.answered]}\n"
	e := newEnv(t, testConfig{register: true, extra: hookConfig(t, receivers, "")},
		faketrunk.WithPlan(faketrunk.Plan{Ring: 50 * time.Millisecond}))
	b := login(t, e, "alice")
	if reg := rec.waitEvents(t, 1, 10*time.Second); reg[0].Type != webhook.TrunkRegistration {
		t.Fatalf("first event %+v, want the trunk's registration", reg[0])
	}

	upCall(t, e, b, "c1", "+15550123")
	b.Send(t, signaling.Hangup{CallID: "c1"})
	b.ExpectHangup(t, "c1", signaling.ReasonLocalHangup, 0)
	refusedDial(t, e, b, "c2", "+15559990000", signaling.CodeForbiddenNumber)
	first := rec.waitEvents(t, 6, 10*time.Second)
	if got, want := summary(first), "trunk.registration: call.ringing:c1 call.answered:c1 call.ended:c1 call.ended:c2 dial.denied:c2"; got != want {
		t.Errorf("events\n%s\nwant\n%s", got, want)
	}

	rec.stop()
	downAt := time.Now()
	for _, id := range []string{"c3", "c4"} {
		if d := upCall(t, e, b, id, "+15550123"); d > 2*time.Second {
			t.Errorf("call %s took %v to connect while a receiver was down and another hung", id, d)
		}
		b.Send(t, signaling.Hangup{CallID: id})
		b.ExpectHangup(t, id, signaling.ReasonLocalHangup, 0)
	}
	_, metrics := adminGet(t, e, "/metrics")
	if !strings.Contains(metrics, `webtrunk_webhook_failures_total{receiver="backend"}`) ||
		strings.Contains(metrics, `webtrunk_webhook_queued{receiver="backend"} 0`) {
		t.Errorf("metrics do not show the queued events:\n%s", grepLines(metrics, "webtrunk_webhook"))
	}
	time.Sleep(10*time.Second - time.Since(downAt)) // the receiver stays down for 10 s
	rec.start(rec.addr)
	all := rec.waitEvents(t, 12, 30*time.Second)
	if got, want := summary(all[6:]), "call.ringing:c3 call.answered:c3 call.ended:c3 call.ringing:c4 call.answered:c4 call.ended:c4"; got != want {
		t.Errorf("queued events\n%s\nwant\n%s", got, want)
	}
	seen := map[string]bool{}
	for _, ev := range all {
		if !ev.SignatureOK {
			t.Errorf("event %s %s has no valid signature", ev.Type, ev.ID)
		}
		if seen[ev.ID] {
			t.Errorf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
	}
}

// grepLines returns the lines of s containing substr.
func grepLines(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}

	return strings.Join(out, "")
}

// TestDialAuthorisation: the hook denies a dial with its reason, rewrites
// a number to another that is routed, and a hook that does not answer in
// time gets the configured default (deny) after the timeout, not later.
func TestDialAuthorisation(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			w.WriteHeader(http.StatusUnauthorized)

			return
		}
		var req webhook.AuthRequest
		_ = json.Unmarshal(body, &req)
		var d webhook.Decision
		switch req.To {
		case "+15550124":
			d = webhook.Decision{Allow: false, Reason: "no credit left"}
		case "+15550125":
			d = webhook.Decision{Allow: true, To: "+15550126", From: "+15550177"}
		case "+15550127":
			<-r.Context().Done()

			return
		default:
			d = webhook.Decision{Allow: req.User == "alice"}
		}
		_ = json.NewEncoder(w).Encode(d)
	})}
	go func() { _ = hook.Serve(ln) }()
	t.Cleanup(func() { _ = hook.Close() })
	dialAuth := "  dial_auth: {url: \"http://" + ln.Addr().String() + "/authorize\", timeout: 300ms, on_failure: deny}\n"
	e := newEnv(t, testConfig{extra: hookConfig(t, "", dialAuth)})
	b := login(t, e, "alice")

	upCall(t, e, b, "c1", "+15550123")
	b.Send(t, signaling.Dial{ID: "c2", To: "+15550124", SDP: offer(t), Ref: "c2"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeDialDenied || r.Message != "no credit left" {
		t.Errorf("denied dial: %+v", r)
	}
	dial(t, b, "c3", "+15550125")
	tc := e.trunk.NextCall(t)
	if tc.Number() != "+15550126" || tc.Invite().From().Address.User != "+15550177" {
		t.Errorf("rewritten dial reached the trunk for %s from %s", tc.Number(), tc.Invite().From().Address.User)
	}
	b.Expect(t, "connected c3", gobrowser.Is[signaling.Connected]("c3"))
	start := time.Now()
	refusedDial(t, e, b, "c4", "+15550127", signaling.CodeDialDenied)
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("a silent hook held the dial %v, want the 300 ms timeout", d)
	}
	if errors.Is(context.Cause(e.gw.callCtx), context.Canceled) {
		t.Error("the gateway stopped")
	}
}
