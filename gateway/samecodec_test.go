package gateway

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/transcode"
)

// pcmuCall is a browser call that speaks only PCMU: it offers PCMU alone,
// sends a 440 Hz tone in 20 ms PCMU packets and records what it hears.
type pcmuCall struct {
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	stop  chan struct{}
	wg    sync.WaitGroup
	ear   *ear
	mu    sync.Mutex
	// discontinuities counts packets that did not follow the previous one
	// with the next sequence number and a timestamp 20 ms later.
	discontinuities int
}

// dialPCMU places call id to number over b's signaling connection from a
// PCMU-only PeerConnection and returns it once the gateway has answered.
func dialPCMU(t *testing.T, b *fakeBrowser, id, to string) *pcmuCall {
	t.Helper()
	m := &webrtc.MediaEngine{}
	pcmu := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: pcmu}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &pcmuCall{pc: pc, stop: make(chan struct{}), ear: newEar()}
	t.Cleanup(c.close)
	if c.track, err = webrtc.NewTrackLocalStaticRTP(pcmu, "audio", "browser"); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(c.track); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.wg.Add(1)
		go c.receive(tr)
	})
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-gathered
	b.send(signaling.Dial{ID: id, To: to, SDP: pc.LocalDescription().SDP})
	a := expect[signaling.Answer](t, b)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
		t.Fatalf("SetRemoteDescription(answer): %v", err)
	}
	c.wg.Add(1)
	go c.send()

	return c
}

// receive decodes the gateway's PCMU packets until the track ends.
func (c *pcmuCall) receive(tr *webrtc.TrackRemote) {
	defer c.wg.Done()
	defer c.ear.end()
	buf := make([]byte, rtpstream.MaxPacketSize)
	var p rtp.Packet
	var pcm [rtpstream.MaxPacketSize]int16
	var last rtp.Header
	for i := 0; ; i++ {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		k := transcode.DecodePCMU(pcm[:], p.Payload)
		c.ear.hear(pcm[:k])
		c.mu.Lock()
		if i > 0 && (p.SequenceNumber != last.SequenceNumber+1 || p.Timestamp != last.Timestamp+160) {
			c.discontinuities++
		}
		c.mu.Unlock()
		last = p.Header
	}
}

// send plays the 440 Hz tone every 20 ms until the call is closed.
func (c *pcmuCall) send() {
	defer c.wg.Done()
	tone := testaudio.NewTone(440, 8000, testcodec.ToneAmp)
	var pcm [160]int16
	var payload [160]byte
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	h := rtp.Header{Version: 2}
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		tone.Fill(pcm[:])
		transcode.EncodePCMU(payload[:], pcm[:])
		err := c.track.WriteRTP(&rtp.Packet{Header: h, Payload: payload[:]})
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			return
		}
		h.SequenceNumber++
		h.Timestamp += 160
	}
}

func (c *pcmuCall) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	_ = c.pc.Close()
	c.wg.Wait()
}

// endedLine waits for the "call ended" log line and returns it.
func endedLine(t *testing.T, e *env) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.Lines(e.logs.String()) {
			if strings.Contains(line, `msg="call ended"`) {
				return line
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no call ended log line")

	return ""
}

// A PCMU browser calling a PCMU trunk: calls.transcode_same_codec decides
// whether the audio is relayed or decoded and re-encoded, the call's log
// line says which, and the tones get through either way.
func TestSameCodecPCMUBrowser(t *testing.T) {
	tests := []struct {
		name      string
		sameCodec bool
		up, down  string
	}{
		{"relayed", false,
			"up: PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms",
			"down: PCMU/8000 passthrough -> PCMU re-chunk, ptime 20ms"},
		{"transcoded", true,
			"up: PCMU/8000 decode -> PCMU re-encode, ptime 20ms",
			"down: PCMU/8000 decode -> PCMU re-encode, ptime 20ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{sameCodec: tt.sameCodec})
			b := newFakeBrowser(t, e)
			b.login("alice")
			c := dialPCMU(t, b, "p1", "5550123")
			tc := e.trunk.nextCall(t)
			expectProgress[signaling.Connected](t, b)

			testcodec.AssertTone(t, waitAudio(t, tc.ear, 2*secondOfAudio)[secondOfAudio:], 440, 1000)
			testcodec.AssertTone(t, waitAudio(t, c.ear, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

			b.send(signaling.Hangup{CallID: "p1"})
			expect[signaling.HangupEvent](t, b)
			line := endedLine(t, e)
			for _, want := range []string{"browser PCMU/8000 pt 0", "trunk PCMU/8000 pt 0", tt.up, tt.down} {
				if !strings.Contains(line, want) {
					t.Errorf("call log line lacks %q:\n%s", want, line)
				}
			}
		})
	}
}
