package gateway

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

func TestAdmission(t *testing.T) {
	tests := []struct {
		name    string
		limit   int
		callers int
		want    int // slots granted
	}{
		{"unlimited", 0, 64, 64},
		{"limit below demand", 3, 64, 3},
		{"limit above demand", 100, 64, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAdmission(tt.limit)
			var mu sync.Mutex
			var slots []*callSlot
			var wg sync.WaitGroup
			for range tt.callers {
				wg.Go(func() {
					if s := a.acquire(); s != nil {
						mu.Lock()
						slots = append(slots, s)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(slots) != tt.want || a.inUse() != int64(tt.want) {
				t.Fatalf("%d slots granted, %d in use; want %d", len(slots), a.inUse(), tt.want)
			}
			if full := tt.limit > 0 && tt.want == tt.limit; a.full() != full {
				t.Errorf("full() = %v, want %v", a.full(), full)
			}
			// A slot given back twice frees one place, not two.
			slots[0].release()
			slots[0].release()
			if a.inUse() != int64(tt.want-1) || a.full() {
				t.Errorf("after one release: %d in use, full %v; want %d, false", a.inUse(), a.full(), tt.want-1)
			}
			again := a.acquire()
			if again == nil {
				t.Fatal("no slot after a release")
			}
			again.release()
			for _, s := range slots {
				s.release()
			}
			if a.inUse() != 0 {
				t.Errorf("%d in use after every release, want 0", a.inUse())
			}
		})
	}
	var none *callSlot
	none.release() // a call without a slot releases nothing
}

// TestGatewayCallLimit: with calls.max_concurrent 1 and one call up, a dial
// is refused with over_capacity before any INVITE, an INVITE gets 503 with
// Retry-After and rings no browser, and /readyz reports the capacity; once
// the call ends, a new call goes through.
func TestGatewayCallLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{maxConcurrent: 1})
	// Another tab of a user without a limit of its own: refused by the
	// gateway's limit, and the trunk never hears of it.
	b1, b2, tc, r := secondDialRefused(t, e, "at call capacity")
	if !strings.Contains(r.Message, "capacity") {
		t.Errorf("second dial: %+v, want a message about capacity", r)
	}

	// An inbound call for alice: 503 with Retry-After, no browser rings.
	res := rawInvite(t, e, "+15550100")
	if res.StatusCode != 503 {
		t.Fatalf("INVITE answered %d, want 503\n%s", res.StatusCode, res)
	}
	if h, want := res.GetHeader("Retry-After"), strconv.Itoa(int(capacityRetryAfter/time.Second)); h == nil || h.Value() != want {
		t.Errorf("Retry-After %v, want %q\n%s", h, want, res)
	}
	for _, b := range []*gobrowser.Client{b1, b2} {
		b.Send(t, signaling.Ping{Ref: "sync"})
		expect[signaling.Pong](t, b) // an incoming would come first and fail this
	}

	assertMetrics(t, e,
		`webtrunk_calls_max_concurrent 1`,
		`webtrunk_dials_denied_total{reason="over_capacity"} 1`,
		`webtrunk_calls_over_capacity_total{direction="outbound"} 1`,
		`webtrunk_calls_over_capacity_total{direction="inbound"} 1`,
		`webtrunk_calls_total{direction="inbound",outcome="over_capacity"} 1`,
	)

	// The call ends: its place is free for the next one.
	b1.Send(t, signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	assertReadyz(t, e, http.StatusOK, "ready")
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	dial(t, b2, "c3", "+15550124")
	e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b2)
	assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")

	// Shutdown hangs the call up and gives its place back.
	e.shutdown()
	if n := e.gw.admission.inUse(); n != 0 {
		t.Errorf("%d calls still counted after shutdown", n)
	}
}

// TestGatewayCallLimitReleasedOnEveryEnd: however a call ends, before or
// after it is answered, in either direction, its place in the gateway's
// limit is free again by the time the browser learns of the end.
func TestGatewayCallLimitReleasedOnEveryEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{maxConcurrent: 1})
	b := login(t, e, "alice")
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"trunk busy", func(t *testing.T) {
			e.trunk.SetPlan(faketrunk.Plan{Reject: 486})
			defer e.trunk.SetPlan(faketrunk.Plan{})
			dial(t, b, "busy", "+15550123")
			if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonBusy || h.SIPCode != 486 {
				t.Fatalf("hangup %+v, want busy 486", h)
			}
			e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndRejected)
		}},
		{"browser hangs up while ringing", func(t *testing.T) {
			e.trunk.SetPlan(faketrunk.Plan{RingForever: true})
			defer e.trunk.SetPlan(faketrunk.Plan{})
			dial(t, b, "ring", "+15550123")
			expectProgress[signaling.Ringing](t, b)
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			b.Send(t, signaling.Hangup{CallID: "ring"})
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonLocalHangup {
				t.Fatalf("hangup %+v, want local_hangup", h)
			}
			e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndCancelled)
		}},
		{"offer without a common codec", func(t *testing.T) {
			sdp := offer(t)
			b.Send(t, signaling.Dial{ID: "g722", To: "+15550123", SDP: withoutCommonCodec(sdp)})
			if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
				t.Fatalf("reply %+v, want no_common_codec", r)
			}
		}},
		{"trunk hangs up", func(t *testing.T) {
			dial(t, b, "bye", "+15550123")
			tc := e.trunk.NextCall(t)
			expectProgress[signaling.Connected](t, b)
			tc.Bye(t)
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
				t.Fatalf("hangup %+v, want remote_hangup", h)
			}
		}},
		{"inbound cancelled by the trunk", func(t *testing.T) {
			tc := trunkDial(t, e, "+15550100")
			expect[signaling.Incoming](t, b)
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			tc.WaitRinging(t)
			tc.Cancel()
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonCancelled {
				t.Fatalf("hangup %+v, want cancelled", h)
			}
			tc.WaitEnded(t, faketrunk.EndCancelled)
		}},
		{"inbound rejected after a failed accept", func(t *testing.T) {
			tc := trunkDial(t, e, "+15550100")
			in := expect[signaling.Incoming](t, b)
			b.Send(t, signaling.Accept{CallID: in.CallID, SDP: withoutCommonCodec(offer(t))})
			if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
				t.Fatalf("accept with a G.722 offer: %+v, want no_common_codec", r)
			}
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity") // still ringing
			b.Send(t, signaling.Reject{CallID: in.CallID})
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRejected {
				t.Fatalf("hangup %+v, want rejected", h)
			}
			tc.WaitEnded(t, faketrunk.EndRejected)
			if code := tc.FinalCode(); code != 603 {
				t.Errorf("trunk call ended with %d, want 603", code)
			}
		}},
		{"inbound answered, then hung up by the trunk", func(t *testing.T) {
			tc := trunkDial(t, e, "+15550100")
			in := expect[signaling.Incoming](t, b)
			accept(t, b, in.CallID)
			expect[signaling.Connected](t, b)
			tc.WaitAnswered(t)
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			tc.Bye(t)
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
				t.Fatalf("hangup %+v, want remote_hangup", h)
			}
		}},
		{"browser connection closed", func(t *testing.T) {
			b2 := login(t, e, "alice")
			dial(t, b2, "gone", "+15550123")
			tc := e.trunk.NextCall(t)
			expectProgress[signaling.Connected](t, b2)
			// A tab that closes says goodbye (1001); a connection that
			// merely drops keeps its calls for a resume (resume_test.go).
			b2.CloseWith(websocket.StatusGoingAway)
			tc.WaitEnded(t, faketrunk.EndByeReceived)
			// Nobody is told of this end: wait for the session to finish.
			deadline := time.Now().Add(5 * time.Second)
			for e.gw.admission.inUse() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t)
			if n := e.gw.admission.inUse(); n != 0 {
				t.Fatalf("%d calls still counted after the call ended", n)
			}
			assertReadyz(t, e, http.StatusOK, "ready")
		})
	}

	// After all of that, a call still goes through.
	dial(t, b, "last", "+15550123")
	e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b)
}

