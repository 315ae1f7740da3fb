package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/telephony"
)

// extensionConfig makes alice extension 201 on the fake trunk, which
// also plays the registrar, with a short resume window.
func extensionConfig() testConfig {
	return testConfig{edit: func(c *config.Config) {
		c.Calls.ResumeWindow = 300 * time.Millisecond
		for i := range c.Auth.Users {
			if c.Auth.Users[i].ID == "alice" {
				c.Auth.Users[i].SIPAccount = &config.SIPAccount{
					Registrar: c.Trunks[0].Host + ":" + strconv.Itoa(c.Trunks[0].Port), Username: "201",
					Expiry: time.Minute, Transport: telephony.TransportUDP,
				}
			}
		}
	}}
}

// registers returns the REGISTERs the trunk received with Expires value
// expires ("0": removals).
func registers(e *env, expires string) []*sipmsg.Request {
	var out []*sipmsg.Request
	for _, r := range e.trunk.Requests(sipmsg.REGISTER) {
		if h := r.GetHeader("Expires"); h != nil && (h.Value() == "0") == (expires == "0") {
			out = append(out, r)
		}
	}

	return out
}

// TestExtensionRegistration: the first browser of a user with a
// sip_account registers its extension (contact at the gateway with
// +sip.instance), is told so, and calls to the extension ring it; the
// admin API and the metrics show the state; when the browser leaves, the
// binding is removed after the resume window.
func TestExtensionRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, extensionConfig())
	b := login(t, e, "alice")
	if m := expect[signaling.Extension](t, b); m.Status != signaling.ExtensionRegistered || m.Extension != "201" || m.SIPCode != 200 {
		t.Fatalf("extension %+v, want registered", m)
	}
	regs := registers(e, "300")
	if len(regs) != 1 {
		t.Fatalf("%d REGISTERs, want 1", len(regs))
	}
	ct := regs[0].Contact().Value()
	if want := "<sip:201@" + e.sip.String() + ">"; !strings.HasPrefix(ct, want) || !strings.Contains(ct, `+sip.instance="<urn:uuid:`) {
		t.Errorf("Contact %q, want %s with +sip.instance", ct, want)
	}
	// A second browser of the same user registers nothing more.
	b2 := login(t, e, "alice")
	if m := expect[signaling.Extension](t, b2); m.Status != signaling.ExtensionRegistered {
		t.Errorf("second browser told %+v", m)
	}

	tc := e.trunk.Dial(t, e.sip, "201", faketrunk.DialOptions{From: "+15551230000"})
	id := ""
	for _, br := range []*gobrowser.Client{b, b2} {
		in := expect[signaling.Incoming](t, br)
		if in.To != "201" {
			t.Errorf("incoming %+v", in)
		}
		id = in.CallID
	}
	b.Send(t, signaling.Reject{CallID: id})
	tc.WaitEnded(t, faketrunk.EndRejected)

	var list struct {
		Instance   string         `json:"instance"`
		Extensions []apiExtension `json:"extensions"`
	}
	adminJSON(t, e, http.MethodGet, "/v1/extensions", http.StatusOK, &list)
	if len(list.Extensions) != 1 || list.Extensions[0].Status != "registered" || list.Extensions[0].Browsers != 2 ||
		!strings.HasPrefix(list.Instance, "urn:uuid:") {
		t.Errorf("admin extensions %+v", list)
	}
	if _, m := adminGet(t, e, "/metrics"); !strings.Contains(m, `webtrunk_extension_registered{user="alice"} 1`) {
		t.Error("metrics lack the registered extension")
	}

	b.Close()
	b2.Close()
	for deadline := time.Now().Add(10 * time.Second); len(registers(e, "0")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no REGISTER with Expires: 0 after the last browser left")
		}
	}
	adminJSON(t, e, http.MethodGet, "/v1/extensions", http.StatusOK, &list)
	if len(list.Extensions) != 0 {
		t.Errorf("extensions after the browsers left: %+v", list.Extensions)
	}
}

// TestExtensionForbidden: a registrar that refuses the account (403)
// shows as forbidden to the browser, in the metrics and the admin API,
// and the user's calls through the trunk work all the same.
func TestExtensionForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, extensionConfig(), faketrunk.WithRegisterStatus(403))
	b := login(t, e, "alice")
	if m := expect[signaling.Extension](t, b); m.Status != signaling.ExtensionForbidden || m.SIPCode != 403 {
		t.Fatalf("extension %+v, want forbidden 403", m)
	}
	dial(t, b, "c1", "+15550123")
	e.trunk.NextCall(t)
	b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
	var list struct {
		Extensions []apiExtension `json:"extensions"`
	}
	adminJSON(t, e, http.MethodGet, "/v1/extensions", http.StatusOK, &list)
	if len(list.Extensions) != 1 || list.Extensions[0].Status != signaling.ExtensionForbidden || list.Extensions[0].LastCode != 403 {
		t.Errorf("admin extensions %+v", list)
	}
	if _, m := adminGet(t, e, "/metrics"); !strings.Contains(m, `webtrunk_extension_register_failures_total{code="403",user="alice"}`) {
		t.Error("metrics lack the refused REGISTER")
	}
}

// TestExtensionDrain: a draining gateway removes its extensions' bindings
// at once, while its calls go on through the grace period.
func TestExtensionDrain(t *testing.T) {
	t.Parallel()
	tc := extensionConfig()
	tc.grace = "10s"
	e := newEnv(t, tc)
	b := login(t, e, "alice")
	expect[signaling.Extension](t, b)
	dial(t, b, "c1", "+15550123")
	call := e.trunk.NextCall(t)
	b.Expect(t, "connected c1", gobrowser.Is[signaling.Connected]("c1"))
	go e.stop()
	if m := expect[signaling.Extension](t, b); m.Status != signaling.ExtensionUnregistered {
		t.Errorf("extension %+v while draining, want unregistered", m)
	}
	if len(registers(e, "0")) != 1 {
		t.Errorf("no REGISTER with Expires: 0 when the drain began")
	}
	if ended, _ := call.Ended(); ended != "" {
		t.Errorf("the call ended (%s) when the drain began", ended)
	}
	b.Send(t, signaling.Hangup{CallID: "c1"})
	b.ExpectHangup(t, "c1", signaling.ReasonLocalHangup, 0)
}
