// Package bridge carries the media of one call between its two legs: the
// uplink from the browser's leg (Opus, RFC 7587, or G.711, and RFC 4733
// telephone-events) to the trunk's (G.711 RTP, RFC 3551), and the downlink
// back, each in its own goroutine with its own buffers, transcoding with
// package transcode. It follows the trunk when an offer/answer exchange
// changes its codec or telephone-event payload type (RFC 3264 section
// 8.3.2), mutes the uplink while the call is held, sends the digits asked
// for as telephone-events, reports the trunk's digits, and counts each
// direction, with loss and jitter per RFC 3550 from one rtpstream.Receiver
// per direction.
//
// The packet path of either direction neither allocates nor locks, and
// logs nothing. A Bridge knows its legs only as [Leg]: RTP packets as bytes
// in caller-owned buffers.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

// Leg is one side of a bridged call as the bridge uses it: a source and a
// sink of RTP packets (RFC 3550 section 5). One goroutine of the bridge
// reads a leg and the other writes it.
type Leg interface {
	// ReadRTP reads the next RTP packet into b and returns its length in
	// bytes. It blocks until a packet arrives or the leg is closed; after
	// Close it returns an error matching net.ErrClosed. An error matching
	// os.ErrDeadlineExceeded is retried. It must not allocate.
	ReadRTP(b []byte) (int, error)
	// WriteRTP sends the RTP packet b, header and payload, and returns
	// len(b). The leg does not keep b. It must not allocate.
	WriteRTP(b []byte) (int, error)
	// Close releases the leg and ends a blocked ReadRTP. It may be called
	// more than once.
	Close() error
}

// Errors of a Bridge.
var (
	// ErrNoTelephoneEvent is returned by SendDTMF while the trunk has not
	// negotiated telephone-event (RFC 4733).
	ErrNoTelephoneEvent = errors.New("bridge: the trunk did not negotiate telephone-event")
	// ErrRunTwice is returned by a second call of Run.
	ErrRunTwice = errors.New("bridge: run twice")
	// errNoLeg is returned by New for a Config without both legs.
	errNoLeg = errors.New("bridge: both legs are required")
)

// Config is what a Bridge needs: its legs, both sides' codecs, the
// transcoding options and where the trunk's digits go.
type Config struct {
	// Browser is the browser's leg. It reads the browser's audio in
	// BrowserCodec and its telephone-events, and writes the downlink's
	// audio in BrowserCodec.
	Browser Leg
	// Trunk is the trunk's leg. It reads and writes audio in the codec of
	// TrunkMedia, and telephone-events of its payload type.
	Trunk Leg
	// BrowserCodec is the browser's audio codec with the payload type its
	// offer gave it: Opus at the 48 kHz RTP clock, PCMU or PCMA.
	BrowserCodec telephony.Codec
	// BrowserEvents are the browser's telephone-event formats (RFC 4733)
	// at 8000 or 48000 Hz, with their payload types; the uplink maps each
	// onto the trunk's. Empty: the browser sends no digits in RTP.
	BrowserEvents []telephony.Codec
	// TrunkMedia is the trunk's negotiated audio when the bridge starts;
	// FollowTrunk changes it.
	TrunkMedia TrunkMedia
	// TranscodeSameCodec (calls.transcode_same_codec) decodes and
	// re-encodes audio when both legs speak the same G.711 codec, instead
	// of relaying it re-chunked.
	TranscodeSameCodec bool
	// OpusComplexity (calls.opus_complexity, 0 to 10) is the downlink's
	// Opus encoder complexity when the browser speaks Opus.
	OpusComplexity int
	// OnDigit receives each DTMF digit the trunk sends, once per key press
	// (RFC 4733 section 2.5.1.4), in the downlink goroutine; it must not
	// block. Nil drops them.
	OnDigit func(digit rune)
	// OnBrowserDigit, when set, takes the browser's RFC 4733 digits out
	// of the trunk's stream: each event is reported once, at its first end
	// packet (RFC 4733 section 2.5.1.4), with its duration, in the uplink
	// goroutine (it must not block), and nothing of it reaches the trunk's
	// RTP. Nil maps them onto the trunk's stream.
	OnBrowserDigit func(digit rune, duration time.Duration)
	// Epoch is the origin of Stats.LastPacket and of the arrival clock of
	// the jitter estimate; zero is the time of New.
	Epoch time.Time
	// UplinkJitterMin and UplinkJitterMax bound the wait of the uplink's
	// adaptive jitter buffer for a missing packet of the browser
	// (transcode.WithJitterBuffer): packets that arrive out of order
	// within it are decoded in order instead of being dropped as late.
	// UplinkJitterMax zero: no jitter buffer.
	UplinkJitterMin, UplinkJitterMax time.Duration
	// DownlinkJitterMin and DownlinkJitterMax bound the wait of the
	// downlink's jitter buffer for a missing packet of the trunk (G.711 at
	// 8 kHz), the same kind of buffer as the uplink's. DownlinkJitterMax
	// zero: no jitter buffer.
	DownlinkJitterMin, DownlinkJitterMax time.Duration
}

