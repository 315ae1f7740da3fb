package gateway

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/turnserver"
)

// turnSecret is the TURN REST secret of the gateway's TURN tests.
const turnSecret = "0123456789abcdef-turn"

func TestAuthenticatedCarriesMintedTURNCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{extra: "turn:\n  secret: \"" + turnSecret + "\"\n  listen: \"127.0.0.1:0\"\n" +
		"  credential_lifetime: 5m\n  urls: [\"turns:turn.example.org:443?transport=tcp\"]\n"})
	addr := e.gw.TURNAddr()
	b := newTab(t, e)
	a := b.Login(t, "alice", testPassword)
	if len(a.ICEServers) == 0 {
		t.Fatal("no ICE servers")
	}
	ts := a.ICEServers[len(a.ICEServers)-1]
	port := strconv.Itoa(int(addr.Port()))
	want := []string{"turns:turn.example.org:443?transport=tcp", "turn:127.0.0.1:" + port + "?transport=udp", "turn:127.0.0.1:" + port + "?transport=tcp"}
	if strings.Join(ts.URLs, " ") != strings.Join(want, " ") {
		t.Errorf("TURN URLs %v, want %v", ts.URLs, want)
	}
	user, expiry, err := turnserver.ParseUsername(ts.Username, time.Now())
	if err != nil || user != "alice" || time.Until(expiry) > 5*time.Minute || time.Until(expiry) < 4*time.Minute {
		t.Errorf("username %q: user %q, expiry in %v, %v; want alice in 5m", ts.Username, user, time.Until(expiry), err)
	}
	if ts.Credential != turnserver.Password(turnSecret, ts.Username) {
		t.Error("the credential is not the TURN REST password of the username")
	}

	// The credentials open an allocation on the embedded server, which
	// relays to the gateway's media address and nowhere else.
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr.String(), Username: ts.Username, Password: ts.Credential,
		Realm: "webtrunk", Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate with the minted credentials: %v", err)
	}
	defer relay.Close()
	media := net.UDPAddrFromAddrPort(e.gw.WebRTCAddr())
	if _, err := relay.WriteTo([]byte("binding"), media); err != nil {
		t.Errorf("relay to the gateway's media address: %v", err)
	}
	if _, err := relay.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5060}); err == nil {
		t.Error("a permission for 127.0.0.9 was granted")
	}
	if got := gathered(t, e, "webtrunk_turn_refused_peers_total"); got != 1 {
		t.Errorf("webtrunk_turn_refused_peers_total %v, want 1", got)
	}
}

// gathered is the value of the gateway's counter or gauge name.
func gathered(t *testing.T, e *env, name string) float64 {
	t.Helper()
	families, err := e.gw.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			m := f.GetMetric()[0]

			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)

	return 0
}

func TestLongConnectionsGetFreshTURNCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig{extra: "turn:\n  secret: \"" + turnSecret + "\"\n  urls: [\"turn:turn.example.org:3478\"]\n"})
	e.gw.iceRefresh.Store(int64(200 * time.Millisecond))
	b := login(t, e, "alice")
	m := expect[signaling.ICEServers](t, b)
	if len(m.ICEServers) != 1 || m.ICEServers[0].URLs[0] != "turn:turn.example.org:3478" {
		t.Fatalf("refreshed ICE servers %+v", m.ICEServers)
	}
	ts := m.ICEServers[0]
	if _, _, err := turnserver.ParseUsername(ts.Username, time.Now()); err != nil || ts.Credential != turnserver.Password(turnSecret, ts.Username) {
		t.Errorf("refreshed credentials %q/%q: %v", ts.Username, ts.Credential, err)
	}
}
