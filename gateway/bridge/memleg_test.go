package bridge

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// Payload types of the tests: the browser's (Chromium's numbering) and the
// trunk's.
const (
	testOpusPT     = 111
	testBrowserTE  = 110 // telephone-event/48000
	testBrowserTE8 = 126 // telephone-event/8000, which Chromium uses beside Opus
	testTrunkTE    = 101
	testTrunkPCMU  = 0
)

// feedTimeout bounds each hand-over of a packet to the bridge.
const feedTimeout = 10 * time.Second

// memLeg is an in-memory Leg: ReadRTP returns the packets the test feeds,
// in order; WriteRTP records a copy of each packet; Close ends a blocked
// ReadRTP with net.ErrClosed, and a value sent on fail ends it with that
// error.
type memLeg struct {
	in        chan []byte
	fail      chan error
	closed    chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	written []rtp.Packet
}

func newMemLeg() *memLeg {
	return &memLeg{in: make(chan []byte), fail: make(chan error), closed: make(chan struct{})}
}

// ReadRTP implements Leg. A nil packet fed is a barrier: it is skipped.
func (l *memLeg) ReadRTP(b []byte) (int, error) {
	for {
		select {
		case p := <-l.in:
			if p == nil {
				continue
			}

			return copy(b, p), nil
		case err := <-l.fail:
			return 0, err
		case <-l.closed:
			return 0, fmt.Errorf("memleg: %w", net.ErrClosed)
		}
	}
}

// WriteRTP implements Leg.
func (l *memLeg) WriteRTP(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(bytes.Clone(b)); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.written = append(l.written, p)
	l.mu.Unlock()

	return len(b), nil
}

// Close implements Leg.
func (l *memLeg) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })

	return nil
}

// isClosed reports whether Close was called.
func (l *memLeg) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// feed hands pkts to the bridge's reader one after the other and returns
// once it has handled the last one (it asked for the next packet: the
// barrier went through).
func (l *memLeg) feed(t *testing.T, pkts ...[]byte) {
	t.Helper()
	timeout := time.NewTimer(feedTimeout)
	defer timeout.Stop()
	for _, p := range append(pkts, nil) {
		select {
		case l.in <- p:
		case <-timeout.C:
			t.Fatal("the bridge stopped reading the leg")
		}
	}
}

// packets returns a copy of what the bridge wrote so far.
func (l *memLeg) packets() []rtp.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()

	return append([]rtp.Packet(nil), l.written...)
}

// running is a Bridge in Run between two in-memory legs.
type running struct {
	b       *Bridge
	browser *memLeg
	trunk   *memLeg
	digits  chan rune
	cancel  context.CancelFunc
	done    chan error
}

// testConfig is the bridge of an Opus browser with both telephone-event
// clocks and a PCMU trunk with telephone-event, with transcode's default
// Opus encoder.
func testConfig() Config {
	return Config{
		OpusComplexity: transcode.DefaultOpusComplexity,
		BrowserCodec:   telephony.Opus.WithPayloadType(testOpusPT),
		BrowserEvents: []telephony.Codec{
			{Name: "telephone-event", ClockRate: 48000, Channels: 1, PayloadType: testBrowserTE},
			{Name: "telephone-event", ClockRate: 8000, Channels: 1, PayloadType: testBrowserTE8},
		},
		TrunkMedia: TrunkMedia{Codec: telephony.PCMU, EventPT: testTrunkTE},
	}
}

// start runs a bridge of cfg between two new in-memory legs; the trunk's
// digits arrive on digits. At cleanup Run is stopped and must return nil.
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{browser: newMemLeg(), trunk: newMemLeg(), digits: make(chan rune, 16), done: make(chan error, 1)}
	cfg.Browser, cfg.Trunk = r.browser, r.trunk
	cfg.OnDigit = func(d rune) { r.digits <- d }
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.b = b
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("Run = %v, want nil after its context ended", err)
		}
	})

	return r
}

// stop cancels Run's context and returns its result (again on later
// calls).
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err

		return err
	case <-time.After(feedTimeout):
		t.Fatal("Run did not return after its context ended")

		return nil
	}
}

// browserPackets marshals n Opus packets of a freq Hz tone as the browser
// sends them, from sequence number 1000 on.
func browserPackets(tb testing.TB, n int, freq float64) [][]byte {
	tb.Helper()
	src := testcodec.NewOpusSource(tb, freq, testOpusPT)
	out := make([][]byte, n)
	for i := range out {
		payload, ts := src.Next()
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testOpusPT, SequenceNumber: uint16(1000 + i), Timestamp: ts, SSRC: 42}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = b
	}

	return out
}

// trunkPackets marshals n PCMU packets of a freq Hz tone as a trunk sends
// them.
func trunkPackets(tb testing.TB, n int, freq float64) [][]byte {
	tb.Helper()

	return testcodec.G711Packets(tb, telephony.PCMU.WithPayloadType(testTrunkPCMU), n, freq, 7, 5000)
}

// eventPacket marshals one RFC 4733 telephone-event packet.
func eventPacket(tb testing.TB, pt uint8, seq uint16, ts uint32, marker bool, ev transcode.Event) []byte {
	tb.Helper()
	var payload [transcode.EventPayloadSize]byte
	if _, err := ev.MarshalTo(payload[:]); err != nil {
		tb.Fatal(err)
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, Marker: marker, SSRC: 42}, Payload: payload[:]}
	b, err := p.Marshal()
	if err != nil {
		tb.Fatal(err)
	}

	return b
}

// opusAudio decodes the Opus packets among packets to 8 kHz PCM.
func opusAudio(tb testing.TB, packets []rtp.Packet) []int16 {
	tb.Helper()
	sink := testcodec.NewOpusSink(tb, testOpusPT)
	for i := range packets {
		sink.Push(&packets[i])
	}

	return sink.PCM()
}
