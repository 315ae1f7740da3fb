package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Bounds of the steps of one call.
const (
	gatherTimeout = 5 * time.Second
	hangupTimeout = 5 * time.Second
)

// Failures of a call's signaling.
var (
	errRefused      = errors.New("loadgen: refused")
	errRemoteHangup = errors.New("loadgen: hung up by the gateway")
	errTimeout      = errors.New("loadgen: timed out")
	errICE          = errors.New("loadgen: peer connection failed")
	errClosed       = errors.New("loadgen: signaling connection closed")
)

// call is one simulated browser call: a WebSocket speaking the signaling
// protocol (docs/protocol.md) and a pion PeerConnection sending its tone
// and receiving the echo.
type call struct {
	idx  int
	id   string
	to   string
	freq int
	opts *options

	// Outcome of the set-up, written by run before it signals up.
	setup     time.Duration
	err       error
	connected time.Time
	ended     time.Time
	dropped   atomic.Bool // the gateway hung up during the measurement

	tx   txCall
	rx   rxCounters
	tone toneDetector
}

// newCall describes call idx of the run.
func newCall(idx int, o *options, counting *atomic.Bool) *call {
	c := &call{
		idx: idx, id: "load-" + strconv.Itoa(idx), to: o.to + fmt.Sprintf("%04d", idx%10000),
		freq: toneFreq(idx), opts: o,
	}
	c.tone.freq = float64(c.freq)
	c.tone.counting = counting

	return c
}

// wsClient is the signaling connection of one call, with a goroutine that
// decodes the server's messages into events.
type wsClient struct {
	ws     *websocket.Conn
	events chan signaling.Message
	done   chan struct{}
}

// dialWS opens the WebSocket and starts its reader; the reader ends when
// ctx ends or the connection closes, and then closes events.
func dialWS(ctx context.Context, url string) (*wsClient, error) {
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close() // the handshake response; the connection is ws
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: websocket: %w", err)
	}
	ws.SetReadLimit(signaling.MaxSkipSize)
	c := &wsClient{ws: ws, events: make(chan signaling.Message, 16), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.events)
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			m, err := signaling.DecodeServer(data)
			if err != nil {
				continue // a message of a later protocol version
			}
			select {
			case c.events <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	return c, nil
}

// send writes one client message.
func (c *wsClient) send(ctx context.Context, m signaling.Message) error {
	data, err := signaling.Marshal(m)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("loadgen: websocket write: %w", err)
	}

	return nil
}

// await returns the first event that match accepts (match returns true) or
// the error match returns, failing after timeout or when the connection
// closes.
func (c *wsClient) await(ctx context.Context, timeout time.Duration, what string,
	match func(signaling.Message) (bool, error),
) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m, ok := <-c.events:
			if !ok {
				return fmt.Errorf("%w while waiting for %s", errClosed, what)
			}
			if done, err := match(m); err != nil || done {
				return err
			}
		case <-t.C:
			return fmt.Errorf("%w waiting for %s", errTimeout, what)
		case <-ctx.Done():
			return fmt.Errorf("loadgen: waiting for %s: %w", what, ctx.Err())
		}
	}
}

// close closes the connection and waits for its reader.
func (c *wsClient) close() {
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
}

// refused turns an error reply into an error.
func refused(e signaling.ErrorReply) error {
	return fmt.Errorf("%w: %s: %s", errRefused, e.Code, e.Message)
}

