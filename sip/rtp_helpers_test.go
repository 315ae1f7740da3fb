package sip

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// Helpers of the RTP socket tests: port pools, peer sockets standing for the trunk's media,
// and packets.

var loopback = netip.MustParseAddr("127.0.0.1")

// testPortBase returns the first port of a range of n pairs for this test
// process, below the Linux ephemeral range so port-0 sockets of other tests
// rarely land in it, and varied by process so parallel packages differ.
func testPortBase(n int) int {
	return 20000 + (os.Getpid()%500)*(2*n+2)%9000
}

// newTestPool returns a pool of n pairs on 127.0.0.1 and checks at the end
// of the test that every conn was closed.
func newTestPool(tb testing.TB, n int) *PortPool {
	tb.Helper()
	base := testPortBase(n)
	p, err := NewPortPool(loopback, base, base+2*n-1)
	if err != nil {
		tb.Fatalf("NewPortPool: %v", err)
	}
	if p.Size() != n {
		tb.Fatalf("Size = %d, want %d", p.Size(), n)
	}
	tb.Cleanup(func() {
		if n := p.InUse(); n != 0 {
			tb.Errorf("%d RTP conns still open at the end of the test", n)
		}
	})
	return p
}

// listen takes a conn from p and closes it at the end of the test.
func listen(tb testing.TB, p *PortPool) *RTPConn {
	tb.Helper()
	c, err := p.Listen()
	if err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// connected returns a conn of a one-pair pool that sends to a new peer socket, and the peer.
func connected(tb testing.TB) (*RTPConn, *net.UDPConn) {
	tb.Helper()
	c := listen(tb, newTestPool(tb, 1))
	peer := newPeer(tb)
	c.SetRemote(addrOf(peer), netip.AddrPort{})
	return c, peer
}

// sendOut writes pkt with c and reads it at the peer into buf.
func sendOut(c *RTPConn, peer *net.UDPConn, pkt, buf []byte) error {
	if _, err := c.WriteRTP(pkt); err != nil {
		return err
	}
	_, _, err := peer.ReadFromUDPAddrPort(buf)
	return err
}

// receiveIn writes pkt from the peer to c and reads it with ReadRTP into buf.
func receiveIn(c *RTPConn, peer *net.UDPConn, pkt, buf []byte) error {
	if _, err := peer.WriteToUDPAddrPort(pkt, c.LocalAddr()); err != nil {
		return err
	}
	_, err := c.ReadRTP(buf)
	return err
}

// newPeer binds a UDP socket on 127.0.0.1 standing for the trunk's media.
func newPeer(tb testing.TB) *net.UDPConn {
	tb.Helper()
	return newPeerAt(tb, net.IPv4(127, 0, 0, 1))
}

// newPeerAt binds a UDP socket on ip, port 0: on another loopback address
// than 127.0.0.1, it stands for someone else than the trunk.
func newPeerAt(tb testing.TB, ip net.IP) *net.UDPConn {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// addrOf returns the local address of a peer socket.
func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// rtpPacket returns a minimal RTP packet (RFC 3550 section 5.1) with
// payload type pt, sequence number seq and a 160-byte payload.
func rtpPacket(pt uint8, seq uint16) []byte {
	b := make([]byte, rtpHeaderLen+160)
	b[0] = 0x80
	b[1] = pt & 0x7f
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[8], b[9], b[10], b[11] = 0xde, 0xad, 0xbe, 0xef
	for i := rtpHeaderLen; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

// receiverReport is an RTCP receiver report without report blocks
// (RFC 3550 section 6.4.2).
var receiverReport = []byte{0x80, 201, 0, 1, 0xde, 0xad, 0xbe, 0xef}

// send writes b from peer to dst.
func send(t *testing.T, peer *net.UDPConn, b []byte, dst netip.AddrPort) {
	t.Helper()
	if _, err := peer.WriteToUDPAddrPort(b, dst); err != nil {
		t.Fatal(err)
	}
}

// readSeq reads one RTP packet from c within a second and returns its
// sequence number.
func readSeq(t *testing.T, c *RTPConn) uint16 {
	t.Helper()
	buf := make([]byte, 1500)
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReadRTP(buf)
	if err != nil {
		t.Fatalf("ReadRTP: %v", err)
	}
	if n != rtpHeaderLen+160 {
		t.Fatalf("ReadRTP returned %d bytes", n)
	}
	return uint16(buf[2])<<8 | uint16(buf[3])
}

// expectNoRTP checks that ReadRTP delivers nothing for 100 ms.
func expectNoRTP(t *testing.T, c *RTPConn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReadRTP(make([]byte, 1500))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadRTP = %d, %v; want a timeout", n, err)
	}
}

// peerReceives checks that peer gets the packet with sequence seq, from
// the RTP port of c, within a second.
func peerReceives(t *testing.T, peer *net.UDPConn, c *RTPConn, seq uint16) {
	t.Helper()
	buf := make([]byte, 1500)
	if err := peer.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, src, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("peer %v got nothing: %v", addrOf(peer), err)
	}
	if got := uint16(buf[2])<<8 | uint16(buf[3]); n < rtpHeaderLen || got != seq {
		t.Fatalf("peer got %d bytes, seq %d; want seq %d", n, got, seq)
	}
	if src != c.LocalAddr() {
		t.Fatalf("packet came from %v, want our RTP port %v (symmetric RTP)", src, c.LocalAddr())
	}
}

// peerReceivesNothing checks that nothing reaches peer for 100 ms.
func peerReceivesNothing(t *testing.T, peer *net.UDPConn) {
	t.Helper()
	if err := peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, src, err := peer.ReadFromUDPAddrPort(make([]byte, 1500)); err == nil {
		t.Fatalf("peer %v got %d bytes from %v", addrOf(peer), n, src)
	}
}
