package faketrunk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/telephony"
)

// End is how a call ended, from the trunk's point of view.
type End string

// The ways a call ends.
const (
	EndByeReceived End = "bye received"
	EndByeSent     End = "bye sent"
	EndCancelled   End = "cancelled"
	EndRejected    End = "rejected"
	EndFailed      End = "failed"
)

// Call is one call of the trunk in either direction: the SIP dialog and
// the trunk's media. Its methods are safe for concurrent use.
type Call struct {
	trunk   *Trunk
	callID  string
	number  string // the Request-URI user: the dialled number
	invite  *sipmsg.Request
	offer   Description // the other side's offer (calls it placed) or answer (calls the trunk placed)
	uas     *sipgo.DialogServerSession
	uac     *sipgo.DialogClientSession
	media   *Media
	cancel  context.CancelFunc // gives up a call the trunk placed
	eventPT uint8              // the trunk's telephone-event payload type in its SDP

	ringing, answered, acked, ended chan struct{}
	ringOnce, answerOnce, ackOnce   sync.Once
	endOnce                         sync.Once

	final atomic.Int32 // final status of the INVITE

	mu        sync.Mutex
	endReason End
	sdpV      uint64 // version of the trunk's last SDP
	reinvites []Description
	reinvited chan struct{} // closed and replaced at each re-INVITE received
}

func newCall(tr *Trunk, media *Media) *Call {
	return &Call{
		trunk: tr, media: media, eventPT: DefaultEventPT,
		ringing: make(chan struct{}), answered: make(chan struct{}), acked: make(chan struct{}), ended: make(chan struct{}),
		reinvited: make(chan struct{}),
	}
}

// CallID is the dialog's Call-ID.
func (c *Call) CallID() string { return c.callID }

// Number is the dialled number: the Request-URI user of the INVITE.
func (c *Call) Number() string { return c.number }

// Invite is the call's initial INVITE, as received or sent.
func (c *Call) Invite() *sipmsg.Request { return c.invite }

// Remote is the other side's SDP: its offer for calls it placed, its
// answer for calls the trunk placed (valid once answered).
func (c *Call) Remote() Description {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.offer
}

// Media is the call's RTP.
func (c *Call) Media() *Media { return c.media }

// Heard is what the trunk heard on the call: its audio (8 kHz) and digits.
func (c *Call) Heard() *ear.Record { return c.media.heard }

// FinalCode is the final status of the INVITE (0 before it).
func (c *Call) FinalCode() int { return int(c.final.Load()) }

func (c *Call) setFinal(code int) { c.final.Store(int32(code)) } //nolint:gosec // a SIP status code

func (c *Call) ring()   { c.ringOnce.Do(func() { close(c.ringing) }) }
func (c *Call) answer() { c.answerOnce.Do(func() { close(c.answered) }) }

// end marks the call ended for reason (the first reason wins) and stops
// its media.
func (c *Call) end(reason End) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.endReason = reason
		c.mu.Unlock()
		close(c.ended)
	})
	c.media.Close()
}

// Ended reports how the call ended, and whether it has.
func (c *Call) Ended() (End, bool) {
	select {
	case <-c.ended:
		c.mu.Lock()
		defer c.mu.Unlock()

		return c.endReason, true
	default:
		return "", false
	}
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.ended }

// wait waits for ch, failing tb after ear.WaitTimeout, or at once when the
// call ends first unless ch is the end itself.
func (c *Call) wait(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	timeout := time.NewTimer(ear.WaitTimeout)
	defer timeout.Stop()
	select {
	case <-ch:
	case <-c.ended:
		select {
		case <-ch:
		default:
			reason, _ := c.Ended()
			tb.Fatalf("trunk call %s ended (%s, final status %d) instead of being %s", c.callID, reason, c.FinalCode(), what)
		}
	case <-timeout.C:
		tb.Fatalf("trunk call %s not %s within %v; %s", c.callID, what, ear.WaitTimeout, c.trunk.Summary())
	}
}

// WaitRinging waits until the other side answered the trunk's INVITE with
// a provisional response (180 or 183); only then may the trunk CANCEL it
// (RFC 3261 section 9.1).
func (c *Call) WaitRinging(tb testing.TB) {
	tb.Helper()
	c.wait(tb, c.ringing, "ringing")
}

// WaitAnswered waits until the call is answered (2xx sent or received).
func (c *Call) WaitAnswered(tb testing.TB) {
	tb.Helper()
	c.wait(tb, c.answered, "answered")
}

