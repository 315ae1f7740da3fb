package main

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// newAPI builds the pion API the simulated browsers share: full ICE on
// IPv4 loopback only (loopback candidates included, every other address
// filtered out, no mDNS), one audio codec (Opus as Chromium offers it, or
// PCMU alone), and RTCP sender and receiver reports as a browser sends them
// (RFC 3550 section 6.4).
func newAPI(codec string) (*webrtc.API, webrtc.RTPCodecCapability, error) {
	var c webrtc.RTPCodecParameters
	switch codec {
	case codecOpus:
		c = webrtc.RTPCodecParameters{PayloadType: ptOpus, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: opusRate, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		}}
	case codecPCMU:
		c = webrtc.RTPCodecParameters{PayloadType: ptPCMU, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypePCMU, ClockRate: detectRate, Channels: 1,
		}}
	default:
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("%w %q", errCodec, codec)
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("loadgen: register codec: %w", err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("loadgen: rtcp reports: %w", err)
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(true)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)

	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(reg))

	return api, c.RTPCodecCapability, nil
}
