package integration

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/browserleg"

	"github.com/webtrunk/webtrunk/telephony"
)

// browserGW is the real gateway, in-process on 127.0.0.1, with one trunk
// pointing at a real SIP peer (sipp or baresip) that the test runs.
type browserGW struct {
	pageURL string         // the softphone page, http://127.0.0.1:port/
	sipAddr netip.AddrPort // the gateway's SIP UDP address
	logs    *lockedBuffer
}

// browserStartGateway runs the gateway with its trunk at trunkAddr, user
// userAlice (password testPassword) and DID didAlice routed to her. It is
// stopped by t.Cleanup, which then checks that its ports were released.
func browserStartGateway(t *testing.T, trunkAddr netip.AddrPort) *browserGW {
	t.Helper()
	hash, err := bcryptHash()
	if err != nil {
		t.Fatal(err)
	}
	rtpMin, rtpMax := reserveRTPRange(t)
	webrtcPort := freeUDPPort(t)
	yaml := gatewayConfig{
		RTPMin: rtpMin, RTPMax: rtpMax, WebRTC: webrtcPort.String(),
		Trunk: "peer", TrunkPort: trunkAddr.Port(),
		Hash: string(hash), Alice: userAlice, DIDAlice: didAlice, Grace: "2s",
	}.render(t)
	cfg, err := config.Parse(yaml, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("test configuration rejected: %v\n%s", err, yaml)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := gateway.New(cfg, logger, browserleg.ListenConfig)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("gateway.Listen: %v", err)
	}
	sipAddr, ok := gw.SIPAddr(telephony.TransportUDP)
	if !ok {
		t.Fatal("gateway has no SIP UDP listener after Listen")
	}
	g := &browserGW{pageURL: "http://" + gw.HTTPAddr().String() + "/", sipAddr: sipAddr, logs: logs}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway Run returned %v", err)
			}
		case <-time.After(cfg.Shutdown.GracePeriod + 15*time.Second):
			t.Errorf("gateway Run did not return after cancellation")
		}
		assertPortsFree(t, rtpMin, rtpMax, webrtcPort)
		if t.Failed() {
			t.Logf("gateway log (last lines):\n%s", lastLines(logs.String(), 80))
		}
	})
	g.checkServesPage(t)

	return g
}

// checkServesPage fails the test at once, with a clear message, when the
// gateway does not serve the softphone page at "/".
func (g *browserGW) checkServesPage(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.pageURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", g.pageURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "softphone.js") {
		t.Fatalf("GET %s: status %d: the gateway does not serve the softphone (gateway/web.Handler) at /", g.pageURL, resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}
