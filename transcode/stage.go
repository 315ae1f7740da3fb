package transcode

import "fmt"

// A transcoder is a chain of small media stages, each wrapping the next
// and each describing itself, so that String prints the whole chain:
//
//	push side:  sequencer -> audio input -> frameQueue
//	pull side:  frameQueue -> frame output -> Next's dst
//
// The sequencer (a packetStage) classifies every RTP packet against the
// stream and tells its audio input what to do: decode it, conceal the
// gap before it, or start over. The audio input (opusDecoder, g711Decoder
// or, between equal G.711 formats, g711Relay) writes 8 kHz slots into the
// frameQueue, which re-chunks them into frames of the output ptime on the
// output timeline. Next pulls each frame through the frame output
// (opusEncoder, g711Encoder or g711Rechunk). A slot is one 8 kHz sample:
// 16-bit PCM, or in passthrough the G.711 code itself.
//
// The pipeline builds every stage a transcoder may need at construction
// and wires the ones the current codecs call for; a trunk codec change
// rewires them between two packets (switch.go). Adding a codec means
// adding an audio input or a frame output; the jitter buffer
// (jitterbuf.go) is a packetStage placed before the sequencer.

// packetStage takes the RTP payloads of one input stream in the order they
// arrived, with their sequence numbers and timestamps (input clock).
type packetStage interface {
	fmt.Stringer
	push(seq uint16, ts uint32, payload []byte) error
}

// audioInput turns the payloads of one input codec into 8 kHz slots at the
// tail of a frameQueue, as told by the sequencer, and counts what it did
// in Stats.
type audioInput interface {
	fmt.Stringer
	// duration checks payload and returns its length in slots, or an
	// error wrapping ErrMalformedPacket.
	duration(payload []byte) (int, error)
	// begin starts the output timeline at 8 kHz timestamp ts, with the
	// stream's first packet.
	begin(ts uint32)
	// restart starts the stream over after a break the input cannot
	// conceal; skip is the time in slots by which the stream resumed
	// later than expected, 0 when it is not known.
	restart(skip int)
	// conceal fills slots slots lost before the packet payload, lost the
	// number of packets missing (0 for a timestamp gap alone).
	conceal(slots, lost int, payload []byte)
	// decode appends the slots of payload, which duration measured.
	decode(payload []byte, slots int) error
}

// frameOutput encodes one frame of slots into the payload of the output
// codec.
type frameOutput interface {
	fmt.Stringer
	// encode writes the payload of frame into dst and returns its length,
	// or ErrShortBuffer or the codec's error.
	encode(dst []byte, frame []int16) (int, error)
	// maxPayload is the most bytes encode writes for a frame of frame
	// slots.
	maxPayload(frame int) int
}
