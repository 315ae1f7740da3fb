// Package loopbackrtc builds pion WebRTC APIs for simulated browsers that
// stay on IPv4 loopback: full ICE with loopback host candidates only (no
// other interface, no IPv6, no mDNS), the audio codecs a browser offers,
// with the payload types Chromium gives them, and only the interceptors
// asked for. The tests' Go browser (internal/gobrowser) and the load
// generator (cmd/loadgen) build their PeerConnections on it.
package loopbackrtc

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// MimeTypeTelephoneEvent is the media type of RFC 4733 telephone-events.
const MimeTypeTelephoneEvent = "audio/telephone-event"

// Audio codecs as a desktop Chromium offers them, with its payload types.
var (
	// Opus is Opus at the 48 kHz RTP clock, 2 channels in SDP, with
	// in-band FEC (RFC 7587).
	Opus = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}}
	// PCMU is G.711 mu-law (RFC 3551 section 4.5.14), offered without a
	// channel count as Chromium does.
	PCMU = webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypePCMU, ClockRate: 8000,
	}}
	// PCMA is G.711 A-law (RFC 3551 section 4.5.14), offered without a
	// channel count as Chromium does.
	PCMA = webrtc.RTPCodecParameters{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypePCMA, ClockRate: 8000,
	}}
	// TelephoneEvent48k is telephone-event at Opus's clock (RFC 4733),
	// events 0-15.
	TelephoneEvent48k = webrtc.RTPCodecParameters{PayloadType: 110, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: MimeTypeTelephoneEvent, ClockRate: 48000, Channels: 1, SDPFmtpLine: "0-15",
	}}
	// TelephoneEvent8k is telephone-event at G.711's clock (RFC 4733),
	// events 0-15.
	TelephoneEvent8k = webrtc.RTPCodecParameters{PayloadType: 126, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: MimeTypeTelephoneEvent, ClockRate: 8000, Channels: 1, SDPFmtpLine: "0-15",
	}}
)

// ChromiumAudio is every audio codec of a desktop Chromium offer, in its
// order: Opus with transport-wide congestion control feedback, RED, G.722,
// PCMU, PCMA, comfort noise and telephone-event at both clocks.
func ChromiumAudio() []webrtc.RTPCodecParameters {
	opus := Opus
	opus.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "transport-cc"}}
	te48 := webrtc.RTPCodecParameters{PayloadType: TelephoneEvent48k.PayloadType, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 48000}}
	te8 := webrtc.RTPCodecParameters{PayloadType: TelephoneEvent8k.PayloadType, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 8000}}

	return []webrtc.RTPCodecParameters{
		opus,
		{PayloadType: 63, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/red", ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}},
		{PayloadType: 9, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000}},
		PCMU, PCMA,
		{PayloadType: 13, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/CN", ClockRate: 8000}},
		te48, te8,
	}
}

// Options are the knobs of NewAPI; the zero value is Opus and both
// telephone-events over UDP, without interceptors, logging pion's errors
// nowhere.
type Options struct {
	// Codecs are the audio codecs to offer, in order; Opus and both
	// telephone-events when empty.
	Codecs []webrtc.RTPCodecParameters
	// Interceptors are the RTP/RTCP interceptors; none when nil.
	Interceptors *interceptor.Registry
	// Networks are the ICE candidate types gathered; UDP4 when empty.
	Networks []webrtc.NetworkType
	// LoggerFactory receives pion's log lines; pion's default when nil.
	LoggerFactory logging.LoggerFactory
}

// NewAPI builds the pion API of o on IPv4 loopback. It fails only when a
// codec cannot be registered.
func NewAPI(o Options) (*webrtc.API, error) {
	codecs := o.Codecs
	if len(codecs) == 0 {
		codecs = []webrtc.RTPCodecParameters{Opus, TelephoneEvent48k, TelephoneEvent8k}
	}
	m := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("loopbackrtc: register %s: %w", c.MimeType, err)
		}
	}
	interceptors := o.Interceptors
	if interceptors == nil {
		interceptors = &interceptor.Registry{}
	}
	networks := o.Networks
	if len(networks) == 0 {
		networks = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se := webrtc.SettingEngine{LoggerFactory: o.LoggerFactory}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes(networks)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })

	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(interceptors)), nil
}
