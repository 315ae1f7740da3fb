// Package browserleg is the browser side of Webtrunk's calls, and the only
// package that speaks pion/webrtc.
//
// Its process-wide [API] is an ICE-lite agent (RFC 8445 section 2.5) whose
// sessions all share one UDP port (and optionally one ICE-TCP port, RFC
// 6544), announcing only the configured addresses, with a MediaEngine that
// knows only the audio codecs the gateway bridges (Opus, PCMU, PCMA and
// RFC 4733 telephone-events) and only the RTCP interceptors audio needs:
// sender reports and the package's own allocation-free receiver reports
// (RFC 3550 section 6.4). pion's log messages go to a *slog.Logger through
// [LoggerFactory].
//
// Each call gets one [Leg] from [API.NewLeg]: the PeerConnection answering
// the browser's SDP offer (RFC 3264, DTLS-SRTP per RFC 5763 and 5764), the
// track the gateway sends on and the browser's track. A Leg carries RTP as
// bytes in caller-owned buffers (ReadRTP, WriteRTP) so that the media
// bridge neither allocates nor sees a pion type.
package browserleg
