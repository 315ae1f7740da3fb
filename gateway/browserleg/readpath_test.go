package browserleg

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// interceptorChains are the RTCP report interceptors compared: pion's pair
// as webrtc.ConfigureRTCPReports registers them, and the API's.
func interceptorChains(tb testing.TB) map[string]*interceptor.Registry {
	tb.Helper()
	pion := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(pion); err != nil {
		tb.Fatal(err)
	}
	ours, err := newInterceptors(DefaultRTCPReportInterval, logging.NewDefaultLoggerFactory())
	if err != nil {
		tb.Fatal(err)
	}

	return map[string]*interceptor.Registry{"pion": pion, "webtrunk": ours}
}

// discardWriter is an RTP writer that drops packets.
type discardWriter struct{}

func (discardWriter) Write(_ *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	return len(payload), nil
}

// bind builds reg's interceptor for one PeerConnection and binds an Opus
// stream in each direction: reads return a 100-byte RTP packet, writes go
// nowhere. Reads pass nil attributes, as RTPReceiver does.
func bind(tb testing.TB, reg *interceptor.Registry) (interceptor.RTPReader, interceptor.RTPWriter) {
	tb.Helper()
	chain, err := reg.Build("")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = chain.Close() })
	pkt := append(rtpBytes(1, 960), make([]byte, 85)...)
	info := &interceptor.StreamInfo{SSRC: 0x5eed, ClockRate: 48000, MimeType: webrtc.MimeTypeOpus}

	return chain.BindRemoteStream(info, byteReader(pkt)), chain.BindLocalStream(info, discardWriter{})
}

// TestReportInterceptorAllocs counts the allocations per RTP packet of each
// report interceptor chain: the API's allocates nothing in either
// direction; pion's receiver reports allocate on every read (the numbers
// are logged).
func TestReportInterceptorAllocs(t *testing.T) {
	for name, reg := range interceptorChains(t) {
		t.Run(name, func(t *testing.T) {
			reader, writer := bind(t, reg)
			buf := make([]byte, 1500)
			reads := testing.AllocsPerRun(1000, func() { _, _, _ = reader.Read(buf, nil) })
			hdr := &rtp.Header{Version: 2, PayloadType: 111, SSRC: 0x5eed}
			payload := make([]byte, 88)
			writes := testing.AllocsPerRun(1000, func() {
				hdr.SequenceNumber++
				_, _ = writer.Write(hdr, payload, nil)
			})
			t.Logf("allocations per packet: read %v, write %v", reads, writes)
			if name == "webtrunk" && (reads != 0 || writes != 0) {
				t.Errorf("read allocates %v, write %v per packet; want none", reads, writes)
			}
		})
	}
}

