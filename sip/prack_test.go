package sip

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
)

func TestParseRAck(t *testing.T) {
	tests := []struct {
		in         string
		rseq, cseq uint32
		method     string
		ok         bool
	}{
		{"776656 1 INVITE", 776656, 1, "INVITE", true},
		{"  5   7 INVITE ", 5, 7, "INVITE", true},
		{"", 0, 0, "", false},
		{"5 INVITE", 0, 0, "", false},
		{"0 1 INVITE", 0, 0, "", false},
		{"x 1 INVITE", 0, 0, "", false},
		{"5 -1 INVITE", 0, 0, "", false},
		{"4294967296 1 INVITE", 0, 0, "", false},
		{"5 1 INVITE extra", 0, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rseq, cseq, method, err := parseRAck(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseRAck(%q) error %v, want ok %v", tt.in, err, tt.ok)
			}
			if !tt.ok {
				if !errors.Is(err, errBadRAck) {
					t.Errorf("error %v, want errBadRAck", err)
				}
				return
			}
			if rseq != tt.rseq || cseq != tt.cseq || method != tt.method {
				t.Errorf("parseRAck(%q) = %d %d %s", tt.in, rseq, cseq, method)
			}
		})
	}
}

// TestPRACKServerSequence: one reliable response at a time, each acknowledged once by the PRACK
// naming its RSeq and the INVITE's CSeq, the next one numbered one higher (RFC 3262 section 3).
func TestPRACKServerSequence(t *testing.T) {
	s := newPRACKServer(7)
	first, acked, ok := s.start()
	if !ok || first < 1 || first > maxRSeq {
		t.Fatalf("start = %d, %v; want an RSeq in 1..2^31-1", first, ok)
	}
	if _, _, ok := s.start(); ok {
		t.Fatal("a second reliable response started before the first was acknowledged")
	}
	for _, bad := range []struct {
		rseq, cseq uint32
		method     string
	}{{first + 1, 7, "INVITE"}, {first, 8, "INVITE"}, {first, 7, "BYE"}} {
		if s.acknowledge(bad.rseq, bad.cseq, bad.method) {
			t.Errorf("RAck %d %d %s matched, want only %d 7 INVITE", bad.rseq, bad.cseq, bad.method, first)
		}
	}
	if !s.acknowledge(first, 7, "INVITE") {
		t.Fatal("the matching PRACK did not acknowledge")
	}
	select {
	case <-acked:
	default:
		t.Fatal("acknowledged channel not closed")
	}
	if s.acknowledge(first, 7, "INVITE") {
		t.Error("a second PRACK of the same response matched (RFC 3262 section 3 asks 481)")
	}
	second, _, ok := s.start()
	if !ok || second != first+1 {
		t.Errorf("next RSeq %d (%v), want %d", second, ok, first+1)
	}
}

// inviteWith is an INVITE of the peer for number with extra header lines (each ending in "\n").
func inviteWith(p *faketrunk.Wire, env *testEnv, branch, callID, extra string) string {
	text := p.InviteText(env.addr, "15557654321", branch, callID, faketrunk.PCMUSDP(40010, "sendrecv"))
	return insertHeaders(text, extra)
}

// insertHeaders puts extra header lines right after the request line of text.
func insertHeaders(text, extra string) string {
	for i := range len(text) {
		if text[i] == '\n' {
			return text[:i+1] + extra + text[i+1:]
		}
	}
	return text
}

// prackFor builds the peer's PRACK of the reliable response res to its INVITE inv, with RAck
// as given.
func prackFor(p *faketrunk.Wire, inv *sipmsg.Request, res *sipmsg.Response, cseq uint32, rack string) *sipmsg.Request {
	req := p.DialogRequest(sipmsg.PRACK, res.Contact().Address, inv.From(), res.To(), inv.CallID(), cseq, nil)
	if rack != "" {
		req.AppendHeader(sipmsg.NewHeader("RAck", rack))
	}
	return req
}

// expect180 returns the next 180 to inv the peer receives, skipping anything else.
func expect180(t *testing.T, p *faketrunk.Wire, inv *sipmsg.Request, d time.Duration) *sipmsg.Response {
	t.Helper()
	return p.ExpectResponse(inv, 180, d)
}

