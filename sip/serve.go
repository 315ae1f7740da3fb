package sip

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Serve binds the listeners (unless Listen did), starts registrations and answers requests,
// calling h in its own goroutine for every acceptable inbound INVITE. h must not block for long:
// it hands the IncomingCall on and returns; the call is then rung, answered or rejected from any
// goroutine. Serve returns when ctx is done or Close is called, once everything it started has
// ended: calls in progress are hung up (BYE), ringing calls get 503, registrations are removed
// (REGISTER with Expires 0, RFC 3261 section 10.2.2), the sockets are closed and Dial calls
// still setting up a call have returned. From the moment it starts closing the sockets it opens
// no TCP or TLS connection: an answer to a request whose connection is gone by then fails rather
// than connecting to the Via address (RFC 3261 section 18.2.2). It returns a bind error at once,
// and ErrClosed after Close.
func (ua *UA) Serve(ctx context.Context, h func(*IncomingCall)) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrServeState)
	}
	if !ua.served.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: called twice", ErrServeState)
	}
	ua.mu.Lock()
	if ua.closed {
		ua.mu.Unlock()
		return ErrClosed
	}
	ua.serveDone = make(chan struct{})
	ua.mu.Unlock()
	defer close(ua.serveDone)
	if err := ua.Listen(); err != nil {
		return err
	}
	ua.handler = h
	ua.mu.Lock()
	ua.serving = true
	listeners := ua.boundListeners()
	ua.mu.Unlock()

	var lwg sync.WaitGroup
	for _, b := range listeners {
		lwg.Go(func() {
			if err := b.serve(); err != nil && !errors.Is(err, net.ErrClosed) {
				ua.log.Error("sip listener stopped", "transport", string(b.transport), "error", err)
			}
		})
		ua.log.Info("sip listening", "transport", string(b.transport), "addr", b.local.String())
	}
	ua.awaitUDPListeners(listeners)
	close(ua.started)
	var rwg sync.WaitGroup
	rwg.Go(func() { ua.refusals.run(ua.cfg.RefusedLogInterval, ua.stop) })
	ua.startRegistrations()

	select {
	case <-ctx.Done():
	case <-ua.closing:
	}
	ua.beginShutdown()
	ua.hangupAll()
	rwg.Wait()     // the refusal log summarises once stop is closed
	ua.regs.Wait() // registrations un-register once stop is closed
	ua.wg.Wait()

	ua.mu.Lock()
	ua.serving = false
	ua.mu.Unlock()
	ua.closeTransport(listeners, &lwg)
	ua.dials.Wait() // their transactions have ended with the transport
	return nil
}

// Close stops the user agent and releases every socket it holds. While Serve runs, Close makes
// it shut down as a cancelled context does (calls hung up with cause ErrShuttingDown, ringing
// calls answered 503, registrations removed, sockets closed) and returns once Serve has returned;
// without Serve it closes the listeners Listen bound. Afterwards Listen and Serve return
// ErrClosed and Dial returns ErrShuttingDown. Close may be called before, during, after or
// without Serve, and any number of times: every call returns nil once everything is released.
func (ua *UA) Close() error {
	ua.mu.Lock()
	first := !ua.closed
	ua.closed = true
	serveDone := ua.serveDone
	listeners := ua.boundListeners()
	ua.mu.Unlock()
	if first {
		close(ua.closing)
	}
	if serveDone != nil {
		<-serveDone
		return nil
	}
	if first {
		ua.beginShutdown()
		var none sync.WaitGroup // no listener was served
		ua.closeTransport(listeners, &none)
		ua.dials.Wait()
		close(ua.released)
	}
	<-ua.released
	return nil
}

// beginShutdown refuses new calls and goroutines and tells the running ones to end.
func (ua *UA) beginShutdown() {
	ua.draining.Store(true)
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if !ua.quit {
		ua.quit = true
		close(ua.stop)
	}
}

// boundListeners returns the bound listeners; the caller holds ua.mu.
func (ua *UA) boundListeners() []*boundListener {
	return slices.Collect(maps.Values(ua.listeners))
}

// awaitUDPListeners waits until sipgo's transport has taken the UDP listening sockets into its
// connection pool, so that requests are sent from them (it does so in the serving goroutine),
// and keeps their connections for the shutdown (see closeTransport).
func (ua *UA) awaitUDPListeners(listeners []*boundListener) {
	pool := ua.sua.TransportLayer().Pool("udp")
	for _, b := range listeners {
		if b.transport != telephony.TransportUDP {
			continue
		}
		key := b.closer.(net.PacketConn).LocalAddr().String()
		for i := 0; i < 2000 && b.conn == nil; i++ {
			if b.conn = pool.Get(key); b.conn == nil {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// enter registers a goroutine the UA waits for before Serve returns; false once Serve is
// shutting down, in which case the caller must not start it.
func (ua *UA) enter() bool { return ua.track(&ua.wg) }

// leave ends a goroutine registered by enter.
func (ua *UA) leave() { ua.wg.Done() }

// enterDial registers a Dial call, which the shutdown waits for once the transport is closed
// (which ends its transactions); false once the shutdown has begun.
func (ua *UA) enterDial() bool { return ua.track(&ua.dials) }

// track adds one to wg unless the shutdown has begun.
func (ua *UA) track(wg *sync.WaitGroup) bool {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.quit {
		return false
	}
	wg.Add(1)
	return true
}

// hangupAll ends every call in progress with a BYE; ringing incoming calls end by themselves
// once ua.stop is closed.
func (ua *UA) hangupAll() {
	ua.mu.Lock()
	calls := slices.Collect(maps.Values(ua.dialogs))
	ua.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.abort(ErrShuttingDown) })
	}
	wg.Wait()
}
