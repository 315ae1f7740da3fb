package browserleg

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// testLogger collects log lines at Warn and above (pion's errors, see
// LoggerFactory) and shows them if the test fails.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	logger, _ := logcapture.New(t, logcapture.Level(slog.LevelWarn))

	return logger
}

// newBrowser returns a plain pion PeerConnection standing in for a
// browser: full ICE, a desktop Chromium's audio codecs, loopback only.
func newBrowser(t *testing.T, networks ...webrtc.NetworkType) *webrtc.PeerConnection {
	t.Helper()

	return newBrowserWith(t, nil, networks...)
}

// newBrowserWith is newBrowser with the given interceptors.
func newBrowserWith(t *testing.T, interceptors *interceptor.Registry, networks ...webrtc.NetworkType) *webrtc.PeerConnection {
	t.Helper()

	return gobrowser.NewPeerConnection(t, loopbackrtc.Options{
		Codecs: loopbackrtc.ChromiumAudio(), Interceptors: interceptors, Networks: networks,
		LoggerFactory: LoggerFactory{Logger: testLogger(t)},
	})
}

// addOpusTrack adds an opusTrack named id to pc.
func addOpusTrack(t *testing.T, pc *webrtc.PeerConnection, id string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	tr := opusTrack(t, id)
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}

	return tr
}

func opusTrack(t *testing.T, id string) *webrtc.TrackLocalStaticRTP {
	t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", id)
	if err != nil {
		t.Fatalf("track: %v", err)
	}

	return tr
}

// closeTwice calls closeFn, what naming it, twice: both calls must return
// nil, closing being idempotent.
func closeTwice(t *testing.T, what string, closeFn func() error) {
	t.Helper()
	if err := closeFn(); err != nil {
		t.Errorf("%s: %v", what, err)
	}
	if err := closeFn(); err != nil {
		t.Errorf("second %s: %v", what, err)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
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