// TestInboundEndWaitsForAccept: a CANCEL from the trunk that arrives while
// a browser's accept is being set up does not end the call under that
// accept; if the accept then fails, the call ends as cancelled and its
// place in the gateway's limit is given back.
func TestInboundEndWaitsForAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{maxConcurrent: 1})
	b := login(t, e, "alice")
	tc := trunkDial(t, e, "+15550100")
	inc := expect[signaling.Incoming](t, b)
	in := ringingCall(t, e, inc.CallID)
	// Hold the call where accept holds it while it sets up the browser leg.
	in.mu.Lock()
	in.state = inboundAccepting
	in.mu.Unlock()
	tc.WaitRinging(t)
	tc.Cancel()
	tc.WaitEnded(t, faketrunk.EndCancelled)
	deadline := time.Now().Add(5 * time.Second)
	for {
		in.mu.Lock()
		pending := in.pending
		in.mu.Unlock()
		if pending != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the CANCEL did not reach the ringing call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := e.gw.admission.inUse(); n != 1 {
		t.Errorf("%d calls counted while the accept is pending, want 1", n)
	}
	b.Send(t, signaling.Ping{Ref: "sync"})
	expect[signaling.Pong](t, b) // no hangup yet: the accept may still win
	// The accept fails: the cancel takes effect.
	in.resumeRinging()
	if h := expect[signaling.HangupEvent](t, b); h.CallID != inc.CallID || h.Reason != signaling.ReasonCancelled {
		t.Fatalf("hangup %+v, want cancelled", h)
	}
	if n := e.gw.admission.inUse(); n != 0 {
		t.Errorf("%d calls counted after the call ended, want 0", n)
	}
	assertReadyz(t, e, http.StatusOK, "ready")
}