// TestInboundReliableRing: an INVITE that requires 100rel rings with a reliable 180 (Require:
// 100rel, RSeq), retransmitted until the trunk's PRACK; a PRACK without RAck gets 400, one for
// another RSeq 481 (and the retransmissions go on), the matching one 200, after which the 180
// is no longer sent. The call is then answered as usual.
func TestInboundReliableRing(t *testing.T) {
	withTimers(t, 50*time.Millisecond)
	peer, env := inboundUA(t, nil)
	inv := peer.SendText(inviteWith(peer, env, "z9hG4bK-rel-1", "rel-call@test", "Require: 100rel\nSupported: 100rel\n"), env.addr)
	ic := awaitIncoming(t, env)
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	ring := expect180(t, peer, inv, 5*time.Second)
	if !hasOptionTag(ring, "Require", "100rel") {
		t.Fatalf("180 without Require: 100rel:\n%s", ring)
	}
	rseq := headerValue(ring, "RSeq")
	n, err := strconv.ParseUint(rseq, 10, 32)
	if err != nil || n < 1 || n > maxRSeq {
		t.Fatalf("RSeq %q, want 1..2^31-1", rseq)
	}
	if again := expect180(t, peer, inv, 5*time.Second); headerValue(again, "RSeq") != rseq {
		t.Fatalf("retransmitted 180 has RSeq %q, want %q", headerValue(again, "RSeq"), rseq)
	}
	// A second Ring while the first 180 awaits its PRACK sends no other reliable 180.
	if err := ic.Ring(); err != nil {
		t.Fatalf("second Ring: %v", err)
	}

	invCSeq := inv.CSeq().SeqNo
	next := invCSeq
	for _, tt := range []struct {
		name, rack string
		code       int
	}{
		{"no RAck", "", 400},
		{"malformed RAck", "one two", 400},
		{"unknown RSeq", fmt.Sprintf("%d %d INVITE", n+1, invCSeq), 481},
		{"other CSeq", fmt.Sprintf("%s %d INVITE", rseq, invCSeq+5), 481},
	} {
		next++
		pr := prackFor(peer, inv, ring, next, tt.rack)
		peer.Send(pr, env.addr)
		if res := peer.ExpectFinal(pr, 5*time.Second); res.StatusCode != tt.code {
			t.Fatalf("%s: PRACK answered %d, want %d", tt.name, res.StatusCode, tt.code)
		}
	}
	// The unacknowledged 180 is still being retransmitted.
	if again := expect180(t, peer, inv, 5*time.Second); headerValue(again, "RSeq") != rseq {
		t.Fatalf("180 RSeq %q after bad PRACKs, want %q", headerValue(again, "RSeq"), rseq)
	}
	next++
	pr := prackFor(peer, inv, ring, next, fmt.Sprintf("%s %d INVITE", rseq, invCSeq))
	peer.Send(pr, env.addr)
	if res := peer.ExpectFinal(pr, 5*time.Second); res.StatusCode != 200 {
		t.Fatalf("matching PRACK answered %d, want 200", res.StatusCode)
	}
	// Retransmissions stop: within 16*T1 (past two more doublings) no 180 arrives.
	deadline := time.Now().Add(800 * time.Millisecond)
	for time.Now().Before(deadline) {
		m, err := peer.Read(time.Until(deadline))
		if err != nil {
			break
		}
		if res, ok := m.(*sipmsg.Response); ok && res.StatusCode == 180 {
			t.Fatal("180 retransmitted after its PRACK")
		}
	}
	if err := ic.Reject(486, "Busy Here"); err != nil {
		t.Fatalf("Reject: %v", err)
	}
	if res := peer.ExpectFinal(inv, 5*time.Second); res.StatusCode != 486 {
		t.Fatalf("final %d, want 486", res.StatusCode)
	}
}

// TestInboundReliableRingUnacknowledged: the trunk never sends PRACK. The reliable 180 is
// retransmitted at doubling intervals from T1, and after 64*T1 the INVITE is answered 500 and
// the call ends with ErrNoPRACK (RFC 3262 section 3).
func TestInboundReliableRingUnacknowledged(t *testing.T) {
	withTimers(t, 50*time.Millisecond) // 64*T1 = 3.2 s
	peer, env := inboundUA(t, nil)
	inv := peer.SendText(inviteWith(peer, env, "z9hG4bK-noprack-1", "noprack-call@test", "Require: 100rel\n"), env.addr)
	ic := awaitIncoming(t, env)
	if err := ic.Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	var rings []time.Time
	var final *sipmsg.Response
	deadline := time.Now().Add(15 * time.Second)
	for final == nil && time.Now().Before(deadline) {
		res, ok := peer.Recv(time.Until(deadline)).(*sipmsg.Response)
		switch {
		case !ok || !faketrunk.Answers(res, inv):
		case res.StatusCode == 180:
			rings = append(rings, time.Now())
		case res.StatusCode >= 200:
			final = res
		}
	}
	if final == nil || final.StatusCode != 500 {
		t.Fatalf("final response %v, want 500", final)
	}
	peer.Send(peer.ACKFailure(inv, final), env.addr)
	// T1 doubling within 64*T1: sent at 0, 1, 3, 7, 15, 31 T1, so 6 times; allow one lost to
	// scheduling on a busy machine.
	if len(rings) < 5 || len(rings) > 7 {
		t.Errorf("180 sent %d times, want 6 (T1 doubling within 64*T1)", len(rings))
	}
	if n := len(rings); n >= 4 {
		first, last := rings[n-3].Sub(rings[n-4]), rings[n-1].Sub(rings[n-2])
		if last < 3*first {
			t.Errorf("intervals %v then %v: want doubling", first, last)
		}
	}
	awaitCause(t, ic, ErrNoPRACK, "no PRACK")
}

