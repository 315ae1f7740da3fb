package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/gateway/webrtcapi"

	"github.com/webtrunk/webtrunk/telephony"
)

// gatherTimeout bounds the wait for the local candidates of an answer; an
// ICE-lite agent knows them at once, so this only guards against a bug.
const gatherTimeout = 5 * time.Second

// Internal failures of setting up a PeerConnection.
var (
	errGatherTimeout      = errors.New("gateway: ice gathering timed out")
	errNoLocalDescription = errors.New("gateway: no local description")
)

// browserMedia is what the browser's offer says about its audio: the codec
// both directions use (the first of the offer's formats the gateway speaks,
// which is the first of the answer, RFC 3264 section 6.1) and its
// telephone-event formats (RFC 4733).
//
// Event is the telephone-event at the audio codec's clock rate when offered
// (else the other one), for descriptions; Events holds every
// telephone-event the offer and the answer share (at 8000 and at 48000 Hz).
// Both are kept because a browser may send its digits with either: Chromium
// sends telephone-event/8000 alongside Opus/48000 when both are negotiated.
type browserMedia struct {
	Audio  telephony.Codec
	Event  telephony.Codec
	Events []telephony.Codec
}

// parseOffer reads the browser's SDP offer (RFC 4566, parsed with
// pion/sdp) and picks its audio codec: Opus, PCMU or PCMA, whichever the
// first active audio section lists first, with the offer's payload types.
// Its telephone-event is the one at the audio's clock rate, else the other.
// Errors are *callError: bad_request for an SDP that does not parse,
// no_common_codec for no active audio section or no codec in common.
func parseOffer(offer string) (browserMedia, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return browserMedia{}, &callError{Code: signaling.CodeBadRequest, Msg: "sdp: " + err.Error(), Err: err}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		maps := rtpmaps(md)
		var bm browserMedia
		var events []telephony.Codec
		for _, f := range md.MediaName.Formats {
			pt64, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			pt := uint8(pt64)
			name, clock := maps[pt].name, maps[pt].clock
			if name == "" {
				switch pt {
				case 0:
					name, clock = "PCMU", 8000
				case 8:
					name, clock = "PCMA", 8000
				}
			}
			switch {
			case strings.EqualFold(name, "opus") && clock == 48000 && bm.Audio.Name == "":
				bm.Audio = telephony.Opus.WithPayloadType(pt)
			case strings.EqualFold(name, "PCMU") && clock == 8000 && bm.Audio.Name == "":
				bm.Audio = telephony.PCMU.WithPayloadType(pt)
			case strings.EqualFold(name, "PCMA") && clock == 8000 && bm.Audio.Name == "":
				bm.Audio = telephony.PCMA.WithPayloadType(pt)
			case strings.EqualFold(name, "telephone-event") && (clock == 8000 || clock == 48000):
				events = append(events, telephony.Codec{Name: "telephone-event", ClockRate: clock, Channels: 1, PayloadType: pt})
			}
		}
		if bm.Audio.Name == "" {
			return browserMedia{}, &callError{Code: signaling.CodeNoCommonCodec, Msg: "sdp: the offer has none of opus, PCMU, PCMA"}
		}
		bm.Events = events
		for _, e := range events {
			if bm.Event.Name == "" || (e.ClockRate == bm.Audio.ClockRate && bm.Event.ClockRate != bm.Audio.ClockRate) {
				bm.Event = e
			}
		}

		return bm, nil
	}

	return browserMedia{}, &callError{Code: signaling.CodeNoCommonCodec, Msg: "sdp: the offer has no active audio section"}
}

// rtpmap is one a=rtpmap line (RFC 4566 section 6).
type rtpmap struct {
	name  string
	clock int
}

// rtpmaps reads the a=rtpmap attributes of a media section.
func rtpmaps(md *sdp.MediaDescription) map[uint8]rtpmap {
	m := make(map[uint8]rtpmap)
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		parts := strings.Split(enc, "/")
		if len(parts) < 2 {
			continue
		}
		clock, err := strconv.Atoi(parts[1])
		if err != nil {
			continue
		}
		m[uint8(pt)] = rtpmap{name: parts[0], clock: clock}
	}

	return m
}

// capability returns the pion codec capability the gateway registered for
// the browser's audio codec, so that the local track binds to it.
func capability(c telephony.Codec) (webrtc.RTPCodecCapability, bool) {
	for _, p := range webrtcapi.Codecs() {
		if strings.EqualFold(p.MimeType, "audio/"+c.Name) && int(p.ClockRate) == c.ClockRate {
			return p.RTPCodecCapability, true
		}
	}

	return webrtc.RTPCodecCapability{}, false
}

