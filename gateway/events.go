package gateway

import (
	"context"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webhook"
	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/telephony"
)

// openWebhooks opens the receivers' queues of the webhooks section and
// prepares the dial authorisation hook; it runs in Listen.
func (g *Gateway) openWebhooks() error {
	w := g.cfg.Webhooks
	if w.DialAuth.URL != "" {
		g.dialAuth = &webhook.Authorizer{
			URL: w.DialAuth.URL, Secret: []byte(w.Secret.Reveal()), Timeout: w.DialAuth.Timeout, Client: webhook.NewClient(),
			Default: webhook.Decision{Allow: w.DialAuth.OnFailure == config.DialAuthAllow, Reason: "the authorisation service did not answer"},
		}
	}
	if len(w.Receivers) == 0 {
		return nil
	}
	receivers := make([]webhook.Receiver, 0, len(w.Receivers))
	for _, r := range w.Receivers {
		receivers = append(receivers, webhook.Receiver{Name: r.Name, URL: r.URL, Events: r.Events})
	}
	s, err := webhook.New(webhook.Options{
		Receivers: receivers, Secret: []byte(w.Secret.Reveal()), SpoolDir: w.SpoolDir,
		SpoolMaxBytes: w.SpoolMaxBytes(), Timeout: w.Timeout, Logger: g.log.With("component", "webhook"),
	})
	if err != nil {
		return err
	}
	g.hooks = s

	return nil
}

// callFacts is the payload of call.ringing and call.answered.
type callFacts struct {
	CallID    string `json:"call_id"`
	SIPCallID string `json:"sip_call_id,omitempty"`
	Direction string `json:"direction"`
	User      string `json:"user"`
	From      string `json:"from"`
	To        string `json:"to"`
	Trunk     string `json:"trunk"`
}

// registrationFacts is the payload of trunk.registration.
type registrationFacts struct {
	Trunk      string `json:"trunk"`
	Registered bool   `json:"registered"`
	Status     string `json:"status"`
	LastCode   int    `json:"last_code,omitempty"`
	LastError  string `json:"last_error,omitempty"`
}

// publish sends an event of type typ with data to the webhooks.
func (g *Gateway) publish(typ string, data any) {
	if g.hooks == nil {
		return
	}
	g.hooks.Publish(webhook.Event{
		ID: randomHex(16), Type: typ, Time: time.Now().UTC().Format(cdr.TimeLayout), Data: data,
	})
}

// publishCall sends call.ringing or call.answered for s.
func (s *session) publishCall(typ string) {
	if s.g.hooks == nil {
		return
	}
	s.mu.Lock()
	sipCallID := s.sipCallID
	s.mu.Unlock()
	s.g.publish(typ, callFacts{CallID: s.id, SIPCallID: sipCallID, Direction: s.dir, User: s.user.UserID,
		From: s.from, To: s.to, Trunk: s.trunk})
}

// publishRegistrations sends trunk.registration for each trunk whose
// registration changed since last (the states of the previous poll,
// updated in place).
func (g *Gateway) publishRegistrations(states []sip.RegistrationState, last map[string]sip.RegistrationState) {
	for _, st := range states {
		prev, seen := last[st.Trunk]
		last[st.Trunk] = st
		if seen && prev.Registered == st.Registered && prev.Status == st.Status {
			continue
		}
		if !seen && st.Status == sip.RegUnregistered {
			continue // not tried yet
		}
		g.publish(webhook.TrunkRegistration, registrationFacts{Trunk: st.Trunk, Registered: st.Registered,
			Status: string(st.Status), LastCode: st.LastCode, LastError: st.LastError})
	}
}

// authorizeDial asks the dial authorisation hook about an outbound dial
// routed to rt; it returns the route and caller ID to use (the backend
// may rewrite the number, which is routed and checked against the dial
// rules again, or the caller ID), or a *callError with code dial_denied.
func (c *wsConn) authorizeDial(pol *policy, rules *config.DialRules, m signaling.Dial, user string, rt route, from string) (route, string, error) {
	g := c.g
	if g.dialAuth == nil {
		return rt, from, nil
	}
	start := time.Now()
	d, err := g.dialAuth.Authorize(context.WithoutCancel(c.ctx), webhook.AuthRequest{
		CallID: m.ID, User: user, ToDialled: m.To, To: rt.E164, From: from, Trunk: rt.Trunk,
	})
	took := time.Since(start)
	if err != nil {
		c.log.Warn("dial authorisation failed, using the configured default", "call_id", m.ID, "allow", d.Allow, "took", took, "error", err)
	}
	if !d.Allow {
		reason := d.Reason
		if reason == "" {
			reason = "the call is not allowed"
		}
		g.metrics.DialsDenied.WithLabelValues(string(signaling.CodeDialDenied)).Inc()
		c.log.Info("dial refused by the authorisation hook", "call_id", m.ID, "to", rt.E164, "reason", reason)

		return route{}, "", &callError{Code: signaling.CodeDialDenied, Msg: reason}
	}
	if d.To != "" && d.To != rt.E164 {
		next, denied, err := pol.router.Route(d.To, rules)
		if err != nil {
			g.metrics.DialsDenied.WithLabelValues(denied).Inc()

			return route{}, "", err
		}
		c.log.Info("dial rewritten by the authorisation hook", "call_id", m.ID, "to", rt.E164, "new_to", next.E164)
		rt = next
	}
	if d.From != "" && telephony.IsE164(d.From) {
		from = d.From
	}

	return rt, from, nil
}
