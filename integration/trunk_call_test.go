package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// uasPlan says how the fake trunk answers an INVITE from the gateway.
type uasPlan struct {
	// challenge, when 401 or 407, makes the trunk demand digest
	// authentication (RFC 3261 section 22) before it handles the INVITE;
	// user and password are what it accepts.
	challenge      int
	user, password string
	// ringFor is how long it sends 180 Ringing (183 with SDP and the tone,
	// when earlyMedia is set) before its final response.
	ringFor    time.Duration
	earlyMedia bool
	// noAnswer makes it ring until the INVITE is cancelled.
	noAnswer bool
	// reject, when non-zero, is the final status instead of 200 OK.
	reject int
	// byeAfter, when non-zero, makes the trunk hang up with BYE this long
	// after answering.
	byeAfter time.Duration
	// pt is the G.711 payload type it answers with (ptPCMU by default).
	pt uint8
}

// How a trunk call ended, from the trunk's point of view.
const (
	endByeReceived = "bye received"
	endByeSent     = "bye sent"
	endCancelled   = "cancelled"
	endRejected    = "rejected"
	endFailed      = "failed"
)

// trunkCall is one call on the fake trunk, in either direction: the SIP
// dialog and the trunk's RTP endpoint.
type trunkCall struct {
	trunk  *fakeTrunk
	callID string
	number string // the dialled number (Request-URI user)
	invite *sipmsg.Request
	uas    *sipgo.DialogServerSession // set for calls from the gateway
	uac    *sipgo.DialogClientSession // set for calls to the gateway
	media  *rtpEndpoint

	ringing    chan struct{} // closed on the first provisional response to the trunk's INVITE
	ringOnce   sync.Once
	answered   chan struct{} // closed once the call is answered
	answerOnce sync.Once
	ended      chan struct{} // closed once the call ended
	endOnce    sync.Once
	endReason  string // valid once ended is closed
	finalCode  int    // final status of an INVITE the trunk sent
	hangupRing context.CancelFunc
	done       chan struct{} // closed when the call's goroutine returned
}

func newTrunkCall(ft *fakeTrunk, media *rtpEndpoint) *trunkCall {
	return &trunkCall{trunk: ft, media: media, ringing: make(chan struct{}), answered: make(chan struct{}), ended: make(chan struct{}), done: make(chan struct{})}
}

// answer marks the call answered.
func (c *trunkCall) answer() { c.answerOnce.Do(func() { close(c.answered) }) }

// end marks the call ended for reason (the first reason wins) and stops its
// media.
func (c *trunkCall) end(reason string) {
	c.endOnce.Do(func() {
		c.endReason = reason
		close(c.ended)
	})
	c.media.close()
}

// wait waits for the call's goroutine.
func (c *trunkCall) wait() { <-c.done }

// waitAnswered fails the test unless the call is answered within timeout.
func (c *trunkCall) waitAnswered(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.answered:
	case <-c.ended:
		t.Fatalf("trunk call %s ended (%s, final status %d) instead of being answered", c.callID, c.endReason, c.finalCode)
	case <-time.After(timeout):
		t.Fatalf("trunk call %s not answered within %v", c.callID, timeout)
	}
}

// waitEnded fails the test unless the call ends for reason within timeout.
func (c *trunkCall) waitEnded(t *testing.T, reason string, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.ended:
		if c.endReason != reason {
			t.Fatalf("trunk call %s ended with %q, want %q", c.callID, c.endReason, reason)
		}
	case <-time.After(timeout):
		t.Fatalf("trunk call %s still up after %v; want it ended with %q; trunk %s", c.callID, timeout, reason, c.trunk.summary())
	}
}

// bye hangs the answered call up from the trunk's side (RFC 3261 section
// 15.1.1).
func (c *trunkCall) bye(ctx context.Context) error {
	var err error
	switch {
	case c.uas != nil:
		err = c.uas.Bye(ctx)
	case c.uac != nil:
		err = c.uac.Bye(ctx)
	}
	if err != nil {
		return fmt.Errorf("trunk bye: %w", err)
	}
	c.end(endByeSent)

	return nil
}

// onInvite runs one call from the gateway through the plan for its number.
func (ft *fakeTrunk) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	ft.record(req)
	tx.OnCancel(func(r *sipmsg.Request) { ft.record(r) })
	number := req.Recipient.User
	plan := ft.planFor(number)
	if plan.challenge != 0 && !ft.authorized(req, tx, plan) {
		return
	}
	media, err := newRTPEndpoint()
	if err != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "No RTP Port", nil))
		return
	}
	dlg, err := ft.dua.ReadInvite(req, tx)
	if err != nil {
		media.close()
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusBadRequest, "Bad Request", nil))
		return
	}
	c := newTrunkCall(ft, media)
	c.callID, c.number, c.invite, c.uas = req.CallID().Value(), number, req.Clone(), dlg
	ft.addCall(c)
	select {
	case ft.incoming <- c:
	default: // nobody takes calls from the queue in this test
	}
	defer close(c.done)
	ft.runUAS(c, dlg, plan)
}

