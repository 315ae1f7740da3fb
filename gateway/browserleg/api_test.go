package browserleg

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func listen(t *testing.T, s Settings) *API {
	t.Helper()
	api, err := Listen(s, testLogger(t))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}

	return api
}

// TestConnect has a plain pion offerer (the browser) call a PeerConnection
// of the API (the gateway) on loopback: the answer names only the
// configured address and the mux port, the gateway opens no socket of its
// own for the session, ICE and DTLS complete over the mux port, Opus RTP
// flows both ways, and the gateway sends RTCP sender reports. Everything is
// released afterwards.
func TestConnect(t *testing.T) {
	defer goleak.VerifyNone(t)

	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)})
	muxPort := api.UDPAddr().Port()
	if muxPort == 0 || api.UDPAddr().Addr() != loopback {
		t.Fatalf("UDPAddr = %v", api.UDPAddr())
	}

	browser := newBrowser(t)
	browserTrack := addOpusTrack(t, browser, "browser")
	fromGateway := make(chan rtp.Packet, 64)
	gatewayRTCP := make(chan rtcp.Packet, 16)
	browser.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go readRTCP(r, gatewayRTCP)
		receive(tr, fromGateway)
	})
	o := gobrowser.CompleteOffer(t, browser)

	sockets := socketCount(t)
	gw, err := api.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	gatewayTrack := opusTrack(t, "gateway")
	fromBrowser := make(chan rtp.Packet, 64)
	gw.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { receive(tr, fromBrowser) })
	gwStates, browserStates := gobrowser.Watch(gw), gobrowser.Watch(browser)
	a := gobrowser.CompleteAnswer(t, gw, o, gatewayTrack)
	if n := socketCount(t); n != sockets {
		t.Fatalf("the gateway's session opened %d sockets; all must use the shared port", n-sockets)
	}

	if !strings.Contains(a.SDP, "a=ice-lite") {
		t.Error("answer does not declare ICE-lite")
	}
	cands := candidates(t, a.SDP)
	if len(cands) == 0 {
		t.Fatal("answer has no candidates")
	}
	for _, c := range cands {
		if c.addr != netip.AddrPortFrom(loopback, muxPort) || c.proto != "udp" || c.typ != "host" {
			t.Errorf("answer candidate %+v, want udp host %v:%d only", c, loopback, muxPort)
		}
	}

	if err := browser.SetRemoteDescription(a); err != nil {
		t.Fatalf("browser SetRemoteDescription: %v", err)
	}
	gwStates.WaitConnected(t)
	browserStates.WaitConnected(t)

	pair, err := gw.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected pair: %v, %v", pair, err)
	}
	if pair.Local.Port != muxPort || pair.Local.Address != loopback.String() {
		t.Fatalf("selected local candidate %s:%d, want the mux port %d", pair.Local.Address, pair.Local.Port, muxPort)
	}

	t.Run("browser to gateway", func(t *testing.T) { exchange(t, browserTrack, fromBrowser, 0xb0) })
	t.Run("gateway to browser", func(t *testing.T) { exchange(t, gatewayTrack, fromGateway, 0x9a) })
	t.Run("sender reports", func(t *testing.T) {
		deadline := time.After(5 * time.Second)
		for {
			select {
			case p := <-gatewayRTCP:
				if _, ok := p.(*rtcp.SenderReport); ok {
					return
				}
			case <-deadline:
				t.Fatal("no RTCP sender report from the gateway")
			}
		}
	})

	if err := browser.GracefulClose(); err != nil {
		t.Errorf("browser close: %v", err)
	}
	if err := gw.GracefulClose(); err != nil {
		t.Errorf("gateway close: %v", err)
	}
	closeTwice(t, "API close", api.Close)
	if _, err := api.NewPeerConnection(); !errors.Is(err, ErrClosed) {
		t.Errorf("NewPeerConnection after Close: %v, want ErrClosed", err)
	}
	// The port is free again.
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, muxPort)))
	if err != nil {
		t.Fatalf("mux port not released: %v", err)
	}
	_ = conn.Close()
}

// rtcpReader is either end of an RTP stream's RTCP: an RTPReceiver or an
// RTPSender.
type rtcpReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// readRTCP forwards the RTCP packets r reads, until it ends; those out has
// no room for are dropped.
func readRTCP(r rtcpReader, out chan<- rtcp.Packet) {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			select {
			case out <- p:
			default:
			}
		}
	}
}

// answerBrowser has a PeerConnection of an API listening with s answer
// the offer of a browser with one audio transceiver, adding track when it
// is not nil; the answer is not given to the browser. done closes the
// three; the caller defers it.
func answerBrowser(t *testing.T, s Settings, track webrtc.TrackLocal) (api *API, answer webrtc.SessionDescription, done func()) {
	t.Helper()
	api = listen(t, s)
	browser := newBrowser(t)
	done = func() {
		_ = browser.GracefulClose()
		_ = api.Close()
	}
	if _, err := browser.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		done()
		t.Fatal(err)
	}
	gw, err := api.NewPeerConnection()
	if err != nil {
		done()
		t.Fatal(err)
	}
	done = func() {
		_ = gw.GracefulClose()
		_ = browser.GracefulClose()
		_ = api.Close()
	}

	return api, gobrowser.CompleteAnswer(t, gw, gobrowser.CompleteOffer(t, browser), track), done
}