// webrtcLeg is the browser side of one call: its PeerConnection, the
// track the gateway sends on, and the browser's track once it arrives.
type webrtcLeg struct {
	pc        *webrtc.PeerConnection
	local     *webrtc.TrackLocalStaticRTP
	media     browserMedia
	remote    chan *webrtc.TrackRemote
	connected chan struct{}

	mu      sync.Mutex
	closed  bool
	readers sync.WaitGroup
	conOnce sync.Once
}

// newWebRTCLeg creates the PeerConnection of a call from the browser's
// offer and returns it with the SDP answer to send (complete with the
// ICE-lite candidates). onFailed is called (from a pion goroutine) when ICE
// or DTLS fails. Errors are *callError.
func newWebRTCLeg(api *webrtcapi.API, offer string, onFailed func()) (*webrtcLeg, string, error) {
	bm, err := parseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	capab, ok := capability(bm.Audio)
	if !ok {
		return nil, "", &callError{Code: signaling.CodeNoCommonCodec, Msg: "sdp: no codec in common"}
	}
	pc, err := api.NewPeerConnection()
	if err != nil {
		return nil, "", &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: err}
	}
	leg := &webrtcLeg{pc: pc, media: bm, remote: make(chan *webrtc.TrackRemote, 1), connected: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		select {
		case leg.remote <- tr:
			leg.readRTCP(recv.Read)
		default:
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st { //nolint:exhaustive // only these drive the session
		case webrtc.PeerConnectionStateConnected:
			leg.conOnce.Do(func() { close(leg.connected) })
		case webrtc.PeerConnectionStateFailed:
			onFailed()
		}
	})
	answer, err := leg.negotiate(offer, capab)
	if err != nil {
		leg.close()

		return nil, "", err
	}

	return leg, answer, nil
}

// negotiate applies the offer, adds the gateway's track and builds the
// answer.
func (l *webrtcLeg) negotiate(offer string, capab webrtc.RTPCodecCapability) (string, error) {
	bad := func(err error) error {
		return &callError{Code: signaling.CodeBadRequest, Msg: "sdp: " + err.Error(), Err: err}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", bad(err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(capab, "audio", "webtrunk")
	if err != nil {
		return "", &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: err}
	}
	sender, err := l.pc.AddTrack(track)
	if err != nil {
		return "", &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: err}
	}
	l.local = track
	l.readRTCP(sender.Read)
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
		return "", &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: errGatherTimeout}
	}
	ld := l.pc.LocalDescription()
	if ld == nil {
		return "", &callError{Code: signaling.CodeInternal, Msg: "internal error", Err: errNoLocalDescription}
	}

	return ld.SDP, nil
}

// readRTCP runs a loop that reads RTCP with read (an RTPSender's or
// RTPReceiver's Read) until the PeerConnection closes, so that the
// interceptors see the reports (RFC 3550 section 6).
func (l *webrtcLeg) readRTCP(read func([]byte) (int, interceptor.Attributes, error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.readers.Add(1)
	go func() {
		defer l.readers.Done()
		buf := make([]byte, mtu)
		for {
			if _, _, err := read(buf); err != nil {
				return
			}
		}
	}()
}

// addCandidate adds a browser candidate trickled over signaling (RFC 8838).
func (l *webrtcLeg) addCandidate(c signaling.ICECandidate) error {
	err := l.pc.AddICECandidate(webrtc.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	})
	if err != nil {
		return &callError{Code: signaling.CodeBadRequest, Msg: "candidate: " + err.Error(), Err: err}
	}

	return nil
}

// waitTrack returns the browser's audio track once its first packet
// arrived, or nil when ctx ends first.
func (l *webrtcLeg) waitTrack(ctx context.Context) *webrtc.TrackRemote {
	select {
	case tr := <-l.remote:
		return tr
	case <-ctx.Done():
		return nil
	}
}

// close closes the PeerConnection and waits for its RTCP readers.
func (l *webrtcLeg) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	_ = l.pc.Close()
	l.readers.Wait()
}

// String describes the browser's codecs for logs.
func (m browserMedia) String() string {
	if m.Event.Name == "" {
		return m.Audio.String()
	}

	return fmt.Sprintf("%s + %s", m.Audio, m.Event)
}
