package gobrowser

import (
	"reflect"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Login authenticates the connection as user with password and fails tb
// unless the gateway confirms it with protocol version
// signaling.Version; it returns the confirmation.
func (c *Client) Login(tb testing.TB, user, password string) signaling.Authenticated {
	tb.Helper()
	c.Send(tb, signaling.Auth{Version: signaling.Version, User: user, Password: password, Ref: "login"})

	return c.expectAuthenticated(tb, user)
}

// LoginToken authenticates the connection with a token for user.
func (c *Client) LoginToken(tb testing.TB, user, token string) signaling.Authenticated {
	tb.Helper()
	c.Send(tb, signaling.Auth{Version: signaling.Version, Token: token})

	return c.expectAuthenticated(tb, user)
}

// Resume authenticates the connection with the resume token of user's
// connection that dropped, and fails tb unless the gateway confirms that
// it resumed.
func (c *Client) Resume(tb testing.TB, user, token string) signaling.Authenticated {
	tb.Helper()
	c.Send(tb, signaling.Auth{Version: signaling.Version, User: user, ResumeToken: token, Ref: "resume"})
	a := c.expectAuthenticated(tb, user)
	if !a.Resumed {
		tb.Fatalf("resume as %s: authenticated without resumed", user)
	}

	return a
}

func (c *Client) expectAuthenticated(tb testing.TB, user string) signaling.Authenticated {
	tb.Helper()
	m := c.Expect(tb, "authenticated", func(m signaling.Message) bool {
		return m.MessageType() == signaling.TypeAuthenticated || m.MessageType() == signaling.TypeError
	})
	a, ok := m.(signaling.Authenticated)
	if !ok {
		tb.Fatalf("login as %s: got %s", user, Describe([]signaling.Message{m}))
	}
	if a.User != user || a.Version != signaling.Version {
		tb.Fatalf("login as %s: authenticated as %q, protocol %d", user, a.User, a.Version)
	}

	return a
}

// Dial places call id to number with p's offer, and applies the
// gateway's answer, which must be the first message about the call.
func (c *Client) Dial(tb testing.TB, id, to string, p *Peer) {
	tb.Helper()
	c.Send(tb, signaling.Dial{ID: id, To: to, SDP: p.Offer(tb), Ref: id})
	p.ApplyAnswer(tb, c.ExpectAnswer(tb, id).SDP)
}

// Accept answers the ringing inbound call id with p's offer, and applies
// the gateway's answer, which must be the first message about the call.
func (c *Client) Accept(tb testing.TB, id string, p *Peer) {
	tb.Helper()
	c.Send(tb, signaling.Accept{CallID: id, SDP: p.Offer(tb), Ref: "accept-" + id})
	p.ApplyAnswer(tb, c.ExpectAnswer(tb, id).SDP)
}

// ExpectAnswer takes the first message about call id and fails tb unless
// it is the gateway's answer.
func (c *Client) ExpectAnswer(tb testing.TB, id string) signaling.Answer {
	tb.Helper()
	m := c.Expect(tb, "answer for "+id, About(id))
	a, ok := m.(signaling.Answer)
	if !ok {
		tb.Fatalf("call %s: expected the answer first, got %s", id, Describe([]signaling.Message{m}))
	}

	return a
}

// ExpectIncoming takes the announcement of an inbound call to did.
func (c *Client) ExpectIncoming(tb testing.TB, did string) signaling.Incoming {
	tb.Helper()
	in := c.Expect(tb, "incoming call to "+did, func(m signaling.Message) bool {
		i, ok := m.(signaling.Incoming)

		return ok && i.To == did
	}).(signaling.Incoming) //nolint:forcetypeassert // matched above
	if in.CallID == "" {
		tb.Fatal("incoming without call_id")
	}

	return in
}

// ExpectHangup takes the hangup of call id and fails tb unless its reason
// is reason and, when sipCode is not 0, its SIP status sipCode.
func (c *Client) ExpectHangup(tb testing.TB, id string, reason signaling.Reason, sipCode int) signaling.HangupEvent {
	tb.Helper()
	h := c.Expect(tb, "hangup of "+id, Is[signaling.HangupEvent](id)).(signaling.HangupEvent) //nolint:forcetypeassert // matched
	if h.Reason != reason || (sipCode != 0 && h.SIPCode != sipCode) {
		tb.Fatalf("hangup of %s: reason %q sip_code %d (%q), want reason %q sip_code %d", id, h.Reason, h.SIPCode, h.SIPReason, reason, sipCode)
	}

	return h
}

// HangUp sends the hangup of call id, as a user ending the call does, and
// takes the gateway's hangup of it, failing tb unless its reason is
// local_hangup.
func (c *Client) HangUp(tb testing.TB, id string) signaling.HangupEvent {
	tb.Helper()
	c.Send(tb, signaling.Hangup{CallID: id})

	return c.ExpectHangup(tb, id, signaling.ReasonLocalHangup, 0)
}

// IsType matches messages of type typ.
func IsType(typ signaling.Type) func(signaling.Message) bool {
	return func(m signaling.Message) bool { return m.MessageType() == typ }
}

// Is matches the message of type T about call id: Is[signaling.Connected]
// matches the call's connected message.
func Is[T signaling.Message](id string) func(signaling.Message) bool {
	about := About(id)

	return func(m signaling.Message) bool { _, ok := m.(T); return ok && about(m) }
}

// About matches every message about call id, an error included: every
// message type with a CallID field, so that a message type added to the
// protocol is matched without a change here.
func About(id string) func(signaling.Message) bool {
	return func(m signaling.Message) bool {
		v := reflect.ValueOf(m)
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return false
		}
		f := v.FieldByName("CallID")

		return f.IsValid() && f.Kind() == reflect.String && f.String() == id
	}
}
