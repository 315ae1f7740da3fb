package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webtrunk/webtrunk/config"
)

// adminLogInterval throttles the log line of refused admin requests to
// one per source address per interval.
const adminLogInterval = 10 * time.Second

// adminRealm is the realm of the admin listener's WWW-Authenticate
// challenge (RFC 6750 section 3).
const adminRealm = `Bearer realm="webtrunk-admin"`

// adminRoutes builds the handler of the admin listener: the admin API
// under config.AdminPathPrefix (docs/admin-api.yaml), the Prometheus
// metrics when metrics.listener is admin, and the Go profiles when
// admin.pprof is set. Every request must carry admin.token as a bearer
// token; with no token configured the API refuses everyone and the
// metrics and profiles are open (config allows that on loopback only).
func (g *Gateway) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	g.adminAPI(mux)
	if m := g.cfg.Metrics; m.Enabled && m.Listener == config.MetricsOnAdmin {
		mux.Handle("GET "+m.Path, g.metricsHandler())
	}
	if g.cfg.Admin.Pprof {
		mux.Handle(config.PprofPathPrefix, ProfilesHandler())
	}

	return g.requireToken(mux)
}

// metricsHandler serves the gateway's Prometheus registry.
func (g *Gateway) metricsHandler() http.Handler {
	return promhttp.HandlerFor(g.metrics.Registry, promhttp.HandlerOpts{ErrorLog: slogErrorLogger{g.log}})
}

// ProfilesHandler serves the Go runtime profiles of net/http/pprof under
// /debug/pprof/.
func ProfilesHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(config.PprofPathPrefix, pprof.Index)
	mux.HandleFunc(config.PprofPathPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(config.PprofPathPrefix+"profile", pprof.Profile)
	mux.HandleFunc(config.PprofPathPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(config.PprofPathPrefix+"trace", pprof.Trace)

	return mux
}

// requireToken lets a request through when it carries the admin token
// ("Authorization: Bearer TOKEN", RFC 6750 section 2.1), compared in
// constant time. Without a configured token, only the API is closed.
// A refused request gets 401 with a challenge, and a log line (at most
// one per source and adminLogInterval) names its source, method, path
// and why, never what it sent.
func (g *Gateway) requireToken(next http.Handler) http.Handler {
	want := []byte(g.cfg.Admin.Token.Reveal())

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		why := ""
		got, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case len(want) == 0 && !strings.HasPrefix(r.URL.Path, config.AdminPathPrefix):
		case len(want) == 0:
			why = "no admin token configured"
		case !hasBearer:
			why = "no bearer token"
		case subtle.ConstantTimeCompare([]byte(got), want) != 1:
			why = "wrong token"
		}
		if why == "" {
			next.ServeHTTP(w, r)

			return
		}
		g.metrics.AdminRefused.Inc()
		if g.adminLog.allow(sourceHost(r.RemoteAddr), time.Now()) {
			g.log.Warn("admin request refused", "source", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "why", why)
		}
		w.Header().Set("WWW-Authenticate", adminRealm)
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthorized", Detail: why})
	})
}

// sourceHost is the host part of a request's remote address.
func sourceHost(remote string) string {
	if i := strings.LastIndexByte(remote, ':'); i > 0 {
		return remote[:i]
	}

	return remote
}

// apiError is the body of every admin API error response.
type apiError struct {
	// Error is a short machine-readable code.
	Error string `json:"error"`
	// Detail says what was wrong, for people.
	Detail string `json:"detail,omitempty"`
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
