package turnserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testSecret = "a shared secret of the tests"

// listenUDP binds a UDP socket on ip, closed at cleanup.
func listenUDP(t *testing.T, ip string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	return c
}

// startServer runs a server on loopback whose only peer is media; edit
// changes its settings first.
func startServer(t *testing.T, media *net.UDPConn, edit func(*Settings)) *Server {
	t.Helper()
	s := Settings{
		Listen:  netip.MustParseAddrPort("127.0.0.1:0"),
		RelayIP: netip.MustParseAddr("127.0.0.1"),
		Peers:   []netip.AddrPort{media.LocalAddr().(*net.UDPAddr).AddrPort()}, //nolint:forcetypeassert // a UDP socket
		Secret:  testSecret, MaxPerUser: 4, MaxPerSource: 8, MaxBandwidth: 64000,
	}
	if edit != nil {
		edit(&s)
	}
	srv, err := Listen(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	return srv
}

// newClient is a TURN client of srv over UDP with the given credentials,
// listening, closed at cleanup.
func newClient(t *testing.T, srv *Server, username, password string) *turn.Client {
	t.Helper()

	return listeningClient(t, srv.UDPAddr().String(), listenUDP(t, "127.0.0.1"), username, password)
}

// listeningClient is a TURN client of the server at addr over conn with
// the given credentials, listening, closed at cleanup.
func listeningClient(t *testing.T, addr string, conn net.PacketConn, username, password string) *turn.Client {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: addr, Username: username, Password: password, Realm: "webtrunk",
		Conn: conn, RTO: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	return c
}

// readFrom reads one datagram from c within a few seconds.
func readFrom(t *testing.T, c net.PacketConn) ([]byte, net.Addr) {
	t.Helper()
	buf := make([]byte, 1600)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}

	return buf[:n], from
}

func TestCredentialsMatchTURNREST(t *testing.T) {
	t.Parallel()
	// pion's own TURN REST implementation is the reference.
	username, password, err := turn.GenerateLongTermTURNRESTCredentials(testSecret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := Password(testSecret, username); got != password {
		t.Errorf("Password(%q) = %q, pion computes %q", username, got, password)
	}
	now := time.Unix(1_800_000_000, 0)
	u, p := Credentials(testSecret, "alice", 10*time.Minute, now)
	if u != "1800000600:alice" || p != Password(testSecret, u) {
		t.Errorf("Credentials = %q %q", u, p)
	}
	tests := []struct {
		name, username string
		want           error
	}{
		{"valid", "1800000600:alice", nil},
		{"expired", "1799999999:alice", ErrExpired},
		{"no user", "1800000600:", ErrBadUsername},
		{"no expiry", "alice", ErrBadUsername},
		{"bad expiry", "soon:alice", ErrBadUsername},
	}
	for _, tt := range tests {
		if _, _, err := ParseUsername(tt.username, now); err != tt.want { //nolint:errorlint // sentinel values
			t.Errorf("%s: ParseUsername(%q) = %v, want %v", tt.name, tt.username, err, tt.want)
		}
	}
}

func TestRelaysOnlyToTheGatewaysMediaAddress(t *testing.T) {
	t.Parallel()
	media := listenUDP(t, "127.0.0.1")
	stranger := listenUDP(t, "127.0.0.1") // same IP, another port
	srv := startServer(t, media, nil)
	u, p := Credentials(testSecret, "alice", time.Minute, time.Now())
	c := newClient(t, srv, u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()

	// Another port of an allowed IP: the datagram never leaves the relay.
	if _, err := relay.WriteTo([]byte("to the stranger"), stranger.LocalAddr()); err != nil {
		t.Fatalf("write to the stranger: %v", err)
	}
	// The gateway's media address: relayed, both ways.
	if _, err := relay.WriteTo([]byte("to the gateway"), media.LocalAddr()); err != nil {
		t.Fatalf("write to media: %v", err)
	}
	got, from := readFrom(t, media)
	if string(got) != "to the gateway" {
		t.Fatalf("media got %q", got)
	}
	if _, err := media.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, relay); string(got) != "back" {
		t.Fatalf("client got %q", got)
	}
	// The stranger answers to the relay as well: dropped.
	if _, err := stranger.WriteTo([]byte("let me in"), from); err != nil {
		t.Fatal(err)
	}
	if _, err := media.WriteTo([]byte("again"), from); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, relay); string(got) != "again" {
		t.Fatalf("client got %q, want only the gateway's datagrams", got)
	}
	_ = stranger.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := stranger.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatalf("the stranger received %d bytes through the relay", n)
	}
	if st := srv.Stats(); st.RefusedPeers != 2 || st.Allocations != 1 || st.RelayedBytes == 0 {
		t.Errorf("stats %+v, want 2 refused peers, 1 allocation, relayed bytes", st)
	}

	// Another IP address: the permission itself is refused (403).
	other := listenUDP(t, "127.0.0.3")
	if _, err := relay.WriteTo([]byte("x"), other.LocalAddr()); err == nil {
		t.Error("a permission for 127.0.0.3 was granted")
	}
	if st := srv.Stats(); st.RefusedPeers < 3 {
		t.Errorf("refused peers %d after a refused permission, want 3", st.RefusedPeers)
	}
}

