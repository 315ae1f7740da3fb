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

// transferCall starts a gateway whose trunk "first" is uas with the trunk
// configuration lines extra, signs alice in and has her dial carrierNumber
// from a new Go peer: the browser, the call id and the peer once the call
// and its media are connected.
func transferCall(t *testing.T, uas *sipp.Proc, extra string) (*env, *browser, string, *gobrowser.Peer) {
	t.Helper()
	e := startCarrierGateway(t, uas.Port(), 0, "", extra)
	b := e.login(t, userAlice)
	id, peer := dialCarrier(t, b)

	return e, b, id, peer
}

// hangUp has the browser end call id and waits for its hangup and for
// uas to finish.
func hangUp(t *testing.T, b *browser, id string, uas *sipp.Proc) {
	t.Helper()
	b.ws.HangUp(t, id)
	uas.Wait(stepTimeout)
}

// checkReceived fails t unless uas received n messages starting with
// prefix (retransmissions left out); why says which.
func checkReceived(t *testing.T, uas *sipp.Proc, prefix string, n int, why string) []sipp.Message {
	t.Helper()
	ms := uas.Received(prefix, false)
	if len(ms) != n {
		t.Errorf("sipp got %d %q, want %d (%s)", len(ms), prefix, n, why)
	}

	return ms
}

// checkTransferInvite fails t unless the second INVITE uas received calls
// target from the user's caller ID (+15550100): the call the gateway
// placed for a transfer.
func checkTransferInvite(t *testing.T, uas *sipp.Proc, target string) {
	t.Helper()
	invites := uas.Received("INVITE ", false)
	if len(invites) != 2 || !strings.HasPrefix(invites[1].Text, "INVITE sip:"+target+"@") {
		t.Fatalf("sipp got INVITEs %v, want the call and one to %s", invites, target)
	}
	if from := invites[1].Header("From"); !strings.Contains(from, "+15550100") {
		t.Errorf("the transfer's INVITE From %q, want the user's caller ID", from)
	}
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
			e, b, id, _ := transferCall(t, uas, "    transfer: refer")

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
				hangUp(t, b, id, uas)
			}
			uas.Wait(stepTimeout)

			refers := checkReceived(t, uas, "REFER ", 1, "none for the forbidden number")
			if len(refers) != 1 {
				t.FailNow()
			}
			if rt := refers[0].Header("Refer-To"); !strings.HasPrefix(rt, "<sip:"+transferTarget+"@127.0.0.1") {
				t.Errorf("Refer-To %q, want the target at the trunk", rt)
			}
			if rb := refers[0].Header("Referred-By"); !strings.HasPrefix(rb, "<sip:") {
				t.Errorf("Referred-By %q", rb)
			}
			checkReceived(t, uas, "SIP/2.0 200", 2, "one per NOTIFY")
			e.logs.WaitLine(t, "transfer progress")
		})
	}
}

// TestTransferBridged: a browser's transfer on a carrier (sipp) that takes
// no REFER (transfer: bridge): the gateway calls the target itself with the
// user's caller ID and, once it answers, ends the browser's call with
// reason transferred while the carrier's two calls stay bridged; no REFER
// reaches the carrier; when the target hangs up the gateway ends the
// first call with a BYE.
func TestTransferBridged(t *testing.T) {
	t.Parallel()
	uas := startSipp(t, "uas_bridged_transfer.xml", sipp.Options{Echo: true, Extra: []string{"-m", "2"}}, 0)
	e, b, id, _ := transferCall(t, uas, "    transfer: bridge")
	b.ws.Send(t, signaling.Transfer{CallID: id, To: transferTarget, Ref: "t1"})
	b.ws.ExpectHangup(t, id, signaling.ReasonTransferred, 0)
	uas.Wait(stepTimeout)
	e.logs.WaitLine(t, `msg="call ended"`)
	checkTransferInvite(t, uas, transferTarget)
	checkReceived(t, uas, "REFER ", 0, "the gateway transfers")
	checkReceived(t, uas, "BYE ", 1, "the first call's, after the target hung up")
}

// TestTransferOff: a transfer of a call on a trunk without transfer: refer
// is refused with transfer_not_allowed, nothing reaches the carrier, and
// the call goes on.
func TestTransferOff(t *testing.T) {
	t.Parallel()
	uas := answeringCarrier(t)
	_, b, id, _ := transferCall(t, uas, "")
	b.ws.Send(t, signaling.Transfer{CallID: id, To: transferTarget})
	expectError(t, b, id, signaling.CodeTransferNotAllowed)
	hangUp(t, b, id, uas)
	checkReceived(t, uas, "REFER ", 0, "transfers are off")
}

