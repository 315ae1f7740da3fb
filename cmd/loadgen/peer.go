package main

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/webtrunk/webtrunk/internal/loopbackrtc"
)

// newAPI builds the pion API the simulated browsers share: full ICE on
// IPv4 loopback only (package loopbackrtc, as the tests' Go browser), one
// audio codec (Opus as Chromium offers it, or PCMU alone), and RTCP sender
// and receiver reports as a browser sends them (RFC 3550 section 6.4).
func newAPI(codec string) (*webrtc.API, webrtc.RTPCodecCapability, error) {
	var c webrtc.RTPCodecParameters
	switch codec {
	case codecOpus:
		c = loopbackrtc.Opus
	case codecPCMU:
		c = loopbackrtc.PCMU
	default:
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("%w %q", errCodec, codec)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("loadgen: rtcp reports: %w", err)
	}
	api, err := loopbackrtc.NewAPI(loopbackrtc.Options{Codecs: []webrtc.RTPCodecParameters{c}, Interceptors: reg})
	if err != nil {
		return nil, webrtc.RTPCodecCapability{}, fmt.Errorf("loadgen: %w", err)
	}

	return api, c.RTPCodecCapability, nil
}
