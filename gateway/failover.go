package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
)

// Attempt is one trunk tried (or skipped) for an outbound call, in the
// order of the call's route: the data a call record carries.
type Attempt struct {
	// Trunk is the trunk's name.
	Trunk string
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
}

// String formats the attempt for the call's log line:
// "trunk:outcome[:code]".
func (a Attempt) String() string {
	s := a.Trunk + ":" + a.Outcome
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
		weightedShuffle(out[i:j], func(t routeTrunk) int { return t.weight })
		i = j
	}

	return out
}

// weightedShuffle orders s in place by weighted random selection without
// replacement: position 0 takes each element with a probability
// proportional to its weight (above 0), position 1 the same among the
// rest, and so on (RFC 2782).
func weightedShuffle[T any](s []T, weight func(T) int) {
	for i := range s {
		total := 0
		for _, e := range s[i:] {
			total += weight(e)
		}
		pick := rand.IntN(total) //nolint:gosec // load sharing, not security
		for j := i; j < len(s); j++ {
			if pick -= weight(s[j]); pick < 0 {
				s[i], s[j] = s[j], s[i]

				break
			}
		}
	}
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

// dialRoute places the outbound call through the trunks of rt in turn
// until one answers or fails finally (nextTrunk): the browser sees one
// ringing and one final outcome whichever trunk gave them. rtp is the
// reserved RTP port pair of the first attempt; each further attempt
// reserves its own. Every attempt is recorded on the session (Attempts).
// It returns the established call, or the error of the last attempt
// (errNoTrunkAvailable when none was made).
func (s *session) dialRoute(rt route, rtp *sip.RTPConn) (*sip.Call, error) {
	defer func() {
		if rtp != nil {
			_ = rtp.Close()
		}
	}()
	timeout := rt.AttemptTimeout
	if timeout == 0 {
		timeout = config.DefaultAttemptTimeout
	}
	lastErr := errNoTrunkAvailable
	for i, t := range rt.Trunks {
		name := t.trunk.Name
		if ok, why := s.g.trunkAvailable(name); !ok {
			s.addAttempt(Attempt{Trunk: name, Outcome: why})

			continue
		}
		if s.ctx.Err() != nil {
			return nil, context.Cause(s.ctx)
		}
		if rtp == nil {
			var err error
			if rtp, err = s.g.ua.ReservePorts(); err != nil {
				return nil, fmt.Errorf("gateway: rtp ports for trunk %s: %w", name, err)
			}
		}
		s.setTrunk(name)
		if i > 0 {
			s.logger().Info("trying next trunk", "trunk", name)
		}
		var early atomic.Bool
		start := time.Now()
		from := s.user.CallerID
		if from == "" {
			from = t.trunk.CallerID
		}
		s.from = from // read by the call's log line, in this goroutine
		call, err := s.g.ua.Dial(s.ctx, sip.DialRequest{
			Trunk:           name,
			To:              rt.E164,
			From:            from,
			DisplayName:     s.user.DisplayName,
			Withheld:        s.withheld,
			ProgressTimeout: timeout,
			OnProgress: func(p sip.Progress) {
				if p.EarlyMedia {
					early.Store(true)
				}
				s.progress(p)
			},
			RTP: rtp,
		})
		rtp = nil // Dial took it over
		a := Attempt{Trunk: name, Duration: time.Since(start)}
		if err == nil {
			a.Outcome = attemptAnswered
			s.addAttempt(a)

			return call, nil
		}
		lastErr = err
		a.Error = err.Error()
		var se *sip.StatusError
		if errors.As(err, &se) {
			a.SIPCode = se.Code
		}
		next := s.ctx.Err() == nil && !early.Load() && i < len(rt.Trunks)-1 && s.g.nextTrunk(t.trunk, err)
		a.Outcome = attemptFailed
		if next {
			a.Outcome = attemptNext
		}
		s.addAttempt(a)
		if !next {
			return nil, err
		}
	}

	return nil, lastErr
}

// nextTrunk decides whether the failure err of a call through trunk t lets
// the next trunk of the route be tried: no ringing in time
// (sip.ErrNoProgress), the trunk's own call limit, 408 Request Timeout,
// or a 5xx the carrier does not mean as final (config.Trunk.FinalCodes). A
// 503 with Retry-After also holds the trunk for that long (RFC 3261
// section 21.5.4). Everything else (4xx, 6xx: the called party's answer)
// ends the call.
func (g *Gateway) nextTrunk(t *config.Trunk, err error) bool {
	if errors.Is(err, sip.ErrNoProgress) || errors.Is(err, sip.ErrTooManyCalls) {
		return true
	}
	var se *sip.StatusError
	if !errors.As(err, &se) {
		return false
	}
	if se.Code == 503 {
		if d := se.RetryAfter(); d > 0 {
			g.health.hold(t.Name, d)
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
