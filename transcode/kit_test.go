package transcode

import (
	"testing"

	"github.com/hraban/opus"

	"github.com/webtrunk/webtrunk/telephony"
)

// outFrame is one frame a transcoder's Next returned: a copy of its
// payload, and its RTP timestamp.
type outFrame struct {
	payload []byte
	ts      uint32
}

// drainFrames takes every pending frame from next, with a destination of
// size bytes.
func drainFrames(next func([]byte) (int, uint32, bool), size int) []outFrame {
	buf := make([]byte, size)
	var frames []outFrame
	for {
		n, ts, ok := next(buf)
		if !ok {
			return frames
		}
		frames = append(frames, outFrame{append([]byte(nil), buf[:n]...), ts})
	}
}

// discardFrames takes every pending frame from next into out and drops
// it. It does not allocate.
func discardFrames(next func([]byte) (int, uint32, bool), out []byte) {
	for {
		if _, _, ok := next(out); !ok {
			return
		}
	}
}

// drainWhole is drainFrames for frames of want bytes each: a frame of any
// other length fails the test.
func drainWhole(tb testing.TB, next func([]byte) (int, uint32, bool), want int) []outFrame {
	tb.Helper()
	frames := drainFrames(next, 1500)
	for _, f := range frames {
		if len(f.payload) != want {
			tb.Fatalf("frame of %d bytes, want %d", len(f.payload), want)
		}
	}
	return frames
}

// listener decodes output frames as the receiving leg hears them, into
// 8 kHz PCM: Opus with libopus at 8 kHz, G.711 by its law.
type listener struct {
	dec *opus.Decoder
	pcm []int16
}

func newListener(tb testing.TB) *listener {
	tb.Helper()
	dec, err := opus.NewDecoder(8000, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return &listener{dec: dec, pcm: make([]int16, 960)}
}

// hear returns the audio of payload, a frame of codec c.
func (l *listener) hear(tb testing.TB, c telephony.Codec, payload []byte) []int16 {
	tb.Helper()
	if !c.IsOpus() {
		return decodeG711(c, payload)
	}
	n, err := l.dec.Decode(payload, l.pcm)
	if err != nil {
		tb.Fatalf("decoding the Opus output: %v", err)
	}
	return append([]int16(nil), l.pcm[:n]...)
}

// drain takes every pending frame of codec c from next, with a
// destination of size bytes, and returns their audio and timestamps.
func (l *listener) drain(tb testing.TB, c telephony.Codec, next func([]byte) (int, uint32, bool), size int) (heard []int16, tss []uint32) {
	tb.Helper()
	for _, f := range drainFrames(next, size) {
		heard = append(heard, l.hear(tb, c, f.payload)...)
		tss = append(tss, f.ts)
	}
	return heard, tss
}

// mustUplink is NewUplink for a test: an error fails it.
func mustUplink(tb testing.TB, in, out telephony.Codec, opts ...Option) *Uplink {
	tb.Helper()
	return mustNew(tb, NewUplink, in, out, opts...)
}

// mustDownlink is NewDownlink for a test: an error fails it.
func mustDownlink(tb testing.TB, in, out telephony.Codec, opts ...Option) *Downlink {
	tb.Helper()
	return mustNew(tb, NewDownlink, in, out, opts...)
}

// mustNew calls a pipeline constructor for a test: an error fails it.
func mustNew[P any](tb testing.TB, newP func(in, out telephony.Codec, opts ...Option) (P, error), in, out telephony.Codec, opts ...Option) P {
	tb.Helper()
	p, err := newP(in, out, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
