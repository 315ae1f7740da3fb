package integration

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/testaudio"
)

// Payload types of the fake browser's offer, numbered as Chromium numbers
// them: Opus (RFC 7587) and telephone-event at both clocks (RFC 4733).
const (
	ptOpus       = 111
	ptEvent48k   = 110
	ptEvent8k    = 126
	mimeTelEvent = "audio/telephone-event"
)

// browserAPI builds the pion API of a fake browser: full ICE on loopback UDP
// only (no mDNS, no other interface), Opus and telephone-event.
func browserAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{PayloadType: ptOpus, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		{PayloadType: ptEvent48k, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelEvent, ClockRate: 48000, Channels: 1, SDPFmtpLine: "0-15"}},
		{PayloadType: ptEvent8k, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelEvent, ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-15"}},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("browser codecs: %w", err)
		}
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)), nil
}

// browserPeer is the media half of the fake browser: a pion PeerConnection
// that sends a 440 Hz tone as Opus (48 kHz, 20 ms frames, as a browser's
// microphone would), sends RFC 4733 digits like RTCDTMFSender, and decodes
// and records the audio it receives.
type browserPeer struct {
	pc    *webrtc.PeerConnection
	track *audioTrack

	toneHz       int        // frequency of the tone it sends (Hz); set before applyAnswer
	heard        *recording // decoded audio at 48 kHz
	dtmf         *dtmfSender
	muted        atomic.Bool // stop sending (a browser whose network went away)
	connected    chan struct{}
	disconnected chan struct{}
	failed       chan struct{}

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	stop    chan struct{}
	started bool
}

// newBrowserPeer creates the PeerConnection with one sendrecv audio
// transceiver. It is closed by t.Cleanup.
func newBrowserPeer(t *testing.T) *browserPeer {
	t.Helper()
	api, err := browserAPI()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatalf("browser peer: %v", err)
	}
	b := &browserPeer{
		pc: pc, track: &audioTrack{}, toneHz: browserToneHz, heard: newRecording(48000), dtmf: newDTMFSender(48000),
		connected: make(chan struct{}), disconnected: make(chan struct{}), failed: make(chan struct{}), stop: make(chan struct{}),
	}
	var connOnce, discOnce, failOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			connOnce.Do(func() { close(b.connected) })
		case webrtc.PeerConnectionStateDisconnected:
			discOnce.Do(func() { close(b.disconnected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			failOnce.Do(func() { close(b.failed) })
		}
	})
	pc.OnTrack(b.onTrack)
	if _, err := pc.AddTransceiverFromTrack(b.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		t.Fatalf("browser peer: %v", err)
	}
	t.Cleanup(b.close)

	return b
}

// offer creates the browser's SDP offer with all its ICE candidates in it
// (gathering completes at once on loopback), as the W3C API would hand it
// to the page.
func (b *browserPeer) offer(t *testing.T) string {
	t.Helper()
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("create offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(o); err != nil {
		t.Fatalf("set local description: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("ICE gathering did not complete")
	}

	return b.pc.LocalDescription().SDP
}

// applyAnswer sets the gateway's answer and starts sending the tone.
func (b *browserPeer) applyAnswer(t *testing.T, sdp string) {
	t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatalf("set remote description: %v\n%s", err, sdp)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing || b.started {
		return
	}
	b.started = true
	b.wg.Add(1)
	go b.send()
}

// waitConnected fails the test unless ICE and DTLS complete within timeout.
func (b *browserPeer) waitConnected(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-b.connected:
	case <-b.failed:
		t.Fatalf("browser peer connection failed (state %s)", b.pc.ConnectionState())
	case <-time.After(timeout):
		t.Fatalf("browser peer not connected within %v (state %s)", timeout, b.pc.ConnectionState())
	}
}

// close stops the media and closes the PeerConnection, waiting for every
// goroutine it started; it is idempotent.
func (b *browserPeer) close() {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.closing = true
	close(b.stop)
	b.mu.Unlock()
	_ = b.pc.GracefulClose()
	b.wg.Wait()
}

// onTrack records the gateway's audio until the connection closes.
func (b *browserPeer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	defer b.wg.Done()
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		return
	}
	buf := make([]byte, 1500)
	pcm := make([]int16, 48000*120/1000)
	var p rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		if p.PayloadType != uint8(tr.PayloadType()) || len(p.Payload) == 0 {
			continue // telephone-event or comfort noise
		}
		if k, err := dec.Decode(p.Payload, pcm); err == nil {
			b.heard.add(pcm[:k])
		}
	}
}

