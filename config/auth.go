package config

import (
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// AuthConfig configures how browsers authenticate before any call. At least
// one of JWT.HMACKey and Users must be set.
type AuthConfig struct {
	// JWT accepts tokens issued by the operator's own backend.
	JWT JWTConfig `yaml:"jwt"`
	// Users are accounts configured in this file, for small set-ups.
	// Default empty.
	Users []User `yaml:"users"`
	// MaxConnectionsPerUser caps the authenticated WebSockets (browser
	// tabs) of one user; one more is refused with too_many_connections.
	// From 1 to 1000. Default 10.
	MaxConnectionsPerUser int `yaml:"max_connections_per_user"`
}

// JWTConfig accepts JSON Web Tokens signed with HS256 (RFC 7519, RFC 7518
// section 3.2). The token's sub claim is the user id.
type JWTConfig struct {
	// HMACKey is the HS256 signing key, at least 32 bytes (RFC 7518
	// section 3.2). Default empty: JWT authentication is off.
	HMACKey Secret `yaml:"hmac_key"`
	// Issuer is the expected iss claim (RFC 7519 section 4.1.1); empty
	// (the default) accepts any issuer.
	Issuer string `yaml:"issuer"`
	// Audience must be one of the token's aud claims (RFC 7519 section
	// 4.1.3) when set; empty (the default) accepts any audience.
	Audience string `yaml:"audience"`
}

// Enabled reports whether JWT authentication is configured.
func (j JWTConfig) Enabled() bool { return !j.HMACKey.IsZero() }

// User is an account configured in this file.
type User struct {
	// ID is the login name: 1 to 128 characters of A-Z, a-z, 0-9 and
	// ". _ @ -", unique among users.
	ID string `yaml:"id"`
	// PasswordHash is the bcrypt hash of the password ("$2a$...",
	// "$2b$..." or "$2y$..."); required. It is a Secret so that it may come
	// from the environment and never shows in logs.
	PasswordHash Secret `yaml:"password_hash"`
	// DisplayName is shown to called parties where the trunk allows it.
	// Optional.
	DisplayName string `yaml:"display_name"`
	// CallerID is the E.164 number presented on this user's outbound
	// calls. Default: the trunk's caller_id.
	CallerID string `yaml:"caller_id"`
	// DialRules are the numbers this user may call. Default: a copy of
	// the top-level default_dial_rules (never nil after Load).
	DialRules *DialRules `yaml:"dial_rules"`
	// MaxCalls limits the user's concurrent calls; 0 means unlimited.
	// Default 2.
	MaxCalls int `yaml:"max_calls"`
	// Privacy is "id" to withhold this user's number on every outbound
	// call (RFC 3323 section 4.2), "none" to present it (a dial may still
	// withhold it). Default none.
	Privacy Privacy `yaml:"privacy"`
	// Limits, when set, replace the top-level limits for this user as a
	// whole (a key left out is no limit). Default: the top-level limits.
	Limits *Limits `yaml:"limits"`
	// SIPAccount, when set, makes the user an extension on a SIP
	// registrar (config/accounts.go). Default: none.
	SIPAccount *SIPAccount `yaml:"sip_account"`
	// SIPPassword is the user's password for SIP over WebSocket digest
	// authentication (config/sipws.go), kept apart from PasswordHash: a
	// digest server needs the password (or its per-realm hash), which a
	// bcrypt hash cannot give. At least 12 characters; empty: the user
	// cannot use SIP over WebSocket. Default empty.
	SIPPassword Secret `yaml:"sip_password"`
}

// setDefaults gives a user decoded from a list element its static defaults.
func (u *User) setDefaults() { u.MaxCalls, u.Privacy = 2, PrivacyNone }

// DialRules decide which E.164 numbers may be called. A number is allowed
// when it matches at least one Allow pattern and no Deny pattern, so an
// empty Allow list allows nothing.
type DialRules struct {
	// Allow lists the permitted number patterns.
	Allow []NumberPattern `yaml:"allow"`
	// Deny lists patterns excluded from Allow, for example premium-rate
	// ranges.
	Deny []NumberPattern `yaml:"deny"`
}

// Allows reports whether e164 is a valid E.164 number that matches an Allow
// pattern and no Deny pattern. It does not allocate.
func (r *DialRules) Allows(e164 string) bool {
	if r == nil || !telephony.IsE164(e164) {
		return false
	}
	allowed := false
	for i := range r.Allow {
		if r.Allow[i].Match(e164) {
			allowed = true
			break
		}
	}
	if !allowed {
		return false
	}
	for i := range r.Deny {
		if r.Deny[i].Match(e164) {
			return false
		}
	}
	return true
}

// OutboundRule sends numbers matching Pattern to the trunk named Trunk, or
// to the trunks of Trunks in turn (config/carrier.go).
type OutboundRule struct {
	// Pattern is the E.164 number pattern; required.
	Pattern NumberPattern `yaml:"pattern"`
	// Trunk is the name of a configured trunk; required unless Trunks is
	// set.
	Trunk string `yaml:"trunk"`
	// Trunks are tried in order until one answers: the next is tried
	// when one sends no provisional or final response within
	// AttemptTimeout, answers 408 or a 5xx not in its final_codes, is
	// down (OPTIONS health, a 503 with Retry-After) or not registered.
	// Not together with Trunk.
	Trunks []TrunkRef `yaml:"trunks"`
	// AttemptTimeout is how long each trunk has to send a 180, a 183 or a
	// final response before the next is tried, from 1s to 2m. Default 8s.
	AttemptTimeout time.Duration `yaml:"attempt_timeout"`
}

// Route sends inbound calls for one DID to one user.
type Route struct {
	// DID is the called number in E.164 form, unique among routes.
	DID string `yaml:"did"`
	// User is the id of the user whose browsers ring. It must name a
	// configured user unless JWT authentication is enabled, since users
	// authenticated by JWT are not listed in this file.
	User string `yaml:"user"`
	// RingTimeout ends ringing when no browser answers, from 5s to 10m.
	// Default calls.ring_timeout.
	RingTimeout time.Duration `yaml:"ring_timeout"`
}

// Trunk returns the trunk with the given name.
func (c *Config) Trunk(name string) (*Trunk, bool) {
	return find(c.Trunks, func(t *Trunk) bool { return t.Name == name })
}

// User returns the configured user with the given id.
func (c *Config) User(id string) (*User, bool) {
	return find(c.Auth.Users, func(u *User) bool { return u.ID == id })
}

// Route returns the inbound route of an E.164 DID.
func (c *Config) Route(did string) (*Route, bool) {
	return find(c.Routes, func(r *Route) bool { return r.DID == did })
}

// find returns the first element of list that match accepts, in place.
func find[T any](list []T, match func(*T) bool) (*T, bool) {
	for i := range list {
		if match(&list[i]) {
			return &list[i], true
		}
	}
	return nil, false
}

// OutboundTrunk returns the trunk of the first outbound rule whose pattern
// matches the E.164 number, or false when no rule matches.
func (c *Config) OutboundTrunk(e164 string) (*Trunk, bool) {
	for i := range c.Outbound {
		if c.Outbound[i].Pattern.Match(e164) {
			return c.Trunk(c.Outbound[i].Trunk)
		}
	}
	return nil, false
}
