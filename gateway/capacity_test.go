package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
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
	assertReadyz(t, e, http.StatusOK, "ready")
	b1 := newFakeBrowser(t, e)
	b1.login("alice")
	b2 := newFakeBrowser(t, e)
	b2.login("alice")

	b1.dial("c1", "+15550123")
	tc := e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b1)
	assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")

	// Another tab of a user without a limit of its own: refused by the
	// gateway's limit, and the trunk never hears of it.
	_, sdp := b2.offer("c2")
	b2.send(signaling.Dial{ID: "c2", To: "+15550124", SDP: sdp, Ref: "r2"})
	r := expect[signaling.ErrorReply](t, b2)
	if r.Code != signaling.CodeOverCapacity || r.CallID != "c2" || r.Ref != "r2" || !strings.Contains(r.Message, "capacity") {
		t.Errorf("second dial: %+v, want over_capacity for c2", r)
	}
	if n := e.trunk.inviteCount(); n != 1 {
		t.Errorf("the trunk got %d INVITEs, want 1 (none for the refused dial)", n)
	}

	// An inbound call for alice: 503 with Retry-After, no browser rings.
	res := rawInvite(t, e, "+15550100")
	if res.code != 503 {
		t.Fatalf("INVITE answered %d, want 503\n%s", res.code, res.text)
	}
	if got, want := res.header("Retry-After"), strconv.Itoa(int(capacityRetryAfter/time.Second)); got != want {
		t.Errorf("Retry-After %q, want %q\n%s", got, want, res.text)
	}
	for _, b := range []*fakeBrowser{b1, b2} {
		b.send(signaling.Ping{Ref: "sync"})
		expect[signaling.Pong](t, b) // an incoming would come first and fail this
	}

	_, metrics := httpGet(t, e, "/metrics")
	for _, want := range []string{
		`webtrunk_calls_max_concurrent 1`,
		`webtrunk_dials_denied_total{reason="over_capacity"} 1`,
		`webtrunk_calls_over_capacity_total{direction="outbound"} 1`,
		`webtrunk_calls_over_capacity_total{direction="inbound"} 1`,
		`webtrunk_calls_total{direction="inbound",outcome="over_capacity"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// The call ends: its place is free for the next one.
	b1.send(signaling.Hangup{CallID: "c1"})
	if h := expect[signaling.HangupEvent](t, b1); h.Reason != signaling.ReasonLocalHangup {
		t.Fatalf("hangup %+v, want local_hangup", h)
	}
	assertReadyz(t, e, http.StatusOK, "ready")
	waitBYE(t, tc)
	b2.dial("c3", "+15550124")
	e.trunk.nextCall(t)
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
	b := newFakeBrowser(t, e)
	b.login("alice")
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"trunk busy", func(t *testing.T) {
			e.trunk.setMode(trunkBusy)
			defer e.trunk.setMode(trunkAnswer)
			dialIn(t, b, "busy", "+15550123")
			if h := expectProgress[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonBusy || h.SIPCode != 486 {
				t.Fatalf("hangup %+v, want busy 486", h)
			}
		}},
		{"browser hangs up while ringing", func(t *testing.T) {
			e.trunk.setMode(trunkRingForever)
			defer e.trunk.setMode(trunkAnswer)
			dialIn(t, b, "ring", "+15550123")
			expectProgress[signaling.Ringing](t, b)
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			b.send(signaling.Hangup{CallID: "ring"})
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonLocalHangup {
				t.Fatalf("hangup %+v, want local_hangup", h)
			}
			select {
			case ic := <-e.trunk.ringing:
				select {
				case <-ic.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the trunk got no CANCEL")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the trunk saw no INVITE")
			}
		}},
		{"offer without a common codec", func(t *testing.T) {
			_, sdp := b.offer("g722")
			b.send(signaling.Dial{ID: "g722", To: "+15550123", SDP: withoutCommonCodec(sdp)})
			if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
				t.Fatalf("reply %+v, want no_common_codec", r)
			}
		}},
		{"trunk hangs up", func(t *testing.T) {
			dialIn(t, b, "bye", "+15550123")
			tc := e.trunk.nextCall(t)
			expectProgress[signaling.Connected](t, b)
			tc.hangup()
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
				t.Fatalf("hangup %+v, want remote_hangup", h)
			}
		}},
		{"inbound cancelled by the trunk", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, errs := e.trunk.dial(ctx, "+15550100")
			expect[signaling.Incoming](t, b)
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			cancel()
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonCancelled {
				t.Fatalf("hangup %+v, want cancelled", h)
			}
			if err := dialResult(t, errs); err == nil {
				t.Error("the cancelled INVITE was answered")
			}
		}},
		{"inbound rejected after a failed accept", func(t *testing.T) {
			_, errs := e.trunk.dial(context.Background(), "+15550100")
			in := expect[signaling.Incoming](t, b)
			_, sdp := b.offer(in.CallID)
			b.send(signaling.Accept{CallID: in.CallID, SDP: withoutCommonCodec(sdp)})
			if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeNoCommonCodec {
				t.Fatalf("accept with a G.722 offer: %+v, want no_common_codec", r)
			}
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity") // still ringing
			b.send(signaling.Reject{CallID: in.CallID})
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRejected {
				t.Fatalf("hangup %+v, want rejected", h)
			}
			var se *sip.StatusError
			if err := dialResult(t, errs); !errors.As(err, &se) || se.Code != 603 {
				t.Errorf("trunk dial ended with %v, want 603", err)
			}
		}},
		{"inbound answered, then hung up by the trunk", func(t *testing.T) {
			calls, errs := e.trunk.dial(context.Background(), "+15550100")
			in := expect[signaling.Incoming](t, b)
			c, sdp := b.offer(in.CallID)
			b.send(signaling.Accept{CallID: in.CallID, SDP: sdp})
			c.answered(t, expect[signaling.Answer](t, b))
			expect[signaling.Connected](t, b)
			var tc *trunkCall
			select {
			case tc = <-calls:
			case err := <-errs:
				t.Fatalf("trunk dial: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the trunk's call was not answered")
			}
			assertReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
			tc.hangup()
			if h := expect[signaling.HangupEvent](t, b); h.Reason != signaling.ReasonRemoteHangup {
				t.Fatalf("hangup %+v, want remote_hangup", h)
			}
		}},
		{"browser connection closed", func(t *testing.T) {
			b2 := newFakeBrowser(t, e)
			b2.login("alice")
			dialIn(t, b2, "gone", "+15550123")
			tc := e.trunk.nextCall(t)
			expectProgress[signaling.Connected](t, b2)
			b2.close()
			waitBYE(t, tc)
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
	b.dial("last", "+15550123")
	e.trunk.nextCall(t)
	expectProgress[signaling.Connected](t, b)
}

// TestInboundEndWaitsForAccept: a CANCEL from the trunk that arrives while
// a browser's accept is being set up does not end the call under that
// accept; if the accept then fails, the call ends as cancelled and its
// place in the gateway's limit is given back.
func TestInboundEndWaitsForAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{maxConcurrent: 1})
	b := newFakeBrowser(t, e)
	b.login("alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errs := e.trunk.dial(ctx, "+15550100")
	inc := expect[signaling.Incoming](t, b)
	in := ringingCall(t, e, inc.CallID)
	// Hold the call where accept holds it while it sets up the browser leg.
	in.mu.Lock()
	in.state = inboundAccepting
	in.mu.Unlock()
	cancel()
	if err := dialResult(t, errs); err == nil {
		t.Fatal("the cancelled INVITE was answered")
	}
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
	b.send(signaling.Ping{Ref: "sync"})
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

// dialIn is fakeBrowser.dial failing t, the test or subtest that calls
// it, rather than the browser's own test.
func dialIn(t *testing.T, b *fakeBrowser, id, to string) *browserCall {
	t.Helper()
	c, sdp := b.offer(id)
	b.send(signaling.Dial{ID: id, To: to, SDP: sdp})
	a := expect[signaling.Answer](t, b)
	if a.CallID != id {
		t.Fatalf("answer for %q, want %q", a.CallID, id)
	}
	c.answered(t, a)

	return c
}

// withoutCommonCodec renames the codecs of a browser's offer so that it
// passes the signaling checks (it has an active audio section) but offers
// none of Opus, PCMU and PCMA: the call fails while its browser leg is set
// up, after it was admitted.
func withoutCommonCodec(sdp string) string {
	return strings.NewReplacer(" opus/", " G722/", " PCMU/", " G729/", " PCMA/", " G729/").Replace(sdp)
}

// dialResult waits for the error of a fake trunk's dial that must fail.
func dialResult(t *testing.T, errs <-chan error) error {
	t.Helper()
	select {
	case err := <-errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the trunk's INVITE did not end")

		return nil
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
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+e.http+path, nil)
	if err != nil {
		t.Fatal(err)
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

// sipResponse is a final SIP response as it arrived on the wire.
type sipResponse struct {
	code int
	text string
}

// header returns the value of the first header named name (RFC 3261
// section 7.3.1: names are case-insensitive), "" when absent.
func (r sipResponse) header(name string) string {
	for line := range strings.SplitSeq(r.text, "\r\n") {
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}

	return ""
}

// rawInvite sends the gateway an INVITE for did from a socket of its own on
// 127.0.0.1 (an allowed source of the trunk "fake"), written by hand so
// that the test sees every header of the answer. It returns the first final
// response and acknowledges it (RFC 3261 section 17.1.1.3).
func rawInvite(t *testing.T, e *env, did string) sipResponse {
	t.Helper()
	gw, ok := e.gw.SIPAddr("udp")
	if !ok {
		t.Fatal("the gateway has no UDP SIP listener")
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	conn := pc.(*net.UDPConn) //nolint:forcetypeassert // a UDP socket
	local := conn.LocalAddr().String()
	dst := net.UDPAddrFromAddrPort(gw)
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	uri := "sip:" + did + "@" + gw.String()
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	common := "Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + nonce + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:+15551230000@127.0.0.1>;tag=" + nonce + "\r\n"
	callID := "Call-ID: capacity-" + nonce + "@127.0.0.1\r\n"
	invite := "INVITE " + uri + " SIP/2.0\r\n" + common +
		"To: <" + uri + ">\r\n" + callID + "CSeq: 1 INVITE\r\n" +
		"Contact: <sip:caller@" + local + ">\r\n" +
		"Content-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp
	if _, err := conn.WriteToUDP([]byte(invite), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no final response to the INVITE: %v", err)
		}
		text := string(buf[:n])
		status, _, _ := strings.Cut(text, "\r\n")
		fields := strings.Fields(status)
		if len(fields) < 2 || fields[0] != "SIP/2.0" {
			continue // a request, not a response
		}
		code, err := strconv.Atoi(fields[1])
		if err != nil || code < 200 {
			continue
		}
		res := sipResponse{code: code, text: text}
		if code >= 300 {
			ack := "ACK " + uri + " SIP/2.0\r\n" + common + "To: " + res.header("To") + "\r\n" + callID +
				"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
			if _, err := conn.WriteToUDP([]byte(ack), dst); err != nil {
				t.Fatal(err)
			}
		}

		return res
	}
}
