package integration

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// browserStartGateway runs the gateway with its trunk "peer" at
// trunkAddr, user userAlice (password testPassword) and DID didAlice routed
// to her, with a grace period of 2 s. It is stopped by t.Cleanup, which
// then checks that its ports were released, and it serves the softphone.
func browserStartGateway(t *testing.T, trunkAddr netip.AddrPort) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("peer", trunkAddr.Port(), testconfig.User{ID: userAlice, DisplayName: "Alice"})
	c.Grace = "2s"
	e := startGateway(t, c, logger, logs)
	checkServesPage(t, e.pageURL())

	return e
}

// pageURL is the softphone page, http://127.0.0.1:port/.
func (e *env) pageURL() string { return e.httpURL + "/" }

// checkServesPage fails the test at once, with a clear message, when the
// gateway does not serve the softphone page at pageURL.
func checkServesPage(t *testing.T, pageURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pageURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", pageURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "softphone.js") {
		t.Fatalf("GET %s: status %d: the gateway does not serve the softphone (gateway/web.Handler) at /", pageURL, resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