func TestRefusesBadCredentialsAndQuota(t *testing.T) {
	t.Parallel()
	media := listenUDP(t, "127.0.0.1")
	srv := startServer(t, media, func(s *Settings) { s.MaxPerUser = 1 })
	now := time.Now()
	good, goodPass := Credentials(testSecret, "alice", time.Minute, now)
	expired, expiredPass := Credentials(testSecret, "alice", -time.Minute, now)
	tests := []struct {
		name, username, password string
	}{
		{"wrong password", good, "not the password"},
		{"expired", expired, expiredPass},
		{"another secret", good, Password("another secret of someone", good)},
		{"not expiry:user", "alice", goodPass},
	}
	for _, tt := range tests {
		before := srv.Stats().BadCredentials
		c := newClient(t, srv, tt.username, tt.password)
		relay, err := c.Allocate()
		if err == nil {
			_ = relay.Close()
			t.Errorf("%s: allocation granted", tt.name)
		} else if !strings.Contains(err.Error(), "error 401") {
			t.Errorf("%s: %v, want 401 Unauthorized", tt.name, err)
		}
		if after := srv.Stats().BadCredentials; after <= before {
			t.Errorf("%s: bad credentials counter stayed at %d", tt.name, after)
		}
	}

	// One allocation per user: the second is refused (486).
	first := newClient(t, srv, good, goodPass)
	relay, err := first.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()
	second := newClient(t, srv, good, goodPass)
	if r, err := second.Allocate(); err == nil {
		_ = r.Close()
		t.Error("a second allocation of a user limited to one was granted")
	}
	if st := srv.Stats(); st.QuotaRefused != 1 {
		t.Errorf("quota refusals %d, want 1", st.QuotaRefused)
	}
}

// newTCPClient is a TURN client of srv over TCP, closed at cleanup.
func newTCPClient(t *testing.T, srv *Server, username, password string) *turn.Client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(context.Background(), "tcp", srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}

	return listeningClient(t, srv.UDPAddr().String(), turn.NewSTUNConn(conn), username, password)
}

func TestTURNOverTCPPassesTheGate(t *testing.T) {
	t.Parallel()
	media := listenUDP(t, "127.0.0.1")
	srv := startServer(t, media, nil)
	u, p := Credentials(testSecret, "alice", time.Minute, time.Now())
	if _, err := newTCPClient(t, srv, u, "wrong").Allocate(); err == nil || !strings.Contains(err.Error(), "error 401") {
		t.Errorf("allocation over TCP with a wrong password: %v, want 401", err)
	}
	relay, err := newTCPClient(t, srv, u, p).Allocate()
	if err != nil {
		t.Fatalf("allocate over TCP: %v", err)
	}
	defer relay.Close()
	// Enough datagrams for ChannelData frames of every padding.
	for i := range 8 {
		msg := bytes.Repeat([]byte{byte('a' + i)}, 97+i)
		if _, err := relay.WriteTo(msg, media.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		got, from := readFrom(t, media)
		if !bytes.Equal(got, msg) {
			t.Fatalf("media got %q, want %q", got, msg)
		}
		if _, err := media.WriteTo(msg, from); err != nil {
			t.Fatal(err)
		}
		if back, _ := readFrom(t, relay); !bytes.Equal(back, msg) {
			t.Fatalf("client got %q back, want %q", back, msg)
		}
	}
}

func TestBandwidthLimitDropsExcess(t *testing.T) {
	t.Parallel()
	media := listenUDP(t, "127.0.0.1")
	srv := startServer(t, media, func(s *Settings) { s.MaxBandwidth = 1000 })
	u, p := Credentials(testSecret, "alice", time.Minute, time.Now())
	relay, err := newClient(t, srv, u, p).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	// The burst is one maximal datagram; ten at once exceed it.
	payload := bytes.Repeat([]byte{1}, 1000)
	for range 10 {
		if _, err := relay.WriteTo(payload, media.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	readFrom(t, media)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for srv.Stats().Dropped == 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if st := srv.Stats(); st.Dropped == 0 {
		t.Errorf("stats %+v: nothing dropped over 1000 bytes/s", st)
	}
}

func TestGateLetsChannelDataThroughWithoutAllocating(t *testing.T) {
	media := listenUDP(t, "127.0.0.1")
	srv := startServer(t, media, nil)
	// ChannelData on channel 0x4000 with 160 bytes of audio (RFC 8656
	// section 12.4), what a browser's relayed media is made of.
	frame := append([]byte{0x40, 0x00, 0x00, 160}, make([]byte, 160)...)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, drop := srv.screen(frame); drop {
			t.Fatal("ChannelData dropped")
		}
	})
	if allocs != 0 {
		t.Errorf("the gate allocates %v times per ChannelData frame", allocs)
	}
}

func TestTURNOverTLS(t *testing.T) {
	t.Parallel()
	media := listenUDP(t, "127.0.0.1")
	cert, roots := testcert.SelfSigned(t)
	srv := startServer(t, media, func(s *Settings) {
		s.TLSListen = netip.MustParseAddrPort("127.0.0.1:0")
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(context.Background(), "tcp", srv.TLSAddr().String())
	if err != nil {
		t.Fatalf("dial turns: %v", err)
	}
	u, p := Credentials(testSecret, "alice", time.Minute, time.Now())
	c := listeningClient(t, srv.TLSAddr().String(), turn.NewSTUNConn(conn), u, p)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	defer relay.Close()
	if _, err := relay.WriteTo([]byte("over tls"), media.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, _ := readFrom(t, media); string(got) != "over tls" {
		t.Fatalf("media got %q", got)
	}
}
