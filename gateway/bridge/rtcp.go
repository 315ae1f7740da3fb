package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// RTCP constants of RFC 3550.
const (
	// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970
	// (Unix), RFC 3550 section 4.
	ntpEpochOffset = 2208988800
	// trunkClock is the trunk's G.711 RTP clock, Hz.
	trunkClock = 8000
	// lostMax and lostMin bound the 24-bit signed cumulative number of
	// packets lost of a report block (RFC 3550 section 6.4.1).
	lostMax = 0x7fffff
	lostMin = -0x800000
)

// TrunkReport is what the trunk's RTCP receiver reports say about the
// uplink stream the gateway sends it (RFC 3550 section 6.4), with the
// round-trip time they give.
type TrunkReport struct {
	// Reports counts the report blocks about the uplink received.
	Reports int
	// FractionLost is the share of the uplink's packets the trunk lost
	// over its last report interval, 0 to 1.
	FractionLost float64
	// Lost is the trunk's cumulative number of the uplink's packets lost.
	Lost int64
	// Jitter is the interarrival jitter the trunk measures on the uplink
	// (RFC 3550 appendix A.8).
	Jitter time.Duration
	// RTT is the round-trip time to the trunk from the last report that
	// echoed a sender report of the gateway (RFC 3550 section 6.4.1: the
	// arrival time less LSR and DLSR); 0 before one.
	RTT time.Duration
}

// TrunkRTCP is the RTCP of a bridged call's trunk leg (RFC 3550 section
// 6): it builds the gateway's reports, a sender report about the uplink
// with a report block about the downlink's source (or a receiver report
// before the uplink sent anything), and reads the trunk's sender and
// receiver reports. Its methods may be called from any goroutine.
type TrunkRTCP struct {
	b     *Bridge
	cname string

	mu                         sync.Mutex
	prevExpected, prevReceived uint64    // the downlink's counts at the last report
	lsr                        uint32    // middle 32 bits of the trunk's last SR's NTP time
	lsrAt                      time.Time // when it arrived
	last                       TrunkReport
}

// newTrunkRTCP returns the trunk RTCP of b, with a random CNAME (RFC
// 3550 section 6.5.1; RFC 7022 section 4.2).
func newTrunkRTCP(b *Bridge) *TrunkRTCP {
	var id [12]byte
	_, _ = rand.Read(id[:])

	return &TrunkRTCP{b: b, cname: hex.EncodeToString(id[:])}
}

// TrunkRTCP is the RTCP of the call's trunk leg.
func (b *Bridge) TrunkRTCP() *TrunkRTCP { return b.rtcp }

// Last returns what the trunk's reports said last.
func (t *TrunkRTCP) Last() TrunkReport {
	t.mu.Lock()
	defer t.mu.Unlock()

	return t.last
}

// ntpTime returns now as a 64-bit NTP timestamp (RFC 3550 section 4).
func ntpTime(now time.Time) uint64 {
	sec := uint64(now.Unix() + ntpEpochOffset)                                 //nolint:gosec // after 1970
	frac := uint64(now.Nanosecond()) << 32 / uint64(time.Second.Nanoseconds()) //nolint:gosec // below 1e9
	return sec<<32 | frac
}

// middle returns the middle 32 bits of an NTP timestamp, the unit of
// LSR and DLSR (1/65536 s).
func middle(ntp uint64) uint32 { return uint32(ntp >> 16) } //nolint:gosec // the middle 32 bits by design

