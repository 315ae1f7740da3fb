package sip

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Reliable provisional responses (RFC 3262): PRACKs we send for a trunk's reliable 18x, the
// reliable 180 we send on inbound calls, and the trunk's PRACKs for them.

// PRACKMode is a trunk's use of reliable provisional responses (Trunk.PRACK).
type PRACKMode string

const (
	// PRACKSupported offers 100rel in outbound INVITEs (Supported) and acknowledges reliable
	// provisional responses with PRACK (RFC 3262 section 4); inbound calls ring reliably only
	// when the INVITE requires 100rel. It is the default ("").
	PRACKSupported PRACKMode = "supported"
	// PRACKOff never uses 100rel: outbound INVITEs do not offer it, a reliable provisional
	// response is taken as an ordinary one, and an INVITE that requires it is answered 420 Bad
	// Extension with Unsupported: 100rel (RFC 3261 section 8.2.2.3).
	PRACKOff PRACKMode = "off"
	// PRACKRequired sends Require: 100rel in outbound INVITEs; inbound calls ring reliably when
	// the INVITE supports 100rel and are answered 421 Extension Required with Require: 100rel
	// (RFC 3261 section 21.4.16) when it does not.
	PRACKRequired PRACKMode = "required"
)

// ErrNoPRACK is an IncomingCall's Cause when the trunk did not acknowledge a reliable 180 with
// PRACK within 64*T1: the INVITE was answered 500 (RFC 3262 section 3).
var ErrNoPRACK = errors.New("sip: reliable provisional response not acknowledged by PRACK")

// errBadRAck is a PRACK whose RAck header cannot be read (RFC 3262 section 7.2).
var errBadRAck = errors.New("sip: malformed RAck header")

// option100rel is the option tag of reliable provisional responses (RFC 3262 section 10).
const option100rel = "100rel"

// maxRSeq is the largest RSeq of a first reliable response (RFC 3262 section 3): 2^31-1.
const maxRSeq = 1<<31 - 1

// applyPRACK writes the trunk's 100rel option into an outbound INVITE built by buildInvite:
// Supported: timer, 100rel, and Require: 100rel for PRACKRequired (RFC 3262 section 4).
func applyPRACK(inv *sipmsg.Request, t *trunk) {
	if t.PRACK == PRACKOff {
		return
	}
	inv.RemoveHeader("Supported")
	inv.AppendHeader(sipmsg.NewHeader("Supported", "timer, "+option100rel))
	if t.PRACK == PRACKRequired {
		inv.AppendHeader(sipmsg.NewHeader("Require", option100rel))
	}
}

// prackClient is the UAC side of RFC 3262 for one outbound INVITE: the RSeq of the last
// reliable provisional response acknowledged on each early dialog (by To tag). It is used from
// Dial's goroutine only.
type prackClient struct {
	mode   PRACKMode
	last   map[string]uint32
	warned bool
}

func newPRACKClient(mode PRACKMode) *prackClient {
	return &prackClient{mode: mode, last: map[string]uint32{}}
}

// accept sees a response to the INVITE before Dial acts on it. A reliable provisional
// response (Require: 100rel, RFC 3262 section 4) in sequence is acknowledged with PRACK; a
// retransmission of one already acknowledged, or one out of sequence, is neither acknowledged
// nor processed (accept returns false). Every other response passes. A reliable response
// without a readable RSeq, or one to a trunk with PRACKOff, is taken as an ordinary one.
func (p *prackClient) accept(c *Call, sess *sipgo.DialogClientSession, res *sipmsg.Response) bool {
	if res.StatusCode <= 100 || !res.IsProvisional() || !hasOptionTag(res, "Require", option100rel) {
		return true
	}
	if p.mode == PRACKOff {
		if !p.warned {
			p.warned = true
			c.log.Warn("sip reliable provisional response not acknowledged: trunk has prack off", "status", res.StatusCode)
		}
		return true
	}
	rseq, err := strconv.ParseUint(headerValue(res, "RSeq"), 10, 32)
	if err != nil || rseq == 0 || res.CSeq() == nil || res.To() == nil {
		c.log.Warn("sip reliable provisional response without RSeq: not acknowledged", "status", res.StatusCode)
		return true
	}
	tag, _ := res.To().Params.Get("tag")
	if last, seen := p.last[tag]; seen && uint32(rseq) != last+1 {
		c.log.Debug("sip reliable provisional response discarded", "rseq", rseq, "last", last)
		return false
	}
	p.last[tag] = uint32(rseq)
	c.sendPRACK(sess, res, uint32(rseq))
	return true
}

