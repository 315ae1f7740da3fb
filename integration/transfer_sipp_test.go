package integration

import (
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/sipp"
)

// Numbers of the transfer tests: alice may dial transferTarget (+1*) and
// not transferForbidden (+1900* is denied).
const (
	transferTarget    = "+15550199"
	transferForbidden = "+19005550100"
)

// expectError takes the next error about call id and fails t unless its
// code is code.
func expectError(t *testing.T, b *browser, id string, code signaling.Code) signaling.ErrorReply {
	t.Helper()
	m := b.ws.Expect(t, "error "+string(code), gobrowser.Is[signaling.ErrorReply](id)).(signaling.ErrorReply)
	if m.Code != code {
		t.Fatalf("error %+v, want code %s", m, code)
	}

	return m
}

// TestTransferByRefer: a browser's blind transfer of a connected call to a
// carrier (sipp) with transfer: refer. A number outside the user's dial
// rules is refused with forbidden_number and no REFER reaches the carrier;
// an allowed one goes out as a REFER in the call's dialog with Refer-To
// the number and Referred-By, and the carrier's NOTIFYs (100, then the
// final sipfrag) are answered 200. On a final 200 the call ends with
// reason transferred (the gateway sends BYE); on 486 the browser gets
// transfer_failed with the status and the call goes on until it hangs up.
func TestTransferByRefer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, code, reason string
		success            bool
	}{
		{"success", "200", "OK", true},
		{"target busy", "486", "Busy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uas := runScenario(t, "uas_refer.xml", sipp.Options{Vars: map[string]string{"fcode": tt.code, "freason": tt.reason}})
			e := startCarrierGateway(t, uas.Port(), 0, "", "    transfer: refer")
			b := e.login(t, userAlice)
			id, _ := dialCarrier(t, b)

			b.ws.Send(t, signaling.Transfer{CallID: id, To: transferForbidden, Ref: "bad"})
			if m := expectError(t, b, id, signaling.CodeForbiddenNumber); m.Ref != "bad" {
				t.Errorf("forbidden transfer error ref %q, want bad", m.Ref)
			}
			b.ws.Send(t, signaling.Transfer{CallID: id, To: transferTarget, Ref: "t1"})
			if tt.success {
				b.ws.ExpectHangup(t, id, signaling.ReasonTransferred, 0)
			} else {
				m := expectError(t, b, id, signaling.CodeTransferFailed)
				if m.Ref != "t1" || !strings.Contains(m.Message, "486") {
					t.Errorf("transfer failure %+v, want ref t1 and the status 486", m)
				}
				// The call goes on until the browser ends it: a local hangup, not
				// a transfer.
				b.ws.HangUp(t, id)
			}
			uas.Wait(stepTimeout)

			refers := uas.Received("REFER ", false)
			if len(refers) != 1 {
				t.Fatalf("carrier got %d REFERs, want 1 (none for the forbidden number)", len(refers))
			}
			if rt := refers[0].Header("Refer-To"); !strings.HasPrefix(rt, "<sip:"+transferTarget+"@127.0.0.1") {
				t.Errorf("Refer-To %q, want the target at the trunk", rt)
			}
			if rb := refers[0].Header("Referred-By"); !strings.HasPrefix(rb, "<sip:") {
				t.Errorf("Referred-By %q", rb)
			}
			if oks := uas.Received("SIP/2.0 200", false); len(oks) != 2 {
				t.Errorf("carrier got %d 200s, want 2 (one per NOTIFY)", len(oks))
			}
			e.logs.WaitLine(t, "transfer progress")
		})
	}
}

// TestTransferOff: a transfer of a call on a trunk without transfer: refer
// is refused with transfer_not_allowed, nothing reaches the carrier, and
// the call goes on.
func TestTransferOff(t *testing.T) {
	t.Parallel()
	uas := answeringCarrier(t)
	e := startCarrierGateway(t, uas.Port(), 0, "", "")
	b := e.login(t, userAlice)
	id, _ := dialUntilConnected(t, b)
	b.ws.Send(t, signaling.Transfer{CallID: id, To: transferTarget})
	expectError(t, b, id, signaling.CodeTransferNotAllowed)
	b.ws.HangUp(t, id)
	uas.Wait(stepTimeout)
	if refers := uas.Received("REFER ", false); len(refers) != 0 {
		t.Errorf("carrier got %d REFERs, want none", len(refers))
	}
}

// TestTransferFromTrunk: a PBX (sipp) that tries to transfer the browser's
// call: its REFER without Refer-To gets 400 and its REFER to a number 603
// Decline (the gateway does not carry out transfers asked by trunks), and
// the call goes on until the browser hangs up.
func TestTransferFromTrunk(t *testing.T) {
	t.Parallel()
	uas := runScenario(t, "uas_refers_call.xml", sipp.Options{})
	e := startCarrierGateway(t, uas.Port(), 0, "", "    transfer: refer")
	b := e.login(t, userAlice)
	id := newCallID()
	b.ws.Dial(t, id, carrierNumber, newPeer(t))
	b.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](id))
	e.logs.WaitLine(t, "sip REFER from the trunk declined")
	b.ws.HangUp(t, id)
	uas.Wait(stepTimeout)
	if d := uas.MustReceive("SIP/2.0 603"); !strings.Contains(d.Header("Warning"), "not accepted") {
		t.Errorf("603 Warning %q", d.Header("Warning"))
	}
	if bad := uas.MustReceive("SIP/2.0 400"); !strings.Contains(bad.Header("Warning"), "Refer-To") {
		t.Errorf("400 Warning %q", bad.Header("Warning"))
	}
}
