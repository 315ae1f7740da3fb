// Package transcode is the media math of the gateway: it turns the
// browser's Opus into the trunk's G.711 and back, packet by packet, and
// carries RFC 4733 telephone events between the two legs.
//
// # Pipeline
//
// An Uplink (browser to trunk) takes Opus RTP payloads (RFC 7587, 48 kHz
// RTP clock, any frame size of RFC 6716 from 2.5 to 120 ms per packet),
// checks each packet's table of contents (RFC 6716 section 3) with
// OpusPacket before libopus sees it, decodes it with libopus directly at
// 8 kHz, and re-chunks the audio into G.711 frames of the trunk's ptime
// (default 20 ms) with 8 kHz timestamps. A Downlink (trunk to browser) takes
// G.711 payloads of any ptime and produces 20 ms Opus frames with 48 kHz
// timestamps. Both relay G.711 untouched (only re-chunked) when the two legs
// speak the same G.711 codec, unless WithTranscodeSameCodec asks them to
// decode and re-encode it like any other conversion. G.711 uses github.com/zaf/g711's per-sample
// functions; Opus is libopus through github.com/hraban/opus.
//
// All audio inside runs at 8 kHz: libopus encodes from and decodes to it
// natively, so no resampler is needed, and encoding at 8 kHz is cheaper
// than at 48 kHz (see BenchmarkOpusEncode48k below).
//
// # Loss, reordering, gaps
//
// On a sequence gap the Uplink conceals the missing time before decoding
// the packet that ended it: the last lost frame comes from that packet's
// in-band FEC when it carries some (OpusPacket.HasFEC reads the SILK LBRR
// flag, RFC 6716 section 4.2.3), everything else from libopus packet loss
// concealment. The Downlink conceals trunk gaps by pitch-period
// repetition (below). So the output keeps an unbroken cadence. A duplicate, or a packet older than the last
// one accepted, is dropped; a gap longer than the maximum gap (default
// 100 ms, WithMaxGap) is not concealed but restarts the stream with a
// timestamp jump; a sequence number far behind is taken as a restarted
// sender only when the next packet confirms it (as in RFC 3550 appendix
// A.1). Stats counts each case.
//
// # Concealment of trunk loss
//
// G.711 carries no redundancy and its decoder no state, so for G.711 input
// (the Downlink, and an Uplink from a G.711 browser) the pipeline conceals
// lost packets itself, by waveform substitution in the manner of ITU-T
// G.711 Appendix I. It keeps the last 48.75 ms (390 samples) of the 8 kHz
// audio it produced. At the start of a gap it takes the pitch period as
// the lag of 40 to 120 samples (5 to 15 ms, 200 down to 66.7 Hz) at which
// the last 20 ms of that history correlates best, normalised by the
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
// Stats.Silence count the two cases.
//
// Measured (TestConcealToneThroughGap, TestConcealSpeechRandomLoss,
// TestConcealDownlinkToOpus): through a lost 20 ms packet a 1 kHz or
// 300 Hz tone keeps its frequency and stays within 0.5 dB of its level
// over the first 20 ms, then falls 20% per 10 ms as designed, with no
// sample step larger than the tone's own. On espeak-ng speech with 5-10%
// random loss the silence the losses add falls from 137-500 ms (silence
// fill) to 17-68 ms, the longest such stretch from up to 40 ms to at most
// 17.5 ms (a loss at a word's onset, with nothing to repeat), and the
// band energies of the frames around the losses move from 10-30 dB to
// 5-9 dB from the clean ones. The browser, through Opus, hears a 1 kHz tone
// with single losses stay within 1.7 dB in every 20 ms window, where
// silence fill dips by 11.6 dB. One concealed packet costs about 13 us
// (BenchmarkG711Conceal, mostly the pitch search), once per gap.
//
// # Codec changes mid-call
//
// A trunk may move a running call from PCMU to PCMA or back: the 2xx of an
// INVITE answers with another codec than the 183 whose early media already
// flows, or a re-INVITE offers a new one (RFC 3264 section 8.3.2).
// Downlink.SetInput and Uplink.SetOutput switch the trunk side of a
// running transcoder between two packets. G.711 is stateless, so the
// switch is exact: the queued audio is kept (converted once when
// passthrough starts or stops, because a passthrough queue holds G.711
// bytes), the output timeline and any Opus encoder or decoder go on
// untouched. The first trunk packet after SetInput may open a new RTP
// numbering, as many trunks do with a new codec; its audio then follows
// the queued audio with no restart and no silence. DTMFMapper.SetOutput
// follows a new telephone-event payload type the same way. Stats.Switches
// counts the changes.
//
// # Ownership and allocation
//
// Each Uplink, Downlink and DTMFMapper belongs to one goroutine, the one
// running that direction of the call; none takes a lock. Constructors
// allocate every buffer; after that no method allocates, which
// TestNoAllocationPerPacket proves with testing.AllocsPerRun for both
// directions, with and without loss, for passthrough and for DTMF mapping;
// TestSetTrunkDoesNotAllocate proves it across codec switches, which
// allocate nothing either (every String is prepared by the constructor).
// hraban/opus's Encode, Decode, DecodeFEC and DecodePLC were measured not
// to allocate (they pass the caller's slices to C); its LastPacketDuration
// allocates once per call, so the per-packet path never calls it
// (OpusPacket gives every duration). hraban/opus has every encoder control
// used here (FEC, packet loss, DTX, bitrate, complexity) but no decoder
// reset: after a restart the decoder simply continues, as libopus does
// after any gap.
//
// # Opus encoder settings
//
// The Downlink's encoder uses the VOIP application, in-band FEC provisioned
// for 10% loss, no DTX, 24000 bit/s and complexity 5. Measured here on
// speech from espeak-ng and a 1 kHz tone, at 8 kHz (TestOpusSettings):
//
//	bitrate   tone-to-rest  speech spectral corr  speech packets with FEC
//	12000     21.1 dB       0.959                  0%
//	16000     27.0 dB       0.969                  0%
//	20000     22.3 dB       0.958                 76%
//	24000     26.1 dB       0.962                 76%
//	32000     33.3 dB       0.971                 76%
//
// libopus leaves FEC out below about 20 kbit/s at this bandwidth and loss,
// so 24000 bit/s is the lowest rate that keeps FEC with headroom above that
// threshold; speech quality is flat from 12 to 32 kbit/s. Complexity (cost
// of one 20 ms encode, BenchmarkOpusEncodeComplexity, against quality):
// complexity 0 and 1 cost about 27 us but produce no FEC at all; 3 costs
// 55 us (tone 24.1 dB); 5 costs 65 us (26.1 dB); 8-10 cost 110-130 us for
// 29.7 dB. Complexity 5 keeps FEC and most of the quality at half the cost
// of the top settings.
//
// # Benchmarks
//
// Measured with
//
//	go test -run '^$' -bench . -benchmem ./transcode/
//
// on a shared 2-core AMD EPYC virtual machine (goos linux, goarch amd64,
// libopus 1.3.1). Figures on this machine vary by up to a third from run to
// run with other load, so BenchmarkOverhead interleaves the two
// measurements in one loop and reports their ratio from that one run
// (target: at most 10% over the bare codec):
//
//	benchmark                       ns/op      B/op  allocs/op
//	Uplink (Opus 20 ms -> PCMU)      19964      0      0
//	Downlink (PCMU 20 ms -> Opus)    61832      0      0
//	CallSecond (50 frames each way) 4722312     0      0
//	BareOpus (decode + encode)      100091      0      0
//	OpusEncode48k (one 20 ms frame) 106611      0      0
//	OpusEncodeComplexity c=5         64623      0      0
//	SameCodec/passthrough (PCMU)       899      0      0
//	SameCodec/re-encode (PCMU)        1210      0      0
//	G711Conceal (one lost 20 ms)     13064      0      0
//	Overhead: pipeline 79799 ns/frame, bare libopus 78496 ns/frame: +1.7%
//
// One call costs about 4.7 ms of CPU per second of audio in both
// directions, about 0.5% of one core. Between equal G.711 codecs
// (SameCodec: one 20 ms frame each way) re-encoding costs about 0.3 us
// more per pair of frames than passthrough, about 15 us per second of
// call; both include decoding the trunk's audio into the concealment
// history (about 0.6 us per 20 ms packet).
//
// # Telephone events
//
// Event encodes and decodes RFC 4733 payloads; DTMFMapper moves events
// between the browser's telephone-event (48000 or 8000 Hz) and the trunk's
// (8000 Hz), placing each event on the output audio timeline through a
// TimestampMapper (an Uplink or Downlink).
package transcode