// TestInboundPRACKModes: the trunk's PRACK mode against what the INVITE says of 100rel.
func TestInboundPRACKModes(t *testing.T) {
	tests := []struct {
		name     string
		mode     PRACKMode
		headers  string
		code     int    // final response, 0: it rings
		header   string // a header the final response must carry, "Name: value"
		reliable bool
	}{
		{"supported, INVITE supports", PRACKSupported, "Supported: 100rel\n", 0, "", false},
		{"supported, INVITE requires", "", "Require: 100rel\n", 0, "", true},
		{"off, INVITE requires", PRACKOff, "Require: 100rel\n", 420, "Unsupported: 100rel", false},
		{"off, INVITE supports", PRACKOff, "Supported: timer, 100rel\n", 0, "", false},
		{"required, INVITE supports", PRACKRequired, "Supported: timer, 100rel\n", 0, "", true},
		{"required, INVITE without", PRACKRequired, "", 421, "Require: 100rel", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, env := inboundUA(t, func(tr *Trunk) { tr.PRACK = tt.mode })
			inv := peer.SendText(inviteWith(peer, env, fmt.Sprintf("z9hG4bK-mode-%d", i), fmt.Sprintf("mode-%d@test", i), tt.headers), env.addr)
			if tt.code != 0 {
				res := peer.ExpectFinal(inv, 5*time.Second)
				if res.StatusCode != tt.code {
					t.Fatalf("final %d, want %d", res.StatusCode, tt.code)
				}
				name, value, _ := cutHeader(tt.header)
				if !hasOptionTag(res, name, value) {
					t.Errorf("%d without %s:\n%s", tt.code, tt.header, res)
				}
				peer.Send(peer.ACKFailure(inv, res), env.addr)
				return
			}
			ic := awaitIncoming(t, env)
			if err := ic.Ring(); err != nil {
				t.Fatalf("Ring: %v", err)
			}
			ring := expect180(t, peer, inv, 5*time.Second)
			if got := headerValue(ring, "RSeq") != "" && hasOptionTag(ring, "Require", "100rel"); got != tt.reliable {
				t.Errorf("reliable 180 %v, want %v:\n%s", got, tt.reliable, ring)
			}
			if err := ic.Reject(486, "Busy Here"); err != nil {
				t.Fatalf("Reject: %v", err)
			}
			res := peer.ExpectFinal(inv, 5*time.Second)
			peer.Send(peer.ACKFailure(inv, res), env.addr)
		})
	}
}

// cutHeader splits "Name: value".
func cutHeader(h string) (name, value string, ok bool) {
	for i := range len(h) {
		if h[i] == ':' {
			return h[:i], h[i+2:], true
		}
	}
	return h, "", false
}

