package sip

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrNoRemote is returned by RTPConn.WriteRTP and WriteRTCP when there
// is nowhere to send: SetRemote was not called yet, or the peer's
// address is unspecified (old-style hold, RFC 3264 section 8.4). The
// packet is discarded; the caller may go on with the next one.
var ErrNoRemote = errors.New("sip: no rtp destination")

// RTPStats are the packet counters of one RTPConn. Bytes are UDP payload
// bytes (RTP header included).
type RTPStats struct {
	// PacketsIn and BytesIn count RTP packets ReadRTP returned.
	PacketsIn, BytesIn uint64
	// PacketsOut and BytesOut count RTP packets WriteRTP sent.
	PacketsOut, BytesOut uint64
	// DroppedForeign counts RTP and RTCP packets dropped because they came
	// from a source other than the negotiated or latched one.
	DroppedForeign uint64
	// DroppedMalformed counts packets from the right source that are not
	// RTP (or RTCP) version 2, are shorter than its fixed header, or do not
	// fit the read buffer.
	DroppedMalformed uint64
	// DroppedOut counts packets WriteRTP and WriteRTCP discarded for want
	// of a destination (ErrNoRemote).
	DroppedOut uint64
	// RTCPIn counts RTCP packets received, on the RTCP port or multiplexed
	// on the RTP port (RFC 5761 section 4); RTCPOut those sent.
	RTCPIn, RTCPOut uint64
	// RTCPForeign counts the RTCP packets among DroppedForeign: those that
	// reached the RTCP port from a source other than the peer's negotiated
	// or latched RTCP address.
	RTCPForeign uint64
	// SRTPFailed counts SRTP and SRTCP packets from the right source dropped because they
	// failed authentication, were replayed or were too short to carry a tag (RFC 3711
	// section 3.3), while the call uses SRTP.
	SRTPFailed uint64
}

// rtpCounters are the atomics behind RTPStats.
type rtpCounters struct {
	packetsIn, bytesIn, packetsOut, bytesOut     atomic.Uint64
	droppedForeign, droppedMalformed, droppedOut atomic.Uint64
	rtcpIn, rtcpOut, rtcpForeign                 atomic.Uint64
	srtpFailed                                   atomic.Uint64
}

// Latch states of an endpoint.
const (
	latchOpen uint32 = iota // no packet accepted yet
	latchBusy               // the reader is storing the latched address
	latchSet                // latched holds the only accepted source
)

// endpoint is the peer's address for one of RTP or RTCP: the negotiated
// one, and the source latched on the first packet accepted from it.
type endpoint struct {
	negotiated netip.AddrPort
	latch      atomic.Uint32
	latched    netip.AddrPort // written once by the reader, before latch becomes latchSet
}

// allowed reports whether a packet from src passes the source filter (see
// RTPConn.ReadRTP). It does not latch.
func (e *endpoint) allowed(src netip.AddrPort) bool {
	if e.latch.Load() == latchSet {
		return src == e.latched
	}
	ip := e.negotiated.Addr()
	return ip.IsValid() && !ip.IsUnspecified() && src.Addr() == ip
}

// latchTo makes src the only accepted source and the destination of what
// we send, unless a source is latched already.
func (e *endpoint) latchTo(src netip.AddrPort) {
	if e.latch.CompareAndSwap(latchOpen, latchBusy) {
		e.latched = src
		e.latch.Store(latchSet)
	}
}

// destination returns where to send: the latched source, else the
// negotiated address; ok is false when that is unspecified.
func (e *endpoint) destination() (netip.AddrPort, bool) {
	if e.latch.Load() == latchSet {
		return e.latched, true
	}
	ip := e.negotiated.Addr()
	return e.negotiated, ip.IsValid() && !ip.IsUnspecified() && e.negotiated.Port() != 0
}

// remote is the peer's media addresses as last negotiated.
type remote struct {
	rtp, rtcp endpoint
}

