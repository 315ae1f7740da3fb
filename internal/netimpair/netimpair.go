// Package netimpair is a UDP relay on loopback that impairs what it
// carries, for tests of media under loss, jitter and reordering where no
// kernel traffic shaper is available. A Relay sits between a client (a
// browser's peer connection) and a server (the gateway's media port):
// the client sends to Relay.Addr, the relay forwards from its own socket
// to the server and relays the answers back to the client's last address,
// so the server sees the relay as the client. Each direction drops,
// delays, reorders and duplicates packets by a seeded pseudo-random
// pattern, so the same seed makes the same decisions for the same
// packets; only the scheduler's timing varies.
package netimpair

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Impairment is what one direction of a Relay does to the packets it
// carries. The zero value forwards everything at once.
type Impairment struct {
	// Loss is the share of packets dropped, 0 to 1.
	Loss float64
	// Jitter is the most a packet is delayed: each is delayed by a
	// uniformly random time from 0 to Jitter.
	Jitter time.Duration
	// Reorder is the share of packets delayed by ReorderDelay on top of
	// their jitter, so that later packets overtake them.
	Reorder float64
	// ReorderDelay is the extra delay of a reordered packet; 40 ms (two
	// 20 ms packets) when 0.
	ReorderDelay time.Duration
	// Duplicate is the share of packets sent twice.
	Duplicate float64
	// RTPOnly impairs only RTP and RTCP packets (first byte 128 to 191,
	// RFC 7983 section 7) and forwards STUN and DTLS untouched, so that
	// a connection is established before its media suffers.
	RTPOnly bool
}

// Stats counts what one direction of a Relay did.
type Stats struct {
	// Received counts the packets read from the sender.
	Received uint64
	// Dropped, Delayed, Reordered and Duplicated count the packets the
	// impairment dropped, delayed by jitter (a delay above zero),
	// delayed further to be overtaken, and sent twice.
	Dropped, Delayed, Reordered, Duplicated uint64
	// Sent counts the packets written, duplicates included.
	Sent uint64
}

// Relay is a running impairing UDP relay; Start starts one.
type Relay struct {
	client  *net.UDPConn // the client sends here
	server  *net.UDPConn // connected to the server
	peer    atomic.Pointer[net.UDPAddr]
	up      direction // client to server
	down    direction // server to client
	wg      sync.WaitGroup
	closed  atomic.Bool
	stopped chan struct{}
}

// direction is one way through the relay: its impairment, its pseudo-random
// source, its counters.
type direction struct {
	mu  sync.Mutex // guards imp and rnd
	imp Impairment
	rnd *rand.Rand
	st  struct {
		received, dropped, delayed, reordered, duplicated, sent atomic.Uint64
	}
}

// Start binds a relay on 127.0.0.1 that forwards to server, impairing the
// client's packets by up and the server's by down, with decisions drawn
// from seed. It is closed at the end of the test.
func Start(tb testing.TB, server netip.AddrPort, up, down Impairment, seed uint64) *Relay {
	tb.Helper()
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatalf("netimpair: listen: %v", err)
	}
	srv, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(server))
	if err != nil {
		_ = client.Close()
		tb.Fatalf("netimpair: dial %v: %v", server, err)
	}
	r := &Relay{client: client, server: srv, stopped: make(chan struct{})}
	r.up = direction{imp: up, rnd: rand.New(rand.NewPCG(seed, 1))}     //nolint:gosec // a reproducible pattern, not a secret
	r.down = direction{imp: down, rnd: rand.New(rand.NewPCG(seed, 2))} //nolint:gosec // a reproducible pattern, not a secret
	r.wg.Add(2)
	go r.readClient()
	go r.readServer()
	tb.Cleanup(r.Close)

	return r
}

// Addr is the address the client sends to.
func (r *Relay) Addr() netip.AddrPort { return r.client.LocalAddr().(*net.UDPAddr).AddrPort() } //nolint:forcetypeassert // a UDP socket

