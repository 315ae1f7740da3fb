package integration

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testconfig"
	"github.com/webtrunk/webtrunk/internal/testproc"
)

// coturnPath is where the Debian package coturn installs its server.
const coturnPath = "/usr/bin/turnserver"

// startCoturn runs coturn on loopback with the TURN REST shared secret
// (use-auth-secret, the mode the gateway's minted credentials are made
// for), stopped at cleanup, and returns its UDP address once it listens.
// It fails the test loudly when coturn is not installed.
func startCoturn(t *testing.T, secret string) netip.AddrPort {
	t.Helper()
	if _, err := exec.LookPath(coturnPath); err != nil {
		t.Fatalf("coturn not found at %s: install the Debian package coturn (%v)", coturnPath, err)
	}
	port := sipp.FreePort(t)
	dir := t.TempDir()
	out := logcapture.NewWriter(t, logcapture.Name("coturn"), logcapture.Tail(40))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, coturnPath, "-n", "-v", "--listening-ip=127.0.0.1", "--listening-port="+strconv.Itoa(port),
		"--relay-ip=127.0.0.1", "--min-port=40000", "--max-port=40199", "--use-auth-secret", "--static-auth-secret="+secret,
		"--realm=webtrunk", "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log",
		"--allow-loopback-peers", "--pidfile="+filepath.Join(dir, "pid"), "--db="+filepath.Join(dir, "turndb"))
	cmd.Stdout, cmd.Stderr = out, out
	testproc.Start(t, "coturn", cmd, cancel).AwaitLine(t, out, "UDP listener opened on: 127.0.0.1:"+strconv.Itoa(port), logcapture.WaitTimeout)

	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)) //nolint:gosec // a port
}

// TestExternalCoturnTakesMintedCredentials: with turn.urls naming a coturn
// that shares turn.secret, the credentials the gateway mints for a
// signed-in browser open an allocation on coturn that relays; a changed
// password does not.
func TestExternalCoturnTakesMintedCredentials(t *testing.T) {
	coturn := startCoturn(t, turnTestSecret)
	url := "turn:" + coturn.String() + "?transport=udp"
	gw := netStartGateway(t, netip.MustParseAddrPort("127.0.0.1:9"), func(c *testconfig.Gateway) {
		c.Extra = "turn:\n  secret: \"" + turnTestSecret + "\"\n  urls: [\"" + url + "\"]\n"
	})
	a := gobrowser.Connect(t, strings.Replace(gw.httpURL, "http://", "ws://", 1)+"/ws").Login(t, userAlice, testPassword)
	if len(a.ICEServers) == 0 || a.ICEServers[len(a.ICEServers)-1].URLs[0] != url {
		t.Fatalf("ICE servers %+v, want coturn's %s", a.ICEServers, url)
	}
	ts := a.ICEServers[len(a.ICEServers)-1]

	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	allocate := func(password string) (net.PacketConn, error) {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: coturn.String(), Username: ts.Username, Password: password,
			Realm: "webtrunk", Conn: conn, RTO: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}

		return c.Allocate()
	}
	if r, err := allocate(ts.Credential + "x"); err == nil {
		_ = r.Close()
		t.Error("coturn granted an allocation with a changed password")
	}
	relay, err := allocate(ts.Credential)
	if err != nil {
		t.Fatalf("coturn refused the minted credentials %q: %v", ts.Username, err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("through coturn"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "through coturn" {
		t.Fatalf("the peer got %q (%v) through coturn", buf[:n], err)
	}
}
