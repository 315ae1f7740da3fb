package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	// ErrNoPorts is returned by PortPool.Listen when every port pair of
	// the range is taken, by our calls or by other processes.
	ErrNoPorts = errors.New("sip: no free rtp port")
	// ErrPortRange is wrapped by NewPortPool for a range that holds no
	// even port with its odd neighbour, or a bind address that is not valid.
	ErrPortRange = errors.New("sip: invalid rtp port range")
)

// PortPool hands out UDP port pairs for RTP from a configured range: an
// even port for RTP and the next odd port for RTCP (RFC 3550 section 11).
// Ports are taken round-robin so a port just released is not reused at
// once (late packets of the old call then cannot reach a new one), and
// ports another process holds are skipped. It is safe for concurrent use.
type PortPool struct {
	addr  netip.Addr
	first int // first RTP port, even

	mu    sync.Mutex
	used  []bool // used[i]: pair first+2i is taken by one of our RTPConns
	next  int    // index of the pair tried first by the next Listen
	inUse int

	exhausted atomic.Uint64 // Listen calls that found no free pair
}

// NewPortPool returns a pool of the even ports p in [minPort, maxPort]
// whose RTCP port p+1 is also in the range, bound on addr (an address of this host,
// or the unspecified address for all of them). It binds nothing yet.
//
// It returns an error wrapping ErrPortRange when addr is not valid, a port
// is outside 1-65535, or the range holds no pair.
func NewPortPool(addr netip.Addr, minPort, maxPort int) (*PortPool, error) {
	if !addr.IsValid() {
		return nil, fmt.Errorf("%w: no bind address", ErrPortRange)
	}
	if minPort < 1 || maxPort > 65535 || minPort > maxPort {
		return nil, fmt.Errorf("%w: %d-%d", ErrPortRange, minPort, maxPort)
	}
	first := minPort + minPort%2
	last := maxPort - 1
	last -= last % 2
	if first > last {
		return nil, fmt.Errorf("%w: %d-%d holds no even port with its odd neighbour", ErrPortRange, minPort, maxPort)
	}
	return &PortPool{
		addr:  addr.Unmap(),
		first: first,
		used:  make([]bool, (last-first)/2+1),
	}, nil
}

// Size returns the number of port pairs of the pool, the most calls it can
// serve at once.
func (p *PortPool) Size() int { return len(p.used) }

// InUse returns the number of RTPConns of this pool not closed yet.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Free returns the number of port pairs not held by an RTPConn of this pool (pairs another
// process holds count as free until Listen finds them taken).
func (p *PortPool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used) - p.inUse
}

// Exhausted returns how many times Listen failed with ErrNoPorts.
func (p *PortPool) Exhausted() uint64 { return p.exhausted.Load() }

// Listen binds the next free pair of the range: the even port for RTP and
// the one above it for RTCP. A port that another process holds is skipped.
// The returned RTPConn holds its pair until it is closed.
//
// It returns ErrNoPorts when no pair can be bound, and the socket error
// (for example a bind address this host does not have) otherwise.
func (p *PortPool) Listen() (*RTPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range len(p.used) {
		idx := (p.next + i) % len(p.used)
		if p.used[idx] {
			continue
		}
		port := p.first + 2*idx
		rtp, rtcp, err := listenPair(p.addr, port)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sip: rtp listen on %s: %w", netip.AddrPortFrom(p.addr, uint16(port)), err)
		}
		p.used[idx] = true
		p.inUse++
		p.next = (idx + 1) % len(p.used)
		return &RTPConn{
			pool:  p,
			index: idx,
			rtp:   rtp,
			rtcp:  rtcp,
			local: netip.AddrPortFrom(p.addr, uint16(port)),
		}, nil
	}
	p.exhausted.Add(1)
	return nil, ErrNoPorts
}

// release gives pair idx back to the pool.
func (p *PortPool) release(idx int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[idx] {
		p.used[idx] = false
		p.inUse--
	}
}

// listenPair binds UDP port and port+1 on addr.
func listenPair(addr netip.Addr, port int) (rtp, rtcp *net.UDPConn, err error) {
	network := "udp4"
	if addr.Is6() {
		network = "udp6"
		if addr.IsUnspecified() {
			network = "udp" // dual stack
		}
	}
	rtp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
	if err != nil {
		return nil, nil, err
	}
	rtcp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port+1))))
	if err != nil {
		_ = rtp.Close()
		return nil, nil, err
	}
	return rtp, rtcp, nil
}
