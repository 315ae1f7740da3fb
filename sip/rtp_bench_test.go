package sip

import (
	"net"
	"testing"
)

// BenchmarkWriteRTP measures sending one 20 ms PCMU packet (172 bytes) to
// the peer, which drains its socket so nothing is dropped for a full buffer.
func BenchmarkWriteRTP(b *testing.B) { benchPacket(b, sendOut) }

// BenchmarkReadRTP measures receiving one 20 ms PCMU packet through the
// source filter; the peer's send is part of each iteration.
func BenchmarkReadRTP(b *testing.B) { benchPacket(b, receiveIn) }

// benchPacket runs one packet through op per iteration, between a conn and its peer.
func benchPacket(b *testing.B, op func(c *RTPConn, peer *net.UDPConn, pkt, buf []byte) error) {
	b.Helper()
	c, peer := connected(b)
	benchPackets(b, func(pkt, buf []byte) error { return op(c, peer, pkt, buf) })
}

// benchPackets runs op once per iteration on a 20 ms PCMU packet (172 bytes) that carries the
// next sequence number each time, as SRTP's replay protection wants, with a 1500-byte buf to
// read into; it reports bytes and allocations per packet.
func benchPackets(b *testing.B, op func(pkt, buf []byte) error) {
	b.Helper()
	pkt := rtpPacket(0, 1)
	buf := make([]byte, 1500)
	seq := uint16(1)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		seq++
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		if err := op(pkt, buf); err != nil {
			b.Fatal(err)
		}
	}
}
