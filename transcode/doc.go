// Package transcode is the media math of the gateway: it turns the
// browser's Opus into the trunk's G.711 and back, packet by packet, and
// carries RFC 4733 telephone events between the two legs.
//
// # Directions
//
// An Uplink (browser to trunk) takes Opus RTP payloads (RFC 7587, 48 kHz
// RTP clock, any frame size of RFC 6716 from 2.5 to 120 ms per packet),
// checks each packet's table of contents (RFC 6716 section 3) with
// OpusPacket before libopus sees it, decodes it with libopus directly at
// 8 kHz, and re-chunks the audio into G.711 frames of the trunk's ptime
// (default 20 ms) with 8 kHz timestamps. A Downlink (trunk to browser)
// takes G.711 payloads of any ptime and produces 20 ms Opus frames with
// 48 kHz timestamps. Both relay G.711 untouched (only re-chunked) when the
// two legs speak the same G.711 codec, unless WithTranscodeSameCodec asks
// them to decode and re-encode it like any other conversion. G.711 uses
// github.com/zaf/g711's per-sample functions; Opus is libopus through
// github.com/hraban/opus.
//
// All audio inside runs at 8 kHz: libopus encodes from and decodes to it
// natively, so no resampler is needed, and encoding at 8 kHz costs less
// than at 48 kHz (BenchmarkOpusEncode48k is the comparison).
//
// # Stages
//
// Each direction is a chain of small stages, each wrapping the next:
//
//	sequencer -> audio input -> frame queue -> frame output
//
// The sequencer classifies every packet against the stream (below). The
// audio input is the Opus decoder, the G.711 decoder or, between equal
// G.711 formats, the passthrough relay; each conceals the gaps of its own
// codec. The frame queue re-chunks the audio into frames of the output
// ptime on the output timeline; the frame output is the Opus encoder, the
// G.711 encoder or the passthrough re-chunker. Each stage describes
// itself, so String prints the chain, for example "opus/48000 decode@8k
// (FEC, PLC) -> PCMU encode, ptime 20ms" or "PCMU/8000 passthrough ->
// PCMU re-chunk, ptime 20ms". A new codec is a new audio input or frame
// output. WithJitterBuffer puts one more stage before the sequencer (next
// section).
//
// # Jitter buffer
//
// With WithJitterBuffer the chain starts with an adaptive reorder buffer
// (String ends with ", jitter buffer 20-80ms"). A packet that
// follows the last one handed on crosses it at once; a packet further
// ahead is copied into one of 16 fixed slots and waits for the missing
// ones. The wait is three times the interarrival jitter measured from
// the arrival times given to PushAt (RFC 3550 appendix A.8, through an
// rtpstream.Receiver), kept within the configured bounds, and is judged at
// each arrival. A missing packet that arrives within it is decoded in its
// place (Stats.Reordered) instead of being dropped as late and concealed;
// one that does not is given up (Stats.Skipped) and its time concealed by
// FEC or PLC as above. Latency: in-order packets gain nothing; the packets
// behind a missing one are held until it arrives or the wait ends, so
// loss or reordering delays them by at most the upper bound (80 ms with
// DefaultJitterMax), and a receiver's own jitter buffer sees that as
// jitter. The buffer releases held packets only when another packet
// arrives: a stream that stops right after a loss keeps up to the wait's
// worth of audio until it resumes.
//
// # Loss, reordering, gaps
//
// The sequencer follows sequence numbers with rtpstream.Receiver (RFC 3550
// appendix A.1), the one implementation of that algorithm in the module,
// and timestamps against the packet it expects. On a gap the Uplink
// conceals the missing time before decoding the packet that ended it: the
// last lost frame comes from that packet's in-band FEC when it carries
// some (OpusPacket.HasFEC reads the SILK LBRR flag, RFC 6716 section
// 4.2.3), everything else from libopus packet loss concealment. The
// Downlink conceals trunk gaps by pitch-period repetition (below). So the
// output keeps an unbroken cadence. A duplicate, or a packet older than
// the last one accepted by at most rtpstream.MaxMisorder, is dropped; a
// gap longer than the maximum gap (default 100 ms, WithMaxGap) is not
// concealed but restarts the stream with a timestamp jump; a sequence
// number further off (rtpstream.MaxDropout ahead or MaxMisorder behind)
// is taken as a restarted sender only when the next packet confirms it,
// as in RFC 3550 appendix A.1. Stats counts each case.
//
// # Concealment of trunk loss
//
// G.711 carries no redundancy and its decoder no state, so for G.711 input
// (the Downlink, and an Uplink from a G.711 browser) the audio input
// conceals lost packets itself, by waveform substitution in the manner of
// ITU-T G.711 Appendix I. It keeps the last 48.75 ms (390 samples) of the
// 8 kHz audio it produced. At the start of a gap it takes the pitch period
// as the lag of 40 to 120 samples (5 to 15 ms, 200 down to 66.7 Hz) at
// which the last 20 ms of that history correlates best, normalised by the
// energy at that lag, with the audio one lag earlier; it then repeats the
// last period, cross-fading each wrap over a quarter period, widens the
// repeated stretch to the last two periods after 10 ms and to three after
// 20 ms (each widening cross-faded), and attenuates it by 20% per 10 ms
// from 10 ms into the gap, to silence at 60 ms. The first packet after the
// gap is cross-faded in from the continuing synthetic signal over a
// quarter period plus 4 ms per 10 ms of gap beyond the first 10 ms (at
// most 10 ms). Passthrough conceals the same way: the history is decoded
// from the relayed bytes and the synthetic audio encoded to the trunk's
// law. Only a gap before 35 ms of audio has arrived (at the start of the
// stream or after a restart) is filled with silence. Stats.Concealed and
// Stats.Silence count the two cases. TestConcealToneThroughGap,
// TestConcealSpeechRandomLoss and TestConcealDownlinkToOpus hold the
// result to tone level, frequency and smoothness and to speech spectra.
//
// # Codec changes mid-call
//
// A trunk may move a running call from PCMU to PCMA or back: the 2xx of an
// INVITE answers with another codec than the 183 whose early media already
// flows, or a re-INVITE offers a new one (RFC 3264 section 8.3.2).
// Downlink.SetInput and Uplink.SetOutput switch the trunk side of a
// running transcoder between two packets by rewiring its G.711 stages.
// G.711 is stateless, so the switch is exact: the queued audio is kept
// (converted once when passthrough starts or stops, because a passthrough
// queue holds G.711 codes), the output timeline and any Opus encoder or
// decoder go on untouched. The first trunk packet after SetInput may open
// a new RTP numbering, as many trunks do with a new codec; its audio then
// follows the queued audio with no restart and no silence.
// DTMFMapper.SetOutput follows a new telephone-event payload type the same
// way. Stats.Switches counts the changes.
//
// # Ownership and allocation
//
// Each Uplink, Downlink and DTMFMapper belongs to one goroutine, the one
// running that direction of the call; none takes a lock. Constructors
// build every stage and allocate every buffer; after that no method
// allocates, which TestNoAllocationPerPacket proves with
// testing.AllocsPerRun for both directions, with and without loss, for
// passthrough and for DTMF mapping; TestSetTrunkDoesNotAllocate proves it
// across codec switches, which allocate nothing either (the constructor
// prepares the String of every wiring). hraban/opus's Encode, Decode,
// DecodeFEC and DecodePLC do not allocate (they pass the caller's slices
// to C); its LastPacketDuration allocates once per call, so the
// per-packet path never calls it (OpusPacket gives every duration).
// hraban/opus has every encoder control used here (FEC, packet loss, DTX,
// bitrate, complexity) but no decoder reset: after a restart the decoder
// simply continues, as libopus does after any gap.
//
// # Opus encoder settings
//
// The Downlink's encoder uses the VOIP application, in-band FEC
// provisioned for 10% loss, no DTX, 24000 bit/s and complexity 5.
// TestOpusSettings measures tone purity, speech fidelity and the share of
// packets that carry FEC for each bitrate and complexity. libopus leaves
// FEC out below about 20 kbit/s at this bandwidth and loss, so 24000
// bit/s is the lowest usual rate that keeps FEC with headroom; speech
// quality is nearly flat from 12 to 32 kbit/s. Complexity 0 produces no
// FEC at all and 1 the poorest tone; 8 to 10 sound best and cost nearly
// twice as much to encode as 5 (BenchmarkOpusEncodeComplexity).
// Complexity 5 keeps FEC and most of the quality at little more than half
// the cost of the top settings. The figures, with the commands that
// produce them, are in docs/performance.md.
//
// # Telephone events
//
// Event encodes and decodes RFC 4733 payloads; DTMFMapper moves events
// between the browser's telephone-event (48000 or 8000 Hz) and the trunk's
// (8000 Hz), placing each event on the output audio timeline through a
// TimestampMapper (an Uplink or Downlink).
package transcode
