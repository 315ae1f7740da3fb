package browserleg

import (
	"fmt"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// MimeTypeTelephoneEvent is the media type of RFC 4733 telephone-events
// (DTMF), which pion does not name.
const MimeTypeTelephoneEvent = "audio/telephone-event"

// Payload types the gateway registers. The browser is always the offerer
// and an answer reuses the offer's payload types (RFC 3264 section 6.1), so
// these numbers appear on the wire only when the browser picked the same.
const (
	// PayloadTypeOpus is Opus at the 48 kHz RTP clock, 2 channels in SDP
	// (RFC 7587 section 7), as Chromium and Firefox number it.
	PayloadTypeOpus webrtc.PayloadType = 111
	// PayloadTypePCMU is G.711 mu-law, static (RFC 3551 section 6).
	PayloadTypePCMU webrtc.PayloadType = 0
	// PayloadTypePCMA is G.711 A-law, static (RFC 3551 section 6).
	PayloadTypePCMA webrtc.PayloadType = 8
	// PayloadTypeTelephoneEvent48k is telephone-event at the 48 kHz clock,
	// paired with Opus; Chromium numbers it 110.
	PayloadTypeTelephoneEvent48k webrtc.PayloadType = 110
	// PayloadTypeTelephoneEvent8k is telephone-event at the 8 kHz clock,
	// paired with G.711.
	PayloadTypeTelephoneEvent8k webrtc.PayloadType = 101
)

// OpusFmtp is the format parameters of Opus (RFC 7587 section 6.1): 10 ms
// minimum packet time and in-band forward error correction, which lets the
// decoder recover a lost packet from the next one.
const OpusFmtp = "minptime=10;useinbandfec=1"

// TelephoneEventFmtp offers the 16 DTMF events 0-15 (RFC 4733 section 2.4.1).
const TelephoneEventFmtp = "0-15"

// Codecs returns the audio codecs the gateway negotiates with browsers, in
// order of preference: Opus, PCMU, PCMA, and telephone-event at both
// clocks. None asks for RTCP feedback (no NACK, no transport-cc): audio is
// neither retransmitted nor congestion-controlled per packet.
func Codecs() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{
		{
			PayloadType:        PayloadTypeOpus,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: OpusFmtp},
		},
		{
			PayloadType:        PayloadTypePCMU,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1},
		},
		{
			PayloadType:        PayloadTypePCMA,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1},
		},
		{
			PayloadType:        PayloadTypeTelephoneEvent48k,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 48000, Channels: 1, SDPFmtpLine: TelephoneEventFmtp},
		},
		{
			PayloadType:        PayloadTypeTelephoneEvent8k,
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: MimeTypeTelephoneEvent, ClockRate: 8000, Channels: 1, SDPFmtpLine: TelephoneEventFmtp},
		},
	}
}

// newMediaEngine registers exactly the codecs of Codecs, audio only.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range Codecs() {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("browserleg: register %s/%d: %w", c.MimeType, c.ClockRate, err)
		}
	}

	return m, nil
}

// newInterceptors registers only RTCP sender and receiver reports (RFC 3550
// section 6.4), sent every interval: they carry the loss, jitter and
// round-trip figures of each direction. Sender reports are pion's; receiver
// reports are [receiverReports], which unlike pion's leaves the RTP read
// path free of allocation. NACK, transport-wide congestion control and the
// statistics interceptor are left out.
func newInterceptors(interval time.Duration, lf logging.LoggerFactory) (*interceptor.Registry, error) {
	sender, err := report.NewSenderInterceptor(report.SenderInterval(interval), report.WithSenderLoggerFactory(lf))
	if err != nil {
		return nil, fmt.Errorf("browserleg: rtcp sender reports: %w", err)
	}
	r := &interceptor.Registry{}
	r.Add(&receiverReportFactory{interval: interval, now: time.Now, logger: lf})
	r.Add(sender)

	return r, nil
}
