package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// Serve binds the listeners (unless Listen did), starts registrations and answers requests,
// calling h in its own goroutine for every acceptable inbound INVITE. h must not block for long:
// it hands the IncomingCall on and returns; the call is then rung, answered or rejected from any
// goroutine. Serve returns when ctx is done and everything it started has ended: calls in
// progress are hung up (BYE), ringing calls get 503, registrations are removed (REGISTER with
// Expires 0, RFC 3261 section 10.2.2) and the sockets are closed. From the moment it starts
// closing the sockets it opens no TCP or TLS connection: an answer to a request whose connection
// is gone by then fails rather than connecting to the Via address (RFC 3261 section 18.2.2).
// It returns a bind error at once.
func (ua *UA) Serve(ctx context.Context, h func(*IncomingCall)) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrServeState)
	}
	if !ua.served.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: called twice", ErrServeState)
	}
	if err := ua.Listen(); err != nil {
		return err
	}
	ua.handler = h
	ua.mu.Lock()
	ua.serving = true
	listeners := make([]*boundListener, 0, len(ua.listeners))
	for _, b := range ua.listeners {
		listeners = append(listeners, b)
	}
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
	for _, t := range ua.trunks {
		if t.reg != nil {
			rwg.Go(func() { t.reg.run(ua.stop) })
		}
	}

	<-ctx.Done()
	ua.draining.Store(true)
	ua.mu.Lock()
	ua.quit = true
	close(ua.stop)
	ua.mu.Unlock()
	ua.hangupAll()
	rwg.Wait() // registrations un-register once stop is closed
	ua.wg.Wait()

	ua.mu.Lock()
	ua.serving = false
	ua.mu.Unlock()
	ua.closeTransport(listeners, &lwg)
	return nil
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
func (ua *UA) enter() bool {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.quit {
		return false
	}
	ua.wg.Add(1)
	return true
}

// leave ends a goroutine registered by enter.
func (ua *UA) leave() { ua.wg.Done() }

// hangupAll ends every call in progress with a BYE; ringing incoming calls end by themselves
// once ua.stop is closed.
func (ua *UA) hangupAll() {
	ua.mu.Lock()
	calls := make([]*Call, 0, len(ua.dialogs))
	for _, c := range ua.dialogs {
		calls = append(calls, c)
	}
	ua.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.abort(ErrShuttingDown) })
	}
	wg.Wait()
}