// Up returns the counters of the client-to-server direction.
func (r *Relay) Up() Stats { return r.up.stats() }

// Down returns the counters of the server-to-client direction.
func (r *Relay) Down() Stats { return r.down.stats() }

// SetImpairment changes the impairments of both directions from the next
// packet on: up for the client's packets, down for the server's.
func (r *Relay) SetImpairment(up, down Impairment) {
	for _, d := range []struct {
		dir *direction
		imp Impairment
	}{{&r.up, up}, {&r.down, down}} {
		d.dir.mu.Lock()
		d.dir.imp = d.imp
		d.dir.mu.Unlock()
	}
}

// Close stops the relay; packets still delayed are not sent.
func (r *Relay) Close() {
	if r.closed.Swap(true) {
		return
	}
	close(r.stopped)
	_ = r.client.Close()
	_ = r.server.Close()
	r.wg.Wait()
}

// readClient forwards the client's packets to the server.
func (r *Relay) readClient() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := r.client.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}

			continue
		}
		r.peer.Store(from)
		r.up.carry(r, buf[:n], func(b []byte) { _, _ = r.server.Write(b) })
	}
}

// readServer forwards the server's packets to the client's last address.
func (r *Relay) readServer() {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := r.server.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}

			continue
		}
		peer := r.peer.Load()
		if peer == nil {
			continue
		}
		r.down.carry(r, buf[:n], func(b []byte) { _, _ = r.client.WriteToUDP(b, peer) })
	}
}

// plan is what happens to one packet.
type plan struct {
	drop      bool
	delay     time.Duration
	reordered bool
	dup       bool
}

// decide draws the fate of one packet pkt from the direction's pattern;
// ok is false for a packet the impairment leaves alone (RTPOnly).
func (d *direction) decide(pkt []byte) (p plan, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.imp.RTPOnly && (len(pkt) == 0 || pkt[0] < 128 || pkt[0] > 191) {
		return plan{}, false
	}
	p.drop = d.rnd.Float64() < d.imp.Loss
	if d.imp.Jitter > 0 {
		p.delay = time.Duration(d.rnd.Int64N(int64(d.imp.Jitter) + 1))
	}
	if d.rnd.Float64() < d.imp.Reorder {
		p.reordered = true
		extra := d.imp.ReorderDelay
		if extra == 0 {
			extra = 40 * time.Millisecond
		}
		p.delay += extra
	}
	p.dup = d.rnd.Float64() < d.imp.Duplicate

	return p, true
}

// carry impairs one packet and sends it (a copy, at its time) with send.
func (d *direction) carry(r *Relay, pkt []byte, send func([]byte)) {
	d.st.received.Add(1)
	p, ok := d.decide(pkt)
	if !ok {
		send(pkt)
		d.st.sent.Add(1)

		return
	}
	if p.drop {
		d.st.dropped.Add(1)

		return
	}
	copies := 1
	if p.dup {
		copies = 2
		d.st.duplicated.Add(1)
	}
	if p.reordered {
		d.st.reordered.Add(1)
	}
	if p.delay <= 0 {
		for range copies {
			send(pkt)
			d.st.sent.Add(1)
		}

		return
	}
	d.st.delayed.Add(1)
	b := append([]byte(nil), pkt...)
	r.wg.Add(1)
	t := time.NewTimer(p.delay)
	go func() {
		defer r.wg.Done()
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.stopped:
			return
		}
		for range copies {
			send(b)
			d.st.sent.Add(1)
		}
	}()
}

// stats reads the counters.
func (d *direction) stats() Stats {
	return Stats{
		Received: d.st.received.Load(), Dropped: d.st.dropped.Load(), Delayed: d.st.delayed.Load(),
		Reordered: d.st.reordered.Load(), Duplicated: d.st.duplicated.Load(), Sent: d.st.sent.Load(),
	}
}
