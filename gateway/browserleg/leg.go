package browserleg

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/browser"
	"github.com/webtrunk/webtrunk/rtpstream"
	"github.com/webtrunk/webtrunk/telephony"
)

// gatherTimeout bounds the wait for the local candidates of an answer; an
// ICE-lite agent knows them at once, so this only guards against a bug.
const gatherTimeout = 5 * time.Second

// Leg is the browser side of one call, a browser.Leg: its PeerConnection,
// the track the gateway sends on, and the browser's audio track once it
// arrives. One goroutine reads (ReadRTP) and one writes (WriteRTP); Close
// may be called from any goroutine, any number of times.
type Leg struct {
	pc        *webrtc.PeerConnection
	local     *webrtc.TrackLocalStaticRTP
	media     browser.Media
	remote    chan *webrtc.TrackRemote
	track     *webrtc.TrackRemote // the reader's, once it arrived
	connected chan struct{}
	closed    chan struct{}

	// restartMu serialises ICE restarts (restart.go).
	restartMu sync.Mutex

	mu        sync.Mutex
	isClosed  bool
	readers   sync.WaitGroup
	conOnce   sync.Once
	closeOnce sync.Once
	closeErr  error
}

// Compile-time checks that the package implements the browser leg.
var (
	_ browser.Stack = (*API)(nil)
	_ browser.Leg   = (*Leg)(nil)
)

// NewLeg creates the PeerConnection of a call from the browser's SDP offer
// and returns its *Leg with the SDP answer to send, complete with the
// ICE-lite candidates (RFC 8445 section 2.5). onFailed is called, from a
// pion goroutine, when ICE or DTLS fails. Errors are *browser.Error for an
// offer the gateway cannot answer (ErrBadOffer, ErrNoCommonCodec); any
// other error, ErrClosed after Close among them, is an internal failure.
func (a *API) NewLeg(offer string, onFailed func()) (browser.Leg, string, error) {
	m, err := parseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	capab, ok := capability(m.Audio)
	if !ok {
		return nil, "", &browser.Error{Kind: browser.ErrNoCommonCodec, Detail: "sdp: no codec in common"}
	}
	pc, err := a.NewPeerConnection()
	if err != nil {
		return nil, "", err
	}
	l := &Leg{
		pc: pc, media: m, remote: make(chan *webrtc.TrackRemote, 1),
		connected: make(chan struct{}), closed: make(chan struct{}),
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		select {
		case l.remote <- tr:
			l.readRTCP(recv.Read)
		default:
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st { //nolint:exhaustive // only these drive the call
		case webrtc.PeerConnectionStateConnected:
			l.conOnce.Do(func() { close(l.connected) })
		case webrtc.PeerConnectionStateFailed:
			onFailed()
		}
	})
	answer, err := l.negotiate(offer, capab)
	if err != nil {
		_ = l.Close()

		return nil, "", err
	}

	return l, answer, nil
}

// capability returns the pion codec capability the gateway registered for
// the browser's audio codec, so that the local track binds to it.
func capability(c telephony.Codec) (webrtc.RTPCodecCapability, bool) {
	for _, p := range Codecs() {
		if strings.EqualFold(p.MimeType, "audio/"+c.Name) && int(p.ClockRate) == c.ClockRate {
			return p.RTPCodecCapability, true
		}
	}

	return webrtc.RTPCodecCapability{}, false
}

// negotiate applies the offer, adds the gateway's track and builds the
// answer.
func (l *Leg) negotiate(offer string, capab webrtc.RTPCodecCapability) (string, error) {
	bad := func(err error) error {
		return &browser.Error{Kind: browser.ErrBadOffer, Detail: "sdp: " + err.Error(), Err: err}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", bad(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(capab, "audio", "webtrunk")
	if err != nil {
		return "", fmt.Errorf("browserleg: local track: %w", err)
	}
	sender, err := l.pc.AddTrack(track)
	if err != nil {
		return "", fmt.Errorf("browserleg: add track: %w", err)
	}
	l.local = track
	l.readRTCP(sender.Read)
	if err := l.answerOneEvent(sender, offer); err != nil {
		return "", err
	}

	return l.completeAnswer(bad)
}

// completeAnswer creates the answer to the offer just applied, sets it and
// returns it once every ICE candidate is in it; bad classifies pion's
// refusals of the offer.
func (l *Leg) completeAnswer(bad func(error) error) (string, error) {
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		return "", bad(err)
	}
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(answer); err != nil {
		return "", bad(err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		return "", errGatherTimeout
	}
	ld := l.pc.LocalDescription()
	if ld == nil {
		return "", errNoLocalDescription
	}

	return ld.SDP, nil
}

// readRTCP runs a loop that reads RTCP with read (an RTPSender's or
// RTPReceiver's Read) until the PeerConnection closes, so that the
// interceptors see the reports (RFC 3550 section 6).
func (l *Leg) readRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isClosed {
		return
	}
	l.readers.Add(1)
	go func() {
		defer l.readers.Done()
		buf := make([]byte, rtpstream.MaxPacketSize)
		for {
			if _, _, err := read(buf); err != nil {
				return
			}
		}
	}()
}

// Media is the browser's audio codec and telephone-events as its offer
// negotiated them.
func (l *Leg) Media() browser.Media { return l.media }

// Connected is closed once ICE and DTLS with the browser have completed.
func (l *Leg) Connected() <-chan struct{} { return l.connected }

// AddCandidate adds a browser candidate trickled over signaling (RFC
// 8838). It returns a *browser.Error of kind ErrBadCandidate when the
// agent refuses it.
func (l *Leg) AddCandidate(c browser.Candidate) error {
	err := l.pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	})
	if err != nil {
		return &browser.Error{Kind: browser.ErrBadCandidate, Detail: "candidate: " + err.Error(), Err: err}
	}

	return nil
}

// ReadRTP reads the next RTP packet of the browser's audio track into b,
// SRTP already removed, and returns its length in bytes. It first waits for
// the track, which pion reports with its first packet. After Close it
// returns ErrClosed (matching net.ErrClosed); any other error wraps pion's
// (io.EOF when the browser's track ended). It does not allocate.
func (l *Leg) ReadRTP(b []byte) (int, error) {
	if l.track == nil {
		select {
		case tr := <-l.remote:
			l.track = tr
		case <-l.closed:
			return 0, ErrClosed
		}
	}
	n, _, err := l.track.Read(b)
	if err != nil {
		select {
		case <-l.closed:
			return 0, ErrClosed
		default:
		}

		return n, fmt.Errorf("browserleg: read: %w", err)
	}

	return n, nil
}

// WriteRTP sends the RTP packet b (header and payload) on the gateway's
// track: pion sets the SSRC and payload type the answer negotiated and
// encrypts it (SRTP). Until ICE and DTLS complete the packet goes nowhere.
// It returns len(b), or pion's error, unwrapped so that a failing packet
// costs no allocation, for a packet that does not parse as RTP or could
// not be sent. It does not allocate.
func (l *Leg) WriteRTP(b []byte) (int, error) {
	return l.local.Write(b)
}

// Close closes the PeerConnection and waits for its RTCP readers; a
// blocked ReadRTP returns ErrClosed. Further calls return the first
// call's result.
func (l *Leg) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.isClosed = true
		l.mu.Unlock()
		close(l.closed)
		l.closeErr = l.pc.Close()
		l.readers.Wait()
	})

	return l.closeErr
}
