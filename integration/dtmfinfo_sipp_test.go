package integration

import (
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/sipp"
)

// messageBody returns the body of a SIP message of sipp's trace.
func messageBody(m sipp.Message) string {
	_, body, _ := strings.Cut(m.Text, "\n\n")

	return strings.TrimSpace(body)
}

// TestDTMFInfo: a carrier (sipp) that answers without telephone-event
// takes digits by SIP INFO, with either body type: the browser's digits,
// two from a dtmf message and one pressed in its WebRTC stream, reach it
// as one INFO each, in order; its own INFO digits of both body types reach
// the browser as dtmf events; its malformed INFO gets 400 and its INFO of
// another type 415, and the call goes on until the browser hangs up.
func TestDTMFInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, extra string
		ctype       string
		bodies      []string
	}{
		{"auto, dtmf-relay", "    dtmf: auto", "application/dtmf-relay", []string{
			"Signal=1\nDuration=250", "Signal=2\nDuration=250", "Signal=3\nDuration=",
		}},
		{"info, dtmf", "    dtmf: info\n    dtmf_info: dtmf", "application/dtmf", []string{"1", "2", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uas := runScenario(t, "uas_info.xml", sipp.Options{})
			e := startCarrierGateway(t, uas.Port(), 0, "", tt.extra)
			b := e.login(t, userAlice)
			id, peer := dialCarrier(t, b)

			b.ws.Send(t, signaling.DTMF{CallID: id, Digits: "12"})
			peer.SendDigits("3")
			if got := expectDigits(t, b, id, 2); got != "79" {
				t.Errorf("browser got digits %q by INFO, want 79", got)
			}
			e.logs.WaitLine(t, "sip INFO with an unsupported body refused")
			b.ws.HangUp(t, id)
			uas.Wait(stepTimeout)

			infos := uas.Received("INFO ", false)
			if len(infos) != 3 {
				t.Fatalf("carrier got %d INFOs, want 3", len(infos))
			}
			for i, m := range infos {
				body := strings.ReplaceAll(messageBody(m), "\r", "")
				if m.Header("Content-Type") != tt.ctype || !strings.HasPrefix(body, tt.bodies[i]) {
					t.Errorf("INFO %d: Content-Type %q body %q, want %q %q", i, m.Header("Content-Type"), body, tt.ctype, tt.bodies[i])
				}
			}
			if inv := uas.MustReceive("INVITE "); !strings.Contains(inv.Header("Allow"), "INFO") {
				t.Errorf("INVITE Allow %q lacks INFO", inv.Header("Allow"))
			}
			if bad := uas.MustReceive("SIP/2.0 400"); !strings.Contains(bad.Header("Warning"), "Signal") {
				t.Errorf("400 Warning %q, want the bad Signal named", bad.Header("Warning"))
			}
			if un := uas.MustReceive("SIP/2.0 415"); !strings.Contains(un.Header("Accept"), "application/dtmf-relay") {
				t.Errorf("415 Accept %q", un.Header("Accept"))
			}
		})
	}
}
