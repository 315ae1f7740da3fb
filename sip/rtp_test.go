package sip

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestRTPConnSourceFiltering(t *testing.T) {
	pool := newTestPool(t, 2)
	t.Run("negotiated source is accepted and answered", func(t *testing.T) {
		c := listen(t, pool)
		peer := newPeer(t)
		c.SetRemote(addrOf(peer), netip.AddrPort{})
		send(t, peer, rtpPacket(0, 1), c.LocalAddr())
		if seq := readSeq(t, c); seq != 1 {
			t.Fatalf("seq %d", seq)
		}
		if _, err := c.WriteRTP(rtpPacket(0, 2)); err != nil {
			t.Fatal(err)
		}
		peerReceives(t, peer, c, 2)
		if c.RemoteAddr() != addrOf(peer) {
			t.Fatalf("RemoteAddr = %v", c.RemoteAddr())
		}
		s := c.Stats()
		if s.PacketsIn != 1 || s.BytesIn != 172 || s.PacketsOut != 1 || s.BytesOut != 172 || s.DroppedForeign != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
	t.Run("NAT: other port of the negotiated IP latches, then only it", func(t *testing.T) {
		c := listen(t, pool)
		negotiated, natted := newPeer(t), newPeer(t)
		c.SetRemote(addrOf(negotiated), netip.AddrPort{})
		// Before any packet we send where the SDP says.
		if _, err := c.WriteRTP(rtpPacket(0, 10)); err != nil {
			t.Fatal(err)
		}
		peerReceives(t, negotiated, c, 10)

		send(t, natted, rtpPacket(0, 11), c.LocalAddr())
		if seq := readSeq(t, c); seq != 11 {
			t.Fatalf("seq %d", seq)
		}
		if c.RemoteAddr() != addrOf(natted) {
			t.Fatalf("RemoteAddr = %v, want the latched %v", c.RemoteAddr(), addrOf(natted))
		}
		if _, err := c.WriteRTP(rtpPacket(0, 12)); err != nil {
			t.Fatal(err)
		}
		peerReceives(t, natted, c, 12)
		peerReceivesNothing(t, negotiated)

		// Latched: even the negotiated port is now foreign.
		send(t, negotiated, rtpPacket(0, 13), c.LocalAddr())
		send(t, natted, rtpPacket(0, 14), c.LocalAddr())
		if seq := readSeq(t, c); seq != 14 {
			t.Fatalf("seq %d, want 14: the packet from the unlatched port was not dropped", seq)
		}
		if s := c.Stats(); s.DroppedForeign != 1 || s.PacketsIn != 2 {
			t.Fatalf("stats %+v", s)
		}

		// A session refresh with the same SDP keeps the latch.
		c.SetRemote(addrOf(negotiated), netip.AddrPort{})
		if c.RemoteAddr() != addrOf(natted) {
			t.Fatalf("latch lost on an unchanged SetRemote: %v", c.RemoteAddr())
		}
	})
	t.Run("re-INVITE to a new address clears the latch", func(t *testing.T) {
		c := listen(t, pool)
		first, second := newPeer(t), newPeer(t)
		c.SetRemote(addrOf(first), netip.AddrPort{})
		send(t, first, rtpPacket(0, 20), c.LocalAddr())
		readSeq(t, c)
		c.SetRemote(addrOf(second), netip.AddrPort{})
		if c.RemoteAddr() != addrOf(second) {
			t.Fatalf("RemoteAddr = %v after re-INVITE", c.RemoteAddr())
		}
		send(t, second, rtpPacket(0, 21), c.LocalAddr())
		if seq := readSeq(t, c); seq != 21 {
			t.Fatalf("seq %d", seq)
		}
		send(t, first, rtpPacket(0, 22), c.LocalAddr())
		expectNoRTP(t, c)
		if s := c.Stats(); s.DroppedForeign != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestRTPConnDrops(t *testing.T) {
	pool := newTestPool(t, 1)
	tests := []struct {
		name       string
		remote     func(peer netip.AddrPort) netip.AddrPort // zero: no SetRemote
		packets    [][]byte
		want       RTPStats
		writeError error
	}{
		{
			name:       "before SetRemote everything is foreign",
			packets:    [][]byte{rtpPacket(0, 1), rtpPacket(0, 2)},
			want:       RTPStats{DroppedForeign: 2, DroppedOut: 1},
			writeError: ErrNoRemote,
		},
		{
			name: "another IP address is foreign",
			// The SDP names 127.0.0.2; our peer sends from 127.0.0.1.
			remote: func(p netip.AddrPort) netip.AddrPort {
				return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), p.Port())
			},
			packets: [][]byte{rtpPacket(0, 1), rtpPacket(8, 2), receiverReport},
			want:    RTPStats{DroppedForeign: 3},
		},
		{
			name:       "old-style hold drops everything and sends nothing",
			remote:     func(p netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(netip.IPv4Unspecified(), p.Port()) },
			packets:    [][]byte{rtpPacket(0, 1)},
			want:       RTPStats{DroppedForeign: 1, DroppedOut: 1},
			writeError: ErrNoRemote,
		},
		{
			name:   "malformed and multiplexed RTCP from the peer",
			remote: func(p netip.AddrPort) netip.AddrPort { return p },
			packets: [][]byte{
				{0x80, 0, 0, 1}, // shorter than the header
				append([]byte{0x40}, make([]byte, 20)...), // RTP version 1
				receiverReport, // RTCP on the RTP port
			},
			want: RTPStats{DroppedMalformed: 2, RTCPIn: 1, PacketsOut: 1, BytesOut: 172},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := listen(t, pool)
			peer := newPeer(t)
			if tt.remote != nil {
				c.SetRemote(tt.remote(addrOf(peer)), netip.AddrPort{})
			}
			for _, b := range tt.packets {
				send(t, peer, b, c.LocalAddr())
			}
			expectNoRTP(t, c)
			// Tests send only to 127.0.0.1: no write towards 127.0.0.2.
			if tt.remote == nil || tt.remote(addrOf(peer)).Addr() != netip.MustParseAddr("127.0.0.2") {
				if _, err := c.WriteRTP(rtpPacket(0, 9)); !errors.Is(err, tt.writeError) {
					t.Fatalf("WriteRTP error %v, want %v", err, tt.writeError)
				}
			}
			if got := c.Stats(); got != tt.want {
				t.Fatalf("stats %+v, want %+v", got, tt.want)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRTPConnRTCP(t *testing.T) {
	pool := newTestPool(t, 1)
	c := listen(t, pool)
	rtp, rtcp, stranger := newPeer(t), newPeer(t), newPeer(t)
	// a=rtcp names a port of its own (RFC 3605).
	c.SetRemote(addrOf(rtp), addrOf(rtcp))
	ourRTCP := netip.AddrPortFrom(loopback, c.LocalAddr().Port()+1)

	send(t, rtcp, []byte("not rtcp at all"), ourRTCP)
	send(t, rtcp, receiverReport, ourRTCP)
	buf := make([]byte, 1500)
	n, err := c.ReadRTCP(buf)
	if err != nil || n != len(receiverReport) || buf[1] != 201 {
		t.Fatalf("ReadRTCP = %d, %v", n, err)
	}
	send(t, stranger, receiverReport, ourRTCP) // other port after latching: foreign
	if _, err := c.WriteRTCP(receiverReport); err != nil {
		t.Fatal(err)
	}
	if err := rtcp.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, src, err := rtcp.ReadFromUDPAddrPort(buf)
	if err != nil || n != len(receiverReport) || src != ourRTCP {
		t.Fatalf("peer RTCP got %d bytes from %v, %v; want them from %v", n, src, err, ourRTCP)
	}
	peerReceivesNothing(t, rtp)

	// Close ends a blocked ReadRTCP.
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadRTCP(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadRTCP after Close = %v, want net.ErrClosed", err)
	}
	if s := c.Stats(); s.RTCPIn != 1 || s.RTCPOut != 1 || s.DroppedMalformed != 1 || s.DroppedForeign != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRTPConnDefaultRTCPAddr(t *testing.T) {
	pool := newTestPool(t, 1)
	c := listen(t, pool)
	// Without a=rtcp the peer's RTCP is on its RTP port + 1: find a port
	// whose neighbour is free too.
	var peer, rtcp *net.UDPConn
	for range 20 {
		p := newPeer(t)
		next := netip.AddrPortFrom(loopback, addrOf(p).Port()+1)
		if r, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(next)); err == nil {
			peer, rtcp = p, r
			t.Cleanup(func() { _ = r.Close() })
			break
		}
	}
	if peer == nil {
		t.Fatal("no free pair of adjacent ports on 127.0.0.1")
	}
	c.SetRemote(addrOf(peer), netip.AddrPort{})
	if _, err := c.WriteRTCP(receiverReport); err != nil {
		t.Fatal(err)
	}
	if err := rtcp.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rtcp.ReadFromUDPAddrPort(make([]byte, 64)); err != nil {
		t.Fatalf("RTCP did not reach RTP port + 1: %v", err)
	}
}

func TestRTPConnCloseUnblocksRead(t *testing.T) {
	pool := newTestPool(t, 1)
	c := listen(t, pool)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReadRTP(make([]byte, 1500))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := awaitErr(t, done, "ReadRTP blocked before Close"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadRTP after Close = %v, want net.ErrClosed", err)
	}
	if _, err := c.WriteRTP(rtpPacket(0, 1)); err == nil {
		t.Fatal("WriteRTP after Close succeeded")
	}
	if pool.InUse() != 0 {
		t.Fatalf("InUse = %d after Close", pool.InUse())
	}
}

// TestRTPConnConcurrentEcho runs a call's two media loops at once against
// an echoing peer, with a re-INVITE in the middle, under the race detector.
func TestRTPConnConcurrentEcho(t *testing.T) {
	const packets = 500
	c, peer := connected(t)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { // the peer echoes everything back
		buf := make([]byte, 1500)
		for {
			n, src, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed at the end of the test
			}
			if _, err := peer.WriteToUDPAddrPort(buf[:n], src); err != nil {
				errs <- err
				return
			}
		}
	})
	received := make(chan int, 1)
	wg.Go(func() { // downlink
		buf := make([]byte, 1500)
		n := 0
		for {
			if _, err := c.ReadRTP(buf); err != nil {
				received <- n
				if !errors.Is(err, net.ErrClosed) {
					errs <- err
				}
				return
			}
			n++
		}
	})
	uplinkDone := make(chan struct{})
	wg.Go(func() { // uplink, paced like 20 ms media but faster
		defer close(uplinkDone)
		for i := range packets {
			if i == packets/2 {
				c.SetRemote(addrOf(peer), netip.AddrPort{}) // session refresh
			}
			if _, err := c.WriteRTP(rtpPacket(0, uint16(i))); err != nil {
				errs <- err
				return
			}
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})

	<-uplinkDone
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().PacketsIn < packets && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	_ = peer.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := <-received
	s := c.Stats()
	// Loopback may drop a few datagrams when the socket buffer is full.
	if got < packets*9/10 || s.PacketsOut != packets || uint64(got) != s.PacketsIn || s.DroppedForeign != 0 {
		t.Fatalf("echoed %d of %d, stats %+v", got, packets, s)
	}
}

func TestRTPConnNoAllocs(t *testing.T) {
	c, peer := connected(t)
	pkt := rtpPacket(0, 1)
	buf := make([]byte, 1500)
	writes := testing.AllocsPerRun(200, func() {
		if err := sendOut(c, peer, pkt, buf); err != nil {
			t.Fatal(err)
		}
	})
	reads := testing.AllocsPerRun(200, func() {
		if err := receiveIn(c, peer, pkt, buf); err != nil {
			t.Fatal(err)
		}
	})
	if writes != 0 || reads != 0 {
		t.Fatalf("allocations per packet: WriteRTP %v, ReadRTP %v; want 0", writes, reads)
	}
}

func TestRTPConnDropsTruncated(t *testing.T) {
	c, peer := connected(t)
	big := append(rtpPacket(0, 1), make([]byte, 100)...)
	send(t, peer, big, c.LocalAddr())
	send(t, peer, rtpPacket(0, 2), c.LocalAddr())
	buf := make([]byte, rtpHeaderLen+160) // fits the second packet only
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.ReadRTP(buf)
	if err != nil || n != len(buf) || buf[3] != 2 {
		t.Fatalf("ReadRTP = %d, %v, seq %d; want the packet that fits", n, err, buf[3])
	}
	if s := c.Stats(); s.DroppedMalformed != 1 || s.PacketsIn != 1 {
		t.Fatalf("stats %+v", s)
	}
}
