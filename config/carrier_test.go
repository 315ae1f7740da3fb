package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// carrierYAML is baseYAML with a second trunk, for rules with several.
func carrierYAML(t *testing.T, edits ...string) string {
	t.Helper()
	doc := edit(t, baseYAML, "    host: 192.0.2.10\n", "    host: 192.0.2.10\n  - name: backup\n    host: 192.0.2.20\n")

	return edit(t, doc, edits...)
}

// TestCarrierProblems: invalid trunk lists, health, identity and privacy
// settings, each with its exact path, line and message.
func TestCarrierProblems(t *testing.T) {
	checkProblemCases(t, carrierYAML(t), []problemCase{
		{
			name:  "trunk and trunks together",
			edits: []string{"trunk: carrier}", "trunk: carrier, trunks: [{name: backup}]}"},
			wants: []want{{"outbound[0].trunks", "trunks: [", "either trunk or trunks"}},
		},
		{
			name:  "unknown trunk in the list",
			edits: []string{"trunk: carrier}", "trunks: [{name: carrier}, {name: nowhere}]}"},
			wants: []want{{"outbound[0].trunks[1].name", "trunks: [", `no trunk is named "nowhere"`}},
		},
		{
			name:  "trunk listed twice",
			edits: []string{"trunk: carrier}", "trunks: [{name: carrier}, {name: carrier}]}"},
			wants: []want{{"outbound[0].trunks[1].name", "trunks: [", "listed twice"}},
		},
		{
			name:  "negative weight and an unknown key",
			edits: []string{"trunk: carrier}", "trunks: [{name: carrier, weight: -1}, {name: backup, wieght: 2}]}"},
			wants: []want{
				{"outbound[0].trunks[1].wieght", "trunks: [", `unknown key (did you mean "weight"?)`},
				{"outbound[0].trunks[0].weight", "trunks: [", "from 0 to 1000"},
			},
		},
		{
			name:  "attempt timeout too short",
			edits: []string{"trunk: carrier}", "trunk: carrier, attempt_timeout: 100ms}"},
			wants: []want{{"outbound[0].attempt_timeout", "attempt_timeout", "at least 1s"}},
		},
		{
			name:  "final code outside 5xx",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    final_codes: [503, 486]\n"},
			wants: []want{{"trunks[0].final_codes[1]", "final_codes", "486 is not a 5xx status"}},
		},
		{
			name:  "unknown identity header",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    identity: ppi\n"},
			wants: []want{{"trunks[0].identity", "identity: ppi", "one of from, pai, rpid"}},
		},
		{
			name:  "probe timeout longer than the interval",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    health: {interval: 2s, timeout: 5s, down_after: 0}\n"},
			wants: []want{{"trunks[0].health.timeout", "timeout: 5s", "at most 2s"}},
		},
		{
			name:  "probe counts out of range",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    health: {interval: 10s, down_after: 101, up_after: -1}\n"},
			wants: []want{
				{"trunks[0].health.down_after", "down_after", "from 1 to 100"},
				{"trunks[0].health.up_after", "up_after", "from 1 to 100"},
			},
		},
		{
			name:  "inbound header that is no SIP token",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    inbound: {header: \"X Trunk\", header_value: a}\n"},
			wants: []want{{"trunks[0].inbound.header", "inbound:", "not a SIP header name"}},
		},
		{
			name:  "inbound header value without header",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    inbound: {header_value: a}\n"},
			wants: []want{{"trunks[0].inbound.header", "inbound:", "required when header_value is set"}},
		},
		{
			name:  "inbound request host and user that cannot match",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    inbound: {request_host: \"a b\", request_user: \"x@y\"}\n"},
			wants: []want{
				{"trunks[0].inbound.request_host", "inbound:", "not a host name"},
				{"trunks[0].inbound.request_user", "inbound:", "without spaces"},
			},
		},
		{
			name:  "inbound digest password without username",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    inbound: {digest: {password: x}}\n"},
			wants: []want{{"trunks[0].inbound.digest.username", "inbound:", "required when password is set"}},
		},
		{
			name:  "unknown inbound selector",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    inbound: {request_domain: a.example}\n"},
			wants: []want{{"trunks[0].inbound.request_domain", "request_domain", "unknown key"}},
		},
		{
			name:  "dns_srv on an IP address",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    dns_srv: true\n"},
			wants: []want{{"trunks[0].dns_srv", "dns_srv", "no SRV records"}},
		},
		{
			name:  "unknown privacy",
			edits: []string{"      password_hash:", "      privacy: user\n      password_hash:"},
			wants: []want{{"auth.users[0].privacy", "privacy: user", "one of none, id"}},
		},
	})
}

