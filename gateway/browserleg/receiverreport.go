package browserleg

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtcp"

	"github.com/webtrunk/webtrunk/rtpstream"
)

// DefaultRTCPReportInterval is how often RTCP sender and receiver reports
// are sent when [Settings] leaves the interval at zero. RFC 3550 section
// 6.2 scales the interval with the session bandwidth; one report a second
// per direction is what pion and the browsers use for a two-party audio
// session, about 100 bytes/s each way.
const DefaultRTCPReportInterval = time.Second

// RTP and RTCP wire constants (RFC 3550 sections 5.1, 6.4.1, 6.4.2).
const (
	rtcpHeaderLen   = 4
	rtcpTypeSR      = 200
	senderReportLen = 28 // header, sender SSRC and the 20-byte sender info
	maxReportBlocks = 31 // the 5-bit reception report count
	rtcpVersion     = 2
	rtpVersionBits  = 0xc0
	rtpVersion2Bits = rtcpVersion << 6
	lostMax         = 0x7fffff // cumulative lost: 24-bit signed
	lostMin         = -0x800000
	lostMask        = 0xffffff
	dlsrUnitsPerSec = 1 << 16 // DLSR is in 1/65536 s
)

// receiverReportFactory makes one [receiverReports] interceptor per
// PeerConnection.
type receiverReportFactory struct {
	interval time.Duration
	now      func() time.Time
	logger   logging.LoggerFactory
}

// NewInterceptor implements interceptor.Factory.
func (f *receiverReportFactory) NewInterceptor(_ string) (interceptor.Interceptor, error) {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)

	return &receiverReports{
		interval: f.interval,
		now:      f.now,
		log:      f.logger.NewLogger("receiver-reports"),
		ssrc:     binary.BigEndian.Uint32(b[:]),
		streams:  make(map[uint32]*rrStream),
		close:    make(chan struct{}),
	}, nil
}

// receiverReports is an interceptor that sends an RTCP receiver report
// (RFC 3550 section 6.4.2) every interval for each incoming RTP stream of a
// PeerConnection, with the loss, jitter and LSR/DLSR of that stream. Unlike
// pion's report.ReceiverInterceptor it reads the four header fields it needs
// straight from the packet bytes, so the RTP read path allocates nothing.
// Sender reports from the remote end are seen only as the application
// reads RTCP from the RTPReceiver.
type receiverReports struct {
	interceptor.NoOp

	interval time.Duration
	now      func() time.Time
	log      logging.LeveledLogger
	// ssrc is the reporter's SSRC of the RR packets (RFC 3550 section
	// 6.4.2), random per PeerConnection.
	ssrc uint32

	mu      sync.Mutex
	streams map[uint32]*rrStream
	closed  bool
	close   chan struct{}
	wg      sync.WaitGroup
}

// BindRTCPWriter starts the report loop on the PeerConnection's RTCP
// writer. pion calls it once per PeerConnection.
func (r *receiverReports) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return writer
	}
	r.wg.Add(1)
	go r.loop(writer)

	return writer
}

// BindRemoteStream tracks one incoming RTP stream. The returned reader
// updates the stream's counters from each packet's header bytes.
func (r *receiverReports) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	s := &rrStream{ssrc: info.SSRC, epoch: r.now()}
	s.rx.SetClockRate(int(info.ClockRate))
	r.mu.Lock()
	r.streams[info.SSRC] = s
	r.mu.Unlock()

	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		s.receive(b[:n], r.now())

		return n, attr, nil
	})
}

// UnbindRemoteStream stops reporting on a stream.
func (r *receiverReports) UnbindRemoteStream(info *interceptor.StreamInfo) {
	r.mu.Lock()
	delete(r.streams, info.SSRC)
	r.mu.Unlock()
}

// BindRTCPReader notes the remote end's sender reports (RFC 3550 section
// 6.4.1) for the LSR and DLSR fields.
func (r *receiverReports) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := reader.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		r.senderReports(b[:n])

		return n, attr, nil
	})
}

