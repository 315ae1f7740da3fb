package gateway

import (
	"errors"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/signaling"

	"github.com/webtrunk/webtrunk/telephony"
)

// Errors of outbound routing, wrapped in a *callError with the protocol
// code the browser receives.
var (
	// ErrForbiddenNumber is wrapped when the user's dial rules deny the
	// number (protocol code forbidden_number). Nothing reaches a trunk.
	ErrForbiddenNumber = errors.New("gateway: number not allowed by the dial rules")
	// ErrNoRoute is wrapped when no outbound rule matches the number
	// (protocol code trunk_unavailable).
	ErrNoRoute = errors.New("gateway: no outbound rule matches the number")
)

// Denied-dial reasons, the label of Metrics.DialsDenied.
const (
	deniedDialRules     = "dial_rules"
	deniedInvalidNumber = "invalid_number"
	deniedNoRoute       = "no_route"
	deniedTooManyCalls  = "too_many_calls"
	// deniedOverCapacity is also the Metrics.CallsTotal outcome of an
	// inbound call refused because the gateway is at calls.max_concurrent.
	deniedOverCapacity = "over_capacity"
	deniedShuttingDown = "shutting_down"
)

// outboundPlan is one outbound rule with its trunk's number plan, built
// once from the configuration: trunk is the rule's first trunk, whose
// plan reads the dialled number, and trunks all of them (failover.go).
type outboundPlan struct {
	rule   *config.OutboundRule
	trunk  *config.Trunk
	plan   telephony.NumberPlan
	trunks []routeTrunk
}

// router picks the trunk of a dialled number and checks the user's dial
// rules. It is built once and is safe for concurrent use.
type router struct {
	rules []outboundPlan
}

// newRouter prepares the outbound rules of cfg.
func newRouter(cfg *config.Config) (*router, error) {
	r := &router{}
	for i := range cfg.Outbound {
		rule := &cfg.Outbound[i]
		trunks, err := ruleTrunks(cfg, rule)
		if err != nil {
			return nil, err
		}
		r.rules = append(r.rules, outboundPlan{rule: rule, trunk: trunks[0].trunk, plan: trunks[0].trunk.Numbering, trunks: trunks})
	}

	return r, nil
}

// route is the outcome of routing a dialled number.
type route struct {
	// Trunk is the chosen trunk's name.
	Trunk string
	// E164 is the dialled number normalised with that trunk's plan.
	E164 string
	// DefaultCallerID is the trunk's caller ID.
	DefaultCallerID string
	// Trunks are the trunks to try in turn, Trunk first, in this call's
	// order (weights applied); AttemptTimeout is each one's time to ring.
	Trunks         []routeTrunk
	AttemptTimeout time.Duration
}

// Route normalises dialled (as the user typed it) with each outbound rule's
// trunk numbering plan in order (telephony.NumberPlan.ToE164) and takes the first
// rule whose pattern matches the E.164 result; rules then must allow that
// number (config.DialRules.Allows). It returns a *callError with code
// invalid_number when no plan can read the number, forbidden_number
// (wrapping ErrForbiddenNumber) when rules deny it, and trunk_unavailable
// (wrapping ErrNoRoute) when no rule matches; the denial reason label is
// returned with the error. A number denied by the rules is reported as
// forbidden even when no rule would route it.
func (r *router) Route(dialled string, rules *config.DialRules) (route, string, error) {
	var first string
	for _, op := range r.rules {
		e164, err := op.plan.ToE164(dialled)
		if err != nil {
			continue
		}
		if first == "" {
			first = e164
		}
		if !op.rule.Pattern.Match(e164) {
			continue
		}
		if rules == nil || !rules.Allows(e164) {
			return route{}, deniedDialRules, &callError{Code: signaling.CodeForbiddenNumber,
				Msg: "to: " + e164 + " is not allowed", Err: ErrForbiddenNumber}
		}

		trunks := orderTrunks(op.trunks)

		return route{Trunk: trunks[0].trunk.Name, E164: e164, DefaultCallerID: trunks[0].trunk.CallerID,
			Trunks: trunks, AttemptTimeout: op.rule.AttemptTimeout}, "", nil
	}
	if first == "" {
		if e, err := (telephony.NumberPlan{}).ToE164(dialled); err == nil {
			first = e
		}
	}
	if first == "" {
		return route{}, deniedInvalidNumber, &callError{Code: signaling.CodeInvalidNumber,
			Msg: "to: not a dialable number", Err: telephony.ErrInvalidNumber}
	}
	if rules == nil || !rules.Allows(first) {
		return route{}, deniedDialRules, &callError{Code: signaling.CodeForbiddenNumber,
			Msg: "to: " + first + " is not allowed", Err: ErrForbiddenNumber}
	}

	return route{}, deniedNoRoute, &callError{Code: signaling.CodeTrunkUnavailable,
		Msg: "no trunk routes " + first, Err: ErrNoRoute}
}