// send encodes and sends the browser's tone every 20 ms until close.
func (b *browserPeer) send() {
	defer b.wg.Done()
	enc, err := opus.NewEncoder(48000, 1, opus.AppVoIP)
	if err != nil {
		return
	}
	tone := testaudio.NewTone(float64(b.toneHz), 48000, toneAmp)
	pcm := make([]int16, 960)
	payload := make([]byte, 1275)
	var p rtp.Packet
	p.Version = 2
	var seq uint16
	var ts uint32
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		tone.Fill(pcm)
		if b.muted.Load() {
			ts += 960
			continue
		}
		p.SequenceNumber = seq
		if pt := b.track.eventPT(); pt == 0 || !b.dtmf.next(&p, pt, ts) {
			n, err := enc.Encode(pcm, payload)
			if err != nil {
				return
			}
			p.PayloadType, p.Marker, p.Timestamp, p.Payload = b.track.audioPT(), seq == 0, ts, payload[:n]
		}
		if err := b.track.write(&p); err != nil && errors.Is(err, errTrackUnbound) {
			ts += 960
			continue
		}
		seq++
		ts += 960
	}
}

// errTrackUnbound: the transceiver is not negotiated (yet, or any more).
var errTrackUnbound = errors.New("browser track not bound")

// audioTrack is the browser's microphone track. Unlike pion's
// TrackLocalStaticRTP, which stamps every packet with the negotiated audio
// payload type, it keeps the payload type of each packet, so telephone-events
// leave on the same SSRC with their own type as RTCDTMFSender's do.
type audioTrack struct {
	mu     sync.Mutex
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	opus   uint8
	event  uint8
}

// Bind picks Opus and the 48 kHz telephone-event among the negotiated codecs.
func (a *audioTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	a.mu.Lock()
	defer a.mu.Unlock()
	a.event = 0
	for _, c := range ctx.CodecParameters() {
		switch {
		case strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) && chosen == nil:
			c := c
			chosen = &c
		case strings.EqualFold(c.MimeType, mimeTelEvent) && c.ClockRate == 48000:
			a.event = uint8(c.PayloadType)
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	a.writer, a.ssrc, a.opus = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(chosen.PayloadType)

	return *chosen, nil
}

// Unbind detaches the track from the sender.
func (a *audioTrack) Unbind(webrtc.TrackLocalContext) error {
	a.mu.Lock()
	a.writer = nil
	a.mu.Unlock()

	return nil
}

func (a *audioTrack) ID() string                { return "mic" }
func (a *audioTrack) RID() string               { return "" }
func (a *audioTrack) StreamID() string          { return "browser" }
func (a *audioTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func (a *audioTrack) audioPT() uint8 { a.mu.Lock(); defer a.mu.Unlock(); return a.opus }
func (a *audioTrack) eventPT() uint8 { a.mu.Lock(); defer a.mu.Unlock(); return a.event }

// write sends p on the bound stream with the track's SSRC.
func (a *audioTrack) write(p *rtp.Packet) error {
	a.mu.Lock()
	w, ssrc := a.writer, a.ssrc
	a.mu.Unlock()
	if w == nil {
		return errTrackUnbound
	}
	p.SSRC = ssrc
	_, err := w.WriteRTP(&p.Header, p.Payload)

	return err
}

// offerTrickle creates the browser's offer without candidates, as a
// trickling browser sends it (RFC 8838), and returns it with the channel on
// which its candidates arrive; the channel is closed after the last.
func (b *browserPeer) offerTrickle(t *testing.T) (string, <-chan webrtc.ICECandidateInit) {
	t.Helper()
	cands := make(chan webrtc.ICECandidateInit, 32)
	var once sync.Once
	b.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			once.Do(func() { close(cands) })
			return
		}
		select {
		case cands <- c.ToJSON():
		default: // more candidates than a loopback-only agent can have
		}
	})
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("create offer: %v", err)
	}
	if err := b.pc.SetLocalDescription(o); err != nil {
		t.Fatalf("set local description: %v", err)
	}

	return o.SDP, cands
}