// WaitEnded waits until the call ends and fails tb unless it ended for
// reason.
func (c *Call) WaitEnded(tb testing.TB, reason End) {
	tb.Helper()
	c.wait(tb, c.ended, "ended")
	if got, _ := c.Ended(); got != reason {
		tb.Fatalf("trunk call %s ended with %q, want %q", c.callID, got, reason)
	}
}

// Bye hangs the answered call up from the trunk's side (RFC 3261 section
// 15.1.1) and waits for the other side's 2xx.
func (c *Call) Bye(tb testing.TB) {
	tb.Helper()
	if err := c.bye(c.trunk.ctx); err != nil {
		tb.Fatal(err)
	}
}

func (c *Call) bye(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ear.WaitTimeout)
	defer cancel()
	var err error
	switch {
	case c.uas != nil:
		err = c.uas.Bye(ctx)
	case c.uac != nil:
		err = c.uac.Bye(ctx)
	}
	if err != nil {
		return fmt.Errorf("fake trunk: BYE: %w", err)
	}
	c.end(EndByeSent)

	return nil
}

// Cancel gives up a call the trunk placed before it is answered: sipgo
// sends CANCEL (RFC 3261 section 9.1).
func (c *Call) Cancel() {
	if c.cancel != nil {
		c.cancel()
	}
}

// readAck takes the ACK of the trunk's 2xx (to the INVITE or to a
// re-INVITE).
func (c *Call) readAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c.uas != nil && c.uas.ReadAck(req, tx) == nil {
		c.ackOnce.Do(func() { close(c.acked) })
	}
}

// readBye takes the other side's BYE for the dialog.
func (c *Call) readBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error {
	switch {
	case c.uas != nil:
		return c.uas.ReadBye(req, tx)
	case c.uac != nil:
		return c.uac.ReadBye(req, tx)
	}

	return errNoDialog
}

var errNoDialog = errors.New("faketrunk: no dialog")

// nextSDP is the trunk's SDP for codec, a new version of its session
// description, with the trunk's RTP address and telephone-event payload
// type eventPT.
func (c *Call) nextSDP(codecs []telephony.Codec, eventPT uint8, dir string) []byte {
	c.mu.Lock()
	c.sdpV++
	v := c.sdpV
	c.mu.Unlock()

	return Description{Addr: c.media.Addr(), RTCP: c.media.RTCPAddr(), Codecs: codecs, TelephoneEventPT: eventPT, Direction: dir, Version: v}.Marshal()
}

// answerCodec is the codec the trunk answers the offer with: want when
// offered, else the offer's first G.711 codec.
func answerCodec(offer Description, want telephony.Codec) (telephony.Codec, bool) {
	for _, c := range offer.Codecs {
		if want.Name == "" || c.SameFormat(want) {
			return c, true
		}
	}

	return telephony.Codec{}, false
}

// Respond sends a response of the trunk to the other side's INVITE (for a
// Manual plan): 18x and 2xx carry an SDP answer in codec (one of the
// offer's) with the offer's telephone-event, and the tone starts in that
// codec; a 2xx then waits for the ACK. Other codes reject the call.
func (c *Call) Respond(tb testing.TB, code int, codec telephony.Codec) {
	tb.Helper()
	if c.uas == nil {
		tb.Fatal("Respond on a call the trunk placed")
	}
	if code >= 300 {
		if err := c.uas.Respond(code, ReasonPhrase(code), nil); err != nil {
			tb.Fatalf("fake trunk: %d: %v", code, err)
		}
		c.setFinal(code)
		c.end(EndRejected)

		return
	}
	answer, ok := answerCodec(c.offer, codec)
	if !ok {
		tb.Fatalf("fake trunk: %s not offered in %v", codec, c.offer.Codecs)
	}
	body := c.nextSDP([]telephony.Codec{answer}, c.offer.TelephoneEventPT, SendRecv)
	reason := "Session Progress"
	if code >= 200 {
		reason = "OK"
	}
	if err := c.uas.Respond(code, reason, body, sipmsg.NewHeader("Content-Type", "application/sdp")); err != nil {
		tb.Fatalf("fake trunk: %d: %v", code, err)
	}
	c.media.Start(c.offer.Addr, answer, c.offer.TelephoneEventPT)
	if code < 200 {
		c.ring()

		return
	}
	c.setFinal(code)
	c.answer()
	c.wait(tb, c.acked, "acknowledged")
}

// Reinvite sends a re-INVITE inside the established dialog (RFC 3264
// section 8.3.2) offering codec alone with telephone-event eventPT,
// acknowledges the other side's 2xx, then sends the tone in codec, from a
// new RTP stream (new SSRC, sequence number and timestamp) when newStream
// is set. It returns the other side's answer. Only calls the trunk
// answered send re-INVITEs.
func (c *Call) Reinvite(tb testing.TB, codec telephony.Codec, eventPT uint8, newStream bool) Description {
	tb.Helper()

	return c.reinvite(tb, codec, eventPT, newStream, SendRecv)
}

