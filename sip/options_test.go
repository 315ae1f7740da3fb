package sip

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/testcert"
	"github.com/webtrunk/webtrunk/telephony"
)

func optionsText(transport string, from netip.AddrPort, to string, branch string) string {
	return fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;branch=%s\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=probe1\r\n"+
		"To: <sip:%s>\r\n"+
		"Call-ID: %s@test\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", to, transport, from, branch, to, branch)
}

// TestOptionsKeepalive answers a trunk's OPTIONS probe (RFC 3261 section 11) with 200, Allow and Accept.
func TestOptionsKeepalive(t *testing.T) {
	peer, env := inboundUA(t, nil)
	probe := peer.SendText(strings.ReplaceAll(optionsText("UDP", peer.Addr(), env.addr.String(), "z9hG4bK-opt-1"), "\r\n", "\n"), env.addr)
	res := peer.ExpectResponse(probe, 200, 5*time.Second)
	if !strings.Contains(headerValue(res, "Allow"), "INVITE") || headerValue(res, "Accept") != "application/sdp" {
		t.Errorf("OPTIONS answer Allow %q Accept %q", headerValue(res, "Allow"), headerValue(res, "Accept"))
	}
	if via := res.Via(); via == nil || via.Host != "127.0.0.1" {
		t.Errorf("response Via %v", via)
	}
}

// TestTLSListener answers OPTIONS received over the TLS listener on the same connection.
func TestTLSListener(t *testing.T) {
	cert, roots := testcert.SelfSigned(t)
	env := startUA(t, Config{
		Listeners: []Listener{
			{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"},
			{Transport: telephony.TransportTLS, Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
		},
		Trunks: []Trunk{inboundTrunk()},
	})
	addr, ok := env.ua.ListenAddr(telephony.TransportTLS)
	if !ok {
		t.Fatal("no TLS listener")
	}
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := dialer.DialContext(t.Context(), "tcp", addr.String())
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	if _, err := conn.Write([]byte(optionsText("TLS", local, addr.String(), "z9hG4bK-tls-1"))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if !strings.HasPrefix(status, "SIP/2.0 200") {
		t.Errorf("status line %q, want 200", status)
	}
}
