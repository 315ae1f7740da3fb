package gobrowser

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// errTrackUnbound: the transceiver is not negotiated (yet, or any more).
var errTrackUnbound = errors.New("gobrowser: track not bound")

// micTrack is the browser's microphone track. Unlike pion's
// TrackLocalStaticRTP, which stamps every packet with the negotiated audio
// payload type, it keeps each packet's own, so that telephone-events leave
// on the same SSRC with their payload type as RTCDTMFSender's do.
type micTrack struct {
	mime  string // the audio codec, webrtc.MimeTypeOpus or webrtc.MimeTypePCMU
	clock uint32 // its RTP clock, Hz

	mu     sync.Mutex
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	audio  uint8
	event  uint8
}

// Bind picks the track's codec and the telephone-event at its clock among
// the negotiated codecs.
func (a *micTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	a.mu.Lock()
	defer a.mu.Unlock()
	a.event = 0
	for _, c := range ctx.CodecParameters() {
		switch {
		case strings.EqualFold(c.MimeType, a.mime) && chosen == nil:
			chosen = &c
		case strings.EqualFold(c.MimeType, loopbackrtc.MimeTypeTelephoneEvent) && c.ClockRate == a.clock:
			a.event = uint8(c.PayloadType)
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	a.writer, a.ssrc, a.audio = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(chosen.PayloadType)

	return *chosen, nil
}

// Unbind detaches the track from its sender.
func (a *micTrack) Unbind(webrtc.TrackLocalContext) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writer = nil

	return nil
}

// ID is the track's id.
func (a *micTrack) ID() string { return "mic" }

// RID is empty: no simulcast.
func (a *micTrack) RID() string { return "" }

// StreamID is the track's media stream id.
func (a *micTrack) StreamID() string { return "browser" }

// Kind is audio.
func (a *micTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// payloadTypes returns the negotiated audio and telephone-event payload
// types (0 for an event when none was negotiated).
func (a *micTrack) payloadTypes() (audio, event uint8) {
	a.mu.Lock()
	defer a.mu.Unlock()

	return a.audio, a.event
}

// write sends p on the bound stream with the track's SSRC.
func (a *micTrack) write(p *rtp.Packet) error {
	a.mu.Lock()
	w, ssrc := a.writer, a.ssrc
	a.mu.Unlock()
	if w == nil {
		return errTrackUnbound
	}
	p.SSRC = ssrc
	_, err := w.WriteRTP(&p.Header, p.Payload)

	return err //nolint:wrapcheck // pion's write error as it is
}
