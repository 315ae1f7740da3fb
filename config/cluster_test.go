package config

import (
	"strings"
	"testing"
	"time"
)

// TestCluster: the Redis URL comes from the environment and is a secret;
// the failure policy, timeout and key prefix have defaults and bounds; a
// bad URL is refused without showing its password.
func TestCluster(t *testing.T) {
	cfg := mustParse(t, baseYAML, noEnv)
	if r := cfg.Cluster.Redis; r.Enabled() || r.FailurePolicy != FailOpen || r.Timeout != 500*time.Millisecond || r.KeyPrefix != "webtrunk:" {
		t.Errorf("defaults %+v", r)
	}
	good := "cluster:\n  redis:\n    url: \"${REDIS}\"\n    failure_policy: fail_closed\n    timeout: 200ms\n    key_prefix: \"eu1:\"\n"
	cfg = mustParse(t, baseYAML+good, env(map[string]string{"REDIS": "redis://:hunter2@10.0.0.5:6379/2"}))
	if r := cfg.Cluster.Redis; !r.Enabled() || r.URL.Reveal() != "redis://:hunter2@10.0.0.5:6379/2" ||
		r.FailurePolicy != FailClosed || r.Timeout != 200*time.Millisecond || strings.Contains(r.URL.String(), "hunter2") {
		t.Errorf("redis %+v", r)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"cluster:\n  redis:\n    url: \"http://:hunter2@h:1\"\n", "cluster.redis.url: must be a redis://"},
		{"cluster:\n  redis:\n    url: \"redis://:hunter2@/0\"\n", "cluster.redis.url: needs a host"},
		{"cluster:\n  redis:\n    url: \"unix://\"\n", "cluster.redis.url: unix: needs"},
		{"cluster:\n  redis:\n    url: \"redis://:hunter2@h:1/%zz\"\n", "cluster.redis.url: is not a URL"},
		{"cluster:\n  redis:\n    failure_policy: maybe\n", "cluster.redis.failure_policy"},
		{"cluster:\n  redis:\n    timeout: 1ms\n", "cluster.redis.timeout: must be at least 10ms"},
		{"cluster:\n  redis:\n    key_prefix: \"a b\"\n", "cluster.redis.key_prefix"},
	} {
		checkRefused(t, tc.yaml, tc.want)
		if _, err := Parse([]byte(baseYAML+tc.yaml), noEnv); err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", tc.yaml, err)
		}
	}
}