// Hold sends a re-INVITE offering the call's codec in direction dir
// (SendOnly or Inactive puts the call on hold, SendRecv takes it off, RFC
// 3264 section 8.4) and returns the other side's answer.
func (c *Call) Hold(tb testing.TB, codec telephony.Codec, dir string) Description {
	tb.Helper()

	return c.reinvite(tb, codec, telephony.TelephoneEvent8k.PayloadType, false, dir)
}

// reinvite is Reinvite in direction dir.
func (c *Call) reinvite(tb testing.TB, codec telephony.Codec, eventPT uint8, newStream bool, dir string) Description {
	tb.Helper()
	if c.uas == nil {
		tb.Fatal("Reinvite on a call the trunk placed")
	}
	ctx, cancel := context.WithTimeout(c.trunk.ctx, ear.WaitTimeout)
	defer cancel()
	body := c.nextSDP([]telephony.Codec{codec}, eventPT, dir)
	var res *sipmsg.Response
	for attempt := 0; ; attempt++ {
		req := sipmsg.NewRequest(sipmsg.INVITE, c.invite.Contact().Address)
		req.SetBody(body)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		var err error
		if res, err = c.uas.Do(ctx, req); err != nil {
			tb.Fatalf("fake trunk: re-INVITE: %v", err)
		}
		// 491: the other side had an INVITE of its own in progress (glare,
		// or its ACK of our answer not sent yet on a busy machine); the
		// side that did not choose the Call-ID retries after 2.1 to 4 s
		// (RFC 3261 section 14.1), at most twice here.
		if res.StatusCode != sipmsg.StatusRequestPending || attempt == 2 {
			break
		}
		select {
		case <-time.After(2100 * time.Millisecond):
		case <-ctx.Done():
			tb.Fatalf("fake trunk: re-INVITE: %v", ctx.Err())
		}
	}
	if res.StatusCode != sipmsg.StatusOK {
		tb.Fatalf("the re-INVITE was answered %d %s", res.StatusCode, res.Reason)
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, res.Contact().Address)
	if err := c.uas.WriteRequest(ack); err != nil {
		tb.Fatalf("fake trunk: ACK of the re-INVITE: %v", err)
	}
	answer, err := ParseSDP(res.Body())
	if err != nil {
		tb.Fatalf("the answer to the re-INVITE: %v", err)
	}
	c.media.Use(codec, eventPT, newStream)

	return answer
}

// WaitReinvite waits for the next re-INVITE the other side sends in the
// dialog (the trunk answers each at once, mirroring its direction, RFC
// 3264 section 6.1) and returns its offer.
func (c *Call) WaitReinvite(tb testing.TB) Description {
	tb.Helper()

	return waitChange(tb, &c.mu, func() <-chan struct{} { return c.reinvited }, func() (Description, bool) {
		if len(c.reinvites) == 0 {
			return Description{}, false
		}
		d := c.reinvites[0]
		c.reinvites = c.reinvites[1:]

		return d, true
	}, func() string { return fmt.Sprintf("trunk call %s: no re-INVITE within %v", c.callID, ear.WaitTimeout) })
}

// onReinvite answers a re-INVITE of the other side in the dialog: 200
// with the trunk's codec when offered (else the offer's first), the
// answering direction, and the media sent to the new address.
func (c *Call) onReinvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	var dlg *sipgo.Dialog
	switch {
	case c.uas != nil:
		dlg = &c.uas.Dialog
	case c.uac != nil:
		dlg = &c.uac.Dialog
	}
	if dlg == nil || dlg.ReadRequest(req, tx) != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "Server Internal Error", nil))

		return
	}
	offer, err := ParseSDP(req.Body())
	c.media.mu.Lock()
	current := c.media.codec
	c.media.mu.Unlock()
	codec, ok := answerCodec(offer, current)
	if !ok {
		codec, ok = answerCodec(offer, telephony.Codec{})
	}
	if err != nil || !ok {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil))

		return
	}
	res := sipmsg.NewResponseFromRequest(req, sipmsg.StatusOK, "OK", c.nextSDP([]telephony.Codec{codec}, offer.TelephoneEventPT, answerDirection(offer.Direction)))
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sipmsg.HeaderClone(&c.trunk.dua.ContactHDR))
	if err := tx.Respond(res); err != nil {
		return
	}
	c.media.Start(offer.Addr, codec, offer.TelephoneEventPT)
	c.mu.Lock()
	c.reinvites = append(c.reinvites, offer)
	close(c.reinvited)
	c.reinvited = make(chan struct{})
	c.mu.Unlock()
}

