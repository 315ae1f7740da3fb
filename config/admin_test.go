package config

import "testing"

// TestAdmin: the admin listener defaults to loopback without a token and
// carries the metrics; a token is required off loopback and must be long
// enough; the metrics need the admin listener unless they move to the
// browser-facing one; the token is read from the environment.
func TestAdmin(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		name      string
		yaml      string
		env       map[string]string
		wantError string
		check     func(*Config) bool
	}{
		{name: "default", check: func(c *Config) bool {
			return c.Admin.Listen == "127.0.0.1:9090" && c.Admin.Token.IsZero() && c.Metrics.Listener == MetricsOnAdmin
		}},
		{name: "token from env", yaml: "admin:\n  listen: \"0.0.0.0:9090\"\n  token: \"${ADMIN}\"\n  pprof: true\n",
			env: map[string]string{"ADMIN": token}, check: func(c *Config) bool {
				return c.Admin.Token.Reveal() == token && c.Admin.Pprof
			}},
		{name: "no token off loopback", yaml: "admin:\n  listen: \"0.0.0.0:9090\"\n", wantError: "admin.token: required when admin.listen is not a loopback address"},
		{name: "short token", yaml: "admin:\n  token: short\n", wantError: "admin.token: must be at least 16 bytes"},
		{name: "bad listen", yaml: "admin:\n  listen: nowhere\n", wantError: "admin.listen"},
		{name: "metrics without admin", yaml: "admin:\n  listen: \"\"\n", wantError: "metrics.listener: is admin while admin.listen is empty"},
		{name: "metrics on http", yaml: "admin:\n  listen: \"\"\nmetrics:\n  listener: http\n", check: func(c *Config) bool {
			return c.Admin.Listen == "" && c.Metrics.Listener == MetricsOnHTTP
		}},
		{name: "unknown listener", yaml: "metrics:\n  listener: sip\n", wantError: "metrics.listener"},
		{name: "metrics path of the api", yaml: "metrics:\n  path: /v1/metrics\n", wantError: "metrics.path"},
		{name: "pprof without listener", yaml: "admin:\n  listen: \"\"\n  pprof: true\nmetrics:\n  listener: http\n", wantError: "admin.pprof: needs admin.listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parseCase(t, baseYAML+tc.yaml, env(tc.env), tc.wantError)
			if cfg != nil && !tc.check(cfg) {
				t.Errorf("admin %+v metrics %+v", cfg.Admin, cfg.Metrics)
			}
		})
	}
}
