package config

import (
	"testing"
	"time"
)

func TestValidateNetworkProblems(t *testing.T) {
	checkProblemCases(t, baseYAML, []problemCase{
		{
			name:  "resume window too long",
			extra: "calls:\n  resume_window: 11m\n",
			wants: []want{{"calls.resume_window", "resume_window: 11m", "must be at most 10m"}},
		},
		{
			name:  "embedded TURN without secret",
			extra: "turn:\n  listen: \"127.0.0.1:3478\"\n",
			wants: []want{{"turn.secret", "turn:", "at least 16 bytes"}},
		},
		{
			name:  "turns without turn or certificate",
			extra: "turn:\n  secret: \"0123456789abcdef\"\n  tls_listen: \":5349\"\n",
			wants: []want{
				{"turn.tls.cert_file", "turn:", "required"},
				{"turn.tls.key_file", "turn:", "required"},
				{"turn.tls_listen", "tls_listen", "needs turn.listen"},
			},
		},
		{
			name:  "external URL that is not TURN",
			extra: "turn:\n  secret: \"0123456789abcdef\"\n  urls: [\"stun:stun.example.org\"]\n",
			wants: []want{{"turn.urls[0]", "stun:stun", "must be a turn: or turns: URL"}},
		},
		{
			name:  "quotas and lifetime out of range",
			extra: "turn:\n  secret: \"0123456789abcdef\"\n  listen: \"127.0.0.1:3478\"\n  credential_lifetime: 10s\n  max_allocations_per_user: -1\n  max_bandwidth: 10\n",
			wants: []want{
				{"turn.credential_lifetime", "credential_lifetime: 10s", "must be at least 1m"},
				{"turn.max_allocations_per_user", "max_allocations_per_user: -1", "from 1 to 1000"},
				{"turn.max_bandwidth", "max_bandwidth: 10", "from 1000 to 10000000"},
			},
		},
	})
}

func TestTURNDefaults(t *testing.T) {
	c := mustParse(t, baseYAML+"turn:\n  secret: \"0123456789abcdef\"\n  listen: \":3478\"\n", noEnv)
	tc := c.TURN
	if !tc.Embedded() || !tc.Enabled() || tc.CredentialLifetime != time.Hour || tc.Realm != "webtrunk" ||
		tc.MaxAllocationsPerUser != 8 || tc.MaxAllocationsPerSource != 32 || tc.MaxBandwidth != 64000 {
		t.Errorf("turn defaults %+v", tc)
	}
	if tc.Host != c.WebRTC.PublicIPs[0].String() || tc.RelayIP != c.WebRTC.PublicIPs[0] {
		t.Errorf("turn host %q relay %v, want the first public IP %v", tc.Host, tc.RelayIP, c.WebRTC.PublicIPs[0])
	}
	if c.Calls.ResumeWindow != 30*time.Second {
		t.Errorf("resume window %v, want 30s", c.Calls.ResumeWindow)
	}
}