// TestDialPRACK: the trunk's reliable 183 with SDP is acknowledged by one PRACK (RAck naming
// its RSeq and the INVITE's CSeq, sent to its Contact in its early dialog) and reported once
// with early media; its retransmission and a response out of sequence get no PRACK and are not
// reported; the next in sequence is. The 2xx then establishes the call, whose later requests
// continue the dialog's CSeq after the PRACKs.
func TestDialPRACK(t *testing.T) {
	peer := newWirePeer(t)
	logger, logs := logcapture.New(t, logcapture.Tail(0))
	env := startUA(t, Config{Trunks: []Trunk{wireTrunk(peer)}, Logger: logger})
	progress := make(chan Progress, 16)
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321",
		OnProgress: func(p Progress) { progress <- p }})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	if !hasOptionTag(inv, "Supported", "100rel") || hasOptionTag(inv, "Require", "100rel") {
		t.Fatalf("INVITE should support, not require, 100rel:\n%s", inv)
	}
	reliable := func(code int, reason string, rseq int, sdp []byte) *sipmsg.Response {
		res := peer.Reply(inv, code, reason, sdp)
		res.AppendHeader(sipmsg.NewHeader("Require", "100rel"))
		res.AppendHeader(sipmsg.NewHeader("RSeq", strconv.Itoa(rseq)))
		return res
	}
	expectPRACK := func(rseq int) *sipmsg.Request {
		t.Helper()
		pr := peer.ExpectRequest(sipmsg.PRACK, 5*time.Second)
		if want := fmt.Sprintf("%d %d INVITE", rseq, inv.CSeq().SeqNo); headerValue(pr, "RAck") != want {
			t.Fatalf("RAck %q, want %q", headerValue(pr, "RAck"), want)
		}
		if tag, _ := pr.To().Params.Get("tag"); tag != "peertag" || pr.Recipient.User != "peer" {
			t.Fatalf("PRACK not in the early dialog (To tag %q, Request-URI %s)", tag, pr.Recipient.String())
		}
		if pr.CSeq().SeqNo <= inv.CSeq().SeqNo {
			t.Fatalf("PRACK CSeq %d not above the INVITE's %d", pr.CSeq().SeqNo, inv.CSeq().SeqNo)
		}
		peer.Send(sipmsg.NewResponseFromRequest(pr, 200, "OK", nil), env.addr)
		return pr
	}
	early := reliable(183, "Session Progress", 41, faketrunk.PCMUSDP(40020, "sendrecv"))
	peer.Send(early, env.addr)
	first := expectPRACK(41)
	if p := <-progress; p.StatusCode != 183 || !p.EarlyMedia {
		t.Fatalf("progress %+v, want 183 with early media", p)
	}
	peer.Send(early, env.addr) // a retransmission
	logs.WaitLine(t, "rseq=41 last=41")
	peer.Send(reliable(180, "Ringing", 43, nil), env.addr) // out of sequence
	logs.WaitLine(t, "rseq=43 last=41")
	peer.Send(reliable(180, "Ringing", 42, nil), env.addr) // next in sequence
	second := expectPRACK(42)
	if second.CSeq().SeqNo != first.CSeq().SeqNo+1 {
		t.Errorf("second PRACK CSeq %d, want %d", second.CSeq().SeqNo, first.CSeq().SeqNo+1)
	}
	if p := <-progress; p.StatusCode != 180 {
		t.Fatalf("progress %+v, want the 180", p)
	}
	ok := peer.Reply(inv, 200, "OK", faketrunk.PCMUSDP(40020, "sendrecv"))
	peer.Send(ok, env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	if n := len(progress); n != 0 {
		t.Errorf("%d more progress reports, want none for the retransmission and the response out of sequence", n)
	}
	byeAnswered := make(chan *sipmsg.Request, 1)
	go func() {
		bye := peer.ExpectRequest(sipmsg.BYE, 5*time.Second)
		peer.Send(sipmsg.NewResponseFromRequest(bye, 200, "OK", nil), env.addr)
		byeAnswered <- bye
	}()
	if err := r.call.Hangup(t.Context()); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if bye := <-byeAnswered; bye.CSeq().SeqNo != second.CSeq().SeqNo+1 {
		t.Errorf("BYE CSeq %d, want %d after the PRACKs", bye.CSeq().SeqNo, second.CSeq().SeqNo+1)
	}
}

// TestDialPRACKModes: what an outbound INVITE says of 100rel per mode, and that a trunk with
// prack off gets no PRACK for a reliable 183 yet the call proceeds.
func TestDialPRACKModes(t *testing.T) {
	tests := []struct {
		mode                PRACKMode
		supported, required bool
	}{
		{PRACKOff, false, false},
		{PRACKSupported, true, false},
		{PRACKRequired, true, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			peer, env := dialingUAWith(t, func(tr *Trunk) { tr.PRACK = tt.mode })
			dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321"})
			inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
			if got := hasOptionTag(inv, "Supported", "100rel"); got != tt.supported {
				t.Errorf("Supported: 100rel %v, want %v", got, tt.supported)
			}
			if got := hasOptionTag(inv, "Require", "100rel"); got != tt.required {
				t.Errorf("Require: 100rel %v, want %v", got, tt.required)
			}
			if !hasOptionTag(inv, "Supported", "timer") {
				t.Error("Supported lost timer")
			}
			if tt.mode == PRACKOff {
				res := peer.Reply(inv, 183, "Session Progress", faketrunk.PCMUSDP(40022, "sendrecv"))
				res.AppendHeader(sipmsg.NewHeader("Require", "100rel"))
				res.AppendHeader(sipmsg.NewHeader("RSeq", "1"))
				peer.Send(res, env.addr)
			}
			ok := peer.Reply(inv, 200, "OK", faketrunk.PCMUSDP(40022, "sendrecv"))
			peer.Send(ok, env.addr)
			for {
				req, ok := peer.Recv(5 * time.Second).(*sipmsg.Request)
				if ok && req.Method == sipmsg.PRACK {
					t.Fatal("PRACK sent to a trunk with prack off")
				}
				if ok && req.Method == sipmsg.ACK {
					break
				}
			}
			r := <-dialed
			if r.err != nil {
				t.Fatalf("Dial: %v", r.err)
			}
			acceptHangup(t, peer, r.call, env.addr)
		})
	}
}
