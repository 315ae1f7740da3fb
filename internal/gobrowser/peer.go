package gobrowser

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hraban/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/transcode"
)

// DefaultToneHz is the frequency of the tone a Peer sends unless told
// otherwise, in Hz.
const DefaultToneHz = 440

// heardRate is the sample rate of what a Peer records, in Hz: Opus is
// decoded straight to it, G.711 is at it.
const heardRate = 8000

// PeerOptions shape a Peer.
type PeerOptions struct {
	// PCMU makes the peer offer PCMU alone, without telephone-event; it
	// offers Opus and telephone-event at both clocks otherwise, as
	// Chromium does.
	PCMU bool
	// ToneHz is the frequency of the tone it sends, DefaultToneHz when 0.
	ToneHz float64
}

// Peer is the media half of a Go browser: one PeerConnection with a
// sendrecv audio transceiver that, once answered, sends its tone every 20
// ms (Opus encoded by libopus at 48 kHz like a browser's microphone, or
// PCMU), sends digits as RTCDTMFSender does, and decodes and records what
// it receives.
type Peer struct {
	pc     *webrtc.PeerConnection
	states *States
	track  *micTrack
	pcmu   bool
	toneHz float64
	heard  *ear.Record
	dtmf   *testcodec.DTMFSender
	muted  atomic.Bool
	breaks atomic.Int64

	closeOnce sync.Once
	mu        sync.Mutex
	closing   bool
	started   bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

// NewPeer creates the PeerConnection; it is closed at the end of the test.
func NewPeer(tb testing.TB, o PeerOptions) *Peer {
	tb.Helper()
	api := loopbackrtc.Options{}
	p := &Peer{pcmu: o.PCMU, toneHz: o.ToneHz, heard: ear.New(heardRate), stop: make(chan struct{})}
	p.track = &micTrack{mime: webrtc.MimeTypeOpus, clock: 48000}
	if o.PCMU {
		api.Codecs = []webrtc.RTPCodecParameters{loopbackrtc.PCMU}
		p.track = &micTrack{mime: webrtc.MimeTypePCMU, clock: 8000}
	}
	if p.toneHz == 0 {
		p.toneHz = DefaultToneHz
	}
	p.dtmf = testcodec.NewDTMFSender(int(p.track.clock))
	a, err := loopbackrtc.NewAPI(api)
	if err != nil {
		tb.Fatal(err)
	}
	if p.pc, err = a.NewPeerConnection(webrtc.Configuration{}); err != nil {
		tb.Fatalf("peer connection: %v", err)
	}
	p.states = Watch(p.pc)
	p.pc.OnTrack(p.onTrack)
	if _, err := p.pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		tb.Fatalf("peer connection: %v", err)
	}
	tb.Cleanup(p.Close)

	return p
}

// PeerConnection is the peer's pion PeerConnection.
func (p *Peer) PeerConnection() *webrtc.PeerConnection { return p.pc }

// States follows the peer's connection state.
func (p *Peer) States() *States { return p.states }

// Heard is what the peer heard: its audio at 8 kHz, and the digits of
// telephone-events.
func (p *Peer) Heard() *ear.Record { return p.heard }

// Breaks is how many received audio packets did not go on from the one
// before in the same stream: a duplicate, a late packet, a sequence jump,
// or a timestamp that is not 20 ms per sequence number on. Loss alone is
// not a break.
func (p *Peer) Breaks() int { return int(p.breaks.Load()) }

// SendDigits queues digits, sent as RFC 4733 events on the negotiated
// telephone-event payload type in place of the audio, 160 ms each.
func (p *Peer) SendDigits(digits string) { p.dtmf.Enqueue(digits) }

// SetMuted stops (true) or resumes sending: a browser whose network went
// away.
func (p *Peer) SetMuted(muted bool) { p.muted.Store(muted) }

// Offer creates the peer's offer with all its ICE candidates in it.
func (p *Peer) Offer(tb testing.TB) string {
	tb.Helper()

	return CompleteOffer(tb, p.pc).SDP
}

// OfferTrickle creates the peer's offer without candidates, as a
// trickling browser sends it (RFC 8838), and returns it with the channel
// on which its candidates arrive; the channel is closed after the last.
func (p *Peer) OfferTrickle(tb testing.TB) (string, <-chan webrtc.ICECandidateInit) {
	tb.Helper()
	cands := make(chan webrtc.ICECandidateInit, 32)
	var once sync.Once
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			once.Do(func() { close(cands) })

			return
		}
		select {
		case cands <- c.ToJSON():
		default: // more candidates than a loopback-only agent can have
		}
	})
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		tb.Fatalf("create offer: %v", err)
	}
	if err := p.pc.SetLocalDescription(o); err != nil {
		tb.Fatalf("set local description: %v", err)
	}

	return o.SDP, cands
}