// BenchmarkRTPRead reads one RTP packet through each report interceptor
// chain, into a caller buffer as the bridge does.
func BenchmarkRTPRead(b *testing.B) {
	for _, name := range []string{"pion", "webtrunk"} {
		b.Run(name, func(b *testing.B) {
			reader, _ := bind(b, interceptorChains(b)[name])
			buf := make([]byte, 1500)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := reader.Read(buf, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRTPWrite writes one RTP packet through each chain (pion's
// sender reports in both).
func BenchmarkRTPWrite(b *testing.B) {
	for _, name := range []string{"pion", "webtrunk"} {
		b.Run(name, func(b *testing.B) {
			_, writer := bind(b, interceptorChains(b)[name])
			hdr := &rtp.Header{Version: 2, PayloadType: 111, SSRC: 0x5eed}
			payload := make([]byte, 88)
			b.ReportAllocs()
			for b.Loop() {
				hdr.SequenceNumber++
				if _, err := writer.Write(hdr, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// allocSites returns the allocations counted by the memory profile so far,
// by call stack.
func allocSites() map[string]int64 {
	runtime.GC()
	runtime.GC() // the profile publishes the cycle before last
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]

			break
		}
	}
	out := make(map[string]int64, len(recs))
	for _, r := range recs {
		var sb strings.Builder
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			fmt.Fprintf(&sb, "%s\n", f.Function)
			if !more {
				break
			}
		}
		out[sb.String()] += r.AllocObjects
	}

	return out
}

// TestLegMediaAllocs runs a real call leg (browser to gateway over
// loopback, ICE, DTLS and SRTP) with every allocation profiled, and checks
// that none happens on the stack of Leg.ReadRTP (the uplink's read) or of
// Leg.WriteRTP (the downlink's write) while 500 packets are read into a
// caller buffer and 500 written from one. Allocations elsewhere in the
// process during that time (the browser's side included) are logged per
// packet.
func TestLegMediaAllocs(t *testing.T) {
	defer goleak.VerifyNone(t)
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0)})
	defer func() { _ = api.Close() }()
	browser := newBrowser(t)
	defer func() { _ = browser.GracefulClose() }()
	track := addOpusTrack(t, browser, "browser")
	browser.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	leg := connectLeg(t, api, browser)
	defer func() { _ = leg.Close() }()

	seq := uint16(0)
	payload := make([]byte, 80)
	send := func(n int) {
		for range n {
			err := track.WriteRTP(&rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
				Payload: payload,
			})
			if err != nil {
				t.Errorf("WriteRTP: %v", err)

				return
			}
			seq++
			time.Sleep(time.Millisecond)
		}
	}
	const warmup, measured = 50, 500
	buf := make([]byte, 1500)
	out := make([]byte, 1500)
	hdr := rtp.Header{Version: 2, PayloadType: 111, SSRC: 0x5eed}
	// relay reads n packets from the browser and writes one to it for
	// each, as the bridge's two loops do between them.
	relay := func(n int) error {
		for range n {
			if _, err := leg.ReadRTP(buf); err != nil {
				return err
			}
			hdr.SequenceNumber++
			hdr.Timestamp += 960
			k, err := hdr.MarshalTo(out)
			if err != nil {
				return err
			}
			k += copy(out[k:], payload)
			if _, err := leg.WriteRTP(out[:k]); err != nil {
				return err
			}
		}

		return nil
	}
	// sendAsync sends n packets from another goroutine; the channel is
	// closed when it has finished.
	sendAsync := func(n int) <-chan struct{} {
		done := make(chan struct{})
		go func() { defer close(done); send(n) }()

		return done
	}
	warm := sendAsync(warmup)
	err := relay(warmup)
	<-warm
	if err != nil {
		t.Fatal(err)
	}

	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	before := allocSites()
	sent := sendAsync(measured)
	err = relay(measured)
	<-sent
	if err != nil {
		t.Fatal(err)
	}
	after := allocSites()

	// oneOff is the rate below which a site on the leg's stacks is a
	// one-time cost (a type-assertion cache, a map growing once) rather
	// than a per-packet one: fewer than 5 in the measured packets.
	const oneOff = 5.0 / measured
	type site struct {
		perPacket float64
		stack     string
	}
	var onLeg, elsewhere []site
	for stack, n := range after {
		n -= before[stack]
		if n <= 0 || strings.Contains(stack, "allocSites") {
			continue
		}
		s := site{float64(n) / measured, stack}
		switch {
		case strings.Contains(stack, "runtime.acquireSudog") && s.perPacket < 0.02:
			// A goroutine blocking in select takes a wait-queue entry from
			// its P's cache, which each GC empties (allocSites forces two):
			// a few refills after a collection, not an allocation per packet.
		case strings.Contains(stack, "sync.(*Pool).Get") && strings.Contains(stack, "browserleg.(*Leg).WriteRTP"):
			// pion's packet and SRTP buffer pools of the write path refill
			// after each GC
			// (and, under the race detector, after the quarter of Puts
			// that sync.Pool drops on purpose): reuse, not a per-packet
			// allocation of the path.
		case strings.Contains(stack, "browserleg.(*Leg).ReadRTP"), strings.Contains(stack, "browserleg.(*Leg).WriteRTP"):
			if s.perPacket >= oneOff {
				onLeg = append(onLeg, s)
			}
		case s.perPacket >= 0.5: // per packet rather than per timer tick
			elsewhere = append(elsewhere, s)
		}
	}
	format := func(sites []site) string {
		slices.SortFunc(sites, func(a, b site) int { return strings.Compare(a.stack, b.stack) })
		var sb strings.Builder
		for _, s := range sites {
			fmt.Fprintf(&sb, "%.2f per packet:\n%s", s.perPacket, s.stack)
		}

		return sb.String()
	}
	t.Logf("allocations per packet outside the leg's reads and writes (both peers):\n%s", format(elsewhere))
	if len(onLeg) > 0 {
		t.Errorf("the leg's ReadRTP or WriteRTP allocates:\n%s", format(onLeg))
	}
}
