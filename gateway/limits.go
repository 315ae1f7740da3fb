package gateway

import (
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/fraud"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// limitCodes are the protocol codes of the fraud limits' refusals.
var limitCodes = map[fraud.Refusal]signaling.Code{
	fraud.CallsPerMinute:  signaling.CodeLimitCallsPerMinute,
	fraud.ConcurrentCalls: signaling.CodeLimitConcurrentCalls,
	fraud.DailyMinutes:    signaling.CodeLimitDailyMinutes,
	fraud.Prefix:          signaling.CodeLimitPrefix,
	fraud.Unavailable:     signaling.CodeLimitsUnavailable,
}

// limitMessages say what each refusal means, for people.
var limitMessages = map[fraud.Refusal]string{
	fraud.CallsPerMinute:  "too many calls started in the last minute",
	fraud.ConcurrentCalls: "as many calls in progress as the limits allow",
	fraud.DailyMinutes:    "today's call minutes are used",
	fraud.Prefix:          "calls to this number's prefix are capped",
	fraud.Unavailable:     "the shared call limits cannot be checked now",
}

// fraudLimits converts a configuration's limits.
func fraudLimits(l *config.Limits) fraud.Limits {
	out := fraud.Limits{
		CallsPerMinute: l.CallsPerMinute, ConcurrentCalls: l.ConcurrentCalls,
		MaxCallDuration: l.MaxCallDuration, DailyMinutes: l.DailyMinutes,
	}
	for _, p := range l.Prefixes {
		out.Prefixes = append(out.Prefixes, fraud.PrefixCap{Prefix: p.Prefix, MaxConcurrent: p.MaxConcurrent, MaxPerDay: p.MaxPerDay})
	}

	return out
}

// takeLimits counts an outbound call of user to e164 against the user's
// limits of pol; it returns the ticket and the call's longest answered
// time (0: only calls.max_duration), or the refusal as a *callError.
func (g *Gateway) takeLimits(pol *policy, user, e164 string) (fraud.Ticket, time.Duration, error) {
	lim := fraudLimits(pol.cfg.LimitsFor(user))
	ticket, err := g.beginLimits(user, e164, lim)
	if err != nil {
		return fraud.Ticket{}, 0, err
	}
	longest := lim.MaxCallDuration
	if r := ticket.Remaining; r > 0 && (longest == 0 || r < longest) {
		longest = r
	}

	return ticket, longest, nil
}

// beginLimits counts a call of user to e164 against lim: its ticket, or
// the refusal as a *callError, counted in webtrunk_dials_denied_total.
func (g *Gateway) beginLimits(user, e164 string, lim fraud.Limits) (fraud.Ticket, error) {
	ticket, refusal := g.counter.Begin(user, e164, lim, time.Now())
	if refusal != fraud.None {
		code := limitCodes[refusal]
		g.metrics.DialsDenied.WithLabelValues(string(code)).Inc()

		return fraud.Ticket{}, &callError{Code: code, Msg: limitMessages[refusal]}
	}

	return ticket, nil
}

// endLimits gives a call's ticket back with its answered time.
func (g *Gateway) endLimits(t *fraud.Ticket, answered time.Duration) {
	if t != nil {
		g.counter.End(*t, answered, time.Now())
	}
}
