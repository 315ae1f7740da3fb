package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

// Outcomes of an outbound attempt (Attempt.Outcome and the outcome label
// of webtrunk_call_attempts_total).
const (
	// attemptAnswered: the trunk answered the call.
	attemptAnswered = "answered"
	// attemptNext: the trunk failed in a way that lets the next trunk be
	// tried (no ringing in time, 408, a 5xx not in its final_codes, a 503
	// with Retry-After, its call limit).
	attemptNext = "next"
	// attemptFailed: the trunk's failure ended the call (a 4xx, 6xx or
	// final 5xx, the session ending, early media already bridged).
	attemptFailed = "failed"
	// Trunks skipped without an INVITE.
	attemptDown         = "down"         // marked down by its OPTIONS probes
	attemptHeld         = "held"         // a 503 Retry-After still holds it
	attemptUnregistered = "unregistered" // its registration is not current
	attemptUnresolved   = "unresolved"   // its host name did not resolve
)

// Attempt is one trunk tried (or skipped) for an outbound call, in the
// order of the call's route: the data a call record carries.
type Attempt struct {
	// Trunk is the trunk's name.
	Trunk string
	// Target is the address called ("ip:port") for a trunk given by host
	// name (DNS SRV or A records, RFC 3263); "" for a trunk given by IP
	// address.
	Target string
	// Outcome is answered, next (the next trunk was tried), failed (the
	// call ended with this trunk's failure), or why the trunk was skipped
	// without an INVITE: down, held or unregistered.
	Outcome string
	// SIPCode is the trunk's final status code (RFC 3261 section 21), 0
	// when there was none (answered, timed out, skipped).
	SIPCode int
	// Error says what failed, "" when answered or skipped.
	Error string
	// Duration is the time from the INVITE to its outcome.
	Duration time.Duration
	// Referred is the number, E.164, a trunk's REFER asked the gateway to
	// call in the call's place (a transfer by the trunk, trunkrefer.go);
	// "" for the attempts that placed the call itself.
	Referred string
}

// String formats the attempt for the call's log line:
// "trunk[@target][>referred]:outcome[:code]".
func (a Attempt) String() string {
	s := a.Trunk
	if a.Target != "" {
		s += "@" + a.Target
	}
	if a.Referred != "" {
		s += ">" + a.Referred
	}
	s += ":" + a.Outcome
	if a.SIPCode != 0 {
		s += ":" + strconv.Itoa(a.SIPCode)
	}

	return s
}

// routeTrunk is one trunk of an outbound rule with its weight.
type routeTrunk struct {
	trunk  *config.Trunk
	weight int
}

// ruleTrunks resolves the trunks of an outbound rule (config.OutboundRule.TrunkList).
func ruleTrunks(cfg *config.Config, rule *config.OutboundRule) ([]routeTrunk, error) {
	refs := rule.TrunkList()
	if len(refs) == 0 {
		return nil, fmt.Errorf("%w: outbound rule %s names no trunk", ErrNoRoute, rule.Pattern.String())
	}
	out := make([]routeTrunk, 0, len(refs))
	for _, ref := range refs {
		t, ok := cfg.Trunk(ref.Name)
		if !ok {
			return nil, fmt.Errorf("%w: outbound rule names unknown trunk %s", ErrNoRoute, ref.Name)
		}
		out = append(out, routeTrunk{trunk: t, weight: ref.Weight})
	}

	return out, nil
}

// orderTrunks returns a rule's trunks in the order of one call: each run
// of consecutive entries with a weight above 0 is ordered by weighted
// random selection without replacement (RFC 2782, "Usage rules": an entry
// comes next with a probability proportional to its weight); the other
// entries keep their places. A rule without weights is returned as it is.
func orderTrunks(ts []routeTrunk) []routeTrunk {
	if !slices.ContainsFunc(ts, func(t routeTrunk) bool { return t.weight > 0 }) {
		return ts
	}
	out := slices.Clone(ts)
	for i := 0; i < len(out); {
		if out[i].weight == 0 {
			i++

			continue
		}
		j := i
		for j < len(out) && out[j].weight > 0 {
			j++
		}
		sip.ShuffleWeighted(out[i:j], func(t routeTrunk) int { return t.weight })
		i = j
	}

	return out
}

// errNoTrunkAvailable ends an outbound call whose route had no trunk left
// to try: every one was down, held, unregistered or failed over.
var errNoTrunkAvailable = errors.New("gateway: no trunk of the route is available")

