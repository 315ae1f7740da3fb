package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// dialogSession is what a dialog needs from sipgo's client or server dialog session, which
// keeps the Call-ID, the tags, the route set and our CSeq (RFC 3261 section 12.2.1.1).
type dialogSession interface {
	TransactionRequest(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error)
	WriteRequest(req *sipmsg.Request) error
	WriteBye(ctx context.Context, bye *sipmsg.Request) error
	ReadBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error
}

// errDialogEnded is returned by dialog operations that were waiting when the call ended.
var errDialogEnded = errors.New("sip: dialog ended")

// dialog is the SIP dialog of a call (RFC 3261 section 12): its identifiers, the remote target
// and the peer's CSeq, requests built inside it, and the routing of ACKs to the 2xx responses
// they acknowledge. Our side of the CSeq, the tags and the route set are kept by sipgo's
// session. It knows nothing of SDP. All methods are safe for concurrent use once sess is set.
type dialog struct {
	ua          *UA
	tp          telephony.Transport // of the dialog's requests
	contactUser string              // user part of our Contact in requests we send
	ownsCallID  bool                // we sent the INVITE that created the dialog
	done        <-chan struct{}     // closed when the call has ended
	inviteSlot  chan struct{}       // holds a token while an INVITE transaction of the dialog runs

	// set while the dialog is created, before it is used concurrently
	callID string
	key    string        // Call-ID and tags: the key of the UA's dialog table, once established
	sess   dialogSession // sipgo's session, once the INVITE went out or came in

	mu         sync.Mutex
	target     sipmsg.Uri // remote target: the peer's Contact (RFC 3261 section 12.1)
	remoteCSeq uint32     // highest CSeq of the peer's requests; 0 before the first
	ackWaits   map[uint32]chan *sipmsg.Request
	ackBody    []byte     // body of the ACK of an inbound INVITE (the answer to a late offer)
	peer       netip.Addr // address the trunk answered our INVITE from; invalid for inbound calls
}

func newDialog(ua *UA, tp telephony.Transport, contactUser string, ownsCallID bool, done <-chan struct{}) *dialog {
	return &dialog{
		ua: ua, tp: tp, contactUser: contactUser, ownsCallID: ownsCallID, done: done,
		inviteSlot: make(chan struct{}, 1),
		ackWaits:   map[uint32]chan *sipmsg.Request{},
	}
}

// setTarget sets the remote target.
func (d *dialog) setTarget(uri *sipmsg.Uri) {
	d.mu.Lock()
	d.target = *uri.Clone()
	d.mu.Unlock()
}

// retarget follows the peer's Contact in a 2xx or a target refresh request as the new remote
// target (RFC 3261 section 12.2.1.2 and 12.2.2); without a Contact the target stays.
func (d *dialog) retarget(ct *sipmsg.ContactHeader) {
	if ct != nil {
		d.setTarget(&ct.Address)
	}
}

// setPeer records the address the trunk's 2xx to our INVITE came from: requests of the dialog
// from there belong to the trunk even when its AllowedSources do not list it (a trunk given by
// host name).
func (d *dialog) setPeer(ip netip.Addr) {
	d.mu.Lock()
	d.peer = ip
	d.mu.Unlock()
}

// isPeer reports whether ip is the address recorded by setPeer.
func (d *dialog) isPeer(ip netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peer.IsValid() && ip == d.peer
}

// setRemoteCSeq records the CSeq of the request that created the dialog (RFC 3261 section 12.1.1).
func (d *dialog) setRemoteCSeq(n uint32) {
	d.mu.Lock()
	d.remoteCSeq = n
	d.mu.Unlock()
}

// acceptCSeq enforces RFC 3261 section 12.2.2: a request inside the dialog with a CSeq lower than
// the last one from the peer is answered 500. It returns false after responding.
func (d *dialog) acceptCSeq(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	cseq := req.CSeq()
	if cseq == nil {
		d.ua.respond(tx, req, 400, "Bad Request")
		return false
	}
	d.mu.Lock()
	stale := d.remoteCSeq != 0 && cseq.SeqNo <= d.remoteCSeq
	if !stale {
		d.remoteCSeq = cseq.SeqNo
	}
	d.mu.Unlock()
	if stale {
		d.ua.respond(tx, req, 500, "Server Internal Error", sipmsg.NewHeader("Retry-After", "1"))
		return false
	}
	return true
}

