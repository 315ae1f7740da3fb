package gateway

import (
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// testPassword is the password of every test user.
const testPassword = testconfig.Password

// testConfig is the knobs of a test configuration.
type testConfig struct {
	trunkPort   int // the fake trunk's SIP port
	maxCalls    int
	ringTimeout string
	grace       string
	extra       string // appended YAML
	register    bool   // the trunk registers
	dialRing    string // calls.ring_timeout, for outbound calls
	sameCodec   bool   // calls.transcode_same_codec
	// maxConcurrent is calls.max_concurrent, the gateway-wide call limit.
	maxConcurrent int
	// maxDuration, when set, replaces calls.max_duration after the
	// configuration is parsed and validated, so that a test can use a limit
	// below the one minute the configuration accepts.
	maxDuration time.Duration
	// edit, when set, changes the configuration after it is parsed.
	edit func(*config.Config)
	// prepare, when set, is called with the gateway before it listens.
	prepare func(*Gateway)
}

// parseTestConfig builds a complete configuration on loopback: one trunk
// "fake" in e164 format with country code 1 and an outside-line prefix 9,
// users alice (+1555 numbers but +1555999*) and bob (no dial rules of his
// own), routes for +15550100 to alice, outbound +1555* and +44* to fake.
func parseTestConfig(t *testing.T, tc testConfig) *config.Config {
	t.Helper()
	if tc.trunkPort == 0 {
		tc.trunkPort = 5070
	}
	if tc.ringTimeout == "" {
		tc.ringTimeout = "30s"
	}
	if tc.dialRing == "" {
		tc.dialRing = "60s"
	}
	cfg := testconfig.Gateway{
		RTPMin: 31000, RTPMax: 31999,
		Trunk: testconfig.Trunk{
			Name: "fake", Port: uint16(tc.trunkPort), CallerID: "+15550199", Register: tc.register, //nolint:gosec // a port
			Numbering: `      format: e164
      country_code: "1"
      national_prefix: "1"
      international_prefix: "011"
      strip_prefixes: ["9"]`,
			User: "webtrunk", Password: "secret",
		},
		Users: []testconfig.User{
			{ID: "alice", CallerID: "+15550100", MaxCalls: &tc.maxCalls},
			{ID: "bob", Allow: []string{"+44*"}},
		},
		Allow: []string{"+1555*"}, Deny: []string{"+1555999*"},
		Outbound: []string{"+1555*", "+44*"},
		Routes:   []testconfig.Route{{DID: "+15550100", User: "alice", RingTimeout: tc.ringTimeout}},
		Calls: testconfig.Calls{
			MediaTimeout: "5s", RingTimeout: tc.dialRing, TranscodeSameCodec: tc.sameCodec, MaxConcurrent: tc.maxConcurrent,
		},
		Grace: tc.grace, Extra: tc.extra,
	}.Parse(t)
	if tc.maxDuration > 0 {
		cfg.Calls.MaxDuration = tc.maxDuration
	}
	if tc.edit != nil {
		tc.edit(cfg)
	}

	return cfg
}