// RTPConn is the RTP and RTCP sockets of one call on the trunk side, with
// symmetric RTP (RFC 4961): it sends to the address the peer actually
// sends from and accepts packets only from the peer (see ReadRTP).
//
// ReadRTP, WriteRTP, ReadRTCP and WriteRTCP may each be used by one
// goroutine at a time, all concurrently; SetRemote, Stats, RemoteAddr and
// Close may be called from any goroutine. This package never negotiates
// RTCP multiplexing (RFC 5761): RTCP uses the RTP port plus one.
type RTPConn struct {
	pool  *PortPool
	index int
	rtp   *net.UDPConn
	rtcp  *net.UDPConn
	local netip.AddrPort

	remote atomic.Pointer[remote]
	stats  rtpCounters

	rtcpHandler atomic.Pointer[func([]byte)]
	rtcpDone    chan struct{} // closed when the RTCP reader ended; nil without one

	srtpMu  sync.Mutex              // serialises setSRTP
	srtpIn  atomic.Pointer[srtpIn]  // nil: plain RTP received
	srtpOut atomic.Pointer[srtpOut] // nil: plain RTP sent

	closeOnce sync.Once
	closeErr  error
}

// LocalAddr returns the bind address and RTP port of the conn; RTCP is on
// the port above. With an unspecified bind address, the public address
// goes into SDP instead.
func (c *RTPConn) LocalAddr() netip.AddrPort { return c.local }

// SetRemote sets the peer's RTP and RTCP addresses from its session
// description (MediaDescription.Addr and RTCPAddr). An invalid rtcp means
// the RTP port plus one. Called again after a re-INVITE with a different
// address, it forgets the latched source; with the same addresses (a
// session refresh) it keeps it. It is safe to call while ReadRTP and
// WriteRTP run.
func (c *RTPConn) SetRemote(addr netip.AddrPort, rtcp netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !rtcp.IsValid() {
		rtcp = netip.AddrPortFrom(addr.Addr(), addr.Port()+1)
		if addr.Port() == 65535 {
			rtcp = netip.AddrPortFrom(addr.Addr(), 0)
		}
	}
	rtcp = netip.AddrPortFrom(rtcp.Addr().Unmap(), rtcp.Port())
	if old := c.remote.Load(); old != nil && old.rtp.negotiated == addr && old.rtcp.negotiated == rtcp {
		return
	}
	r := &remote{}
	r.rtp.negotiated = addr
	r.rtcp.negotiated = rtcp
	c.remote.Store(r)
}

// RemoteAddr returns where WriteRTP sends now: the latched source, else the
// negotiated address; the zero AddrPort before SetRemote.
func (c *RTPConn) RemoteAddr() netip.AddrPort {
	r := c.remote.Load()
	if r == nil {
		return netip.AddrPort{}
	}
	dst, _ := r.rtp.destination()
	return dst
}

// rtpHeaderLen is the size of the fixed RTP header (RFC 3550 section 5.1).
const rtpHeaderLen = 12

// rtcpHeaderLen is the smallest RTCP packet, a receiver report without
// report blocks (RFC 3550 section 6.4.2).
const rtcpHeaderLen = 8

// isRTCPType reports whether the second byte of a packet is an RTCP packet
// type, the test RFC 5761 section 4 uses to tell RTCP from RTP.
func isRTCPType(b byte) bool { return b >= 192 && b <= 223 }

// ReadRTP reads the next RTP packet from the peer into buf and returns its
// length. buf should hold 1500 bytes (an Ethernet MTU): a datagram longer
// than buf is dropped and counted in RTPStats.DroppedMalformed.
//
// Source filtering (symmetric RTP, RFC 4961, and protection against RTP
// injection): before SetRemote, and while the negotiated address is
// unspecified (hold), every packet is dropped. Otherwise the first packet
// from the negotiated IP address, from the negotiated port or any other
// (a NAT between us and the peer may change the port), latches its source:
// from then on only that exact address and port is accepted, and WriteRTP
// sends to it. Packets from any other source are dropped and counted in
// RTPStats.DroppedForeign; packets that are not RTP version 2 in
// DroppedMalformed, RTCP multiplexed on the RTP port in RTCPIn.
//
// It blocks until a packet is accepted, the read deadline passes
// (os.ErrDeadlineExceeded) or the conn is closed (net.ErrClosed). It does
// not allocate. While the call uses SRTP (RFC 3711), each packet is authenticated and decrypted
// in place before it latches or is returned; one that fails is dropped and counted in
// RTPStats.SRTPFailed, so only the keyed peer can latch.
func (c *RTPConn) ReadRTP(buf []byte) (int, error) {
	n, err := c.receive(buf, flowRTP)
	if err != nil {
		return 0, err
	}
	c.stats.packetsIn.Add(1)
	c.stats.bytesIn.Add(uint64(n))
	return n, nil
}

