package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// adminJSON sends method path to the admin API with the token, fails
// unless the status is want, and decodes the body into v (when not nil).
func adminJSON(t *testing.T, e *env, method, path string, want int, v any) {
	t.Helper()
	code, body := adminRequest(t, e, method, path, bearer(testconfig.AdminToken))
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, body, want)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
}

// callList is the body of GET /v1/calls.
type callList struct {
	Calls []apiCall `json:"calls"`
}

// TestAdminHangsUpLiveCall: the admin API lists a live call with its
// state and quality, and hanging it up sends BYE to the trunk and hangup
// admin_hangup to the browser; an unknown call is 404.
func TestAdminHangsUpLiveCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, p, tc := callUp(t, e)
	tc.Heard().WaitSamples(t, secondOfAudio)
	p.Heard().WaitSamples(t, secondOfAudio)

	var list callList
	adminJSON(t, e, http.MethodGet, "/v1/calls", http.StatusOK, &list)
	if len(list.Calls) != 1 {
		t.Fatalf("calls %+v, want one", list.Calls)
	}
	c := list.Calls[0]
	if c.ID != "c1" || c.State != apiStateConnected || c.User != "alice" || c.To != "+15550123" || c.Trunk != "fake" ||
		c.Answer.IsZero() || c.Uplink.Packets == 0 || c.Downlink.Packets == 0 || c.Downlink.MOS < 4 {
		t.Errorf("live call %+v", c)
	}
	adminJSON(t, e, http.MethodGet, "/v1/calls?user=bob", http.StatusOK, &list)
	if len(list.Calls) != 0 {
		t.Errorf("bob's calls %+v, want none", list.Calls)
	}
	adminJSON(t, e, http.MethodDelete, "/v1/calls/nope", http.StatusNotFound, nil)

	adminJSON(t, e, http.MethodDelete, "/v1/calls/c1", http.StatusOK, nil)
	b.ExpectHangup(t, "c1", signaling.ReasonAdminHangup, 0)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	e.logs.WaitLine(t, "admin: call hung up")
	// The session leaves the list once its record is written, just after
	// the hangup reached the browser.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		adminJSON(t, e, http.MethodGet, "/v1/calls", http.StatusOK, &list)
		if len(list.Calls) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls 10 s after the hang-up %+v", list.Calls)
		}
	}
}

// TestAdminLocksUser: a locked user's calls end with admin_hangup, its
// WebSockets close, and new logins are refused with user_locked until an
// unlock; other users are untouched; the trunks list shows the trunk.
func TestAdminLocksUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b, _, tc := callUp(t, e)
	bob := login(t, e, "bob")

	adminJSON(t, e, http.MethodPut, "/v1/users/alice/lock", http.StatusOK, nil)
	b.ExpectHangup(t, "c1", signaling.ReasonAdminHangup, 0)
	tc.WaitEnded(t, faketrunk.EndByeReceived)
	if code, _ := b.WaitClosed(t); code != websocket.StatusPolicyViolation {
		t.Errorf("alice's WebSocket closed with %d, want 1008", code)
	}
	var locked struct {
		Users []string `json:"users"`
	}
	adminJSON(t, e, http.MethodGet, "/v1/users/locked", http.StatusOK, &locked)
	if len(locked.Users) != 1 || locked.Users[0] != "alice" {
		t.Errorf("locked %v", locked.Users)
	}
	again := newTab(t, e)
	again.Send(t, signaling.Auth{Version: signaling.Version, User: "alice", Password: testPassword, Ref: "l"})
	if r := expect[signaling.ErrorReply](t, again); r.Code != signaling.CodeUserLocked {
		t.Errorf("login of a locked user: %+v", r)
	}
	bob.Send(t, signaling.Ping{Ref: "still"})
	expect[signaling.Pong](t, bob)

	adminJSON(t, e, http.MethodDelete, "/v1/users/alice/lock", http.StatusOK, nil)
	login(t, e, "alice")

	var trunks struct {
		Trunks []apiTrunk `json:"trunks"`
	}
	adminJSON(t, e, http.MethodGet, "/v1/trunks", http.StatusOK, &trunks)
	if len(trunks.Trunks) != 1 || trunks.Trunks[0].Name != "fake" || trunks.Trunks[0].Calls != 0 {
		t.Errorf("trunks %+v", trunks.Trunks)
	}
	var disc struct {
		Connections int `json:"connections"`
	}
	adminJSON(t, e, http.MethodPost, "/v1/users/bob/disconnect", http.StatusOK, &disc)
	if disc.Connections != 1 {
		t.Errorf("disconnected %d connections of bob, want 1", disc.Connections)
	}
	if code, _ := bob.WaitClosed(t); code != websocket.StatusPolicyViolation {
		t.Errorf("bob's WebSocket closed with %d, want 1008", code)
	}
}

// TestAdminHangsUpRingingCall: an inbound call still ringing is listed as
// ringing, and hanging it up answers the trunk 603 and tells the browser
// admin_hangup.
func TestAdminHangsUpRingingCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	b := login(t, e, "alice")
	tc := trunkDial(t, e, "+15550100")
	in := expect[signaling.Incoming](t, b)
	var list callList
	adminJSON(t, e, http.MethodGet, "/v1/calls", http.StatusOK, &list)
	if len(list.Calls) != 1 || list.Calls[0].State != apiStateRinging || list.Calls[0].ID != in.CallID {
		t.Fatalf("calls %+v, want %s ringing", list.Calls, in.CallID)
	}
	adminJSON(t, e, http.MethodDelete, "/v1/calls/"+in.CallID, http.StatusOK, nil)
	b.ExpectHangup(t, in.CallID, signaling.ReasonAdminHangup, 0)
	tc.WaitEnded(t, faketrunk.EndRejected)
	if code := tc.FinalCode(); code != 603 {
		t.Errorf("the trunk got %d, want 603", code)
	}
}