// Bridge is the media path of one call between its two legs. Create it with
// New and start it with Run; SetMuted, SendDTMF, FollowTrunk, TrunkMedia,
// Uplink and Downlink may be called from any goroutine while it runs.
type Bridge struct {
	browser Leg
	// trunk is the trunk's leg, loaded once per packet by both
	// directions; ReplaceTrunk swaps it.
	trunk atomic.Pointer[legRef]
	// media is the trunk's negotiated audio, published by FollowTrunk
	// under followMu and loaded by both directions once per packet. A
	// published value is never modified.
	media    atomic.Pointer[TrunkMedia]
	followMu sync.Mutex
	muted    atomic.Bool
	dtmf     *transcode.DTMFGenerator
	up       *uplink
	down     *downlink
	rtcp     *TrunkRTCP
	ran      atomic.Bool
	// closing is set when Run closes the legs: the loops' read errors are
	// then the end of the call, not failures.
	closing atomic.Bool
	// awaiting is set by AwaitTrunk: a closed trunk leg waits for its
	// replacement. swapped wakes the waiting downlink (ReplaceTrunk);
	// stopped is closed when Run's context ends.
	awaiting atomic.Bool
	swapped  chan struct{}
	stopped  chan struct{}
}

// New builds the bridge of a call: the transcoders between the browser's
// codec and the trunk's, one telephone-event mapper per browser format,
// and the two directions. It starts nothing. Errors wrap
// transcode.ErrUnsupportedCodec (a trunk codec other than G.711, a
// browser codec other than Opus or G.711) or transcode.ErrInvalidOption
// (an Opus complexity or jitter buffer bounds out of range).
func New(cfg Config) (*Bridge, error) {
	if cfg.Browser == nil || cfg.Trunk == nil {
		return nil, errNoLeg
	}
	media, err := normalize(cfg.TrunkMedia)
	if err != nil {
		return nil, err
	}
	upTC, downTC, err := newTranscoders(cfg.BrowserCodec, media.Codec, cfg.TranscodeSameCodec, cfg.OpusComplexity,
		jitterBounds{cfg.UplinkJitterMin, cfg.UplinkJitterMax}, jitterBounds{cfg.DownlinkJitterMin, cfg.DownlinkJitterMax})
	if err != nil {
		return nil, err
	}
	// One mapper per browser telephone-event format, even while the trunk
	// has none: a re-INVITE may add it (the uplink drops events meanwhile).
	// Events the browser reports only by their end packets are sent
	// afresh by the generator of the trunk's stream, so that the trunk
	// always receives well-formed events (RFC 4733 section 2.5.1).
	gen := transcode.NewDTMFGenerator()
	mappers := make([]*transcode.DTMFMapper, 0, len(cfg.BrowserEvents))
	for _, ev := range cfg.BrowserEvents {
		m, err := transcode.NewDTMFMapper(ev, telephony.TelephoneEvent8k.WithPayloadType(media.EventPT), upTC)
		if err != nil {
			return nil, fmt.Errorf("bridge: dtmf: %w", err)
		}
		m.Regenerate(gen)
		mappers = append(mappers, m)
	}
	epoch := cfg.Epoch
	if epoch.IsZero() {
		epoch = time.Now()
	}
	b := &Bridge{browser: cfg.Browser, dtmf: gen, swapped: make(chan struct{}, 1), stopped: make(chan struct{})}
	b.trunk.Store(&legRef{cfg.Trunk})
	b.media.Store(&media)
	b.up = newUplink(b, upTC, cfg.BrowserCodec, mappers, epoch)
	if cfg.OnBrowserDigit != nil {
		b.up.digitsOut = newDigitTap(cfg.BrowserEvents, cfg.OnBrowserDigit)
	}
	b.down = newDownlink(b, downTC, cfg.BrowserCodec, cfg.OnDigit, epoch)
	b.rtcp = newTrunkRTCP(b)

	return b, nil
}

// Run carries the media until ctx ends: the uplink goroutine reads the
// browser's leg and writes the trunk's, the downlink goroutine the
// reverse. When ctx ends Run closes both legs, which ends both loops. A
// loop also ends when its source leg is closed by its owner (a read error
// matching net.ErrClosed) or fails, without ending the other one. Run
// returns once both loops have ended: errors.Join of their errors, nil
// when they ended because ctx did or a leg was closed; each error names
// its direction ("bridge: uplink: ..."). A Bridge runs once; a second Run
// returns ErrRunTwice.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.ran.CompareAndSwap(false, true) {
		return ErrRunTwice
	}
	ended := make(chan error, 2)
	go func() { ended <- b.up.run() }()
	go func() { ended <- b.down.run() }()
	var errs [2]error
	done := ctx.Done()
	for i := 0; i < len(errs); {
		select {
		case <-done:
			done = nil
			b.closing.Store(true)
			close(b.stopped)
			_ = b.browser.Close()
			_ = b.trunkLeg().Close()
		case err := <-ended:
			errs[i] = err
			i++
		}
	}

	return errors.Join(errs[:]...)
}

// legRef holds a Leg for an atomic pointer.
type legRef struct{ Leg }