// onInvite runs one call the other side placed through the plan for its
// number, or answers a re-INVITE in a dialog the trunk knows.
func (tr *Trunk) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if tag, ok := req.To().Params.Get("tag"); ok && tag != "" {
		if c := tr.call(req.CallID().Value()); c != nil {
			c.onReinvite(req, tx)

			return
		}
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))

		return
	}
	tx.OnCancel(tr.record)
	number := req.Recipient.User
	plan := tr.planFor(number)
	if plan.Challenge != 0 && !authorized(req, tx, plan) {
		return
	}
	media, err := newMedia(tr.toneHz)
	if err != nil {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusInternalServerError, "No RTP Port", nil))

		return
	}
	dlg, err := tr.dua.ReadInvite(req, tx)
	if err != nil {
		media.Close()
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, sipmsg.StatusBadRequest, "Bad Request", nil))

		return
	}
	c := newCall(tr, media)
	c.callID, c.number, c.invite, c.uas = req.CallID().Value(), number, req.Clone(), dlg
	c.offer, err = ParseSDP(req.Body())
	tr.addCall(c, true)
	if err != nil {
		_ = dlg.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		c.setFinal(sipmsg.StatusNotAcceptableHere)
		c.end(EndFailed)

		return
	}
	tr.runUAS(c, dlg, plan)
}

// runUAS answers, rejects or rings the call as plan says and returns once
// the dialog has ended.
func (tr *Trunk) runUAS(c *Call, dlg *sipgo.DialogServerSession, plan Plan) {
	if plan.Manual {
		tr.hold(c, dlg)

		return
	}
	codec, ok := answerCodec(c.offer, plan.Codec)
	if !ok {
		_ = dlg.Respond(sipmsg.StatusNotAcceptableHere, "Not Acceptable Here", nil)
		c.setFinal(sipmsg.StatusNotAcceptableHere)
		c.end(EndFailed)

		return
	}
	answer := c.nextSDP([]telephony.Codec{codec}, c.offer.TelephoneEventPT, SendRecv)
	if plan.Ring > 0 || plan.RingForever {
		if plan.EarlyMedia {
			_ = dlg.Respond(sipmsg.StatusSessionInProgress, "Session Progress", answer, sipmsg.NewHeader("Content-Type", "application/sdp"))
			c.media.Start(c.offer.Addr, codec, c.offer.TelephoneEventPT)
		} else {
			_ = dlg.Respond(sipmsg.StatusRinging, "Ringing", nil)
		}
		c.ring()
		var ring <-chan time.Time
		if !plan.RingForever {
			timer := time.NewTimer(plan.Ring)
			defer timer.Stop()
			ring = timer.C
		}
		select {
		case <-ring:
		case <-dlg.Context().Done():
			c.end(EndCancelled)

			return
		case <-tr.ctx.Done():
			_ = dlg.Respond(sipmsg.StatusServiceUnavailable, "Service Unavailable", nil)
			c.end(EndFailed)

			return
		}
	}
	if plan.Reject != 0 {
		_ = dlg.Respond(plan.Reject, ReasonPhrase(plan.Reject), nil)
		c.setFinal(plan.Reject)
		c.end(EndRejected)

		return
	}
	if err := dlg.Respond(sipmsg.StatusOK, "OK", answer, sipmsg.NewHeader("Content-Type", "application/sdp")); err != nil {
		c.end(EndFailed)

		return
	}
	c.setFinal(sipmsg.StatusOK)
	c.media.Start(c.offer.Addr, codec, c.offer.TelephoneEventPT)
	c.answer()
	var bye <-chan time.Time
	if plan.ByeAfter > 0 {
		timer := time.NewTimer(plan.ByeAfter)
		defer timer.Stop()
		bye = timer.C
	}
	select {
	case <-bye:
		if err := c.bye(tr.ctx); err != nil {
			c.end(EndFailed)
		}
	case <-dlg.Context().Done():
		c.end(EndByeReceived) // no change when onBye already ended it
	case <-c.ended:
	case <-tr.ctx.Done():
		c.end(EndFailed)
	}
}

