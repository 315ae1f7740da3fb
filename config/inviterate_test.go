package config

import (
	"strings"
	"testing"
)

// TestInviteRate: sip.invite_rate defaults to 10 per second with a burst of 20, 0 turns it
// off, and a negative rate or a burst below 1 is refused with the field's path.
func TestInviteRate(t *testing.T) {
	inSIP := func(yaml string) string { return strings.Replace(baseYAML, "sip:\n", "sip:\n"+yaml, 1) }
	checkSectionCases(t, inSIP, []sectionCase[RateLimit]{
		{"default", "", RateLimit{PerSecond: 10, Burst: 20}, ""},
		{"set", "  invite_rate: {per_second: 3, burst: 6}\n", RateLimit{PerSecond: 3, Burst: 6}, ""},
		{"off", "  invite_rate: {per_second: 0}\n", RateLimit{PerSecond: 0, Burst: 20}, ""},
		{"negative rate", "  invite_rate: {per_second: -1}\n", RateLimit{}, "sip.invite_rate.per_second"},
		{"no burst", "  invite_rate: {per_second: 5, burst: 0}\n", RateLimit{}, "sip.invite_rate.burst"},
	}, func(c *Config) RateLimit { return c.SIP.InviteRate })
}