// newRequest starts a request inside the dialog towards the remote target (RFC 3261 section
// 12.2.1.1); sipgo's session adds From, To, Call-ID, CSeq, Route and Via. Over UDP it is sent
// from the listening socket, like every request of this user agent.
func (d *dialog) newRequest(method sipmsg.RequestMethod) *sipmsg.Request {
	d.mu.Lock()
	target := *d.target.Clone()
	d.mu.Unlock()
	req := sipmsg.NewRequest(method, target)
	req.SetTransport(sipgoNetwork(d.tp))
	if b := d.ua.listener(d.tp); b != nil && b.transport == telephony.TransportUDP {
		req.Laddr = sipmsg.Addr{IP: b.local.Addr().AsSlice(), Port: int(b.local.Port())}
	}
	if method != sipmsg.ACK {
		d.ua.addCommonHeaders(req)
	}
	return req
}

// contact is our Contact for requests of the dialog.
func (d *dialog) contact() sipmsg.ContactHeader { return d.ua.contactOn(d.tp, d.contactUser) }

// sendBye sends a BYE, with a Reason header (RFC 3326) when reason is a *StatusError, and waits
// for its final response (RFC 3261 section 15.1.1).
func (d *dialog) sendBye(ctx context.Context, reason error) error {
	bye := d.newRequest(sipmsg.BYE)
	var se *StatusError
	if errors.As(reason, &se) && se.Code > 0 {
		bye.AppendHeader(sipmsg.NewHeader("Reason", fmt.Sprintf(`SIP;cause=%d;text="%s"`, se.Code, sanitizeText(se.Reason))))
	}
	return d.sess.WriteBye(ctx, bye)
}

// readBye answers a BYE of the peer through sipgo's session (RFC 3261 section 15.1.2).
func (d *dialog) readBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error {
	return d.sess.ReadBye(req, tx)
}

// onAck delivers an ACK to whoever waits for it: respond2xx for a 2xx to the peer's re-INVITE,
// or sipgo's server session for the initial 2xx (which then confirms the dialog), whose body is
// kept as the answer to a late offer. It returns sipgo's error for an ACK it refused.
func (d *dialog) onAck(req *sipmsg.Request) error {
	cseq := req.CSeq()
	if cseq == nil {
		return nil
	}
	d.mu.Lock()
	ch, ok := d.ackWaits[cseq.SeqNo]
	if ok {
		delete(d.ackWaits, cseq.SeqNo)
	}
	d.mu.Unlock()
	if ok {
		ch <- req
		return nil
	}
	s, isServer := d.sess.(*sipgo.DialogServerSession)
	if !isServer {
		return nil
	}
	d.mu.Lock()
	if d.ackBody == nil {
		d.ackBody = req.Body()
	}
	d.mu.Unlock()
	return s.ReadAck(req, nil)
}

// lateAnswer returns the body of the ACK to the initial 2xx of an inbound call.
func (d *dialog) lateAnswer() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ackBody
}

// closeAckWaits ends every wait for an ACK: the call has ended.
func (d *dialog) closeAckWaits() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for cseq, ch := range d.ackWaits {
		close(ch)
		delete(d.ackWaits, cseq)
	}
}

// respond2xx sends a 2xx to an INVITE of the peer inside the dialog and retransmits it over UDP,
// starting at T1 and doubling up to T2, until the ACK arrives, which it returns, or 64*T1 passed
// (ErrAckTimeout, RFC 3261 section 13.3.1.4). It returns errDialogEnded when the call ended first.
func (d *dialog) respond2xx(tx sipmsg.ServerTransaction, res *sipmsg.Response) (*sipmsg.Request, error) {
	cseq := res.CSeq().SeqNo
	acks := make(chan *sipmsg.Request, 1)
	d.mu.Lock()
	d.ackWaits[cseq] = acks
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.ackWaits, cseq)
		d.mu.Unlock()
	}()
	if err := tx.Respond(res); err != nil {
		return nil, err
	}
	t1, t2 := sipmsg.T1, sipmsg.T2
	interval := t1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	deadline := time.NewTimer(64 * t1)
	defer deadline.Stop()
	unreliable := transportOf(res) == telephony.TransportUDP
	for {
		select {
		case ack, ok := <-acks:
			if !ok {
				return nil, errDialogEnded
			}
			return ack, nil
		case <-retransmit.C:
			if unreliable {
				if err := tx.Respond(res); err != nil {
					return nil, err
				}
			}
			interval = min(2*interval, t2)
			retransmit.Reset(interval)
		case <-deadline.C:
			return nil, ErrAckTimeout
		}
	}
}