// routeAvailable reports whether any trunk of rt may take a call now.
func (g *Gateway) routeAvailable(rt route) bool {
	for _, t := range rt.Trunks {
		if ok, _ := g.trunkAvailable(t.trunk.Name); ok {
			return true
		}
	}

	return false
}

// resolveTimeout bounds the DNS lookups of one trunk's addresses during a
// dial.
const resolveTimeout = 5 * time.Second

// dialRoute places the outbound call through the trunks of rt in turn
// until one answers or fails finally (nextTrunk): the browser sees one
// ringing and one final outcome whichever trunk gave them. A trunk given by
// host name is tried at each of its addresses in turn (sip.UA.Targets: DNS
// SRV, then A records, RFC 3263 section 4.3), skipping those its probes
// marked down. rtp is the reserved RTP port pair of the first attempt;
// each further attempt reserves its own. Every attempt is recorded on the
// session (Attempts). It returns the established call, or the error of
// the last attempt (errNoTrunkAvailable when none was made).
func (s *session) dialRoute(rt route, rtp *sip.RTPConn) (*sip.Call, error) {
	defer func() {
		if rtp != nil {
			_ = rtp.Close()
		}
	}()
	lastErr := errNoTrunkAvailable
	tried := 0
	for i, t := range rt.Trunks {
		name := t.trunk.Name
		if ok, why := s.g.trunkAvailable(name); !ok {
			s.addAttempt(Attempt{Trunk: name, Outcome: why})

			continue
		}
		targets, err := s.targets(t.trunk)
		if err != nil {
			s.addAttempt(Attempt{Trunk: name, Outcome: attemptUnresolved, Error: err.Error()})
			lastErr = err

			continue
		}
		for j, target := range targets {
			if target.IsValid() && !s.g.health.targetUp(name, target) {
				s.addAttempt(Attempt{Trunk: name, Target: target.String(), Outcome: attemptDown})

				continue
			}
			if s.ctx.Err() != nil {
				return nil, context.Cause(s.ctx)
			}
			if rtp == nil {
				if rtp, err = s.g.ua.ReservePorts(); err != nil {
					return nil, fmt.Errorf("gateway: rtp ports for trunk %s: %w", name, err)
				}
			}
			if tried > 0 {
				s.logger().Info("trying next trunk", "trunk", name, "target", targetAttr(target))
			}
			tried++
			last := i == len(rt.Trunks)-1 && j == len(targets)-1
			call, next, err := s.attempt(rt, t.trunk, target, rtp, last)
			rtp = nil // Dial took it over
			if err == nil {
				return call, nil
			}
			lastErr = err
			if !next {
				return nil, err
			}
		}
	}

	return nil, lastErr
}

// targets returns the addresses to call trunk t at: one zero address (the
// configured host and port, resolved by the SIP stack) for a trunk given
// by IP address, else its resolved targets.
func (s *session) targets(t *config.Trunk) ([]netip.AddrPort, error) {
	if _, err := netip.ParseAddr(t.Host); err == nil {
		return []netip.AddrPort{{}}, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, resolveTimeout)
	defer cancel()

	return s.g.ua.Targets(ctx, t.Name)
}

// attempt sends the call to trunk t at target (zero: the trunk's host) and
// records the attempt. next reports whether the failure lets the route go
// on (never after the route's last address, nor after early media
// reached the browser).
func (s *session) attempt(rt route, t *config.Trunk, target netip.AddrPort, rtp *sip.RTPConn, last bool) (*sip.Call, bool, error) {
	timeout := rt.AttemptTimeout
	if timeout == 0 {
		timeout = config.DefaultAttemptTimeout
	}
	s.setTrunk(t.Name)
	from := s.user.CallerID
	if from == "" {
		from = t.CallerID
	}
	if s.fromRewritten != "" {
		from = s.fromRewritten
	}
	s.from = from // read by the call's log line, in this goroutine
	var early atomic.Bool
	start := time.Now()
	call, err := s.g.ua.Dial(s.ctx, sip.DialRequest{
		Trunk:           t.Name,
		To:              rt.E164,
		From:            from,
		DisplayName:     s.user.DisplayName,
		Withheld:        s.withheld,
		ProgressTimeout: timeout,
		Target:          target,
		OnProgress: func(p sip.Progress) {
			if p.EarlyMedia {
				early.Store(true)
			}
			s.progress(p)
		},
		RTP: rtp,
	})
	a := Attempt{Trunk: t.Name, Target: targetAttr(target), Duration: time.Since(start)}
	if err == nil {
		a.Outcome = attemptAnswered
		s.addAttempt(a)

		return call, false, nil
	}
	a.Error = err.Error()
	var se *sip.StatusError
	if errors.As(err, &se) {
		a.SIPCode = se.Code
	}
	next := s.ctx.Err() == nil && !early.Load() && !last && s.g.nextTrunk(t, target, err)
	a.Outcome = attemptFailed
	if next {
		a.Outcome = attemptNext
	}
	s.addAttempt(a)

	return nil, next, err
}