// sendPRACK acknowledges the reliable provisional response res (RFC 3262 section 7.1) inside
// its early dialog: towards its Contact, with the next CSeq of the dialog, and RAck naming its
// RSeq and the INVITE's CSeq. The PRACK's transaction retransmits it over UDP (RFC 3261
// section 17.1.2); its outcome is only logged, from a goroutine that ends with the transaction
// or the call.
func (c *Call) sendPRACK(sess *sipgo.DialogClientSession, res *sipmsg.Response, rseq uint32) {
	c.dialog.retarget(res.Contact()) // the early dialog's remote target (RFC 3261 section 12.1.2)
	req := c.dialog.newRequest(sipmsg.PRACK)
	cseq := res.CSeq()
	req.AppendHeader(sipmsg.NewHeader("RAck", fmt.Sprintf("%d %d %s", rseq, cseq.SeqNo, cseq.MethodName)))
	if !c.ua.enter() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 64*sipmsg.T1)
	tx, err := sess.TransactionRequest(ctx, req)
	if err != nil {
		cancel()
		c.ua.leave()
		c.log.Warn("sip PRACK not sent", "rseq", rseq, "error", err)
		return
	}
	c.log.Debug("sip PRACK sent", "rseq", rseq, "status", res.StatusCode)
	go func() {
		defer c.ua.leave()
		defer cancel()
		defer tx.Terminate()
		for {
			select {
			case r := <-tx.Responses():
				if r.IsProvisional() {
					continue
				}
				if !r.IsSuccess() {
					c.log.Warn("sip PRACK refused", "rseq", rseq, "status", r.StatusCode)
				}
				return
			case <-tx.Done():
				if err := tx.Err(); err != nil {
					c.log.Warn("sip PRACK unanswered", "rseq", rseq, "error", err)
				}
				return
			case <-c.done:
				return
			}
		}
	}()
}

// check100rel applies trunk t's PRACK mode to an inbound INVITE (RFC 3262 section 3): it
// reports whether the call rings with reliable provisional responses, or answers the INVITE
// 420 (it requires 100rel and the trunk has PRACKOff) or 421 (PRACKRequired and the INVITE does
// not support it) and returns ok false.
func (ua *UA) check100rel(t *trunk, req *sipmsg.Request, tx sipmsg.ServerTransaction) (reliable, ok bool) {
	requires := hasOptionTag(req, "Require", option100rel)
	supports := requires || hasOptionTag(req, "Supported", option100rel)
	switch {
	case requires && t.PRACK == PRACKOff:
		ua.log.Info("sip INVITE rejected", "code", 420, "source", req.Source(), "error", "requires 100rel, trunk has prack off")
		ua.respond(tx, req, 420, "Bad Extension", sipmsg.NewHeader("Unsupported", option100rel))
		return false, false
	case !supports && t.PRACK == PRACKRequired:
		ua.log.Info("sip INVITE rejected", "code", 421, "source", req.Source(), "error", "does not support 100rel, trunk requires it")
		ua.respond(tx, req, 421, "Extension Required", sipmsg.NewHeader("Require", option100rel))
		return false, false
	}
	return requires || supports && t.PRACK == PRACKRequired, true
}

// prackServer is the UAS side of RFC 3262 for one inbound call: the RSeq of our reliable
// provisional responses and the one awaiting its PRACK. Safe for concurrent use.
type prackServer struct {
	inviteCSeq uint32

	mu      sync.Mutex
	next    uint32        // RSeq of the next reliable response
	pending uint32        // RSeq awaiting PRACK; 0 when none
	acked   chan struct{} // closed when pending is acknowledged
}

// newPRACKServer starts the RSeq space of an INVITE with CSeq inviteCSeq at a random value
// from 1 to 2^31-1 (RFC 3262 section 3).
func newPRACKServer(inviteCSeq uint32) *prackServer {
	n, err := rand.Int(rand.Reader, big.NewInt(maxRSeq))
	first := uint32(1)
	if err == nil {
		first += uint32(n.Int64()) //nolint:gosec // below 2^31
	}
	return &prackServer{inviteCSeq: inviteCSeq, next: first}
}

// start takes the RSeq of a new reliable response and the channel closed at its PRACK; ok is
// false while an earlier one still awaits its PRACK, as no second may be sent before it (RFC
// 3262 section 3).
func (s *prackServer) start() (rseq uint32, acked <-chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != 0 {
		return 0, nil, false
	}
	s.pending, rseq = s.next, s.next
	s.next++
	s.acked = make(chan struct{})
	return rseq, s.acked, true
}

// acknowledge matches a PRACK's RAck against the response awaiting it and reports whether it
// matched (RFC 3262 section 3: the RSeq, the INVITE's CSeq and method).
func (s *prackServer) acknowledge(rseq, cseq uint32, method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == 0 || rseq != s.pending || cseq != s.inviteCSeq || method != string(sipmsg.INVITE) {
		return false
	}
	s.pending = 0
	close(s.acked)
	return true
}

