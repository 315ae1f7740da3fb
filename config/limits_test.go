package config

import (
	"strings"
	"testing"
	"time"
)

// TestLimits: top-level limits apply to users without their own, a user's
// own block replaces them, and bad values are refused with their paths.
func TestLimits(t *testing.T) {
	doc := baseYAML + `limits:
  calls_per_minute: 5
  concurrent_calls: 2
  max_call_duration: 30m
  daily_minutes: 120
  prefixes:
    - {prefix: "+1900", max_concurrent: 1, max_per_day: 3}
`
	cfg := mustParse(t, doc, noEnv)
	l := cfg.LimitsFor("alice")
	if l.CallsPerMinute != 5 || l.ConcurrentCalls != 2 || l.MaxCallDuration != 30*time.Minute || l.DailyMinutes != 120 ||
		len(l.Prefixes) != 1 || l.Prefixes[0] != (PrefixLimit{"+1900", 1, 3}) {
		t.Errorf("alice's limits %+v", l)
	}
	own := mustParse(t, strings.Replace(doc, `password_hash: "`+testHash+`"`, `password_hash: "`+testHash+`"
      limits: {calls_per_minute: 1}`, 1), noEnv)
	if l := own.LimitsFor("alice"); l.CallsPerMinute != 1 || l.ConcurrentCalls != 0 {
		t.Errorf("alice's own limits %+v", l)
	}
	if l := own.LimitsFor("jwt-user"); l.CallsPerMinute != 5 {
		t.Errorf("a JWT user's limits %+v, want the top-level ones", l)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"limits: {calls_per_minute: -1}\n", "limits.calls_per_minute"},
		{"limits: {daily_minutes: 1441}\n", "limits.daily_minutes"},
		{"limits: {max_call_duration: 49h}\n", "limits.max_call_duration"},
		{"limits: {prefixes: [{prefix: \"1900\"}]}\n", "limits.prefixes[0].prefix: must be +"},
		{"limits: {prefixes: [{prefix: \"+44\"}, {prefix: \"+44\"}]}\n", "limits.prefixes[1].prefix: listed twice"},
	} {
		checkRefused(t, tc.yaml, tc.want)
	}
}
