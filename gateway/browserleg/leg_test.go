package browserleg

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// connectLeg has api answer the offer of peer, the browser, with a Leg and
// waits until both ends are connected. The caller closes the leg.
func connectLeg(t *testing.T, api *API, peer *webrtc.PeerConnection) browser.Leg {
	t.Helper()
	states := gobrowser.Watch(peer)
	leg, answerSDP, err := api.NewLeg(gobrowser.CompleteOffer(t, peer).SDP, func() { t.Log("ICE or DTLS failed") })
	if err != nil {
		t.Fatalf("NewLeg: %v", err)
	}
	if err := peer.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answerSDP}); err != nil {
		t.Fatalf("browser SetRemoteDescription: %v", err)
	}
	states.WaitConnected(t)
	waitClosed(t, leg.Connected(), "the leg's connected signal")

	return leg
}

// TestLegCarriesRTPBytes: a Leg answers a browser's offer, reaches
// connected, passes the browser's packets to ReadRTP whole and in order,
// sends what WriteRTP is given with the negotiated payload type; Close
// ends a blocked ReadRTP with ErrClosed.
func TestLegCarriesRTPBytes(t *testing.T) {
	defer goleak.VerifyNone(t)
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)})
	defer func() { _ = api.Close() }()
	peer := newBrowser(t)
	defer func() { _ = peer.Close() }()
	browserTrack := addOpusTrack(t, peer, "browser")
	fromGateway := make(chan rtp.Packet, 64)
	peer.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { receive(tr, fromGateway) })
	leg := connectLeg(t, api, peer)
	defer func() { _ = leg.Close() }()
	if m := leg.Media(); m.Audio.Name != "opus" || m.Audio.PayloadType != 111 || len(m.Events) != 1 || m.Events[0].PayloadType != 110 {
		t.Errorf("Media = %v (events %v), want opus pt 111 and the one telephone-event answered, pt 110", m, m.Events)
	}

	// Browser to gateway: ReadRTP returns whole packets into our buffer.
	fromBrowser := make(chan rtp.Packet, 64)
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := leg.ReadRTP(buf)
			if err != nil {
				readDone <- err

				return
			}
			var p rtp.Packet
			if err := p.Unmarshal(bytes.Clone(buf[:n])); err == nil {
				select {
				case fromBrowser <- p:
				default:
				}
			}
		}
	}()
	exchange(t, browserTrack, fromBrowser, 0x5a)

	// Gateway to browser: the packet's bytes go out with the answer's
	// payload type.
	out := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 99, SequenceNumber: 7, Timestamp: 960, SSRC: 1}, Payload: []byte{0xf8, 0xff, 0xfe}}
	raw, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		if n, err := leg.WriteRTP(raw); err != nil || n != len(raw) {
			t.Fatalf("WriteRTP = %d, %v", n, err)
		}
		select {
		case p := <-fromGateway:
			if p.PayloadType != uint8(PayloadTypeOpus) || string(p.Payload) != string(out.Payload) {
				t.Fatalf("browser got pt %d payload %x", p.PayloadType, p.Payload)
			}
			got = true
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("the browser received nothing")
		}
	}

	// Close ends the reader.
	closeTwice(t, "Close", leg.Close)
	select {
	case err := <-readDone:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadRTP after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRTP still blocked after Close")
	}
}

// TestLegRefusals: offers and candidates the leg cannot use are *Error of
// the right kind, with a detail for the browser's user; a leg of a closed
// API is an internal failure.
func TestLegRefusals(t *testing.T) {
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)})
	peer := newBrowser(t)
	defer func() { _ = peer.Close() }()
	if _, err := peer.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	good := gobrowser.CompleteOffer(t, peer).SDP
	tests := []struct {
		name   string
		offer  string
		want   error
		prefix string
	}{
		{"not sdp", "hello", browser.ErrBadOffer, "sdp: "},
		{"no common codec", strings.NewReplacer(" opus/", " G722/", " PCMU/", " G729/", " PCMA/", " G729/").Replace(good), browser.ErrNoCommonCodec, "sdp: "},
		{"no audio", strings.ReplaceAll(good, "m=audio", "m=video"), browser.ErrNoCommonCodec, "sdp: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := api.NewLeg(tt.offer, func() {})
			var le *browser.Error
			if !errors.As(err, &le) || !errors.Is(err, tt.want) || !strings.HasPrefix(le.Detail, tt.prefix) {
				t.Fatalf("NewLeg = %v, want %v with detail %q...", err, tt.want, tt.prefix)
			}
		})
	}

	leg, _, err := api.NewLeg(good, func() {})
	if err != nil {
		t.Fatalf("NewLeg: %v", err)
	}
	mid := "0"
	err = leg.AddCandidate(browser.Candidate{Candidate: "candidate:garbage", SDPMid: &mid})
	var le *browser.Error
	if !errors.As(err, &le) || !errors.Is(err, browser.ErrBadCandidate) || !strings.HasPrefix(le.Detail, "candidate: ") {
		t.Errorf("AddCandidate(garbage) = %v, want ErrBadCandidate", err)
	}
	_ = leg.Close()

	if err := api.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.NewLeg(good, func() {}); !errors.Is(err, ErrClosed) || errors.As(err, &le) {
		t.Errorf("NewLeg after Close = %v, want ErrClosed, not an *Error", err)
	}
}