// Report builds the gateway's compound RTCP packet for the trunk at now:
// an SR (RFC 3550 section 6.4.1) once the uplink has sent audio, else an
// RR (section 6.4.2), with one report block about the downlink's source
// once it has sent anything, and an SDES CNAME (section 6.1: every
// compound packet carries one).
func (t *TrunkRTCP) Report(now time.Time) ([]byte, error) {
	up, down := t.b.up.c, t.b.down.c
	ssrc := t.b.up.hdr.SSRC
	var blocks []rtcp.ReceptionReport
	received := down.received.Load()
	t.mu.Lock()
	if received > 0 {
		lost := int64(down.lost.Load()) //nolint:gosec // far below 2^63
		expected := received + uint64(lost)
		de, dr := expected-t.prevExpected, received-t.prevReceived
		t.prevExpected, t.prevReceived = expected, received
		var fraction uint8
		if de > 0 && de > dr {
			fraction = uint8((de - dr) << 8 / de) //nolint:gosec // below 256
		}
		var dlsr uint32
		if !t.lsrAt.IsZero() {
			dlsr = uint32(now.Sub(t.lsrAt) * (1 << 16) / time.Second) //nolint:gosec // wraps after 18 h as the field does
		}
		blocks = append(blocks, rtcp.ReceptionReport{
			SSRC:               down.ssrc.Load(),
			FractionLost:       fraction,
			TotalLost:          uint32(min(max(lost, lostMin), lostMax)) & 0xffffff, //nolint:gosec // 24-bit two's complement
			LastSequenceNumber: down.highest.Load(),
			Jitter:             down.jitter.Load(),
			LastSenderReport:   t.lsr,
			Delay:              dlsr,
		})
	}
	t.mu.Unlock()
	var first rtcp.Packet
	if sent := up.sent.Load(); sent > 0 {
		// The RTP timestamp of now: the last one sent, moved on by the
		// time since that packet's audio arrived.
		since := now.Sub(t.b.up.epoch) - time.Duration(up.lastPacket.Load())
		ts := up.lastTS.Load() + uint32(max(since, 0)*trunkClock/time.Second) //nolint:gosec // RTP time wraps
		first = &rtcp.SenderReport{
			SSRC: ssrc, NTPTime: ntpTime(now), RTPTime: ts,
			PacketCount: uint32(sent), OctetCount: uint32(up.octets.Load()), //nolint:gosec // the fields wrap (RFC 3550 section 6.4.1)
			Reports: blocks,
		}
	} else {
		first = &rtcp.ReceiverReport{SSRC: ssrc, Reports: blocks}
	}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: t.cname}},
	}}}
	b, err := rtcp.Marshal([]rtcp.Packet{first, sdes})
	if err != nil {
		return nil, fmt.Errorf("bridge: rtcp: %w", err)
	}

	return b, nil
}

// Handle reads one compound RTCP packet of the trunk that arrived at now:
// the NTP time of a sender report about the downlink is kept for the LSR
// and DLSR of the next report (RFC 3550 section 6.4.1), and each report
// block about the uplink updates Last, with the round-trip time when it
// echoes a sender report of the gateway. It returns an error for a packet
// that is not RTCP; the parts it does not know are ignored.
func (t *TrunkRTCP) Handle(pkt []byte, now time.Time) error {
	pkts, err := rtcp.Unmarshal(pkt)
	if err != nil {
		return fmt.Errorf("bridge: rtcp: %w", err)
	}
	ssrc := t.b.up.hdr.SSRC
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range pkts {
		var blocks []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.SenderReport:
			t.lsr, t.lsrAt = middle(p.NTPTime), now
			blocks = p.Reports
		case *rtcp.ReceiverReport:
			blocks = p.Reports
		}
		for _, rb := range blocks {
			if rb.SSRC == ssrc {
				t.block(rb, now)
			}
		}
	}

	return nil
}

// block takes one report block about the uplink; t.mu is held.
func (t *TrunkRTCP) block(rb rtcp.ReceptionReport, now time.Time) {
	lost := int64(rb.TotalLost & 0xffffff)
	if lost > lostMax {
		lost -= 1 << 24
	}
	t.last.Reports++
	t.last.FractionLost = float64(rb.FractionLost) / 256
	t.last.Lost = lost
	t.last.Jitter = time.Duration(int64(rb.Jitter) * int64(time.Second) / trunkClock)
	if rb.LastSenderReport != 0 {
		rtt := middle(ntpTime(now)) - rb.LastSenderReport - rb.Delay
		if rtt < 1<<31 { // a report from the future would wrap
			t.last.RTT = time.Duration(int64(rtt) * int64(time.Second) >> 16)
		}
	}
}
