package sip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestShutdownDuringRequestFlood: trunks keep sending requests (OPTIONS probes, each a new
// server transaction) while Serve shuts down. Requests read just before the sockets close are
// still being handled by sipgo when it is torn down; none of them may open a socket of its own
// (startUA's cleanup fails on any reader goroutine left behind), and every answer a trunk gets
// comes from the listening socket.
func TestShutdownDuringRequestFlood(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}})

	const senders = 4
	var (
		mu      sync.Mutex
		answers = map[netip.AddrPort]int{} // responses received, per source address
		ok      int                        // of which 200 OK
		wg      sync.WaitGroup
		stop    = make(chan struct{})
		conns   []*net.UDPConn
		once    sync.Once
	)
	// finish stops the trunks and waits for their goroutines; startUA's leak check runs after it.
	finish := func() {
		once.Do(func() {
			close(stop)
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
		})
	}
	t.Cleanup(finish)
	for i := range senders {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		local := c.LocalAddr().(*net.UDPAddr).AddrPort()
		wg.Go(func() { // sender
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := optionsText("UDP", local, env.addr.String(), fmt.Sprintf("z9hG4bK-flood-%d-%d", i, n))
				_, _ = c.WriteToUDPAddrPort([]byte(msg), env.addr)
				if n%32 == 31 {
					time.Sleep(time.Millisecond) // let the receiver keep up
				}
			}
		})
		wg.Go(func() { // receiver, until the socket is closed
			buf := make([]byte, 4096)
			for {
				n, src, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				mu.Lock()
				answers[src]++
				if bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return ok
	}
	deadline := time.Now().Add(20 * time.Second) // a bound for a loaded machine, not a speed requirement
	for received() < 200 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := received(); got < 200 {
		t.Fatalf("%d OPTIONS answered within 20 s, want at least 200 before shutting down", got)
	}

	env.shutdown() // while the trunks keep sending
	time.Sleep(50 * time.Millisecond)
	finish()

	mu.Lock()
	defer mu.Unlock()
	for src, n := range answers {
		if src != env.addr {
			t.Errorf("%d responses came from %s, want all from the listener %s", n, src, env.addr)
		}
	}
}