// nextTrunk decides whether the failure err of a call through trunk t lets
// the next trunk of the route be tried: no ringing in time
// (sip.ErrNoProgress), the trunk's own call limit, 408 Request Timeout,
// or a 5xx the carrier does not mean as final (config.Trunk.FinalCodes). A
// 503 with Retry-After also holds the trunk for that long (RFC 3261
// section 21.5.4), or only that address of a trunk given by host name.
// Everything else (4xx, 6xx: the called party's answer)
// ends the call.
func (g *Gateway) nextTrunk(t *config.Trunk, target netip.AddrPort, err error) bool {
	if errors.Is(err, sip.ErrNoProgress) || errors.Is(err, sip.ErrTooManyCalls) {
		return true
	}
	var se *sip.StatusError
	if !errors.As(err, &se) {
		return false
	}
	if se.Code == 503 {
		if d := se.RetryAfter(); d > 0 {
			g.health.hold(t.Name, target, d)
		}
	}
	switch {
	case se.Code == 408:
		return true
	case se.Code >= 500 && se.Code <= 599:
		return !slices.Contains(t.FinalCodes, se.Code)
	}

	return false
}

// addAttempt records one attempt of the call and counts it.
func (s *session) addAttempt(a Attempt) {
	s.g.carrier.CallAttempts.WithLabelValues(a.Trunk, a.Outcome).Inc()
	s.mu.Lock()
	s.attempts = append(s.attempts, a)
	s.mu.Unlock()
}

// Attempts returns a copy of the trunks tried for the call, in order;
// empty for an inbound call.
func (s *session) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()

	return slices.Clone(s.attempts)
}

// setTrunk sets the trunk the call is going through.
func (s *session) setTrunk(name string) {
	s.mu.Lock()
	s.trunk = name
	s.mu.Unlock()
}

// attemptsAttr is the attempts attribute of the call's log line, for
// example "carrier-a:next:503 carrier-b:answered"; "" when the call had
// one attempt that answered, or none.
func attemptsAttr(as []Attempt) string {
	if len(as) == 0 || len(as) == 1 && as[0].Outcome == attemptAnswered {
		return ""
	}
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}

	return strings.Join(parts, " ")
}

// ringOnce reports whether the browser is still to be told that the call
// rings: true the first time only, whichever trunk rang.
func (s *session) ringOnce() bool { return s.rang.CompareAndSwap(false, true) }

// trunkUnavailable is the dial refusal of a route none of whose trunks
// may take a call now.
func trunkUnavailable(rt route) *callError {
	names := make([]string, len(rt.Trunks))
	for i, t := range rt.Trunks {
		names[i] = t.trunk.Name
	}

	return &callError{Code: signaling.CodeTrunkUnavailable, Msg: "no trunk available (" + strings.Join(names, ", ") + ")", Err: errNoTrunkAvailable}
}

// incomingMessage is the incoming message of an inbound call: the caller
// as sip.IncomingCall.Identity reads it (a trusted P-Asserted-Identity,
// Privacy), with the call's diversions and history.
func incomingMessage(id string, ic *sip.IncomingCall) signaling.Incoming {
	who := ic.Identity()
	msg := signaling.Incoming{CallID: id, From: who.Number, FromName: who.DisplayName, To: ic.To(), Anonymous: who.Withheld}
	if who.Withheld {
		msg.From, msg.FromName = "", ""
	}
	msg.Diversion = redirections(who.Diversion)
	msg.History = redirections(who.History)

	return msg
}

// redirections converts Diversion or History-Info entries for the browser.
func redirections(rs []sip.Redirection) []signaling.Redirection {
	if len(rs) == 0 {
		return nil
	}
	out := make([]signaling.Redirection, len(rs))
	for i, r := range rs {
		out[i] = signaling.Redirection{Number: r.Number, Reason: r.Reason, Index: r.Index}
	}

	return out
}

// targetAttr is an address for a log line: "" for the zero address (the
// trunk's configured host).
func targetAttr(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}

	return a.String()
}