// WriteRTP sends one RTP packet to the peer: to the latched source once a
// packet was accepted, else to the negotiated address. It returns
// ErrNoRemote, and counts the packet in RTPStats.DroppedOut, when there is
// no destination (see ErrNoRemote). While the call uses SRTP the packet is encrypted and
// authenticated into the conn's own buffer (b is not changed); the returned count is len(b).
// It does not allocate.
func (c *RTPConn) WriteRTP(b []byte) (int, error) {
	n, err := c.send(b, flowRTP)
	if err != nil {
		return n, err
	}
	c.stats.packetsOut.Add(1)
	c.stats.bytesOut.Add(uint64(n))
	return len(b), nil
}

// ReadRTCP reads the next RTCP compound packet from the peer on the RTCP
// port into buf, with the same source filtering and latching as ReadRTP
// applied to the peer's RTCP address. Packets that are not RTCP version 2
// are dropped. It blocks until a packet is accepted or the conn is closed
// (net.ErrClosed). It does not allocate. The RTPConn of a Call is read by
// the call itself (see SetRTCPHandler): do not call ReadRTCP on it.
func (c *RTPConn) ReadRTCP(buf []byte) (int, error) {
	n, err := c.receive(buf, flowRTCP)
	if err != nil {
		return 0, err
	}
	c.stats.rtcpIn.Add(1)
	return n, nil
}

// WriteRTCP sends one RTCP compound packet from the RTCP port to the
// peer's latched or negotiated RTCP address. It returns ErrNoRemote when
// there is none (see ErrNoRemote).
func (c *RTPConn) WriteRTCP(b []byte) (int, error) {
	n, err := c.send(b, flowRTCP)
	if err != nil {
		return n, err
	}
	c.stats.rtcpOut.Add(1)
	return len(b), nil
}

// flow is one of the two packet flows of an RTPConn: RTP on its port, or
// RTCP on the port above.
type flow bool

// The flows of an RTPConn.
const (
	flowRTP  flow = false
	flowRTCP flow = true
)

// String names the flow in errors: "rtp" or "rtcp".
func (f flow) String() string {
	if f == flowRTCP {
		return "rtcp"
	}
	return "rtp"
}

// socket returns the UDP socket that carries f.
func (c *RTPConn) socket(f flow) *net.UDPConn {
	if f == flowRTCP {
		return c.rtcp
	}
	return c.rtp
}

// endpoint returns the peer's address for f; nil before SetRemote.
func (r *remote) endpoint(f flow) *endpoint {
	switch {
	case r == nil:
		return nil
	case f == flowRTCP:
		return &r.rtcp
	default:
		return &r.rtp
	}
}