// ApplyAnswer sets the gateway's answer and starts sending the tone.
func (p *Peer) ApplyAnswer(tb testing.TB, sdp string) {
	tb.Helper()
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		tb.Fatalf("set remote description: %v\n%s", err, sdp)
	}
	p.start()
}

// Answer answers another peer's offer, with every ICE candidate in the
// answer, and starts sending the tone: the peer stands for the far end.
func (p *Peer) Answer(tb testing.TB, offer string) string {
	tb.Helper()
	a := CompleteAnswer(tb, p.pc, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}, nil)
	p.start()

	return a.SDP
}

// start starts the sender once.
func (p *Peer) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing || p.started {
		return
	}
	p.started = true
	p.wg.Add(1)
	go p.send()
}

// WaitConnected waits until ICE and DTLS have completed.
func (p *Peer) WaitConnected(tb testing.TB) {
	tb.Helper()
	p.states.WaitConnected(tb)
}

// Close stops the media and closes the PeerConnection, waiting for every
// goroutine the peer started; it is idempotent.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		close(p.stop)
		_ = p.pc.GracefulClose()
	})
	p.wg.Wait()
}

// onTrack records the gateway's audio until the connection closes. pion
// names a remote track after its first packet, which may be a
// telephone-event: every packet is dispatched by its payload type.
func (p *Peer) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()

		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	defer p.heard.End()
	var dec *opus.Decoder
	if !p.pcmu {
		var err error
		if dec, err = opus.NewDecoder(heardRate, 1); err != nil {
			return
		}
	}
	step := p.track.clock / 50 // RTP clock ticks per 20 ms
	var stream rtpstream.Receiver
	stream.SetClockRate(int(p.track.clock))
	var prev rtp.Header
	began := time.Now()
	buf := make([]byte, rtpstream.MaxPacketSize)
	pcm := make([]int16, heardRate*120/1000) // the longest Opus packet, 120 ms
	var pkt rtp.Packet
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) == 0 {
			continue // padding probes carry no payload
		}
		audio, event := p.track.payloadTypes()
		switch {
		case event != 0 && pkt.PayloadType == event:
			p.heard.HearEvent(pkt.Timestamp, pkt.Payload)

			continue
		case pkt.PayloadType != audio:
			continue
		}
		arrival, _ := stream.Update(pkt.SequenceNumber, pkt.Timestamp, time.Since(began))
		switch arrival {
		case rtpstream.First:
		case rtpstream.InOrder:
			if pkt.Timestamp-prev.Timestamp != uint32(pkt.SequenceNumber-prev.SequenceNumber)*step {
				p.breaks.Add(1)
			}
		default:
			p.breaks.Add(1)
		}
		prev = pkt.Header
		var k int
		if dec != nil {
			k, _ = dec.Decode(pkt.Payload, pcm)
		} else {
			k = transcode.DecodePCMU(pcm, pkt.Payload)
		}
		p.heard.Hear(pcm[:k])
	}
}

// send encodes and sends the tone every 20 ms until Close.
func (p *Peer) send() {
	defer p.wg.Done()
	frame := int(p.track.clock / 50)
	var enc *opus.Encoder
	if !p.pcmu {
		var err error
		if enc, err = opus.NewEncoder(int(p.track.clock), 1, opus.AppVoIP); err != nil {
			return
		}
	}
	tone := testaudio.NewTone(p.toneHz, int(p.track.clock), testcodec.ToneAmp)
	pcm := make([]int16, frame)
	payload := make([]byte, 1275) // the largest Opus frame (RFC 6716 section 3.2.1)
	pkt := rtp.Packet{Header: rtp.Header{Version: rtpstream.Version}}
	var seq uint16
	var ts uint32
	testcodec.EveryFrame(p.stop, func() bool {
		tone.Fill(pcm)
		if p.muted.Load() {
			ts += uint32(frame) //nolint:gosec // 160 or 960

			return true
		}
		pkt.SequenceNumber = seq
		if audio, event := p.track.payloadTypes(); event == 0 || !p.dtmf.Next(&pkt, event, ts) {
			var n int
			if enc != nil {
				var err error
				if n, err = enc.Encode(pcm, payload); err != nil {
					return false
				}
			} else {
				n = transcode.EncodePCMU(payload, pcm)
			}
			pkt.PayloadType, pkt.Marker, pkt.Timestamp, pkt.Payload = audio, seq == 0, ts, payload[:n]
		}
		ts += uint32(frame) //nolint:gosec // 160 or 960
		if err := p.track.write(&pkt); err == nil || !errors.Is(err, errTrackUnbound) {
			seq++
		}

		return true
	})
}
