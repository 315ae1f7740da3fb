package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/webtrunk/webtrunk/telephony"
)

// newRequest starts a request inside the call's dialog towards the remote target (RFC 3261
// section 12.2.1.1); sipgo's dialog session adds From, To, Call-ID, CSeq, Route and Via. Over
// UDP it is sent from the listening socket, like every request of this user agent.
func (c *Call) newRequest(method sipmsg.RequestMethod) *sipmsg.Request {
	c.mu.Lock()
	target := *c.target.Clone()
	c.mu.Unlock()
	req := sipmsg.NewRequest(method, target)
	req.SetTransport(sipgoNetwork(c.transport()))
	c.ua.mu.Lock()
	if b := c.ua.listeners[c.transport()]; b != nil && b.transport == telephony.TransportUDP {
		req.Laddr = sipmsg.Addr{IP: b.local.Addr().AsSlice(), Port: int(b.local.Port())}
	}
	c.ua.mu.Unlock()
	if method != sipmsg.ACK {
		c.addCommonHeaders(req)
	}
	return req
}

func (c *Call) transport() telephony.Transport { return c.tp }

// sendBye sends a BYE and waits for its final response (RFC 3261 section 15.1.1).
func (c *Call) sendBye(ctx context.Context, reason error) error {
	bye := c.newRequest(sipmsg.BYE)
	var se *StatusError
	if errors.As(reason, &se) && se.Code > 0 {
		bye.AppendHeader(sipmsg.NewHeader("Reason", fmt.Sprintf("SIP;cause=%d;text=%q", se.Code, se.Reason)))
	}
	return c.dlg.WriteBye(ctx, bye)
}

// reinvite sends one re-INVITE offering body, with Session-Expires and Min-SE when st has a
// session interval (RFC 4028 section 7.4, the refresher role unchanged), and waits for its final
// response. A 401 or 407 is answered with digest credentials in a new request (RFC 3261 section
// 22.2) as challengeState allows; a 2xx is acknowledged (section 13.2.2.4), and the ACK sent
// again for each retransmitted 2xx. A failure response is returned as *StatusError, Timer B as
// ErrNoResponse.
func (c *Call) reinvite(body []byte, st sessionTimer) (*sipmsg.Response, error) {
	auth := &challengeState{trunk: c.trunk}
	var credentials sipmsg.Header
	for {
		req := c.newRequest(sipmsg.INVITE)
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		ct := c.ourContact()
		req.AppendHeader(&ct)
		if st.interval > 0 {
			refresher := "uac"
			if st.refresher == Remote {
				refresher = "uas"
			}
			req.AppendHeader(sipmsg.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(st.interval.Seconds()), refresher)))
			req.AppendHeader(sipmsg.NewHeader("Min-SE", itoa(int(c.ua.cfg.MinSE.Seconds()))))
		}
		if credentials != nil {
			req.AppendHeader(credentials)
		}
		req.SetBody(body)
		res, err := c.inviteTransaction(req)
		if err != nil {
			return nil, err
		}
		switch {
		case res.IsSuccess():
			return res, nil
		case res.StatusCode == 401 || res.StatusCode == 407:
			if err := auth.check(res); err != nil {
				return nil, err
			}
			if credentials, err = c.digestCredentials(req, res); err != nil {
				return nil, fmt.Errorf("%w: %w: %w", ErrAuthFailed, err, statusErrorFrom(res))
			}
		default:
			return nil, statusErrorFrom(res)
		}
	}
}

// digestCredentials answers the challenge of a 401 or 407 to req (RFC 2617 section 3.2.2):
// an Authorization or Proxy-Authorization header with the trunk's credentials.
func (c *Call) digestCredentials(req *sipmsg.Request, res *sipmsg.Response) (sipmsg.Header, error) {
	challenge, answer := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		challenge, answer = "Proxy-Authenticate", "Proxy-Authorization"
	}
	chal, err := digest.ParseChallenge(headerValue(res, challenge))
	if err != nil {
		return nil, err
	}
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.Addr(),
		Username: c.trunk.Username,
		Password: c.trunk.Password,
	})
	if err != nil {
		return nil, err
	}
	return sipmsg.NewHeader(answer, cred.String()), nil
}

// inviteTransaction sends an INVITE inside the dialog and returns its final response, after
// acknowledging a 2xx and following its Contact as the new remote target (RFC 3261 section
// 12.2.1.2). sipgo's transaction acknowledges failure responses itself (section 17.1.1.3).
func (c *Call) inviteTransaction(req *sipmsg.Request) (*sipmsg.Response, error) {
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
				return res, nil
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
				if errors.Is(err, sipmsg.ErrTransactionTimeout) {
					return nil, fmt.Errorf("%w: %w", ErrNoResponse, err)
				}
				return nil, err
			}
			return nil, sipmsg.ErrTransactionTerminated
		case <-c.done:
			return nil, fmt.Errorf("%w: %w", ErrCallEnded, c.Err())
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
