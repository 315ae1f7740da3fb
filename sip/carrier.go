package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// ErrNoProgress is returned by Dial when the trunk sent no 180, 183 or final response within
// DialRequest.ProgressTimeout, and by UA.Probe when an OPTIONS probe got no response in time.
var ErrNoProgress = errors.New("sip: no response from the trunk in time")

// Causes Dial's setup context is cancelled with at DialRequest.ProgressTimeout.
var (
	// errNoResponse: the trunk sent nothing; sipgo's cause for giving up an INVITE without
	// waiting for a provisional response.
	errNoResponse = sipgo.WaitAnswerForceCancelErr
	// errProgressTimeout: the trunk sent 100 Trying only; the INVITE is cancelled.
	errProgressTimeout = errors.New("sip: no ringing in time")
)

// RetryAfter returns the Retry-After of the failure response (RFC 3261 section 20.33), in
// whole seconds, 0 when absent or unreadable.
func (e *StatusError) RetryAfter() time.Duration { return retryAfter(e) }

// Probe sends one OPTIONS request to trunk name (RFC 3261 section 11), at target when valid
// (one of UA.Targets) or else to the trunk's host and port, and waits for its final response
// until ctx ends: it returns the response's status code, ErrNoProgress when ctx ended first (or
// the transaction timed out), ErrUnknownTrunk, or ErrNotServing/ErrNoTransport before the user
// agent serves. A probe carries no credentials: a trunk that challenges OPTIONS with 401 or 407
// has answered, which is all a probe asks.
func (ua *UA) Probe(ctx context.Context, name string, target netip.AddrPort) (int, error) {
	t := ua.trunkByName(name)
	if t == nil {
		return 0, fmt.Errorf("%w: %q", ErrUnknownTrunk, name)
	}
	cl, b, err := ua.client(t.Transport)
	if err != nil {
		return 0, err
	}
	req := sipmsg.NewRequest(sipmsg.OPTIONS, t.uri(""))
	req.SetTransport(sipgoNetwork(t.Transport))
	user := t.Username
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: ua.cfg.PublicHost}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", newID())
	req.AppendHeader(from)
	req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", Host: t.Host}, Params: sipmsg.NewParams()})
	cid := sipmsg.CallIDHeader(newID() + newID())
	req.AppendHeader(&cid)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.OPTIONS})
	ct := ua.contact(user, b)
	req.AppendHeader(&ct)
	req.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	ua.addCommonHeaders(req)
	if target.IsValid() {
		req.SetDestination(target.String())
	}
	res, err := cl.Do(ctx, req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, sipmsg.ErrTransactionTimeout) {
			return 0, fmt.Errorf("%w: OPTIONS to %s", ErrNoProgress, t.Name)
		}
		return 0, fmt.Errorf("sip: OPTIONS to %s: %w", t.Name, err)
	}
	return res.StatusCode, nil
}

// uri is the SIP URI of trunk t with user part user ("" for none): its host and port, and the
// transport parameter for TCP and TLS (RFC 3261 section 19.1.1).
func (t *trunk) uri(user string) sipmsg.Uri {
	u := sipmsg.Uri{Scheme: "sip", User: user, Host: t.Host, Port: t.Port}
	if t.Transport != telephony.TransportUDP {
		u.UriParams = sipmsg.NewParams()
		u.UriParams.Add("transport", string(t.Transport))
	}
	return u
}
