package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpdumpPath is where the Debian package tcpdump installs it.
const tcpdumpPath = "/usr/bin/tcpdump"

// udpCapture is tcpdump recording the UDP datagrams of one port on the
// loopback interface of the test's network namespace.
type udpCapture struct {
	t    *testing.T
	cmd  *exec.Cmd
	file string
	port uint16 // the captured UDP port on 127.0.0.1
	done chan error
	// stats are tcpdump's lines after "listening on", read once it ended.
	stats []string
}

// capturedDatagram is one UDP datagram of a capture.
type capturedDatagram struct {
	at       time.Time
	src, dst netip.AddrPort
	payload  []byte
}

// startCapture starts tcpdump on lo for UDP port port and returns once it
// listens. It fails the test loudly when tcpdump is missing.
func startCapture(t *testing.T, port uint16) *udpCapture {
	t.Helper()
	if _, err := os.Stat(tcpdumpPath); err != nil {
		t.Fatalf("tcpdump not found at %s: install the Debian package tcpdump (scripts/deps.sh test): %v", tcpdumpPath, err)
	}
	c := &udpCapture{t: t, file: filepath.Join(t.TempDir(), "capture.pcap"), port: port, done: make(chan error, 1)}
	c.cmd = exec.CommandContext(context.Background(), tcpdumpPath, "-i", "lo", "-n", "-U", "-s", "256", "-w", c.file, "udp", "port", fmt.Sprint(port))
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	listening := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(stderr)
		var once bool
		for lines.Scan() {
			if !once && strings.Contains(lines.Text(), "listening on") {
				once = true
				close(listening)

				continue
			}
			c.stats = append(c.stats, lines.Text()) // "N packets captured" and the like
		}
		c.done <- c.cmd.Wait()
	}()
	t.Cleanup(func() { c.stopProcess() })
	select {
	case <-listening:
	case err := <-c.done:
		t.Fatalf("tcpdump exited before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not listen within 10 s")
	}

	return c
}

// stopProcess ends tcpdump (SIGTERM to its PID) and waits for it; calling
// it again does nothing.
func (c *udpCapture) stopProcess() {
	if c.cmd.ProcessState != nil || c.done == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		err = <-c.done
	}
	c.done = nil
	if err != nil {
		c.t.Logf("tcpdump: %v", err)
	}
}

// stop ends the capture, once tcpdump has written what it had received,
// and returns its UDP datagrams over IPv4.
func (c *udpCapture) stop() []capturedDatagram {
	c.t.Helper()
	c.drained()
	c.stopProcess()
	data, err := os.ReadFile(c.file)
	if err != nil {
		c.t.Fatal(err)
	}
	pkts, err := parsePcap(data)
	if err != nil {
		c.t.Fatalf("read the capture: %v", err)
	}
	c.t.Logf("tcpdump: %s", strings.Join(c.stats, "; "))

	return pkts
}

// drained sends a marker datagram to the captured port and waits until
// tcpdump has written it (resent every second, at most 30 s): on a busy
// machine tcpdump writes well behind the traffic, and what the kernel
// buffered but tcpdump had not written yet is lost when it is stopped. The
// gateway drops the marker (it is no STUN, DTLS or SRTP).
func (c *udpCapture) drained() {
	c.t.Helper()
	marker := []byte(fmt.Sprintf("webtrunk capture end %d", time.Now().UnixNano()))
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.port)))
	if err != nil {
		c.t.Fatalf("capture marker: %v", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for next := time.Now(); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !time.Now().Before(next) {
			_, _ = conn.Write(marker)
			next = time.Now().Add(time.Second)
		}
		if data, err := os.ReadFile(c.file); err == nil && bytes.Contains(data, marker) {
			return
		}
	}
	c.t.Logf("tcpdump had not written the capture's end marker within 30 s")
}

// errPcap is a capture file this reader does not understand.
var errPcap = errors.New("pcap")