// runUAS answers, rejects or rings the call as plan says and returns once
// the dialog has ended.
func (ft *fakeTrunk) runUAS(c *trunkCall, dlg *sipgo.DialogServerSession, plan uasPlan) {
	remote, err := parseRemoteSDP(c.invite.Body())
	if err != nil {
		_ = dlg.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		c.end(endFailed)
		return
	}
	pt := plan.pt
	if pt == 0 {
		pt = remote.audioPT // the gateway's first choice
	}
	answer := trunkSDP(c.media.local.Port(), pt)
	eventPT := remote.eventPT
	if plan.ringFor > 0 || plan.noAnswer {
		if plan.earlyMedia {
			_ = dlg.Respond(sipmsg.StatusSessionInProgress, "Session Progress", answer, sipmsg.NewHeader("Content-Type", "application/sdp"))
			c.media.start(remote.addr, pt, eventPT)
		} else {
			_ = dlg.Respond(sipmsg.StatusRinging, "Ringing", nil)
		}
		var ring <-chan time.Time
		if !plan.noAnswer {
			timer := time.NewTimer(plan.ringFor)
			defer timer.Stop()
			ring = timer.C
		}
		select {
		case <-ring:
		case <-dlg.Context().Done():
			c.end(endCancelled)
			return
		case <-ft.ctx.Done():
			_ = dlg.Respond(sipmsg.StatusServiceUnavailable, "Service Unavailable", nil)
			c.end(endFailed)
			return
		}
	}
	if plan.reject != 0 {
		_ = dlg.Respond(plan.reject, reasonPhrase(plan.reject), nil)
		c.finalCode = plan.reject
		c.end(endRejected)
		return
	}
	if err := dlg.RespondSDP(answer); err != nil {
		c.end(endFailed)
		return
	}
	c.media.start(remote.addr, pt, eventPT)
	c.answer()
	var bye <-chan time.Time
	if plan.byeAfter > 0 {
		timer := time.NewTimer(plan.byeAfter)
		defer timer.Stop()
		bye = timer.C
	}
	select {
	case <-bye:
		ctx, cancel := context.WithTimeout(ft.ctx, 5*time.Second)
		defer cancel()
		if err := c.bye(ctx); err != nil {
			c.end(endFailed)
		}
	case <-dlg.Context().Done():
		c.end(endByeReceived) // no-op when onBye already ended it
	case <-ft.ctx.Done():
		c.end(endFailed)
	}
}

// authorized checks the INVITE's digest credentials against plan (RFC 3261
// section 22.4). Without valid ones it sends the challenge, or 403 for
// wrong ones, and reports false.
func (ft *fakeTrunk) authorized(req *sipmsg.Request, tx sipmsg.ServerTransaction, plan uasPlan) bool {
	hdrName, chalName := "Authorization", "WWW-Authenticate"
	if plan.challenge == sipmsg.StatusProxyAuthRequired {
		hdrName, chalName = "Proxy-Authorization", "Proxy-Authenticate"
	}
	chal := &digest.Challenge{Realm: "trunk.test", Nonce: "nonce-" + req.CallID().Value(), Algorithm: "MD5", QOP: []string{"auth"}}
	if h := req.GetHeader(hdrName); h != nil {
		creds, err := digest.ParseCredentials(h.Value())
		if err == nil {
			want, err := digest.Digest(chal, digest.Options{
				Method: string(req.Method), URI: creds.URI, Username: plan.user, Password: plan.password,
				Count: creds.Nc, Cnonce: creds.Cnonce,
			})
			if err == nil && creds.Username == plan.user && creds.Response == want.Response {
				return true
			}
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusForbidden, "Forbidden", nil))
		return false
	}
	res := sipmsg.NewResponseFromRequest(req, plan.challenge, reasonPhrase(plan.challenge), nil)
	res.AppendHeader(sipmsg.NewHeader(chalName, chal.String()))
	_ = tx.Respond(res)

	return false
}

// reasonPhrase is the RFC 3261 section 21 phrase of the codes the trunk sends.
func reasonPhrase(code int) string {
	switch code {
	case 401:
		return "Unauthorized"
	case 407:
		return "Proxy Authentication Required"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}

	return "Rejected"
}