// ringingCall returns the ringing inbound call of id.
func ringingCall(t *testing.T, e *env, id string) *inboundCall {
	t.Helper()
	e.gw.sessions.mu.Lock()
	defer e.gw.sessions.mu.Unlock()
	for in := range e.gw.sessions.ringing {
		if in.id == id {
			return in
		}
	}
	t.Fatalf("no ringing call %s", id)

	return nil
}

// withoutCommonCodec renames the codecs of a browser's offer so that it
// passes the signaling checks (it has an active audio section) but offers
// none of Opus, PCMU and PCMA: the call fails while its browser leg is set
// up, after it was admitted.
func withoutCommonCodec(sdp string) string {
	return strings.NewReplacer(" opus/", " G722/", " PCMU/", " G729/", " PCMA/", " G729/").Replace(sdp)
}

// secondDialRefused logs two tabs of alice in to a ready gateway, puts call
// c1 up from the first and checks that /readyz then reports full, with
// reason as its body, and that a dial of c2 from the second tab is refused
// with over_capacity before any INVITE leaves. It returns both tabs, the
// trunk's side of c1 and the refusal.
func secondDialRefused(t *testing.T, e *env, reason string) (b1, b2 *gobrowser.Client, tc *faketrunk.Call, r signaling.ErrorReply) {
	t.Helper()
	assertReadyz(t, e, http.StatusOK, "ready")
	b1 = login(t, e, "alice")
	b2 = login(t, e, "alice")

	dial(t, b1, "c1", "+15550123")
	tc = e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b1)
	assertReadyz(t, e, http.StatusServiceUnavailable, reason)

	sdp := offer(t)
	b2.Send(t, signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp, Ref: "r2"})
	r = expect[signaling.ErrorReply](t, b2) // an Answer first would fail here
	if r.Code != signaling.CodeOverCapacity || r.CallID != "c2" || r.Ref != "r2" {
		t.Errorf("second dial: %+v, want over_capacity for c2", r)
	}
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 1 {
		t.Errorf("the trunk got %d INVITEs, want 1 (none for the refused dial)", n)
	}
	return b1, b2, tc, r
}

// assertMetrics checks that /metrics holds each of the wanted lines.
func assertMetrics(t *testing.T, e *env, want ...string) {
	t.Helper()
	_, metrics := adminGet(t, e, "/metrics")
	for _, w := range want {
		if !strings.Contains(metrics, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
}

// assertReadyz checks the status and body of /readyz.
func assertReadyz(t *testing.T, e *env, code int, body string) {
	t.Helper()
	if gotCode, gotBody := httpGet(t, e, "/readyz"); gotCode != code || strings.TrimSpace(gotBody) != body {
		t.Errorf("/readyz = %d %q, want %d %q", gotCode, gotBody, code, body)
	}
}

// httpGet fetches path from the gateway's HTTP listener.
func httpGet(t *testing.T, e *env, path string) (int, string) {
	t.Helper()

	return httpRequest(t, http.MethodGet, "http://"+e.http+path, nil)
}

// httpRequest sends a request with header to url and returns the status
// code and body of the response.
func httpRequest(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}

	return res.StatusCode, string(body)
}

// rawInvite sends the gateway an INVITE for did from a wire of the test
// on 127.0.0.1 (an allowed source of the trunk "fake"), so that the test
// sees every header of the answer. It returns the first final response,
// acknowledged (RFC 3261 section 17.1.1.3).
func rawInvite(t *testing.T, e *env, did string) *sipmsg.Response {
	t.Helper()
	w := faketrunk.NewWire(t)
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	inv := w.SendText(w.InviteText(e.sip, did, "z9hG4bK-"+nonce, "capacity-"+nonce, faketrunk.PCMUSDP(40000, faketrunk.SendRecv)), e.sip)
	res := w.ExpectFinal(inv, ear.WaitTimeout)
	if res.StatusCode >= 300 {
		w.Send(w.ACKFailure(inv, res), e.sip)
	}

	return res
}
