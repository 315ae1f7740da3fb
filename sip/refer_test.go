package sip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

func TestParseSipfrag(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   int
		reason string
		ok     bool
	}{
		{"trying", "SIP/2.0 100 Trying\r\n", 100, "Trying", true},
		{"ok with headers", "SIP/2.0 200 OK\r\nContact: <sip:a@b>\r\n", 200, "OK", true},
		{"no reason", "SIP/2.0 486", 486, "", true},
		{"lower-case version", "sip/2.0 603 Declined", 603, "Declined", true},
		{"control characters made safe", "SIP/2.0 480 Gone\x07\"x\"", 480, "Gone 'x'", true},
		{"empty", "", 0, "", false},
		{"request line", "INVITE sip:a@b SIP/2.0", 0, "", false},
		{"code too small", "SIP/2.0 099 Odd", 0, "", false},
		{"code too large", "SIP/2.0 700 Odd", 0, "", false},
		{"code not a number", "SIP/2.0 2x0 Odd", 0, "", false},
		{"four digits", "SIP/2.0 2000 Odd", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := parseSipfrag([]byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, errBadSipfrag) {
					t.Errorf("error %v, want errBadSipfrag", err)
				}
				return
			}
			if code != tt.code || reason != tt.reason {
				t.Errorf("got %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
		})
	}
	long := "SIP/2.0 200 " + strings.Repeat("x", 1000)
	if _, reason, err := parseSipfrag([]byte(long)); err != nil || len(reason) != maxSipfragReason {
		t.Errorf("long reason: %d bytes, error %v; want %d bytes", len(reason), err, maxSipfragReason)
	}
}

