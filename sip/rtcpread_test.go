package sip

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestCallReadsRTCP: the RTCP port of an established call is read without anyone calling
// ReadRTCP: reports from the trunk's address reach the SetRTCPHandler function and RTCPIn,
// reports from another address are counted in RTCPForeign, and none of it counts as RTP.
func TestCallReadsRTCP(t *testing.T) {
	peer, env := dialingUA(t)
	media := newPeer(t)
	stranger := newPeerAt(t, net.IPv4(127, 0, 0, 2))
	call, _, _ := dialPeer(t, env, peer, int(addrOf(media).Port()))
	got := make(chan int, 16)
	call.RTP().SetRTCPHandler(func(pkt []byte) { got <- len(pkt) })
	local := call.RTP().LocalAddr()
	rtcpPort := netip.AddrPortFrom(local.Addr(), local.Port()+1)
	const fromTrunk, fromStranger = 5, 3
	for range fromStranger {
		send(t, stranger, receiverReport, rtcpPort)
	}
	for range fromTrunk {
		send(t, media, receiverReport, rtcpPort)
	}
	for i := range fromTrunk {
		select {
		case n := <-got:
			if n != len(receiverReport) {
				t.Fatalf("handler got %d bytes, want %d", n, len(receiverReport))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("handler saw %d of %d reports", i, fromTrunk)
		}
	}
	// The stranger's reports were sent first: they were read before the trunk's.
	s := call.RTP().Stats()
	if s.RTCPIn != fromTrunk || s.RTCPForeign != fromStranger || s.PacketsIn != 0 {
		t.Errorf("stats %+v, want RTCPIn %d, RTCPForeign %d, PacketsIn 0", s, fromTrunk, fromStranger)
	}
	acceptHangup(t, peer, call, env.addr)
}
