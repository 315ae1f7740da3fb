package browserleg

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"

	"github.com/webtrunk/webtrunk/rtpstream"
)

// rtpBytes is a minimal RTP packet (RFC 3550 section 5.1) with the given
// sequence number and timestamp and a 3-byte payload.
func rtpBytes(seq uint16, ts uint32) []byte {
	b := make([]byte, rtpstream.HeaderSize+3)
	b[0] = 0x80
	b[1] = byte(PayloadTypeOpus)
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], ts)
	binary.BigEndian.PutUint32(b[8:12], 0x5eed)

	return b
}

// arrival is one packet as the receiver sees it: sequence number, RTP
// timestamp at 48 kHz and arrival time after the stream's epoch.
type arrival struct {
	seq uint16
	ts  uint32
	at  time.Duration
}

// paced returns packets first..first+n-1 sent every 20 ms (960 samples at
// 48 kHz) and arriving on time, without those for which skip is true.
func paced(first uint16, n int, skip func(i int) bool) []arrival {
	var out []arrival
	for i := range n {
		if skip != nil && skip(i) {
			continue
		}
		out = append(out, arrival{seq: first + uint16(i), ts: uint32(i) * 960, at: time.Duration(i) * 20 * time.Millisecond}) //nolint:gosec // small test counts
	}

	return out
}

func TestReceiverStreamReport(t *testing.T) {
	wobbly := paced(0, 50, nil)
	for i := range wobbly {
		if i%2 == 1 {
			wobbly[i].at += 10 * time.Millisecond // 480 samples late
		}
	}
	tests := []struct {
		name                 string
		packets              []arrival
		fraction             uint8
		lost                 uint32
		extMax               uint32
		jitterMin, jitterMax uint32
	}{
		{name: "in order", packets: paced(0, 50, nil), extMax: 49},
		{name: "every fifth lost", packets: paced(0, 100, func(i int) bool { return i%5 == 3 }), fraction: 51, lost: 20, extMax: 99},
		{name: "last packets lost are not yet lost", packets: paced(0, 10, func(i int) bool { return i >= 8 }), extMax: 7},
		{name: "sequence wraps", packets: paced(65530, 16, func(i int) bool { return i == 8 }), fraction: 16, lost: 1, extMax: 1<<16 + 9},
		{
			name:      "late and duplicate packets",
			packets:   []arrival{{seq: 0}, {seq: 1}, {seq: 3}, {seq: 2}, {seq: 3}, {seq: 4}},
			extMax:    4,
			lost:      0xffffff, // -1: one duplicate more than expected (RFC 3550 section 6.4.1)
			jitterMax: 1 << 31,
		},
		{
			name:    "source restarts after a large jump",
			packets: append(paced(0, 10, nil), paced(40000, 5, nil)...),
			extMax:  40004,
			// The time goes back with the restart; only the counters matter.
			jitterMax: 1 << 31,
		},
		{name: "jitter", packets: wobbly, extMax: 49, jitterMin: 440, jitterMax: 480},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			epoch := time.Now()
			s := &rrStream{ssrc: 0x5eed, epoch: epoch}
			s.rx.SetClockRate(48000)
			if _, ok := s.report(epoch); ok {
				t.Fatal("report before the first packet")
			}
			for _, p := range tt.packets {
				s.receive(rtpBytes(p.seq, p.ts), epoch.Add(p.at))
			}
			got, ok := s.report(epoch.Add(time.Second))
			if !ok {
				t.Fatal("no report")
			}
			if got.SSRC != 0x5eed || got.FractionLost != tt.fraction || got.TotalLost != tt.lost || got.LastSequenceNumber != tt.extMax {
				t.Errorf("report SSRC %#x fraction %d lost %#x highest %d, want %#x %d %#x %d",
					got.SSRC, got.FractionLost, got.TotalLost, got.LastSequenceNumber, 0x5eed, tt.fraction, tt.lost, tt.extMax)
			}
			if got.Jitter < tt.jitterMin || got.Jitter > tt.jitterMax {
				t.Errorf("jitter %d, want %d..%d", got.Jitter, tt.jitterMin, tt.jitterMax)
			}
			if got.LastSenderReport != 0 || got.Delay != 0 {
				t.Errorf("LSR %d DLSR %d without a sender report", got.LastSenderReport, got.Delay)
			}
		})
	}
}