// TestCarrierDefaults: a one-trunk rule keeps working and lists its trunk;
// a rule with several keeps their order and weights; health timeouts and
// identity take their defaults.
func TestCarrierDefaults(t *testing.T) {
	cfg := mustParse(t, carrierYAML(t), noEnv)
	if got, want := cfg.Outbound[0].TrunkList(), []TrunkRef{{Name: "carrier"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("one-trunk rule lists %v, want %v", got, want)
	}
	if got := cfg.Outbound[0].AttemptTimeout; got != DefaultAttemptTimeout {
		t.Errorf("attempt_timeout = %v, want %v", got, DefaultAttemptTimeout)
	}
	tr := cfg.Trunks[0]
	if tr.Identity != IdentityFrom || tr.Health.Enabled() || tr.Health.DownAfter != 3 || tr.Health.UpAfter != 2 {
		t.Errorf("trunk defaults: identity %q, health %+v", tr.Identity, tr.Health)
	}
	if cfg.Auth.Users[0].Privacy != PrivacyNone {
		t.Errorf("user privacy = %q, want none", cfg.Auth.Users[0].Privacy)
	}

	cfg = mustParse(t, carrierYAML(t,
		"trunk: carrier}", "trunks: [{name: backup, weight: 3}, {name: carrier}], attempt_timeout: 3s}",
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    identity: pai\n    final_codes: [502]\n    health: {interval: 2s}\n",
	), noEnv)
	want := []TrunkRef{{Name: "backup", Weight: 3}, {Name: "carrier"}}
	if got := cfg.Outbound[0].TrunkList(); !reflect.DeepEqual(got, want) {
		t.Errorf("trunks = %v, want %v", got, want)
	}
	if got := cfg.Outbound[0].AttemptTimeout; got != 3*time.Second {
		t.Errorf("attempt_timeout = %v, want 3s", got)
	}
	tr = cfg.Trunks[0]
	if tr.Identity != IdentityPAI || !reflect.DeepEqual(tr.FinalCodes, []int{502}) || tr.Health.Timeout != 2*time.Second {
		t.Errorf("trunk: identity %q, final codes %v, health %+v", tr.Identity, tr.FinalCodes, tr.Health)
	}
}

// TestInboundWarnings: trunks that share a source address without
// selectors that tell them apart are reported; distinct selectors are not.
func TestInboundWarnings(t *testing.T) {
	shared := carrierYAML(t, "    host: 192.0.2.20\n", "    host: 192.0.2.20\n    allowed_sources: [192.0.2.10]\n")
	cfg := mustParse(t, shared, noEnv)
	if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, "trunks[1].inbound: shares allowed_sources with trunks[0]") {
		t.Errorf("warnings lack the shared source:\n%s", w)
	}
	told := carrierYAML(t, "    host: 192.0.2.20\n", "    host: 192.0.2.20\n    allowed_sources: [192.0.2.10]\n    inbound: {request_host: b.example}\n")
	cfg = mustParse(t, told, noEnv)
	if w := strings.Join(cfg.Warnings(), "\n"); strings.Contains(w, "inbound") {
		t.Errorf("warnings about trunks told apart by request_host:\n%s", w)
	}
}