// TestAnswerCodecs checks what the gateway negotiates with a Chromium-like
// offer: Opus, PCMU, PCMA and telephone-event at both clocks with the
// offer's payload types, nothing else, and no RTCP feedback.
func TestAnswerCodecs(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, a, done := answerBrowser(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)}, opusTrack(t, "gw"))
	defer done()

	var rtpmaps []string
	for line := range strings.SplitSeq(a.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=rtpmap:"); ok {
			rtpmaps = append(rtpmaps, v)
		}
		if strings.HasPrefix(line, "a=rtcp-fb:") || strings.HasPrefix(line, "a=extmap:") {
			t.Errorf("answer asks for %q; audio needs no feedback or header extension", line)
		}
		if strings.HasPrefix(line, "m=") && line != "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 110 126" {
			t.Errorf("media line %q", line)
		}
	}
	want := []string{"111 opus/48000/2", "0 PCMU/8000", "8 PCMA/8000", "110 telephone-event/48000", "126 telephone-event/8000"}
	if !slices.Equal(rtpmaps, want) {
		t.Fatalf("answer codecs %q, want %q", rtpmaps, want)
	}
	if !strings.Contains(a.SDP, "a=fmtp:111 minptime=10;useinbandfec=1") {
		t.Error("answer lacks Opus in-band FEC")
	}
}

// TestPublicIPs checks 1:1 NAT: the answer announces the public address
// on the mux port instead of the bound one, and no address of a family the
// listener does not serve.
func TestPublicIPs(t *testing.T) {
	defer goleak.VerifyNone(t)
	public := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}
	// The answer is inspected, never given to the browser: no packet is
	// sent to the documentation addresses.
	api, a, done := answerBrowser(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0), PublicIPs: public}, nil)
	defer done()
	var got []netip.AddrPort
	for _, c := range candidates(t, a.SDP) {
		if c.proto != "udp" || c.typ != "host" {
			t.Errorf("candidate %+v, want udp host", c)
		}
		got = append(got, c.addr)
	}
	slices.SortFunc(got, func(x, y netip.AddrPort) int { return x.Compare(y) })
	port := api.UDPAddr().Port()
	want := []netip.AddrPort{netip.AddrPortFrom(public[0], port)}
	if !slices.Equal(got, want) {
		t.Fatalf("answer candidates %v, want %v", got, want)
	}
}

// TestICETCP connects a browser that may use TCP only to the gateway's
// passive ICE-TCP port and exchanges RTP over it.
func TestICETCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0), TCPListen: netip.AddrPortFrom(loopback, 0)})
	browser := newBrowser(t, webrtc.NetworkTypeTCP4)
	browserTrack := addOpusTrack(t, browser, "browser")
	gw, err := api.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowser := make(chan rtp.Packet, 64)
	gw.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { receive(tr, fromBrowser) })
	states := gobrowser.Watch(gw)
	a := gobrowser.CompleteAnswer(t, gw, gobrowser.CompleteOffer(t, browser), nil)

	tcpAddr := api.TCPAddr()
	var sawTCP bool
	for _, c := range candidates(t, a.SDP) {
		switch {
		case c.proto == "tcp" && c.addr == tcpAddr:
			sawTCP = true
		case c.proto == "udp" && c.addr == api.UDPAddr():
		default:
			t.Errorf("unexpected candidate %+v", c)
		}
	}
	if !sawTCP {
		t.Fatalf("answer has no ICE-TCP candidate on %v", tcpAddr)
	}
	if err := browser.SetRemoteDescription(a); err != nil {
		t.Fatal(err)
	}
	states.WaitConnected(t)
	pair, err := gw.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP || pair.Local.Port != tcpAddr.Port() {
		t.Fatalf("selected pair %v (%v), want TCP on %v", pair, err, tcpAddr)
	}
	exchange(t, browserTrack, fromBrowser, 0x7c)

	_ = browser.GracefulClose()
	_ = gw.GracefulClose()
	if err := api.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(tcpAddr))
	if err != nil {
		t.Fatalf("ICE-TCP port not released: %v", err)
	}
	_ = ln.Close()
}

func TestListenPortInUse(t *testing.T) {
	defer goleak.VerifyNone(t)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	busy := conn.LocalAddr().(*net.UDPAddr).AddrPort() //nolint:forcetypeassert // UDP socket
	_, err = Listen(Settings{UDPListen: busy}, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), busy.String()) {
		t.Fatalf("Listen on a busy port: %v, want an error naming %v", err, busy)
	}

	// A failing ICE-TCP bind releases the UDP port it had taken.
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	busyTCP := ln.Addr().(*net.TCPAddr).AddrPort() //nolint:forcetypeassert // TCP listener
	sockets := socketCount(t)
	if _, err := Listen(Settings{UDPListen: netip.AddrPortFrom(loopback, 0), TCPListen: busyTCP}, testLogger(t)); err == nil {
		t.Fatal("Listen with a busy ICE-TCP port succeeded")
	}
	if n := socketCount(t); n != sockets {
		t.Fatalf("a failed Listen left %d sockets open, want its UDP socket closed", n-sockets)
	}
}
