package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// fakeBrowser is a signaling WebSocket client with pion PeerConnections
// standing in for a browser tab: it sends a 440 Hz tone in Opus on each
// call and records what it hears.
type fakeBrowser struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan signaling.Message
	done chan struct{}
	// readErr is why the connection ended; set before done is closed.
	readErr error
	api     *webrtc.API

	mu    sync.Mutex
	calls map[string]*browserCall
}

// browserCall is one call of a fake browser.
type browserCall struct {
	id    string
	pc    *webrtc.PeerConnection
	track *webrtc.TrackLocalStaticRTP
	stop  chan struct{}
	wg    sync.WaitGroup
	ear   *ear
	mu    sync.Mutex // guards sink
	sink  *testcodec.OpusSink
}

// newFakeBrowser connects to the gateway's /ws.
func newFakeBrowser(t *testing.T, e *env) *fakeBrowser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws://"+e.http+"/ws", nil)
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	ws.SetReadLimit(signaling.MaxSkipSize * 2)
	m := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}},
		{PayloadType: 110, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000}},
	} {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	b := &fakeBrowser{
		t: t, ws: ws, msgs: make(chan signaling.Message, 64), done: make(chan struct{}),
		api:   webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{})),
		calls: make(map[string]*browserCall),
	}
	go b.read()
	t.Cleanup(b.close)

	return b
}

// read forwards server messages until the connection closes.
func (b *fakeBrowser) read() {
	defer close(b.done)
	for {
		_, data, err := b.ws.Read(context.Background())
		if err != nil {
			b.readErr = err

			return
		}
		m, err := signaling.DecodeServer(data)
		if err != nil {
			continue
		}
		b.msgs <- m
	}
}

// closeStatus returns the close status the server sent, once closed.
func (b *fakeBrowser) closeStatus() websocket.StatusCode {
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		return -1
	}

	return websocket.CloseStatus(b.readErr)
}

func (b *fakeBrowser) close() {
	b.mu.Lock()
	calls := make([]*browserCall, 0, len(b.calls))
	for _, c := range b.calls {
		calls = append(calls, c)
	}
	b.mu.Unlock()
	for _, c := range calls {
		c.close()
	}
	_ = b.ws.CloseNow()
	<-b.done
}

// send writes one client message.
func (b *fakeBrowser) send(m signaling.Message) {
	b.t.Helper()
	data, err := signaling.Marshal(m)
	if err != nil {
		b.t.Fatal(err)
	}
	b.sendRaw(data)
}

func (b *fakeBrowser) sendRaw(data []byte) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.ws.Write(ctx, websocket.MessageText, data); err != nil {
		b.t.Fatalf("write: %v", err)
	}
}

// expect waits for the next message of type T, skipping pongs; any other
// message fails the test.
func expect[T signaling.Message](t *testing.T, b *fakeBrowser) T {
	t.Helper()
	var zero T
	for {
		select {
		case m := <-b.msgs:
			if v, ok := m.(T); ok {
				return v
			}
			if _, ok := m.(signaling.Pong); ok {
				continue
			}
			t.Fatalf("got %T %+v, want %T", m, m, zero)
		case <-time.After(15 * time.Second):
			t.Fatalf("no %T message", zero)
		}
	}
}

// login authenticates as user with the test password.
func (b *fakeBrowser) login(user string) {
	b.t.Helper()
	b.send(signaling.Auth{Version: signaling.Version, User: user, Password: testPassword})
	if a := expect[signaling.Authenticated](b.t, b); a.User != user {
		b.t.Fatalf("authenticated as %q", a.User)
	}
}

// offer creates a call's PeerConnection with a 440 Hz Opus track and
// returns its complete offer.
func (b *fakeBrowser) offer(id string) (*browserCall, string) {
	b.t.Helper()
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "browser")
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		b.t.Fatal(err)
	}
	c := &browserCall{id: id, pc: pc, track: track, stop: make(chan struct{}), ear: newEar(), sink: testcodec.NewOpusSink(b.t, 111)}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.ear.end()
			buf := make([]byte, 1500)
			var p rtp.Packet
			for {
				n, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				if p.Unmarshal(buf[:n]) != nil {
					continue
				}
				c.mu.Lock()
				before := len(c.sink.PCM())
				c.sink.Push(&p)
				decoded := c.sink.PCM()[before:]
				c.mu.Unlock()
				c.ear.hear(decoded)
			}
		}()
	})
	o, err := pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		b.t.Fatal(err)
	}
	<-gathered
	b.mu.Lock()
	b.calls[id] = c
	b.mu.Unlock()

	return c, pc.LocalDescription().SDP
}

// answered applies the gateway's answer and starts sending the tone.
func (c *browserCall) answered(t *testing.T, a signaling.Answer) {
	t.Helper()
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
		t.Fatalf("SetRemoteDescription(answer): %v", err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		src := testcodec.NewOpusSource(t, 440, 111)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			payload, ts := src.Next()
			if payload == nil {
				return
			}
			err := c.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: payload})
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
		}
	}()
}

func (c *browserCall) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	_ = c.pc.Close()
	c.wg.Wait()
}

// dial places a call and returns it once answered by the gateway.
func (b *fakeBrowser) dial(id, to string) *browserCall {
	b.t.Helper()
	c, sdp := b.offer(id)
	b.send(signaling.Dial{ID: id, To: to, SDP: sdp})
	a := expect[signaling.Answer](b.t, b)
	if a.CallID != id {
		b.t.Fatalf("answer for %q, want %q", a.CallID, id)
	}
	c.answered(b.t, a)

	return c
}