// hold keeps a call of a Manual plan until its dialog ends: a CANCEL
// before the test answered, a BYE, or the trunk's end.
func (tr *Trunk) hold(c *Call, dlg *sipgo.DialogServerSession) {
	select {
	case <-dlg.Context().Done():
		select {
		case <-c.answered:
			c.end(EndByeReceived)
		default:
			c.end(EndCancelled)
		}
	case <-c.ended:
	case <-tr.ctx.Done():
		select {
		case <-c.answered:
		default:
			_ = dlg.Respond(sipmsg.StatusServiceUnavailable, "Service Unavailable", nil)
		}
		c.end(EndFailed)
	}
}

// DialOptions shape a call the trunk places.
type DialOptions struct {
	// From is the caller's number (the From user), +15557770000 when
	// empty; FromName its display name.
	From, FromName string
	// Codecs are the G.711 codecs offered, in order; PCMU and PCMA when
	// empty.
	Codecs []telephony.Codec
	// Headers are added to the INVITE as they are (for example
	// P-Asserted-Identity, Privacy, Diversion).
	Headers []sipmsg.Header
}

// Dial places a call from the trunk to the user agent at dst for the
// number to (RFC 3261 section 13.2): an INVITE offering its G.711 codecs
// and telephone-event. The call rings until the other side answers (then
// the tone plays) or fails; the returned call reports it. It fails tb when
// the INVITE cannot be sent.
func (tr *Trunk) Dial(tb testing.TB, dst netip.AddrPort, to string, o DialOptions) *Call {
	tb.Helper()
	media, err := newMedia(tr.toneHz)
	if err != nil {
		tb.Fatal(err)
	}
	if o.From == "" {
		o.From = "+15557770000"
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []telephony.Codec{telephony.PCMU, telephony.PCMA}
	}
	c := newCall(tr, media)
	host, port := dst.Addr().String(), int(dst.Port())
	recipient := sipmsg.Uri{Scheme: "sip", User: to, Host: host, Port: port}
	from := &sipmsg.FromHeader{DisplayName: o.FromName, Address: sipmsg.Uri{Scheme: "sip", User: o.From, Host: "127.0.0.1", Port: int(tr.addr.Port())}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	toHdr := &sipmsg.ToHeader{Address: recipient, Params: sipmsg.NewParams()}
	tr.mu.Lock()
	if tr.closing {
		tr.mu.Unlock()
		media.Close()
		tb.Fatal("fake trunk: Dial after the test ended")
	}
	tr.work.Add(1)
	tr.mu.Unlock()
	ringCtx, cancel := context.WithCancel(tr.ctx)
	dlg, err := tr.dua.Invite(ringCtx, recipient, c.nextSDP(o.Codecs, c.eventPT, SendRecv),
		append([]sipmsg.Header{from, toHdr, sipmsg.NewHeader("Content-Type", "application/sdp")}, o.Headers...)...)
	if err != nil {
		cancel()
		media.Close()
		tr.work.Done()
		tb.Fatalf("fake trunk: INVITE to %s: %v", dst, err)
	}
	c.callID, c.number, c.invite, c.uac, c.cancel = dlg.InviteRequest.CallID().Value(), to, dlg.InviteRequest, dlg, cancel
	tr.addCall(c, false)
	go func() {
		defer tr.work.Done()
		defer cancel()
		tr.runUAC(ringCtx, c, dlg)
	}()

	return c
}

// runUAC waits for the other side's answer, ACKs it, starts the media and
// returns once the dialog has ended.
func (tr *Trunk) runUAC(ringCtx context.Context, c *Call, dlg *sipgo.DialogClientSession) {
	err := dlg.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: func(res *sipmsg.Response) error {
		if res.IsProvisional() && res.StatusCode > 100 {
			c.ring()
		}

		return nil
	}})
	if err != nil {
		var rerr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &rerr):
			c.setFinal(rerr.Res.StatusCode)
			c.end(EndRejected)
		case ringCtx.Err() != nil:
			if dlg.InviteResponse != nil {
				c.setFinal(dlg.InviteResponse.StatusCode)
			}
			c.end(EndCancelled)
		default:
			c.end(EndFailed)
		}

		return
	}
	c.setFinal(dlg.InviteResponse.StatusCode)
	if err := dlg.Ack(tr.ctx); err != nil {
		c.end(EndFailed)

		return
	}
	answer, err := ParseSDP(dlg.InviteResponse.Body())
	if err != nil {
		c.end(EndFailed)

		return
	}
	c.mu.Lock()
	c.offer = answer
	c.mu.Unlock()
	c.media.Start(answer.Addr, answer.Codec(), answer.TelephoneEventPT)
	c.answer()
	select {
	case <-dlg.Context().Done():
		c.end(EndByeReceived)
	case <-c.ended:
	case <-tr.ctx.Done():
		c.end(EndFailed)
	}
}