// callOptions shape a call from the trunk to the gateway.
type callOptions struct {
	from     string // caller number (From user), default +15557770000
	fromName string // caller display name
}

// dial places a call from the trunk to the gateway's SIP address for the
// DID to (RFC 3261 section 13.2): an INVITE with the trunk's PCMU/PCMA offer.
// The call rings until the gateway answers (then the tone plays) or fails;
// the returned call's channels report it. It fails the test when the INVITE
// cannot be sent.
func (ft *fakeTrunk) dial(t *testing.T, gw string, to string, opt callOptions) *trunkCall {
	t.Helper()
	media, err := newRTPEndpoint()
	if err != nil {
		t.Fatal(err)
	}
	if opt.from == "" {
		opt.from = "+15557770000"
	}
	host, port := splitHostPort(t, gw)
	recipient := sipmsg.Uri{Scheme: "sip", User: to, Host: host, Port: port}
	from := &sipmsg.FromHeader{DisplayName: opt.fromName, Address: sipmsg.Uri{Scheme: "sip", User: opt.from, Host: "127.0.0.1", Port: int(ft.addr.Port())}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	toHdr := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: to, Host: host, Port: port}, Params: sipmsg.NewParams()}
	ringCtx, hangupRing := context.WithCancel(ft.ctx)
	dlg, err := ft.dua.Invite(ringCtx, recipient, trunkSDP(media.local.Port(), ptPCMU, ptPCMA),
		from, toHdr, sipmsg.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		hangupRing()
		media.close()
		t.Fatalf("fake trunk: INVITE to %s: %v", gw, err)
	}
	c := newTrunkCall(ft, media)
	c.callID, c.number, c.invite, c.uac, c.hangupRing = dlg.InviteRequest.CallID().Value(), to, dlg.InviteRequest, dlg, hangupRing
	ft.addCall(c)
	go func() {
		defer close(c.done)
		defer hangupRing()
		ft.runUAC(ringCtx, c, dlg)
	}()

	return c
}

// runUAC waits for the gateway's answer, ACKs it, starts the media and
// returns once the dialog has ended.
func (ft *fakeTrunk) runUAC(ringCtx context.Context, c *trunkCall, dlg *sipgo.DialogClientSession) {
	err := dlg.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: func(res *sipmsg.Response) error {
		if res.IsProvisional() && res.StatusCode > 100 {
			c.ringOnce.Do(func() { close(c.ringing) })
		}
		return nil
	}})
	if err != nil {
		var rerr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &rerr):
			c.finalCode = rerr.Res.StatusCode
			c.end(endRejected)
		case ringCtx.Err() != nil:
			if dlg.InviteResponse != nil {
				c.finalCode = dlg.InviteResponse.StatusCode
			}
			c.end(endCancelled)
		default:
			c.end(endFailed)
		}
		return
	}
	c.finalCode = dlg.InviteResponse.StatusCode
	if err := dlg.Ack(ft.ctx); err != nil {
		c.end(endFailed)
		return
	}
	remote, err := parseRemoteSDP(dlg.InviteResponse.Body())
	if err != nil {
		c.end(endFailed)
		return
	}
	c.media.start(remote.addr, remote.audioPT, remote.eventPT)
	c.answer()
	select {
	case <-dlg.Context().Done():
		c.end(endByeReceived)
	case <-c.ended:
	case <-ft.ctx.Done():
		c.end(endFailed)
	}
}

// waitRinging fails the test unless the gateway answered the trunk's INVITE
// with a provisional response (180 or 183) within timeout; only then may the
// trunk CANCEL it (RFC 3261 section 9.1).
func (c *trunkCall) waitRinging(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.ringing:
	case <-c.ended:
		t.Fatalf("trunk call %s ended (%s, final status %d) instead of ringing", c.callID, c.endReason, c.finalCode)
	case <-time.After(timeout):
		t.Fatalf("trunk call %s: no 180/183 within %v", c.callID, timeout)
	}
}

// cancel gives up a call the trunk placed before it is answered: sipgo
// sends CANCEL (RFC 3261 section 9.1).
func (c *trunkCall) cancel() { c.hangupRing() }

// splitHostPort splits a host:port string for a SIP URI.
func splitHostPort(t *testing.T, hostport string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		t.Fatalf("no port in %q", hostport)
	}
	var port int
	if _, err := fmt.Sscanf(hostport[i+1:], "%d", &port); err != nil {
		t.Fatalf("bad port in %q", hostport)
	}

	return hostport[:i], port
}
