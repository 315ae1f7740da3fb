package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/web"
)

// TestSoftphoneSwitch: with http.softphone off the gateway serves the
// client library but not the demo page; by default it serves both, each
// with the Content-Security-Policy.
func TestSoftphoneSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		e := newEnv(t, testConfig{edit: func(c *config.Config) { c.HTTP.Softphone = on }})
		for path, page := range map[string]bool{"/": true, "/softphone.js": true, "/softphone.css": true, "/webtrunk.js": false, "/webtrunk-media.js": false} {
			want := http.StatusOK
			if page && !on {
				want = http.StatusNotFound
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.http+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("softphone %v: GET %s: status %d, want %d", on, path, res.StatusCode, want)
			}
			if want == http.StatusOK && res.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
				t.Errorf("softphone %v: GET %s without the Content-Security-Policy", on, path)
			}
		}
	}
}
