package transcode

import "time"

// Stats counts what a transcoder did with its input. All fields are plain
// integers read by the transcoder's owning goroutine.
type Stats struct {
	// Packets is the number of input packets decoded.
	Packets int
	// Frames is the number of output frames produced by Next.
	Frames int
	// FEC is the number of lost Opus packets recovered from the in-band
	// FEC of the packet after them (RFC 6716 section 2.1.7).
	FEC int
	// PLC is the number of lost Opus packets (or untransmitted intervals)
	// filled by libopus packet loss concealment.
	PLC int
	// Silence is the number of lost G.711 packets filled with silence:
	// those lost before 35 ms of the stream (since its start or a restart)
	// had been received, too little audio to conceal from.
	Silence int
	// Concealed is the number of lost G.711 packets synthesised by packet
	// loss concealment from the audio before them (pitch-period repetition
	// after ITU-T G.711 Appendix I, see the package documentation).
	Concealed int
	// Duplicates is the number of packets dropped because their sequence
	// number was the last one accepted.
	Duplicates int
	// Late is the number of packets dropped because they arrived after
	// later ones had been accepted (their interval was already concealed),
	// or because their sequence number lay too far from the stream's to
	// be taken before the next packet confirmed it (RFC 3550 appendix
	// A.1, rtpstream.Jump).
	Late int
	// Restarts is the number of times the stream started over: a gap longer
	// than the maximum concealed gap, a timestamp jump, or a sequence jump
	// confirmed by the packet after it.
	Restarts int
	// Malformed is the number of packets rejected as not decodable.
	Malformed int
	// Overruns is the number of output frames discarded because Next was not
	// called often enough to drain them.
	Overruns int
	// EncodeErrors is the number of output frames the encoder failed on
	// (including a destination buffer too small).
	EncodeErrors int
	// Switches is the number of times the trunk's codec (G.711 format or
	// payload type) was changed on a running transcoder with
	// Downlink.SetInput or Uplink.SetOutput.
	Switches int
	// Reordered is the number of packets the jitter buffer
	// (WithJitterBuffer) received after a later one and still handed on in
	// sequence order, where without it they would have been dropped as
	// late.
	Reordered int
	// Skipped is the number of missing packets the jitter buffer stopped
	// waiting for, so that their time was concealed.
	Skipped int
	// JitterDepth is the jitter buffer's current longest wait for a
	// missing packet; 0 without a jitter buffer.
	JitterDepth time.Duration
}