// receive reads f's socket into buf until a packet of f arrives from the
// peer (see ReadRTP for the source filter), unprotects it in place while
// the call uses SRTP, latches its source and returns its length. What it
// drops on the way it counts in RTPStats; the caller counts what it
// returns. It does not allocate.
func (c *RTPConn) receive(buf []byte, f flow) (int, error) {
	sock := c.socket(f)
	for {
		n, _, flags, src, err := sock.ReadMsgUDPAddrPort(buf, nil)
		if err != nil {
			return 0, err
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		ep := c.remote.Load().endpoint(f)
		if ep == nil || !ep.allowed(src) {
			c.stats.droppedForeign.Add(1)
			if f == flowRTCP {
				c.stats.rtcpForeign.Add(1)
			}
			continue
		}
		if !c.wellFormed(buf[:n], flags&syscall.MSG_TRUNC != 0, f) {
			continue
		}
		if in := c.srtpIn.Load(); in != nil {
			var ok bool
			if n, ok = in.unprotect(buf, n, f); !ok {
				c.stats.srtpFailed.Add(1)
				continue
			}
		}
		ep.latchTo(src)
		return n, nil
	}
}

// wellFormed reports whether pkt, read whole unless truncated, is a packet
// of f: version 2 with at least its fixed header (RFC 3550 sections 5.1
// and 6.4.2), an RTCP packet type on the RTCP port. It counts the packets it
// turns away: RTCP multiplexed on the RTP port (RFC 5761 section 4) in
// RTPStats.RTCPIn, others in DroppedMalformed.
func (c *RTPConn) wellFormed(pkt []byte, truncated bool, f flow) bool {
	switch {
	case truncated: // malformed, whatever it holds
	case f == flowRTP && len(pkt) >= 2 && isRTCPType(pkt[1]):
		c.stats.rtcpIn.Add(1)
		return false
	case f == flowRTP && len(pkt) >= rtpHeaderLen && pkt[0]>>6 == 2:
		return true
	case f == flowRTCP && len(pkt) >= rtcpHeaderLen && pkt[0]>>6 == 2 && isRTCPType(pkt[1]):
		return true
	}
	c.stats.droppedMalformed.Add(1)
	return false
}

// send protects b while the call uses SRTP and sends it from f's socket to
// the peer's latched or negotiated address for f; it returns the bytes
// sent. Without a destination it returns ErrNoRemote; that and a packet
// too long to protect are counted in RTPStats.DroppedOut. The caller counts
// what was sent. It does not allocate.
func (c *RTPConn) send(b []byte, f flow) (int, error) {
	var dst netip.AddrPort
	ok := false
	if ep := c.remote.Load().endpoint(f); ep != nil {
		dst, ok = ep.destination()
	}
	if !ok {
		c.stats.droppedOut.Add(1)
		return 0, ErrNoRemote
	}
	if out := c.srtpOut.Load(); out != nil {
		var err error
		if b, err = out.protect(b, f); err != nil {
			c.stats.droppedOut.Add(1)
			return 0, err
		}
	}
	return c.socket(f).WriteToUDPAddrPort(b, dst)
}

// SetReadDeadline sets the deadline of ReadRTP (see net.Conn); a zero t
// means none. ReadRTP then returns an error matching
// os.ErrDeadlineExceeded, after which the conn can still be used.
func (c *RTPConn) SetReadDeadline(t time.Time) error {
	return c.rtp.SetReadDeadline(t)
}

// Stats returns the counters of the conn. Each counter is read atomically;
// together they are not one snapshot.
func (c *RTPConn) Stats() RTPStats {
	s := &c.stats
	return RTPStats{
		PacketsIn:        s.packetsIn.Load(),
		BytesIn:          s.bytesIn.Load(),
		PacketsOut:       s.packetsOut.Load(),
		BytesOut:         s.bytesOut.Load(),
		DroppedForeign:   s.droppedForeign.Load(),
		DroppedMalformed: s.droppedMalformed.Load(),
		DroppedOut:       s.droppedOut.Load(),
		RTCPIn:           s.rtcpIn.Load(),
		RTCPOut:          s.rtcpOut.Load(),
		RTCPForeign:      s.rtcpForeign.Load(),
		SRTPFailed:       s.srtpFailed.Load(),
	}
}

// SetRTCPHandler sets the function that sees every RTCP compound packet
// accepted from the peer on the RTCP port (RFC 3550 section 6) of a
// Call's RTPConn, for call-quality reports; nil removes it. It is called
// from the call's RTCP reader goroutine; pkt is only valid during the call
// and fn must not block. Packets from other sources never reach it (they
// are counted in RTPStats.RTCPForeign).
func (c *RTPConn) SetRTCPHandler(fn func(pkt []byte)) {
	if fn == nil {
		c.rtcpHandler.Store(nil)
		return
	}
	c.rtcpHandler.Store(&fn)
}

// startRTCPReader reads the RTCP port in a goroutine until the conn is
// closed, so that its receive buffer never fills: accepted packets are
// counted in RTPStats.RTCPIn and handed to the SetRTCPHandler function,
// others counted as dropped; nothing is logged. Close waits for it. It must
// be called at most once, before Close.
func (c *RTPConn) startRTCPReader() {
	c.rtcpDone = make(chan struct{})
	go func() {
		defer close(c.rtcpDone)
		buf := make([]byte, 1500)
		for {
			n, err := c.ReadRTCP(buf)
			if err != nil {
				return // closed: ReadRTCP has no deadline
			}
			if fn := c.rtcpHandler.Load(); fn != nil {
				(*fn)(buf[:n])
			}
		}
	}()
}

// Close closes both sockets, which ends blocked reads with net.ErrClosed,
// waits for the RTCP reader of a call, and gives the port pair back to the
// pool. Further calls do nothing and return the first call's result.
func (c *RTPConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.rtp.Close(), c.rtcp.Close())
		if c.rtcpDone != nil {
			<-c.rtcpDone
		}
		c.pool.release(c.index)
	})
	return c.closeErr
}