// parseRAck reads an RAck header value: response-num CSeq-num Method (RFC 3262 section 7.2).
func parseRAck(v string) (rseq, cseq uint32, method string, err error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return 0, 0, "", fmt.Errorf("%w: %q", errBadRAck, v)
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	n, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || r == 0 {
		return 0, 0, "", fmt.Errorf("%w: %q", errBadRAck, v)
	}
	return uint32(r), uint32(n), f[2], nil
}

// ringReliably sends 180 Ringing as a reliable provisional response (Require: 100rel and RSeq,
// RFC 3262 section 3) and retransmits it from a goroutine, after T1 and then at doubling
// intervals, until its PRACK arrives or the call has its final response. Unacknowledged for
// 64*T1, the INVITE is answered 500 and the call ends with ErrNoPRACK. A second call while the
// first 180 awaits its PRACK sends nothing.
func (ic *IncomingCall) ringReliably() error {
	rseq, acked, ok := ic.call.prack.start()
	if !ok {
		return nil
	}
	res := sipmsg.NewResponseFromRequest(ic.sess.InviteRequest, 180, "Ringing", nil)
	res.AppendHeader(sipmsg.NewHeader("Server", ic.ua.cfg.UserAgent))
	res.AppendHeader(sipmsg.NewHeader("Require", option100rel))
	res.AppendHeader(sipmsg.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10)))
	if err := ic.sess.WriteResponse(res); err != nil {
		return err
	}
	if !ic.ua.enter() {
		return nil
	}
	go func() {
		defer ic.ua.leave()
		ic.retransmitReliable(res, rseq, acked)
	}()
	return nil
}

// retransmitReliable is ringReliably's retransmission loop (RFC 3262 section 3).
func (ic *IncomingCall) retransmitReliable(res *sipmsg.Response, rseq uint32, acked <-chan struct{}) {
	interval := sipmsg.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	deadline := time.NewTimer(64 * sipmsg.T1)
	defer deadline.Stop()
	for {
		select {
		case <-acked:
			ic.log.Debug("sip reliable 180 acknowledged", "rseq", rseq)
			return
		case <-ic.done:
			return
		case <-retransmit.C:
			if err := ic.tx.Respond(res); err != nil {
				ic.log.Debug("sip reliable 180 retransmission failed", "error", err)
				return
			}
			interval *= 2
			retransmit.Reset(interval)
		case <-deadline.C:
			if ic.finalize(ErrNoPRACK) {
				ic.log.Warn("sip reliable 180 not acknowledged by PRACK: INVITE refused", "rseq", rseq)
				_ = ic.respondFinal(500, "Server Internal Error", warning(ic.ua.cfg.PublicHost, ErrNoPRACK))
				ic.call.end(ErrNoPRACK)
				ic.close()
			}
			return
		}
	}
}

// onPrack routes a PRACK (RFC 3262 section 7.1): to the ringing inbound call whose early
// dialog it names, once it passed that call's source check (403 otherwise), else to an
// established call as any request inside a dialog (dialogOf).
func (ua *UA) onPrack(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := ua.ringingDialog(req); c != nil {
		if !c.admits(req) {
			ua.counters.foreignInDialog.Add(1)
			ua.refusals.refused(sourceAddr(req), "sip in-dialog request not from the dialog's trunk", "method", string(req.Method),
				"source", req.Source(), "transport", req.Transport(), "call", c.id)
			ua.respond(tx, req, 403, "Forbidden")
			return
		}
		c.onPrack(req, tx)
		return
	}
	if c := ua.dialogOf(req, tx); c != nil {
		c.onPrack(req, tx)
	}
}

// ringingDialog returns the call of the ringing inbound INVITE whose early dialog req names
// (Call-ID, our To tag and the trunk's From tag), or nil.
func (ua *UA) ringingDialog(req *sipmsg.Request) *Call {
	key, ok := inDialogKey(req)
	if !ok {
		return nil
	}
	from, _ := req.From().Params.Get("tag")
	ua.mu.Lock()
	ic := ua.ringing[ringingKey(req.CallID().Value(), from)]
	ua.mu.Unlock()
	if ic == nil || ic.call.dialog.key != key {
		return nil
	}
	return ic.call
}

// onPrack answers a PRACK of the trunk: 200 when its RAck matches the reliable provisional
// response awaiting it (which stops that response's retransmissions), 481 when it matches none
// (RFC 3262 section 3), 400 when RAck is missing or malformed.
func (c *Call) onPrack(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !c.dialog.acceptCSeq(req, tx) {
		return
	}
	rseq, cseq, method, err := parseRAck(headerValue(req, "RAck"))
	if err != nil {
		c.ua.respond(tx, req, 400, "Bad Request", warning(c.ua.cfg.PublicHost, err))
		return
	}
	if c.prack == nil || !c.prack.acknowledge(rseq, cseq, method) {
		c.log.Info("sip PRACK matches no reliable provisional response", "rack", headerValue(req, "RAck"))
		c.ua.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.ua.respond(tx, req, 200, "OK")
}