// trunkLeg returns the trunk's current leg.
func (b *Bridge) trunkLeg() Leg { return b.trunk.Load().Leg }

// relay is the loop of direction dir: it reads the source leg, which src
// returns before each read (trunk: the trunk's leg), into buf and hands each packet to handle,
// retrying reads that time out (os.ErrDeadlineExceeded), until the leg
// fails. A failure is the end of the call, and nil, once the bridge has
// closed the legs or when the leg's owner closed it (net.ErrClosed),
// unless src returns another leg by then (ReplaceTrunk), or will (the
// trunk's leg while AwaitTrunk is on): the loop then goes on with it. Any
// other failure is returned, named with the direction.
func (b *Bridge) relay(dir string, src func() Leg, trunk bool, buf []byte, handle func([]byte)) error {
	for {
		leg := src()
		n, err := leg.ReadRTP(buf)
		switch {
		case err == nil:
			handle(buf[:n])
		case errors.Is(err, os.ErrDeadlineExceeded):
		case b.closing.Load():
			return nil
		case errors.Is(err, net.ErrClosed):
			if src() == leg && (!trunk || !b.awaitReplacement(leg)) {
				return nil
			}
		default:
			return fmt.Errorf("bridge: %s: %w", dir, err)
		}
	}
}

// ReplaceTrunk makes leg the trunk's leg, with its negotiated media m,
// while the bridge runs or before: the call's other party changed (a
// transfer) and the browser's leg stays. The uplink writes to leg from its
// next packet on; the downlink reads it once its read of the old leg
// ends, so the caller closes the old leg, which it owns, right after
// (until then packets of the old leg still reach the browser). The new
// leg's first packet with another SSRC starts the downlink's stream
// accounting and jitter buffer afresh. It returns the old leg, and the
// media before and after as FollowTrunk does; a codec other than G.711
// is refused with an error wrapping transcode.ErrUnsupportedCodec and
// nothing changes. Once Run has begun closing the legs the new leg is
// closed too.
func (b *Bridge) ReplaceTrunk(leg Leg, m TrunkMedia) (old Leg, prev, cur TrunkMedia, err error) {
	if leg == nil {
		return nil, TrunkMedia{}, TrunkMedia{}, errNoLeg
	}
	if _, err := normalize(m); err != nil {
		p := *b.media.Load()

		return nil, p, p, err
	}
	old = b.trunk.Swap(&legRef{leg}).Leg
	b.awaiting.Store(false)
	b.wake()
	prev, cur, err = b.FollowTrunk(m)
	if b.closing.Load() {
		_ = leg.Close()
	}

	return old, prev, cur, err
}

// AwaitTrunk (on) tells the bridge that the trunk's leg is about to be
// replaced (a transfer is placing the new party's call) so that its owner
// closing the current one, as when the old party hangs up meanwhile, does
// not end the downlink: it waits for ReplaceTrunk or the end of Run. Off
// (the transfer failed) a closed trunk leg ends the downlink again, at
// once if it is waiting. ReplaceTrunk turns it off.
func (b *Bridge) AwaitTrunk(on bool) {
	b.awaiting.Store(on)
	b.wake()
}

// wake wakes a downlink waiting for the trunk's leg, if any.
func (b *Bridge) wake() {
	select {
	case b.swapped <- struct{}{}:
	default:
	}
}

// awaitReplacement waits, while AwaitTrunk is on, for the closed trunk
// leg leg to be replaced: true once it is, false when it will not be (Run
// ended, AwaitTrunk turned off).
func (b *Bridge) awaitReplacement(leg Leg) bool {
	for b.trunkLeg() == leg {
		if !b.awaiting.Load() {
			return false
		}
		select {
		case <-b.swapped:
		case <-b.stopped:
			return false
		}
	}

	return true
}

// SetMuted mutes the uplink (on) or unmutes it: while muted the trunk
// receives G.711 silence in place of the browser's audio, so that the
// stream and the trunk's RTP timeout go on, and neither the browser's
// digits nor generated ones.
func (b *Bridge) SetMuted(on bool) { b.muted.Store(on) }

// SendDTMF queues digits ("0"-"9", "*", "#", "A"-"D") to be sent to the
// trunk as RFC 4733 telephone-events in place of the uplink's audio
// frames, after those already waiting (see transcode.DTMFGenerator). It
// returns ErrNoTelephoneEvent when the trunk has no telephone-event, or
// transcode.ErrDTMFDigit or transcode.ErrDTMFQueueFull, queueing nothing.
func (b *Bridge) SendDTMF(digits string) error {
	if b.media.Load().EventPT == 0 {
		return ErrNoTelephoneEvent
	}

	return b.dtmf.Enqueue(digits)
}

// String describes both directions' pipelines for logs, for example "up:
// opus/48000 decode@8k (FEC, PLC) -> PCMU encode, ptime 20ms; down:
// PCMU/8000 decode -> opus encode@8k, ptime 20ms". The pipelines change
// when the trunk's codec does: call it before Run, or after Run returned.
func (b *Bridge) String() string {
	return "up: " + b.up.tc.String() + "; down: " + b.down.tc.String()
}
