package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/sip"
	"github.com/webtrunk/webtrunk/transcode"

	"github.com/webtrunk/webtrunk/telephony"
)

// Tone parameters of the tone number: a 1 kHz sine at -10 dBFS, in 20 ms
// frames of 160 samples at 8000 Hz.
const (
	toneHz        = 1000
	toneAmplitude = 0.316 * math.MaxInt16
	sampleRate    = 8000
	frameSamples  = 160
	frameInterval = 20 * time.Millisecond
	rtpHeaderLen  = 12
)

// endpointConfig is what an endpoint needs besides its SIP user agent.
type endpointConfig struct {
	// ToneNumber is the E.164 number answered with the tone instead of the echo.
	ToneNumber string
	// MaxDuration ends every call after this long; 0 = never.
	MaxDuration time.Duration
	// Logger receives one line per call event.
	Logger *slog.Logger
}

// endpoint answers every inbound call of its user agent: calls to
// ToneNumber hear a 1 kHz tone, all others hear their own audio echoed back.
type endpoint struct {
	ua  *sip.UA
	cfg endpointConfig
	log *slog.Logger
	wg  sync.WaitGroup
}

// newEndpoint builds the endpoint on a user agent built from uaCfg. It binds
// nothing.
func newEndpoint(uaCfg sip.Config, cfg endpointConfig) (*endpoint, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	uaCfg.Logger = cfg.Logger.With("component", "sip")
	ua, err := sip.NewUA(uaCfg)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}

	return &endpoint{ua: ua, cfg: cfg, log: cfg.Logger}, nil
}

// listen binds the SIP listeners, so that a caller learns bind errors (and
// ports chosen by the system) before run.
func (e *endpoint) listen() error { return e.ua.Listen() }

// run answers calls until ctx is cancelled, then hangs every call up and
// returns once every goroutine it started has ended.
func (e *endpoint) run(ctx context.Context) error {
	err := e.ua.Serve(ctx, func(ic *sip.IncomingCall) {
		e.wg.Go(func() { e.handle(ctx, ic) })
	})
	e.wg.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}

	return err
}

// handle answers one call and serves it until it ends.
func (e *endpoint) handle(ctx context.Context, ic *sip.IncomingCall) {
	mode := "echo"
	if ic.To() == e.cfg.ToneNumber {
		mode = "tone"
	}
	log := e.log.With("sip_call_id", ic.CallID(), "from", ic.From(), "to", ic.To(), "mode", mode)
	call, err := ic.Answer(ctx)
	if err != nil {
		log.Warn("answer failed", "error", err)

		return
	}
	log.Info("call answered", "codec", call.Media().Codec.String())
	start := time.Now()

	var limit <-chan time.Time
	if e.cfg.MaxDuration > 0 {
		t := time.NewTimer(e.cfg.MaxDuration)
		defer t.Stop()
		limit = t.C
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if mode == "tone" {
			playTone(call)
		} else {
			echo(call, log)
		}
	}()
	select {
	case <-call.Done():
	case <-limit:
		log.Info("maximum duration reached, hanging up")
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = call.Hangup(hctx)
		cancel()
	}
	<-done
	st := call.RTP().Stats()
	log.Info("call ended", "cause", call.Err(), "duration", time.Since(start).Round(time.Millisecond),
		"packets_in", st.PacketsIn, "packets_out", st.PacketsOut)
}

// echo sends every RTP packet of the call back where it came from, with the
// endpoint's own SSRC and its own sequence number and timestamp bases
// (RFC 3550 section 5.1): offsets are kept, so gaps and reordering are
// echoed as they arrived. Telephone-events (RFC 4733) are echoed too, and
// each digit is logged once. It returns when the call's RTP socket closes.
func echo(call *sip.Call, log *slog.Logger) {
	conn := call.RTP()
	buf := make([]byte, 1500)
	ssrc := rand.Uint32()
	seqBase := uint16(rand.Uint32())
	tsBase := rand.Uint32()
	var seqOff uint16
	var tsOff uint32
	first := true
	var lastEventTS uint32
	for {
		n, err := conn.ReadRTP(buf)
		if err != nil {
			return // the call ended and closed the socket
		}
		if n < rtpHeaderLen {
			continue
		}
		pkt := buf[:n]
		seq := binary.BigEndian.Uint16(pkt[2:])
		ts := binary.BigEndian.Uint32(pkt[4:])
		if first {
			seqOff = seqBase - seq
			tsOff = tsBase - ts
			first = false
		}
		if te := call.Media().TelephoneEventPT; te != 0 && pkt[1]&0x7f == te {
			if d, ok := endedDigit(pkt); ok && ts != lastEventTS {
				lastEventTS = ts
				log.Info("dtmf received", "digit", d)
			}
		}
		binary.BigEndian.PutUint16(pkt[2:], seq+seqOff)
		binary.BigEndian.PutUint32(pkt[4:], ts+tsOff)
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		_, _ = conn.WriteRTP(pkt) // ErrNoRemote while on hold: drop the packet
	}
}

// endedDigit returns the digit of an RFC 4733 telephone-event packet
// (section 2.3) whose E bit marks the end of the event.
func endedDigit(pkt []byte) (string, bool) {
	hl := rtpHeaderLen + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // header extension (RFC 3550 section 5.3.1)
		if len(pkt) < hl+4 {
			return "", false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(pkt[hl+2:]))
	}
	if len(pkt) < hl+4 || pkt[hl+1]&0x80 == 0 {
		return "", false
	}
	const events = "0123456789*#ABCD"
	if e := int(pkt[hl]); e < len(events) {
		return events[e : e+1], true
	}

	return "", false
}

// playTone sends a 1 kHz tone in the call's codec every 20 ms until the
// call ends, and reads (and drops) what the caller sends so that symmetric
// RTP latching (RFC 4961) works as for the echo.
func playTone(call *sip.Call) {
	conn := call.RTP()
	media := call.Media()
	pcm := make([]int16, frameSamples)
	for i := range pcm {
		// 1000 Hz at 8000 Hz is exactly 8 samples per period: one frame
		// repeats without a phase jump.
		pcm[i] = int16(toneAmplitude * math.Sin(2*math.Pi*toneHz*float64(i)/sampleRate))
	}
	payload := make([]byte, frameSamples)
	if media.Codec.Name == telephony.PCMA.Name {
		transcode.EncodePCMA(payload, pcm)
	} else {
		transcode.EncodePCMU(payload, pcm)
	}

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 1500)
		for {
			if _, err := conn.ReadRTP(buf); err != nil {
				return
			}
		}
	}()

	hdr := rtp.Header{
		Version:        2,
		Marker:         true, // first packet of a talkspurt (RFC 3551 section 4.1)
		PayloadType:    media.Codec.PayloadType,
		SequenceNumber: uint16(rand.Uint32()),
		Timestamp:      rand.Uint32(),
		SSRC:           rand.Uint32(),
	}
	pkt := make([]byte, rtpHeaderLen+frameSamples)
	tick := time.NewTicker(frameInterval)
	defer tick.Stop()
	for {
		n, err := hdr.MarshalTo(pkt)
		if err == nil {
			n += copy(pkt[n:], payload)
			_, _ = conn.WriteRTP(pkt[:n])
		}
		hdr.Marker = false
		hdr.SequenceNumber++
		hdr.Timestamp += frameSamples
		select {
		case <-call.Done():
			<-readDone

			return
		case <-tick.C:
		}
	}
}
