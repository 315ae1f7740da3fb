package config

import (
	"fmt"
	"strings"
)

// minAdminTokenLen is the shortest accepted admin bearer token in bytes.
const minAdminTokenLen = 16

// Where the Prometheus endpoint is served (MetricsConfig.Listener).
const (
	// MetricsOnAdmin serves the metrics on the admin listener.
	MetricsOnAdmin = "admin"
	// MetricsOnHTTP serves the metrics on the browser-facing HTTP
	// listener, as gateways before the admin listener did.
	MetricsOnHTTP = "http"
)

// AdminPathPrefix is the path prefix of the admin API's endpoints
// (docs/admin-api.yaml).
const AdminPathPrefix = "/v1/"

// PprofPathPrefix is the path prefix of the Go profiles (net/http/pprof)
// on the admin listener.
const PprofPathPrefix = "/debug/pprof/"

// AdminConfig is the operators' HTTP listener: the admin API
// (docs/admin-api.yaml), and by default the Prometheus metrics and,
// when asked for, the Go profiles. It is apart from the browser-facing
// listener so that neither is reachable where browsers are.
type AdminConfig struct {
	// Listen is the bind address as host:port; host is an IP literal, or
	// empty for all interfaces; port 0 picks a free port. Empty turns the
	// admin listener off. Default "127.0.0.1:9090".
	Listen string `yaml:"listen"`
	// Token is the bearer token (RFC 6750 section 2.1) every request to
	// the admin listener must carry, at least 16 bytes; typically
	// "${WEBTRUNK_ADMIN_TOKEN}". Empty is allowed only while Listen is a
	// loopback address: then the API endpoints answer 401 to everyone
	// and the metrics and profiles are served without a token. Default
	// empty.
	Token Secret `yaml:"token"`
	// Pprof serves the Go runtime profiles (net/http/pprof) at
	// /debug/pprof/ on the admin listener. Default false.
	Pprof bool `yaml:"pprof"`
}

// AdminDefault returns the defaults of the admin listener.
func AdminDefault() AdminConfig { return AdminConfig{Listen: "127.0.0.1:9090"} }

// validateAdmin checks the admin listener and where the metrics go.
func (c *Config) validateAdmin(p *problems) {
	a := &c.Admin
	checkListen(p, "admin.listen", a.Listen, true)
	if !a.Token.IsZero() && a.Token.Len() < minAdminTokenLen {
		p.add("admin.token", fmt.Sprintf("must be at least %d bytes", minAdminTokenLen))
	}
	if a.Listen != "" && a.Token.IsZero() {
		if ip, _, err := parseListen(a.Listen); err == nil && (!ip.IsValid() || !ip.IsLoopback()) {
			p.add("admin.token", "required when admin.listen is not a loopback address")
		}
	}
	if a.Pprof && a.Listen == "" {
		p.add("admin.pprof", "needs admin.listen")
	}
	checkOneOf(p, "metrics.listener", c.Metrics.Listener, MetricsOnAdmin, MetricsOnHTTP)
	if !c.Metrics.Enabled || c.Metrics.Listener != MetricsOnAdmin {
		return
	}
	if a.Listen == "" {
		p.add("metrics.listener", "is admin while admin.listen is empty; set admin.listen or metrics.listener: http")
	}
	if path := c.Metrics.Path; strings.HasPrefix(path, AdminPathPrefix) || strings.HasPrefix(path, PprofPathPrefix) {
		p.add("metrics.path", fmt.Sprintf("%q is used by the admin listener itself", path))
	}
}