// parsePcap reads a classic pcap file (microsecond or nanosecond
// timestamps, Ethernet link type as tcpdump writes for lo) and returns its
// IPv4 UDP datagrams.
func parsePcap(data []byte) ([]capturedDatagram, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("%w: %d bytes", errPcap, len(data))
	}
	var nano bool
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	default:
		return nil, fmt.Errorf("%w: not a little-endian pcap file", errPcap)
	}
	if lt := binary.LittleEndian.Uint32(data[20:]); lt != 1 {
		return nil, fmt.Errorf("%w: link type %d, want Ethernet (1)", errPcap, lt)
	}
	var out []capturedDatagram
	for rest := data[24:]; len(rest) > 0; {
		if len(rest) < 16 {
			return out, fmt.Errorf("%w: truncated record header", errPcap)
		}
		sec, frac, n := binary.LittleEndian.Uint32(rest), binary.LittleEndian.Uint32(rest[4:]), binary.LittleEndian.Uint32(rest[8:])
		if uint32(len(rest)-16) < n {
			return out, io.ErrUnexpectedEOF
		}
		frame := rest[16 : 16+n]
		rest = rest[16+n:]
		if !nano {
			frac *= 1000
		}
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		udp := ip[ihl:]
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
		out = append(out, capturedDatagram{at: time.Unix(int64(sec), int64(frac)), src: src, dst: dst, payload: udp[8:]})
	}

	return out, nil
}

// firstAudio is when, for one ICE session (a STUN USERNAME), the first
// STUN Binding Request reached the gateway and the first SRTP packet went
// each way, and the browser's address the SRTP came from.
type firstAudio struct {
	browser          netip.AddrPort
	username         string
	binding, up, dwn time.Time
}

// stunBindingUsername returns the USERNAME attribute (RFC 8489 section
// 14.3) of a STUN Binding Request (type 0x0001 with the magic cookie),
// and false for any other datagram.
func stunBindingUsername(p []byte) (string, bool) {
	if len(p) < 20 || binary.BigEndian.Uint16(p) != 0x0001 || binary.BigEndian.Uint32(p[4:]) != 0x2112a442 {
		return "", false
	}
	for attrs := p[20:]; len(attrs) >= 4; {
		typ, n := binary.BigEndian.Uint16(attrs), int(binary.BigEndian.Uint16(attrs[2:]))
		if len(attrs) < 4+n {
			break
		}
		if typ == 0x0006 {
			return string(attrs[4 : 4+n]), true
		}
		attrs = attrs[4+(n+3)&^3:]
	}

	return "", true
}

// firstAudioTimes groups the datagrams to and from the gateway's WebRTC
// address gw by ICE session, the USERNAME of the browser's Binding
// Requests ("gateway ufrag:browser ufrag", new with each call, whichever
// of the browser's addresses sends them), and finds, for each, its first
// STUN Binding Request (RFC 8489 section 5) and its first RTP packet each
// way on an address of that session (RFC 7983 section 7: first byte 128 to
// 191, and not RTCP, whose payload types 192 to 223 leave 64 to 95 under
// the marker bit, RFC 5761 section 4). The result is keyed by USERNAME.
func firstAudioTimes(pkts []capturedDatagram, gw netip.AddrPort) map[string]*firstAudio {
	byUser := map[string]*firstAudio{}
	current := map[netip.AddrPort]*firstAudio{}
	isRTP := func(p []byte) bool {
		return len(p) >= 12 && p[0] >= 128 && p[0] <= 191 && (p[1]&0x7f < 64 || p[1]&0x7f > 95)
	}
	for _, p := range pkts {
		switch {
		case p.dst == gw:
			if user, ok := stunBindingUsername(p.payload); ok {
				fa := byUser[user]
				if fa == nil {
					fa = &firstAudio{browser: p.src, username: user, binding: p.at}
					byUser[user] = fa
				}
				current[p.src] = fa

				continue
			}
			if fa := current[p.src]; fa != nil && fa.up.IsZero() && isRTP(p.payload) {
				fa.up, fa.browser = p.at, p.src
			}
		case p.src == gw:
			if fa := current[p.dst]; fa != nil && fa.dwn.IsZero() && isRTP(p.payload) {
				fa.dwn = p.at
			}
		}
	}

	return byUser
}