// TestReceiverStreamIntervals checks that the fraction lost covers only the
// interval since the previous report while the cumulative count goes on
// (RFC 3550 section 6.4.1), and that DLSR counts from the SR's arrival.
func TestReceiverStreamIntervals(t *testing.T) {
	epoch := time.Now()
	s := &rrStream{ssrc: 1, epoch: epoch}
	s.rx.SetClockRate(48000)
	feed := func(packets []arrival) {
		for _, p := range packets {
			s.receive(rtpBytes(p.seq, p.ts), epoch.Add(p.at))
		}
	}
	feed(paced(0, 50, func(i int) bool { return i%10 == 5 })) // 5 of 50 lost
	s.senderReport(0x12345678, epoch.Add(500*time.Millisecond))
	first, _ := s.report(epoch.Add(time.Second))
	if first.FractionLost != 25 || first.TotalLost != 5 {
		t.Errorf("first interval: fraction %d lost %d, want 25 (5/50) and 5", first.FractionLost, first.TotalLost)
	}
	if first.LastSenderReport != 0x12345678 || first.Delay != 1<<15 {
		t.Errorf("LSR %#x DLSR %d, want 0x12345678 and 32768 (0.5 s)", first.LastSenderReport, first.Delay)
	}
	feed(paced(50, 50, func(i int) bool { return i < 25 })) // 25 of 50 lost
	second, _ := s.report(epoch.Add(2 * time.Second))
	if second.FractionLost != 128 || second.TotalLost != 30 || second.LastSequenceNumber != 99 {
		t.Errorf("second interval: fraction %d lost %d highest %d, want 128 (25/50), 30 and 99",
			second.FractionLost, second.TotalLost, second.LastSequenceNumber)
	}
	third, _ := s.report(epoch.Add(3 * time.Second))
	if third.FractionLost != 0 || third.TotalLost != 30 {
		t.Errorf("idle interval: fraction %d lost %d, want 0 and 30", third.FractionLost, third.TotalLost)
	}
}

// byteReader returns a fixed packet on every read.
type byteReader []byte

func (p byteReader) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(b, p), a, nil
}

func newTestReceiverReports(t *testing.T) *receiverReports {
	t.Helper()
	f := &receiverReportFactory{interval: time.Hour, now: time.Now, logger: logging.NewDefaultLoggerFactory()}
	i, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i.Close() })

	return i.(*receiverReports) //nolint:forcetypeassert // the factory's own type
}

// TestSenderReportLSR feeds compound RTCP through the interceptor's RTCP
// reader: an SR of a reported stream sets LSR to the middle of its NTP
// time; SRs of other streams and malformed packets change nothing.
func TestSenderReportLSR(t *testing.T) {
	r := newTestReceiverReports(t)
	rtpReader := r.BindRemoteStream(&interceptor.StreamInfo{SSRC: 0xabc, ClockRate: 48000}, byteReader(rtpBytes(7, 0)))
	buf := make([]byte, 1500)
	if _, _, err := rtpReader.Read(buf, nil); err != nil {
		t.Fatal(err)
	}
	compound, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 1},
		&rtcp.SenderReport{SSRC: 0xdef, NTPTime: 0x1111111111111111},
		&rtcp.SenderReport{SSRC: 0xabc, NTPTime: 0x0123456789abcdef, RTPTime: 5, PacketCount: 1, OctetCount: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range [][]byte{compound, compound[:10], {0x80}, append([]byte{0x40}, compound[1:]...)} {
		rtcpReader := r.BindRTCPReader(byteReader(in))
		if _, _, err := rtcpReader.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	reports := r.reports(time.Now())
	if len(reports) != 1 || len(reports[0].Reports) != 1 {
		t.Fatalf("reports %v, want one block", reports)
	}
	if rr := reports[0]; rr.SSRC != r.ssrc || rr.Reports[0].SSRC != 0xabc || rr.Reports[0].LastSenderReport != 0x456789ab {
		t.Errorf("report %+v, want reporter %#x, block for 0xabc with LSR 0x456789ab", rr, r.ssrc)
	}
}

// TestReportsSplit checks that more than 31 streams take several RR
// packets (the report count is 5 bits) and that silent streams are left
// out.
func TestReportsSplit(t *testing.T) {
	r := newTestReceiverReports(t)
	buf := make([]byte, 1500)
	for ssrc := range uint32(40) {
		rd := r.BindRemoteStream(&interceptor.StreamInfo{SSRC: ssrc, ClockRate: 8000}, byteReader(rtpBytes(1, 0)))
		if ssrc == 0 {
			continue // silent
		}
		if _, _, err := rd.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	r.UnbindRemoteStream(&interceptor.StreamInfo{SSRC: 39})
	reports := r.reports(time.Now())
	if len(reports) != 2 || len(reports[0].Reports) != 31 || len(reports[1].Reports) != 7 {
		t.Fatalf("got %d packets, want 31 and 7 blocks", len(reports))
	}
	for _, rr := range reports {
		if _, err := rr.Marshal(); err != nil {
			t.Errorf("marshal: %v", err)
		}
	}
}
