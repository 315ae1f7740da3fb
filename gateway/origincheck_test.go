package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/webtrunk/webtrunk/config"
)

// TestOriginCheckEndpoint: POST /ws/origin tells any page, readable across
// origins, whether its Origin may open the WebSocket, with the same
// verdict as the upgrade, and counts nothing as refused.
func TestOriginCheckEndpoint(t *testing.T) {
	e := newEnv(t, testConfig{edit: func(c *config.Config) {
		c.HTTP.AllowedOrigins = []string{"https://app.example.com"}
	}})
	port := e.http[strings.LastIndex(e.http, ":")+1:]
	tests := []struct {
		name, origin string
		allowed      bool
	}{
		{"own page", "http://127.0.0.1:" + port, true},
		{"configured site", "https://app.example.com", true},
		{"no Origin (not a browser)", "", true},
		{"foreign site", "https://evil.example", false},
		{"configured site over http", "http://app.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.http+OriginCheckPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var got struct {
				Origin  string `json:"origin"`
				Allowed bool   `json:"allowed"`
			}
			if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
				t.Fatalf("status %d: %v", res.StatusCode, err)
			}
			if res.StatusCode != http.StatusOK || got.Allowed != tt.allowed || got.Origin != tt.origin {
				t.Errorf("status %d, answer %+v; want 200, allowed %v for %q", res.StatusCode, got, tt.allowed, tt.origin)
			}
			if h := res.Header.Get("Access-Control-Allow-Origin"); h != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", h)
			}
			if tt.origin != "" {
				if want := map[bool]int{true: http.StatusSwitchingProtocols, false: http.StatusForbidden}[tt.allowed]; upgradeStatus(t, e, tt.origin, "") != want {
					t.Errorf("the upgrade's verdict differs from the check's")
				}
			}
		})
	}
	// Only the two refused upgrades count, not the checks.
	if got := testutil.ToFloat64(e.gw.metrics.OriginsRefused); got != 2 {
		t.Errorf("refused origins counted %v, want 2", got)
	}
}
