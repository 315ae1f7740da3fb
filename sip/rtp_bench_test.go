package sip

import (
	"net/netip"
	"testing"
)

// BenchmarkWriteRTP measures sending one 20 ms PCMU packet (172 bytes) to
// the peer, which drains its socket so nothing is dropped for a full buffer.
func BenchmarkWriteRTP(b *testing.B) {
	pool, err := NewPortPool(loopback, testPortBase(1), testPortBase(1)+1)
	if err != nil {
		b.Fatal(err)
	}
	c, err := pool.Listen()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	peer := newPeer(b)
	c.SetRemote(addrOf(peer), netip.AddrPort{})
	pkt := rtpPacket(0, 1)
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.WriteRTP(pkt); err != nil {
			b.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadRTP measures receiving one 20 ms PCMU packet through the
// source filter; the peer's send is part of each iteration.
func BenchmarkReadRTP(b *testing.B) {
	pool, err := NewPortPool(loopback, testPortBase(1), testPortBase(1)+1)
	if err != nil {
		b.Fatal(err)
	}
	c, err := pool.Listen()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	peer := newPeer(b)
	c.SetRemote(addrOf(peer), netip.AddrPort{})
	pkt := rtpPacket(0, 1)
	buf := make([]byte, 1500)
	local := c.LocalAddr()
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peer.WriteToUDPAddrPort(pkt, local); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ReadRTP(buf); err != nil {
			b.Fatal(err)
		}
	}
}
