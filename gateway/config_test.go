package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/config"
)

// testPassword is the password of every test user.
const testPassword = "correct horse"

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
}

// parseTestConfig builds a complete configuration on loopback: one trunk
// "fake" in e164 format with country code 1 and an outside-line prefix 9,
// users alice (+1555 numbers but +1555999*) and bob (no dial rules of his
// own), routes for +15550100 to alice, outbound +1555* and +44* to fake.
func parseTestConfig(t *testing.T, tc testConfig) *config.Config {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if tc.trunkPort == 0 {
		tc.trunkPort = 5070
	}
	if tc.ringTimeout == "" {
		tc.ringTimeout = "30s"
	}
	if tc.dialRing == "" {
		tc.dialRing = "60s"
	}
	if tc.grace == "" {
		tc.grace = "0s"
	}
	doc := fmt.Sprintf(`
http:
  listen: "127.0.0.1:0"
sip:
  listeners:
    - transport: udp
      listen: "127.0.0.1:0"
  public_host: "127.0.0.1"
  rtp: {port_min: 31000, port_max: 31999}
webrtc:
  udp_listen: "127.0.0.1:0"
  public_ips: ["127.0.0.1"]
trunks:
  - name: fake
    host: 127.0.0.1
    port: %d
    caller_id: "+15550199"
    numbering:
      format: e164
      country_code: "1"
      national_prefix: "1"
      international_prefix: "011"
      strip_prefixes: ["9"]
    allowed_sources: ["127.0.0.1"]
    register: {enabled: %t}
    auth: {username: webtrunk, password: secret}
auth:
  users:
    - id: alice
      password_hash: %q
      caller_id: "+15550100"
      max_calls: %d
    - id: bob
      password_hash: %q
      dial_rules: {allow: ["+44*"]}
default_dial_rules:
  allow: ["+1555*"]
  deny: ["+1555999*"]
outbound:
  - pattern: "+1555*"
    trunk: fake
  - pattern: "+44*"
    trunk: fake
routes:
  - did: "+15550100"
    user: alice
    ring_timeout: %s
calls:
  media_timeout: 5s
  ring_timeout: %s
  transcode_same_codec: %t
  max_concurrent: %d
shutdown:
  grace_period: %s
%s`, tc.trunkPort, tc.register, string(hash), tc.maxCalls, string(hash), tc.ringTimeout, tc.dialRing, tc.sameCodec,
		tc.maxConcurrent, tc.grace, tc.extra)
	cfg, err := config.Parse([]byte(strings.TrimSpace(doc)+"\n"), nil)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	if tc.maxDuration > 0 {
		cfg.Calls.MaxDuration = tc.maxDuration
	}
	if tc.edit != nil {
		tc.edit(cfg)
	}

	return cfg
}
