package gateway

import (
	"slices"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/auth"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// policy is one configuration's worth of call policy: the configuration
// and what is built from it once (the outbound router). It is never
// modified: a reload builds a new one and swaps the gateway's pointer, and
// each session keeps the policy it started with, so that a call in
// progress carries on under the settings it was set up with while new
// calls and logins follow the new file.
type policy struct {
	cfg    *config.Config
	router *router
}

// newPolicy builds the policy of a loaded configuration.
func newPolicy(cfg *config.Config) (*policy, error) {
	rt, err := newRouter(cfg)
	if err != nil {
		return nil, err
	}

	return &policy{cfg: cfg, router: rt}, nil
}

// policy returns the current policy.
func (g *Gateway) policy() *policy { return g.pol.Load() }

// errUserRemoved refuses the dial of a user whose password login the
// current configuration no longer knows.
var errUserRemoved = &callError{Code: signaling.CodeUnauthorized, Msg: "this user is no longer configured"}

// identity returns id as the current configuration sees it: a configured
// user's display name, caller ID, call limit and dial rules from this
// policy; a token's user (not configured) with this policy's default dial
// rules. It returns errUserRemoved for a user logged in by password whom
// this configuration no longer has.
func (p *policy) identity(id auth.Identity) (auth.Identity, error) {
	users := p.cfg.Auth.Users
	if i := slices.IndexFunc(users, func(u config.User) bool { return u.ID == id.UserID }); i >= 0 {
		u := &users[i]
		id.DisplayName, id.CallerID, id.MaxCalls = u.DisplayName, u.CallerID, u.MaxCalls
		id.DialRules = u.DialRules
		if id.DialRules == nil {
			id.DialRules = &p.cfg.DefaultDialRules
		}

		return id, nil
	}
	if !p.cfg.Auth.JWT.Enabled() {
		return auth.Identity{}, errUserRemoved
	}
	id.DialRules = &p.cfg.DefaultDialRules

	return id, nil
}
