package integration

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/sipp"
)

// TestCapacitySippCaller: with calls.max_concurrent 1 and one call up, a
// real SIP caller (sipp, Debian package sip-tester) dialling a routed DID is
// refused with 503 Service Unavailable and Retry-After 5 (RFC 3261 sections
// 21.5.4 and 20.33), checked by the sipp scenario itself; its ACK ends the
// INVITE server transaction, so the 503 is not retransmitted (sections
// 17.1.1.3 and 17.2.1); no browser is rung and /readyz answers 503. Once the
// first call has ended, the same caller gets through to the browser.
func TestCapacitySippCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxConcurrent: 1})
	b := e.login(t, userAlice)
	waitReadyz(t, e, http.StatusOK, "ready")

	// The one call the gateway may carry: Alice calls out.
	first := b.dialConnected(t, numberOK)
	waitReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")

	refused := startSipp(t, "uac_capacity.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice, Echo: true}, 0)
	refused.Wait(stepTimeout)
	if n := len(refused.Received("SIP/2.0 503 ", true)); n != 1 {
		t.Errorf("sipp received %d 503 responses, want exactly 1 (a retransmission means the gateway did not match the ACK)", n)
	}
	b.ws.None(t, 500*time.Millisecond, "an incoming call while the gateway is full", gobrowser.IsType(signaling.TypeIncoming))
	if n := len(e.trunk.Requests(sipmsg.INVITE)); n != 1 {
		t.Errorf("trunk received %d INVITEs, want 1 (only the first call's)", n)
	}
	waitReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
	stillHearing(t, first.peer, first.trunk)

	// The first call ends; its slot is free again.
	b.ws.HangUp(t, first.id)
	first.trunk.WaitEnded(t, faketrunk.EndByeReceived)
	waitReadyz(t, e, http.StatusOK, "ready")

	// The same caller now rings Alice, who answers; sipp hangs up 8 s
	// after its ACK.
	admitted := startSipp(t, "uac_did.xml", sipp.Options{Remote: e.sipAddr.String(), Service: didAlice, Echo: true}, 0)
	in := b.ws.ExpectIncoming(t, didAlice)
	if in.From != "+15551230000" {
		t.Errorf("incoming from %q, want +15551230000", in.From)
	}
	peer := b.accept(t, in.CallID)
	b.ws.Expect(t, "connected "+in.CallID, gobrowser.Is[signaling.Connected](in.CallID))
	peer.WaitConnected(t)
	peer.Heard().WaitTone(t, "browser (its tone echoed by sipp)", 0, browserToneHz, trunkToneHz)
	waitReadyz(t, e, http.StatusServiceUnavailable, "at call capacity")
	b.ws.ExpectHangup(t, in.CallID, signaling.ReasonRemoteHangup, 0)
	admitted.Wait(stepTimeout)
	waitReadyz(t, e, http.StatusOK, "ready")
}

// waitReadyz polls the gateway's GET /readyz until it answers status with a
// body containing want, and fails the test after stepTimeout.
func waitReadyz(t *testing.T, e *env, status int, want string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(stepTimeout)
	var last string
	for {
		code, body, err := getReadyz(t.Context(), client, e.httpURL+"/readyz")
		if err == nil && code == status && strings.Contains(body, want) {
			return
		}
		last = strings.TrimSpace(body)
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz: %d %q, want %d %q within %v", code, last, status, want, stepTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getReadyz returns the status code and body of one GET of url.
func getReadyz(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))

	return resp.StatusCode, string(body), err
}