// TestTransfer: Transfer sends a REFER in the dialog with Refer-To the number in the trunk's
// format and Referred-By; the trunk's NOTIFYs are answered and reported as EventTransfer until
// a final one; a failure response to the REFER is a *StatusError; a second transfer while one
// is pending and an invalid number are refused before anything is sent; NOTIFYs of another
// event, with another body, with a malformed sipfrag or with no transfer pending are refused
// without touching the call.
func TestTransfer(t *testing.T) {
	peer := newWirePeer(t)
	tr := wireTrunk(peer)
	tr.Numbering = telephony.NumberPlan{Format: telephony.FormatNational, CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00"}
	env := startUA(t, Config{Trunks: []Trunk{tr}})
	call, inv, ok := dialPeer(t, env, peer, 40034)
	cseq := uint32(100)
	notify := func(event, state, ctype, body string) *sipmsg.Response {
		t.Helper()
		cseq++
		req := peerRequest(peer, sipmsg.NOTIFY, inv, ok, cseq, []byte(body))
		req.RemoveHeader("Content-Type")
		req.AppendHeader(sipmsg.NewHeader("Content-Type", ctype))
		if event != "" {
			req.AppendHeader(sipmsg.NewHeader("Event", event))
		}
		req.AppendHeader(sipmsg.NewHeader("Subscription-State", state))
		peer.Send(req, env.addr)
		return peer.ExpectFinal(req, 5*time.Second)
	}
	expectEvent := func(code int, final bool) {
		t.Helper()
		select {
		case ev := <-call.Events():
			if ev.Kind != EventTransfer || ev.TransferStatus != code || ev.TransferFinal != final {
				t.Errorf("event %v %d final %v, want transfer %d final %v", ev.Kind, ev.TransferStatus, ev.TransferFinal, code, final)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no transfer event %d", code)
		}
	}
	// transfer starts a transfer to +441632960002 that the trunk answers code.
	transfer := func(code int) error {
		t.Helper()
		sent := make(chan error, 1)
		go func() { sent <- call.Transfer(t.Context(), "+441632960002") }()
		req := peer.ExpectRequest(sipmsg.REFER, 5*time.Second)
		if got, want := headerValue(req, "Refer-To"), "<sip:01632960002@127.0.0.1:"; !strings.HasPrefix(got, want) {
			t.Errorf("Refer-To %q, want prefix %q", got, want)
		}
		if rb := headerValue(req, "Referred-By"); !strings.HasPrefix(rb, "<sip:") {
			t.Errorf("Referred-By %q", rb)
		}
		peer.Send(sipmsg.NewResponseFromRequest(req, code, "X", nil), env.addr)
		return <-sent
	}

	if res := notify("refer", "active", contentSipfrag, "SIP/2.0 100 Trying"); res.StatusCode != 481 {
		t.Errorf("NOTIFY with no transfer: %d, want 481", res.StatusCode)
	}
	if err := call.Transfer(t.Context(), "not a number"); !errors.Is(err, telephony.ErrInvalidNumber) {
		t.Errorf("Transfer(invalid) = %v, want ErrInvalidNumber", err)
	}
	var se *StatusError
	if err := transfer(603); !errors.As(err, &se) || se.Code != 603 {
		t.Errorf("Transfer answered 603: %v, want *StatusError 603", err)
	}
	if err := transfer(202); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	if err := call.Transfer(t.Context(), "+441632960003"); !errors.Is(err, ErrTransferPending) {
		t.Errorf("second Transfer = %v, want ErrTransferPending", err)
	}
	refused := []struct {
		name, event, ctype, body string
		code                     int
	}{
		{"other event", "presence", contentSipfrag, "SIP/2.0 200 OK", 489},
		{"no event", "", contentSipfrag, "SIP/2.0 200 OK", 489},
		{"other body", "refer", "text/plain", "SIP/2.0 200 OK", 415},
		{"malformed sipfrag", "refer;id=1", contentSipfrag, "hello", 400},
	}
	for _, r := range refused {
		if res := notify(r.event, "active", r.ctype, r.body); res.StatusCode != r.code {
			t.Errorf("%s: NOTIFY answered %d, want %d", r.name, res.StatusCode, r.code)
		}
	}
	if res := notify("refer", "active;expires=60", "message/sipfrag;version=2.0", "SIP/2.0 100 Trying\r\n"); res.StatusCode != 200 {
		t.Fatalf("NOTIFY 100: %d", res.StatusCode)
	}
	expectEvent(100, false)
	if res := notify("refer", "terminated;reason=noresource", contentSipfrag, "SIP/2.0 486 Busy Here\r\n"); res.StatusCode != 200 {
		t.Fatalf("NOTIFY 486: %d", res.StatusCode)
	}
	expectEvent(486, true)
	if call.Transferred() {
		t.Error("Transferred after a 486")
	}
	if err := transfer(202); err != nil {
		t.Fatalf("Transfer again: %v", err)
	}
	if res := notify("refer", "terminated;reason=noresource", contentSipfrag, "SIP/2.0 200 OK\r\n"); res.StatusCode != 200 {
		t.Fatalf("NOTIFY 200: %d", res.StatusCode)
	}
	expectEvent(200, true)
	if !call.Transferred() {
		t.Error("not Transferred after a 200")
	}
	select {
	case ev := <-call.Events():
		t.Errorf("event %v after the refused NOTIFYs", ev.Kind)
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	default:
	}
	acceptHangup(t, peer, call, env.addr)
}

// TestReferFromTrunk: the trunk's REFER inside the call. This package refuses what it cannot
// read or carry out (400 without exactly one Refer-To or with one naming no number, 603 for an
// attended transfer), reports the rest as EventRefer with the number in E.164, and the call's
// owner answers it: a refusal reaches the trunk with its Warning, a second REFER while one is
// in progress gets 603, an accepted one gets 202 and NOTIFYs of the refer subscription with
// the new call's status, the last one terminating it; with Refer-Sub: false (RFC 4488) it gets
// 202 with Refer-Sub: false and no NOTIFY. Nothing ends the call. A REFER outside any dialog
// gets 405 with Allow.
func TestReferFromTrunk(t *testing.T) {
	peer, env := dialingUA(t)
	call, inv, ok := dialPeer(t, env, peer, 40036)
	cseq := uint32(100)
	refer := func(extra map[string][]string) *sipmsg.Request {
		t.Helper()
		cseq++
		req := peerRequest(peer, sipmsg.REFER, inv, ok, cseq, nil)
		for name, vs := range extra {
			for _, v := range vs {
				req.AppendHeader(sipmsg.NewHeader(name, v))
			}
		}
		peer.Send(req, env.addr)
		return req
	}
	nextRefer := func() *Refer {
		t.Helper()
		select {
		case ev := <-call.Events():
			if ev.Kind != EventRefer || ev.Refer == nil {
				t.Fatalf("event %v, want refer", ev.Kind)
			}
			return ev.Refer
		case <-time.After(5 * time.Second):
			t.Fatal("no refer event")
		}
		return nil
	}
	refused := []struct {
		name     string
		referTo  []string
		code     int
		warnSays string
	}{
		{"no Refer-To", nil, 400, "Refer-To"},
		{"two Refer-To", []string{"<sip:+15550199@127.0.0.1>", "<sip:+15550198@127.0.0.1>"}, 400, "Refer-To"},
		{"not a SIP URI", []string{"<http://example.com/x>"}, 400, "sip, sips or tel"},
		{"no user part", []string{"<sip:127.0.0.1>"}, 400, "sip, sips or tel"},
		{"attended transfer", []string{"<sip:+15550199@127.0.0.1?Replaces=abc%40pbx%3Bto-tag%3D1%3Bfrom-tag%3D2>"}, 603, "Replaces"},
	}
	for _, tt := range refused {
		req := refer(map[string][]string{"Refer-To": tt.referTo})
		res := peer.ExpectFinal(req, 5*time.Second)
		if res.StatusCode != tt.code || !strings.Contains(headerValue(res, "Warning"), tt.warnSays) {
			t.Errorf("%s: REFER answered %d Warning %q, want %d naming %q", tt.name, res.StatusCode, headerValue(res, "Warning"), tt.code, tt.warnSays)
		}
	}

	// Refused by the call's owner.
	req := refer(map[string][]string{"Refer-To": {"<sip:+15550199@127.0.0.1;user=phone>"}, "Referred-By": {"<sip:pbx@127.0.0.1>"}})
	r := nextRefer()
	if r.Number != "+15550199" || r.Target != "+15550199" || !strings.Contains(r.ReferredBy, "pbx") {
		t.Errorf("refer %+v, want number +15550199 referred by pbx", r)
	}
	if err := r.Refuse(403, "Forbidden", errors.New("number not allowed")); err != nil {
		t.Fatal(err)
	}
	if res := peer.ExpectFinal(req, 5*time.Second); res.StatusCode != 403 || !strings.Contains(headerValue(res, "Warning"), "not allowed") {
		t.Errorf("refused REFER answered %d Warning %q", res.StatusCode, headerValue(res, "Warning"))
	}
	if err := r.Refuse(403, "Forbidden", nil); !errors.Is(err, ErrReferAnswered) {
		t.Errorf("second answer: %v, want ErrReferAnswered", err)
	}

	// Accepted: 202, then the NOTIFYs; a second REFER meanwhile is refused.
	req = refer(map[string][]string{"Refer-To": {"tel:+15550199"}})
	r = nextRefer()
	if r.Number != "+15550199" {
		t.Errorf("tel URI: number %q", r.Number)
	}
	busy := refer(map[string][]string{"Refer-To": {"<sip:+15550198@127.0.0.1>"}})
	if res := peer.ExpectFinal(busy, 5*time.Second); res.StatusCode != 603 || !strings.Contains(headerValue(res, "Warning"), "in progress") {
		t.Errorf("REFER during a transfer answered %d %q, want 603", res.StatusCode, headerValue(res, "Warning"))
	}
	expectNotify := func(state, body string) {
		t.Helper()
		n := peer.ExpectRequest(sipmsg.NOTIFY, 5*time.Second)
		peer.Send(sipmsg.NewResponseFromRequest(n, 200, "OK", nil), env.addr)
		ev := fmt.Sprintf("refer;id=%d", req.CSeq().SeqNo)
		if headerValue(n, "Event") != ev || !strings.HasPrefix(headerValue(n, "Subscription-State"), state) ||
			!strings.HasPrefix(headerValue(n, "Content-Type"), contentSipfrag) || string(n.Body()) != body {
			t.Errorf("NOTIFY Event %q State %q Type %q body %q; want %q, %q, sipfrag %q", headerValue(n, "Event"),
				headerValue(n, "Subscription-State"), headerValue(n, "Content-Type"), n.Body(), ev, state, body)
		}
	}
	accepted := make(chan error, 1)
	go func() { accepted <- r.Accept(t.Context()) }()
	if res := peer.ExpectFinal(req, 5*time.Second); res.StatusCode != 202 {
		t.Errorf("accepted REFER answered %d, want 202", res.StatusCode)
	}
	expectNotify("active", "SIP/2.0 100 Trying\r\n")
	if err := <-accepted; err != nil {
		t.Fatalf("Accept: %v", err)
	}
	notified := make(chan error, 1)
	go func() { notified <- r.Notify(t.Context(), 180, "Ringing") }()
	expectNotify("active", "SIP/2.0 180 Ringing\r\n")
	if err := <-notified; err != nil {
		t.Fatal(err)
	}
	go func() { notified <- r.Notify(t.Context(), 200, "OK") }()
	expectNotify("terminated", "SIP/2.0 200 OK\r\n")
	if err := <-notified; err != nil {
		t.Fatal(err)
	}
	if err := r.Notify(t.Context(), 200, "OK"); err != nil {
		t.Errorf("Notify after the final one: %v, want nil (nothing sent)", err)
	}

	// Refer-Sub: false: 202 saying so, and no NOTIFY.
	req = refer(map[string][]string{"Refer-To": {"<sip:+15550199@127.0.0.1>"}, "Refer-Sub": {"false"}})
	r = nextRefer()
	if err := r.Accept(t.Context()); err != nil {
		t.Fatal(err)
	}
	if res := peer.ExpectFinal(req, 5*time.Second); res.StatusCode != 202 || headerValue(res, "Refer-Sub") != "false" {
		t.Errorf("REFER without subscription answered %d Refer-Sub %q", res.StatusCode, headerValue(res, "Refer-Sub"))
	}
	if err := r.Notify(t.Context(), 200, "OK"); err != nil {
		t.Fatal(err)
	}

	out := peer.SendText(fmt.Sprintf("REFER sip:gw@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-refer-out\n"+
		"From: <sip:pbx@127.0.0.1>;tag=out1\n"+
		"To: <sip:gw@127.0.0.1>\n"+
		"Call-ID: refer-out-%s@test\n"+
		"CSeq: 1 REFER\n"+
		"Max-Forwards: 70\n"+
		"Refer-To: <sip:+15550199@127.0.0.1>\n"+
		"Content-Length: 0\n\n", env.addr, peer.Addr(), newID()), env.addr)
	if res := peer.ExpectFinal(out, 5*time.Second); res.StatusCode != 405 || !strings.Contains(headerValue(res, "Allow"), "NOTIFY") {
		t.Errorf("REFER outside a dialog: %d Allow %q, want 405 with Allow", res.StatusCode, headerValue(res, "Allow"))
	}
	select {
	case ev := <-call.Events():
		t.Errorf("event %v after the REFERs", ev.Kind)
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	default:
	}
	acceptHangup(t, peer, call, env.addr)
}

// TestTransferWithoutFinalNotify: a trunk that accepts a REFER and never
// sends a final NOTIFY does not leave the call's transfer pending forever:
// after Config.TransferTimeout the transfer is reported failed (408), the
// call goes on, and another transfer may start.
func TestTransferWithoutFinalNotify(t *testing.T) {
	peer := newWirePeer(t)
	env := startUA(t, Config{Trunks: []Trunk{wireTrunk(peer)}, TransferTimeout: 300 * time.Millisecond})
	call, _, _ := dialPeer(t, env, peer, 40036)
	accept := func() {
		t.Helper()
		sent := make(chan error, 1)
		go func() { sent <- call.Transfer(t.Context(), "+15551230002") }()
		req := peer.ExpectRequest(sipmsg.REFER, 5*time.Second)
		peer.Send(sipmsg.NewResponseFromRequest(req, 202, "Accepted", nil), env.addr)
		if err := <-sent; err != nil {
			t.Fatalf("Transfer: %v", err)
		}
	}
	accept()
	select {
	case ev := <-call.Events():
		if ev.Kind != EventTransfer || ev.TransferStatus != 408 || !ev.TransferFinal {
			t.Errorf("event %v %d final %v, want transfer 408 final", ev.Kind, ev.TransferStatus, ev.TransferFinal)
		}
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("no transfer event after the timeout")
	}
	if call.Transferred() {
		t.Error("Transferred without a NOTIFY")
	}
	// Another transfer may start; its own timer reports it again.
	accept()
	select {
	case ev := <-call.Events():
		if ev.Kind != EventTransfer || ev.TransferStatus != 408 {
			t.Errorf("second transfer: event %v %d, want transfer 408", ev.Kind, ev.TransferStatus)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the second transfer")
	}
	acceptHangup(t, peer, call, env.addr)
}