// senderReports walks a compound RTCP packet and records each SR of a
// stream being reported on.
func (r *receiverReports) senderReports(b []byte) {
	for len(b) >= rtcpHeaderLen {
		size := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if b[0]&rtpVersionBits != rtpVersion2Bits || size > len(b) {
			return
		}
		if b[1] == rtcpTypeSR && size >= senderReportLen {
			ssrc := binary.BigEndian.Uint32(b[4:8])
			// The middle 32 bits of the 64-bit NTP timestamp.
			lsr := binary.BigEndian.Uint32(b[10:14])
			r.mu.Lock()
			s := r.streams[ssrc]
			r.mu.Unlock()
			if s != nil {
				s.senderReport(lsr, r.now())
			}
		}
		b = b[size:]
	}
}

// Close stops the report loop and waits for it.
func (r *receiverReports) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.close)
	}
	r.mu.Unlock()
	r.wg.Wait()

	return nil
}

func (r *receiverReports) loop(writer interceptor.RTCPWriter) {
	defer r.wg.Done()
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.close:
			return
		case <-tick.C:
		}
		for _, rr := range r.reports(r.now()) {
			if _, err := writer.Write([]rtcp.Packet{rr}, nil); err != nil {
				r.log.Warnf("receiver report: %v", err)
			}
		}
	}
}

// reports builds the receiver reports due at now: one report block per
// stream that has received RTP, at most 31 blocks per RR packet.
func (r *receiverReports) reports(now time.Time) []*rtcp.ReceiverReport {
	r.mu.Lock()
	blocks := make([]rtcp.ReceptionReport, 0, len(r.streams))
	for _, s := range r.streams {
		if b, ok := s.report(now); ok {
			blocks = append(blocks, b)
		}
	}
	r.mu.Unlock()
	var out []*rtcp.ReceiverReport
	for len(blocks) > 0 {
		n := min(len(blocks), maxReportBlocks)
		out = append(out, &rtcp.ReceiverReport{SSRC: r.ssrc, Reports: blocks[:n:n]})
		blocks = blocks[n:]
	}

	return out
}

// rrStream is the reception state of one incoming SSRC (an
// rtpstream.Receiver, RFC 3550 appendix A.1, A.3 and A.8) and the last
// sender report of that SSRC. Its mutex is held for a few dozen
// instructions per packet.
type rrStream struct {
	ssrc  uint32
	epoch time.Time // origin of the arrival clock

	mu    sync.Mutex
	rx    rtpstream.Receiver
	lsr   uint32 // middle 32 bits of the last SR's NTP time
	lsrAt time.Time
}

// receive accounts for one RTP packet (b is the whole packet) arrived at
// now. Packets too short or not of version 2 are ignored.
func (s *rrStream) receive(b []byte, now time.Time) {
	if len(b) < rtpstream.HeaderSize || b[0]&rtpVersionBits != rtpVersion2Bits {
		return
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	ts := binary.BigEndian.Uint32(b[4:8])
	s.mu.Lock()
	s.rx.Update(seq, ts, now.Sub(s.epoch))
	s.mu.Unlock()
}

// senderReport records an SR of this stream arrived at now.
func (s *rrStream) senderReport(lsr uint32, now time.Time) {
	s.mu.Lock()
	s.lsr, s.lsrAt = lsr, now
	s.mu.Unlock()
}

// report returns the stream's report block at now (RFC 3550 section 6.4.1
// and appendix A.3) and starts a new reporting interval; ok is false
// before the first packet.
func (s *rrStream) report(now time.Time) (rtcp.ReceptionReport, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.rx.Stats()
	if st.Expected == 0 {
		return rtcp.ReceptionReport{}, false
	}
	lost := min(max(st.Lost, lostMin), lostMax)
	fraction := s.rx.Interval()
	var dlsr uint32
	if !s.lsrAt.IsZero() {
		d := now.Sub(s.lsrAt)
		sec, frac := int64(d/time.Second), int64(d%time.Second)
		dlsr = uint32(sec*dlsrUnitsPerSec + frac*dlsrUnitsPerSec/int64(time.Second)) //nolint:gosec // wraps after 18 h as the field does
	}

	return rtcp.ReceptionReport{
		SSRC:               s.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(lost) & lostMask, //nolint:gosec // 24-bit two's complement
		LastSequenceNumber: st.ExtendedHighest,
		Jitter:             st.Jitter,
		LastSenderReport:   s.lsr,
		Delay:              dlsr,
	}, true
}
