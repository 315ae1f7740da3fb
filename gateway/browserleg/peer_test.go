package browserleg

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// testLogger collects log lines at Warn and above (pion's errors, see
// LoggerFactory) and prints them if the test fails. Lines are buffered
// rather than passed to t.Log, which must not be called once the test has
// ended.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", w.String())
		}
	})

	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()

	return w.b.String()
}

// browserCodecs are the audio codecs of a desktop Chromium offer, with its
// payload types.
var browserCodecs = []webrtc.RTPCodecParameters{
	{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}}},
	{PayloadType: 63, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}},
	{PayloadType: 9, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000}},
	{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}},
	{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}},
	{PayloadType: 13, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/CN", ClockRate: 8000}},
	{PayloadType: 110, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 48000}},
	{PayloadType: 126, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 8000}},
}

// newBrowser returns a plain pion PeerConnection standing in for a
// browser: full ICE, Chromium's audio codecs, loopback only.
func newBrowser(t *testing.T, networks ...webrtc.NetworkType) *webrtc.PeerConnection {
	t.Helper()

	return newBrowserWith(t, &interceptor.Registry{}, networks...)
}

// newBrowserWith is newBrowser with the given interceptors.
func newBrowserWith(t *testing.T, interceptors *interceptor.Registry, networks ...webrtc.NetworkType) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range browserCodecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatalf("register %s: %v", c.MimeType, err)
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: LoggerFactory{Logger: testLogger(t)}}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se.SetNetworkTypes(networks)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(interceptors))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatalf("browser peer connection: %v", err)
	}

	return pc
}

func opusTrack(t *testing.T, id string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
	if err != nil {
		t.Fatalf("track: %v", err)
	}

	return tr
}

// offer makes the browser's complete offer (all candidates gathered).
func offer(t *testing.T, pc *webrtc.PeerConnection) webrtc.SessionDescription {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("CreateOffer: %v", err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatalf("SetLocalDescription(offer): %v", err)
	}
	waitClosed(t, done, "browser gathering")

	return *pc.LocalDescription()
}

// answer has the gateway's PeerConnection answer the offer with its own
// Opus track, the way a call session does.
func answer(t *testing.T, pc *webrtc.PeerConnection, o webrtc.SessionDescription, track webrtc.TrackLocal) webrtc.SessionDescription {
	t.Helper()
	if err := pc.SetRemoteDescription(o); err != nil {
		t.Fatalf("SetRemoteDescription(offer): %v", err)
	}
	if track != nil {
		if _, err := pc.AddTrack(track); err != nil {
			t.Fatalf("AddTrack: %v", err)
		}
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatalf("CreateAnswer: %v", err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(a); err != nil {
		t.Fatalf("SetLocalDescription(answer): %v", err)
	}
	waitClosed(t, done, "gateway gathering")

	return *pc.LocalDescription()
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// connectedSignal returns a channel closed once pc is connected and one
// that receives the first failed/closed state.
func connectedSignal(pc *webrtc.PeerConnection) (connected <-chan struct{}, failed <-chan webrtc.PeerConnectionState) {
	c := make(chan struct{})
	f := make(chan webrtc.PeerConnectionState, 1)
	var closed bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			if !closed {
				closed = true
				close(c)
			}
		case webrtc.PeerConnectionStateFailed:
			select {
			case f <- s:
			default:
			}
		}
	})

	return c, f
}

// candidate is the transport address of an a=candidate line.
type candidate struct {
	proto string
	addr  netip.AddrPort
	typ   string
}

// candidates parses the candidates of an SDP with pion's parsers, one per
// transport address (pion lists each address for RTP and RTCP components).
func candidates(t *testing.T, desc string) []candidate {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(desc); err != nil {
		t.Fatalf("parse SDP: %v", err)
	}
	var out []candidate
	for _, m := range sd.MediaDescriptions {
		for _, a := range m.Attributes {
			if a.Key != "candidate" {
				continue
			}
			c, err := ice.UnmarshalCandidate(a.Value)
			if err != nil {
				t.Fatalf("candidate %q: %v", a.Value, err)
			}
			addr, err := netip.ParseAddr(c.Address())
			if err != nil {
				t.Fatalf("candidate address %q: %v", c.Address(), err)
			}
			cand := candidate{proto: c.NetworkType().NetworkShort(), addr: netip.AddrPortFrom(addr, uint16(c.Port())), typ: c.Type().String()}
			if !slices.Contains(out, cand) {
				out = append(out, cand)
			}
		}
	}

	return out
}

// socketCount counts the process's open sockets.
func socketCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read fds: %v", err)
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}

	return n
}

// receive reads RTP from a remote track with a caller-owned buffer and
// forwards each packet's payload type and payload, until the track ends.
func receive(track *webrtc.TrackRemote, out chan<- rtp.Packet) {
	buf := make([]byte, 1500)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if err := p.Unmarshal(bytes.Clone(buf[:n])); err != nil {
			continue
		}
		select {
		case out <- p:
		default: // the test has seen enough
		}
	}
}

// exchange sends Opus-typed RTP packets on track and checks that the other
// side receives them in order with their payloads intact.
func exchange(t *testing.T, track *webrtc.TrackLocalStaticRTP, got <-chan rtp.Packet, marker byte) {
	t.Helper()
	const packets = 25
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			payload := []byte{marker, byte(seq >> 8), byte(seq), 0xf8, 0xff, 0xfe}
			err := track.WriteRTP(&rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 0x5eed},
				Payload: payload,
			})
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-sent }()

	deadline := time.After(10 * time.Second)
	last := -1
	for received := 0; received < packets; {
		select {
		case p := <-got:
			if p.PayloadType != uint8(PayloadTypeOpus) {
				t.Fatalf("payload type %d, want Opus %d", p.PayloadType, PayloadTypeOpus)
			}
			if len(p.Payload) != 6 || p.Payload[0] != marker || !bytes.Equal(p.Payload[3:], []byte{0xf8, 0xff, 0xfe}) {
				t.Fatalf("payload %x, want marker %x", p.Payload, marker)
			}
			seq := int(p.Payload[1])<<8 | int(p.Payload[2])
			if seq <= last {
				t.Fatalf("packet %d after %d", seq, last)
			}
			last = seq
			received++
		case <-deadline:
			t.Fatalf("received only %d packets", last+1)
		}
	}
}