// run carries the call through its life: connect and authenticate, offer,
// dial, wait for the answer, ICE+DTLS and the connected message (the setup
// time runs from the dial to connected), then send and receive audio until
// stop is closed, hang up and release everything. It reports on up once,
// when the call is connected or has failed, and returns when everything it
// started has ended.
func (c *call) run(ctx context.Context, api *webrtc.API, capab webrtc.RTPCodecCapability, snd *sender,
	up chan<- *call, stop <-chan struct{},
) {
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			c.err = err
			up <- c
		}
	}
	defer func() { report(c.err) }()
	defer func() { c.ended = time.Now() }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws, err := dialWS(ctx, c.opts.url)
	if err != nil {
		report(err)

		return
	}
	defer ws.close()
	if err := c.authenticate(ctx, ws); err != nil {
		report(err)

		return
	}

	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		report(fmt.Errorf("loadgen: peer connection: %w", err))

		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() { _ = pc.Close() }()
	pcUp, pcFailed := make(chan struct{}), make(chan struct{})
	var upOnce, failOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s { //nolint:exhaustive // only these matter here
		case webrtc.PeerConnectionStateConnected:
			upOnce.Do(func() { close(pcUp) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			failOnce.Do(func() { close(pcFailed) })
		}
	})
	dec, err := newDecoder(c.opts.codec)
	if err != nil {
		report(err)

		return
	}
	var trackOnce sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		trackOnce.Do(func() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.receive(tr, dec)
			}()
		})
	})
	track, err := webrtc.NewTrackLocalStaticRTP(capab, "mic", "loadgen")
	if err != nil {
		report(fmt.Errorf("loadgen: track: %w", err))

		return
	}
	rtpSender, err := pc.AddTrack(track)
	if err != nil {
		report(fmt.Errorf("loadgen: add track: %w", err))

		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := rtpSender.Read(buf); err != nil {
				return
			}
		}
	}()
	src, err := newAudioSource(c.opts.codec, c.freq)
	if err != nil {
		report(err)

		return
	}
	offer, err := c.offer(pc)
	if err != nil {
		report(err)

		return
	}

	dialed := time.Now()
	if err := c.dial(ctx, ws, pc, offer, pcUp, pcFailed); err != nil {
		report(err)
		c.hangup(ws)

		return
	}
	c.connected = time.Now()
	c.setup = c.connected.Sub(dialed)

	c.tx.stream = newTxStream(src, uint32(c.idx)*2654435761)
	c.tx.w = track
	snd.add(&c.tx)
	defer snd.remove(&c.tx)
	report(nil)

	// Hold the call until the run stops it, or until the gateway ends it.
	for {
		select {
		case <-stop:
			snd.remove(&c.tx)
			c.hangup(ws)

			return
		case <-pcFailed:
			c.dropped.Store(true)
			c.err = errICE
			c.hangup(ws)

			return
		case m, ok := <-ws.events:
			if !ok {
				c.dropped.Store(true)
				c.err = errClosed

				return
			}
			if h, isHangup := m.(signaling.HangupEvent); isHangup && h.CallID == c.id {
				c.dropped.Store(true)
				c.err = fmt.Errorf("%w: %s %d", errRemoteHangup, h.Reason, h.SIPCode)

				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// authenticate sends auth and waits for authenticated.
func (c *call) authenticate(ctx context.Context, ws *wsClient) error {
	a := signaling.Auth{Version: signaling.Version, Token: c.opts.token}
	if c.opts.token == "" {
		a.User, a.Password = c.opts.user, c.opts.password
	}
	if err := ws.send(ctx, a); err != nil {
		return err
	}

	return ws.await(ctx, c.opts.setupTimeout, "authenticated", func(m signaling.Message) (bool, error) {
		switch m := m.(type) {
		case signaling.Authenticated:
			return true, nil
		case signaling.ErrorReply:
			return false, refused(m)
		}

		return false, nil
	})
}

// offer creates the SDP offer with all candidates gathered (RFC 8829
// section 5.2: a non-trickling offer).
func (c *call) offer(pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("loadgen: create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return "", fmt.Errorf("loadgen: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		return "", fmt.Errorf("%w: ICE gathering", errTimeout)
	}

	return pc.LocalDescription().SDP, nil
}

// dial sends the dial, applies the answer and waits until both the
// connected message and the PeerConnection's connected state arrived.
func (c *call) dial(ctx context.Context, ws *wsClient, pc *webrtc.PeerConnection, offer string,
	pcUp, pcFailed <-chan struct{},
) error {
	if err := ws.send(ctx, signaling.Dial{ID: c.id, To: c.to, SDP: offer}); err != nil {
		return err
	}
	deadline := time.Now().Add(c.opts.setupTimeout)
	err := ws.await(ctx, c.opts.setupTimeout, "connected", func(m signaling.Message) (bool, error) {
		switch m := m.(type) {
		case signaling.Answer:
			if m.CallID != c.id {
				return false, nil
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				return false, fmt.Errorf("loadgen: set remote description: %w", err)
			}
		case signaling.Connected:
			return m.CallID == c.id, nil
		case signaling.HangupEvent:
			if m.CallID == c.id {
				return false, fmt.Errorf("%w: %s %d", errRemoteHangup, m.Reason, m.SIPCode)
			}
		case signaling.ErrorReply:
			if m.CallID == c.id {
				return false, refused(m)
			}
		}

		return false, nil
	})
	if err != nil {
		return err
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-pcUp:
		return nil
	case <-pcFailed:
		return errICE
	case <-t.C:
		return fmt.Errorf("%w: ICE and DTLS", errTimeout)
	case <-ctx.Done():
		return fmt.Errorf("loadgen: %w", ctx.Err())
	}
}

// hangup sends hangup and waits for the gateway's hangup message.
func (c *call) hangup(ws *wsClient) {
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if err := ws.send(ctx, signaling.Hangup{CallID: c.id}); err != nil {
		return
	}
	_ = ws.await(ctx, hangupTimeout, "hangup", func(m signaling.Message) (bool, error) {
		h, ok := m.(signaling.HangupEvent)

		return ok && h.CallID == c.id, nil
	})
}

// receive reads the gateway's audio until the PeerConnection closes:
// sequence and arrival bookkeeping for every packet, then decoding and
// tone detection.
func (c *call) receive(tr *webrtc.TrackRemote, dec *decoder) {
	t := rxTracker{c: &c.rx}
	buf := make([]byte, 1500)
	var p rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		t.record(p.SequenceNumber, now)
		if pcm, err := dec.decode(p.Payload); err == nil {
			c.tone.add(pcm)
		}
	}
}