// TestTransferFromTrunk: a PBX (sipp, echoing RTP) transfers the browser's
// call. Its REFER without Refer-To gets 400 and its REFER to a number
// outside the user's dial rules 403, and the call goes on; its REFER to an
// allowed number gets 202 and NOTIFY 100 Trying, the gateway calls the
// number on the same trunk with the user's caller ID, and when the new
// party answers (with PCMA) the browser gets referred, hears its own tone
// come back through the new party, and the PBX gets the final NOTIFY 200
// and a BYE for the old call. The browser's hangup ends the new call.
func TestTransferFromTrunk(t *testing.T) {
	t.Parallel()
	uas := startSipp(t, "uas_transfers_call.xml", sipp.Options{Echo: true, Extra: []string{"-m", "2"}}, 0)
	e, b, id, peer := transferCall(t, uas, "    transfer: refer")
	peer.Heard().WaitTone(t, "the browser, through the PBX", 0, gobrowser.DefaultToneHz, 0)

	m := b.ws.Expect(t, "referred", gobrowser.Is[signaling.Referred](id)).(signaling.Referred)
	if m.To != transferTarget {
		t.Errorf("referred to %q, want %s", m.To, transferTarget)
	}
	// The old call's media stopped at the transfer: what the browser hears
	// from here on crossed the new party's PCMA leg.
	e.logs.WaitLine(t, "transferred by the trunk")
	peer.Heard().WaitTone(t, "the browser, through the new party", peer.Heard().Len(), gobrowser.DefaultToneHz, 0)

	hangUp(t, b, id, uas)

	if bad := uas.MustReceive("SIP/2.0 400"); !strings.Contains(bad.Header("Warning"), "Refer-To") {
		t.Errorf("400 Warning %q", bad.Header("Warning"))
	}
	if denied := uas.MustReceive("SIP/2.0 403"); !strings.Contains(denied.Header("Warning"), "forbidden") {
		t.Errorf("403 Warning %q, want the dial rules' refusal", denied.Header("Warning"))
	}
	uas.MustReceive("SIP/2.0 202")
	notifies := uas.Received("NOTIFY ", false)
	if len(notifies) != 2 {
		t.Fatalf("PBX got %d NOTIFYs, want 2", len(notifies))
	}
	for i, want := range []struct{ state, body string }{{"active", "SIP/2.0 100 Trying"}, {"terminated", "SIP/2.0 200 OK"}} {
		n := notifies[i]
		if !strings.HasPrefix(n.Header("Event"), "refer") || !strings.HasPrefix(n.Header("Subscription-State"), want.state) ||
			!strings.Contains(n.Text, want.body) {
			t.Errorf("NOTIFY %d: Event %q State %q, want %s with %q:\n%s", i, n.Header("Event"), n.Header("Subscription-State"), want.state, want.body, n.Text)
		}
	}
	checkTransferInvite(t, uas, transferTarget)
	checkReceived(t, uas, "BYE ", 2, "the old call at the transfer, the new one at the hangup")
}

// TestTransferFromTrunkLeaves: a PBX (sipp) that hangs up right after
// the 202 of its REFER, as a transferor may. When the new party answers
// the browser's call goes on with it (referred, its tone echoed back by
// the new party); when the new party is busy the call ends as the PBX
// ended it.
func TestTransferFromTrunkLeaves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target string
		answers      bool
	}{
		{"target answers", "+15550198", true},
		{"target busy", "+15550197", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uas := startSipp(t, "uas_transfers_leaves.xml", sipp.Options{Echo: true, Extra: []string{"-m", "2", "-set", "target", tt.target}}, 0)
			_, b, id, peer := transferCall(t, uas, "    transfer: refer")
			if !tt.answers {
				b.ws.ExpectHangup(t, id, signaling.ReasonRemoteHangup, 0)
				uas.Wait(stepTimeout)
				checkTransferInvite(t, uas, tt.target)

				return
			}
			if m := b.ws.Expect(t, "referred", gobrowser.Is[signaling.Referred](id)).(signaling.Referred); m.To != tt.target {
				t.Errorf("referred to %q, want %s", m.To, tt.target)
			}
			peer.Heard().WaitTone(t, "the browser, through the new party", peer.Heard().Len(), gobrowser.DefaultToneHz, 0)
			hangUp(t, b, id, uas)
			checkReceived(t, uas, "BYE ", 1, "the new call's")
		})
	}
}

// TestTransferFromTrunkOff: a trunk without transfer: refer gets 603 for
// its REFER (400 without Refer-To), and the call goes on until the
// browser hangs up.
func TestTransferFromTrunkOff(t *testing.T) {
	t.Parallel()
	uas := runScenario(t, "uas_refers_call.xml", sipp.Options{})
	e, b, id, _ := transferCall(t, uas, "")
	e.logs.WaitLine(t, "transfer by the trunk refused")
	hangUp(t, b, id, uas)
	if d := uas.MustReceive("SIP/2.0 603"); !strings.Contains(d.Header("Warning"), "not accepted") {
		t.Errorf("603 Warning %q", d.Header("Warning"))
	}
	if bad := uas.MustReceive("SIP/2.0 400"); !strings.Contains(bad.Header("Warning"), "Refer-To") {
		t.Errorf("400 Warning %q", bad.Header("Warning"))
	}
}
