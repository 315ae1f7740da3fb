package sip

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// newRequest starts a request inside the call's dialog towards the remote target (RFC 3261
// section 12.2.1.1); sipgo's dialog session adds From, To, Call-ID, CSeq, Route and Via. Over
// UDP it is sent from the listening socket, like every request of this user agent.
func (c *Call) newRequest(method sipmsg.RequestMethod) *sipmsg.Request {
	c.mu.Lock()
	target := *c.target.Clone()
	c.mu.Unlock()
	req := sipmsg.NewRequest(method, target)
	req.SetTransport(c.transport().sipgoNetwork())
	c.ua.mu.Lock()
	if b := c.ua.listeners[c.transport()]; b != nil && b.transport == TransportUDP {
		req.Laddr = sipmsg.Addr{IP: b.local.Addr().AsSlice(), Port: int(b.local.Port())}
	}
	c.ua.mu.Unlock()
	if method != sipmsg.ACK {
		c.addCommonHeaders(req)
	}
	return req
}

func (c *Call) transport() Transport { return c.tp }

// sendBye sends a BYE and waits for its final response (RFC 3261 section 15.1.1).
func (c *Call) sendBye(ctx context.Context, reason error) error {
	bye := c.newRequest(sipmsg.BYE)
	var se *StatusError
	if errors.As(reason, &se) && se.Code > 0 {
		bye.AppendHeader(sipmsg.NewHeader("Reason", fmt.Sprintf("SIP;cause=%d;text=%q", se.Code, se.Reason)))
	}
	return c.dlg.WriteBye(ctx, bye)
}

// reinvite sends a re-INVITE with body as the offer and a Session-Expires of interval (RFC 4028
// section 7.4, we stay the refresher), waits for the final response, and acknowledges a 2xx
// (RFC 3261 section 13.2.2.4). A failure response is returned as *StatusError.
func (c *Call) reinvite(body []byte, interval time.Duration) (*sipmsg.Response, error) {
	req := c.newRequest(sipmsg.INVITE)
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	ct := c.ourContact()
	req.AppendHeader(&ct)
	if interval > 0 {
		req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(interval.Seconds()))))
		req.AppendHeader(sipmsg.NewHeader("Min-SE", itoa(int(c.ua.cfg.MinSE.Seconds()))))
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 64*sipmsg.T1)
	defer cancel()
	tx, err := c.dlg.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				return nil, statusErrorFrom(res)
			}
			ack := c.newRequest(sipmsg.ACK)
			if err := c.dlg.WriteRequest(ack); err != nil {
				return nil, fmt.Errorf("sip: send ACK: %w", err)
			}
			// A retransmitted 2xx means the ACK was lost: send the same ACK again.
			tmpl := ack.Clone()
			if cl, _, err := c.ua.client(c.transport()); err == nil {
				tx.OnRetransmission(func(r *sipmsg.Response) {
					if r.IsSuccess() {
						_ = cl.WriteRequest(tmpl.Clone(), sendAsIs)
					}
				})
			}
			if ct := res.Contact(); ct != nil {
				c.mu.Lock()
				c.target = *ct.Address.Clone()
				c.mu.Unlock()
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, sipmsg.ErrTransactionTerminated
		case <-c.done:
			return nil, c.Err()
		}
	}
}

// ourContact is our Contact for the call's transport.
func (c *Call) ourContact() sipmsg.ContactHeader {
	c.ua.mu.Lock()
	b := c.ua.listeners[c.transport()]
	c.ua.mu.Unlock()
	user := c.trunk.Username
	if b == nil {
		return sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: user, Host: c.ua.cfg.PublicHost}}
	}
	return c.ua.contact(user, b)
}

// sendAsIs is a sipgo request option that sends a fully built request without changes.
func sendAsIs(*sipgo.Client, *sipmsg.Request) error { return nil }
