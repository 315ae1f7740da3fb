package gateway

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/webtrunk/webtrunk/config"

	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// adminRequest sends a request to the gateway's admin listener with the
// test token and returns the status and body.
func adminRequest(t *testing.T, e *env, method, path string, header http.Header) (int, string) {
	t.Helper()
	addr := e.gw.AdminAddr()
	if addr == nil {
		t.Fatal("the gateway has no admin listener")
	}

	return httpRequest(t, method, "http://"+addr.String()+path, header)
}

// bearer is the Authorization header of token.
func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// adminGet reads path from the admin listener with the right token,
// failing the test unless it answers 200.
func adminGet(t *testing.T, e *env, path string) (int, string) {
	t.Helper()
	code, body := adminRequest(t, e, http.MethodGet, path, bearer(testconfig.AdminToken))
	if code != http.StatusOK {
		t.Fatalf("GET %s on the admin listener: %d %s", path, code, body)
	}

	return code, body
}

// TestAdminListener: the metrics are served on the admin listener, not on
// the browsers' listener; every admin request without the right bearer
// token gets 401 with a challenge, a log line naming its source and
// never the token it sent, and a count in the metrics.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{})
	if code, _ := httpGet(t, e, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the browsers' listener: %d, want 404", code)
	}
	if _, body := adminGet(t, e, "/metrics"); !strings.Contains(body, "webtrunk_calls_active") {
		t.Errorf("admin /metrics lacks webtrunk_calls_active:\n%.300s", body)
	}
	const wrong = "wrong-token-that-must-never-be-logged"
	tests := []struct {
		name, path string
		header     http.Header
		why        string
	}{
		{"no header on metrics", "/metrics", nil, "no bearer token"},
		{"wrong token on metrics", "/metrics", bearer(wrong), "wrong token"},
		{"basic auth on the api", "/v1/calls", http.Header{"Authorization": {"Basic " + wrong}}, "no bearer token"},
		{"wrong token on the api", "/v1/calls", bearer(wrong), "wrong token"},
		{"token as a prefix", "/v1/calls", bearer(testconfig.AdminToken + "x"), "wrong token"},
	}
	for i, tc := range tests {
		code, body := adminRequest(t, e, http.MethodGet, tc.path, tc.header)
		if code != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
			t.Errorf("%s: %d %s, want 401", tc.name, code, body)
		}
		if i == 0 {
			// One line per source and interval: the first refusal is logged.
			line := e.logs.WaitLine(t, "admin request refused")
			if !strings.Contains(line, "source=127.0.0.1:") || !strings.Contains(line, "why=\""+tc.why+"\"") {
				t.Errorf("refusal log line %q lacks the source or the reason", line)
			}
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, wrong) || strings.Contains(logs, testconfig.AdminToken) {
		t.Error("a log line shows a token")
	}
	_, metrics := adminGet(t, e, "/metrics")
	if want := "webtrunk_admin_refused_total 5"; !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %q", want)
	}
}

// TestAdminWithoutToken: with no admin.token (allowed on loopback only)
// the API refuses everyone while the metrics and profiles stay open.
func TestAdminWithoutToken(t *testing.T) {
	t.Parallel()
	cfg := parseTestConfig(t, testConfig{})
	cfg.Admin.Token = config.Secret{}
	g := &Gateway{cfg: cfg, log: slog.New(slog.DiscardHandler), metrics: NewMetrics(), adminLog: newThrottle(adminLogInterval, 16)}
	h := g.requireToken(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	tests := []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/metrics", nil, http.StatusTeapot},
		{"/debug/pprof/", nil, http.StatusTeapot},
		{"/v1/calls", nil, http.StatusUnauthorized},
		{"/v1/calls", bearer(""), http.StatusUnauthorized},
		{"/v1/calls", bearer("anything-at-all-0123"), http.StatusUnauthorized},
	}
	for _, tc := range tests {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, tc.path, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %v: %d, want %d", tc.path, tc.header, rec.Code, tc.want)
		}
		if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") != adminRealm {
			t.Errorf("%s: challenge %q", tc.path, rec.Header().Get("WWW-Authenticate"))
		}
	}
}

// TestAdminPprof: with admin.pprof the Go profiles are served on the
// admin listener behind the token, and never on the browsers' listener.
func TestAdminPprof(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{edit: func(c *config.Config) { c.Admin.Pprof = true }})
	if _, body := adminGet(t, e, "/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("profile index lacks goroutine:\n%.200s", body)
	}
	if code, _ := adminRequest(t, e, http.MethodGet, "/debug/pprof/", nil); code != http.StatusUnauthorized {
		t.Errorf("profiles without the token: %d, want 401", code)
	}
	if code, body := httpGet(t, e, "/debug/pprof/"); code == http.StatusOK && strings.Contains(body, "goroutine") {
		t.Error("profiles served on the browsers' listener")
	}
}
