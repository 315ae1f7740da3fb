package browserleg

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// connect completes the offer/answer between browser and gw (the gateway
// answering without a track of its own) and waits until both are connected.
func connect(t *testing.T, browser, gw *webrtc.PeerConnection) {
	t.Helper()
	o := gobrowser.CompleteOffer(t, browser)
	gwStates, browserStates := gobrowser.Watch(gw), gobrowser.Watch(browser)
	if err := browser.SetRemoteDescription(gobrowser.CompleteAnswer(t, gw, o, nil)); err != nil {
		t.Fatalf("browser SetRemoteDescription: %v", err)
	}
	gwStates.WaitConnected(t)
	browserStates.WaitConnected(t)
}

// ntpMiddle is the middle 32 bits of the NTP time of t (RFC 3550 section
// 4), the unit of LSR and of round-trip time arithmetic.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800                          // 1900 to 1970, seconds
	sec := uint64(t.Unix() + ntpEpochOffset)                   //nolint:gosec // after 1970
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second) //nolint:gosec // below 1e9

	return uint32(sec<<16 | frac>>16) //nolint:gosec // the middle 32 bits by definition
}

// TestReceiverReportsOverPeerConnection has a plain pion offerer (the
// browser, sending RTCP sender reports every 100 ms) send Opus RTP to a
// PeerConnection of the API, first without loss and then as a burst of
// 100 packets of which it skips every fourth. The browser receives the
// gateway's receiver reports for its SSRC: the first covers the clean
// packets, the next one reports the burst's highest sequence number, a
// fraction lost of 25% (64/256) and 25 packets lost in all, a jitter that
// shows the burst's packets arrived together although their timestamps
// are 20 ms apart, and LSR/DLSR from which the browser computes a
// loopback round-trip time (RFC 3550 section 6.4.1).
func TestReceiverReportsOverPeerConnection(t *testing.T) {
	defer goleak.VerifyNone(t)
	const interval = 500 * time.Millisecond
	api := listen(t, Settings{UDPListen: netip.AddrPortFrom(loopback, 0), RTCPReportInterval: interval})
	defer func() { _ = api.Close() }()

	srs, err := report.NewSenderInterceptor(report.SenderInterval(100 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	browserInterceptors := &interceptor.Registry{}
	browserInterceptors.Add(srs)
	browser := newBrowserWith(t, browserInterceptors)
	defer func() { _ = browser.GracefulClose() }()
	track := opusTrack(t, "browser")
	sender, err := browser.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	ssrc := uint32(sender.GetParameters().Encodings[0].SSRC)
	fromGateway := make(chan rtcp.Packet, 64)
	go readRTCP(sender, fromGateway)

	gw, err := api.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gw.GracefulClose() }()
	gw.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		// The gateway drains the receiver's RTCP as the bridge does; that
		// is where the browser's sender reports are seen.
		go readRTCP(r, make(chan rtcp.Packet))
		receive(tr, make(chan rtp.Packet))
	})
	connect(t, browser, gw)

	send := func(seq uint16) {
		t.Helper()
		err := track.WriteRTP(&rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
			Payload: []byte{0xf8, 0xff, 0xfe},
		})
		if err != nil {
			t.Fatalf("WriteRTP: %v", err)
		}
	}
	// waitReport returns the first report block for ssrc whose highest
	// sequence number is at least highest.
	waitReport := func(highest uint32) rtcp.ReceptionReport {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case p := <-fromGateway:
				rr, ok := p.(*rtcp.ReceiverReport)
				if !ok {
					continue
				}
				for _, b := range rr.Reports {
					if b.SSRC == ssrc && b.LastSequenceNumber >= highest {
						return b
					}
				}
			case <-deadline:
				t.Fatalf("no receiver report for SSRC %#x up to sequence %d", ssrc, highest)
			}
		}
	}

	for seq := range uint16(10) {
		send(seq)
		time.Sleep(20 * time.Millisecond)
	}
	clean := waitReport(9)
	if clean.LastSequenceNumber != 9 || clean.TotalLost != 0 || clean.FractionLost != 0 {
		t.Fatalf("clean report: highest %d lost %d fraction %d, want 9, 0, 0", clean.LastSequenceNumber, clean.TotalLost, clean.FractionLost)
	}

	// A report was just sent: the whole burst falls in the next interval.
	skipped := 0
	for seq := uint16(10); seq < 110; seq++ {
		if seq%4 == 2 {
			skipped++

			continue
		}
		send(seq)
	}
	got := waitReport(10)
	if got.LastSequenceNumber != 109 || got.TotalLost != uint32(skipped) || got.FractionLost != 64 { //nolint:gosec // 25
		t.Errorf("burst report: highest %d lost %d fraction %d, want 109, %d, 64 (25%%)", got.LastSequenceNumber, got.TotalLost, got.FractionLost, skipped)
	}
	// 75 packets 960 samples apart arriving at once: the estimate climbs
	// most of the way to 960 (RFC 3550 section 6.4.1).
	if got.Jitter < 480 || got.Jitter > 1920 {
		t.Errorf("jitter %d samples, want 480..1920 after a burst", got.Jitter)
	}
	if got.LastSenderReport == 0 {
		t.Fatal("no LSR: the browser's sender reports were not seen")
	}
	rtt := time.Duration(ntpMiddle(time.Now())-got.LastSenderReport-got.Delay) * time.Second >> 16
	if rtt < 0 || rtt > interval {
		t.Errorf("round-trip time from LSR %#x and DLSR %d is %v, want a loopback figure", got.LastSenderReport, got.Delay, rtt)
	}
}
