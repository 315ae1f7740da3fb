package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/transcode"
)

func TestMain(m *testing.M) {
	// signal.NotifyContext starts the runtime's signal watcher, which lives
	// as long as the process.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("os/signal.loop"), goleak.IgnoreAnyFunction("os/signal.signal_recv"))
}

// syncBuffer collects log output written by the endpoint's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.b.String()
}

// echoFreePort returns a UDP port of 127.0.0.1 that is free now; with even
// set, an even port whose odd neighbour is free too (an RTP/RTCP pair).
func echoFreePort(t *testing.T, even bool) int {
	t.Helper()
	for range 100 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		_ = c.Close()
		if !even {
			return p
		}
		if p%2 != 0 || p > 65534 {
			continue
		}
		c2, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if err != nil {
			continue
		}
		_ = c2.Close()

		return p
	}
	t.Fatal("no free port pair")

	return 0
}

// startEchoEndpoint runs the command in-process with one RTP port pair, so
// the test knows where the endpoint receives audio. It returns the SIP
// address, the RTP port and the log.
func startEchoEndpoint(t *testing.T) (netip.AddrPort, int, *syncBuffer) {
	t.Helper()
	rtpPort := echoFreePort(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	ready := make(chan netip.AddrPort, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{
			"-listen", "127.0.0.1:0",
			"-rtp-ports", fmt.Sprintf("%d-%d", rtpPort, rtpPort+1),
			"-log-level", "debug",
		}, logs, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("echo exited with %d; log:\n%s", code, logs)
		}
	})
	select {
	case addr := <-ready:
		return addr, rtpPort, logs
	case code := <-exit:
		exit <- code
		t.Fatalf("echo exited with %d before listening; log:\n%s", code, logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("echo did not listen within 10 s; log:\n%s", logs)
	}

	return netip.AddrPort{}, 0, nil
}

// sippCall runs sipp (Debian package sip-tester) as the gateway calling
// number on the endpoint at sipAddr, with the media port mediaPort (a socket
// of the test). It returns when sipp ends and fails the test unless the
// scenario (INVITE, 200, ACK, 3 s, BYE, 200) completed.
func sippCall(t *testing.T, sipAddr netip.AddrPort, number string, mediaPort int) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found: install the Debian package sip-tester (%v)", err)
	}
	scenario, err := filepath.Abs(filepath.Join("testdata", "uac_media.xml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"-sf", scenario,
		"-i", "127.0.0.1", "-p", fmt.Sprint(echoFreePort(t, false)),
		"-mi", "127.0.0.1", "-mp", fmt.Sprint(echoFreePort(t, true)),
		"-cp", fmt.Sprint(echoFreePort(t, false)),
		"-s", number, "-set", "mport", fmt.Sprint(mediaPort),
		"-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		sipAddr.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		t.Fatalf("sipp failed: %v\n%s\n%s", err, out, errs)
	}
}

// heard is what the test's media socket received during a call.
type heard struct {
	packets int
	ssrcs   map[uint32]int
	pts     map[uint8]int
	seqGaps int
	pcm     []int16
}

// receiveRTP reads RTP from conn until it has been quiet for 1 s after
// the first packet or until deadline, decoding PCMU payloads.
func receiveRTP(conn *net.UDPConn, deadline time.Time) heard {
	h := heard{ssrcs: map[uint32]int{}, pts: map[uint8]int{}}
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var lastSeq uint16
	for {
		wait := time.Now().Add(time.Second)
		if h.packets == 0 || wait.After(deadline) {
			wait = deadline
		}
		_ = conn.SetReadDeadline(wait)
		n, err := conn.Read(buf)
		if err != nil {
			return h
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if h.packets > 0 && pkt.SequenceNumber != lastSeq+1 {
			h.seqGaps++
		}
		lastSeq = pkt.SequenceNumber
		h.packets++
		h.ssrcs[pkt.SSRC]++
		h.pts[pkt.PayloadType]++
		if pkt.PayloadType == 0 {
			pcm := make([]int16, len(pkt.Payload))
			transcode.DecodePCMU(pcm, pkt.Payload)
			h.pcm = append(h.pcm, pcm...)
		}
	}
}

// sendTone sends freq Hz as PCMU RTP, 20 ms per packet, from conn to dst
// until stop is closed. It returns the SSRC it used.
func sendTone(conn *net.UDPConn, dst *net.UDPAddr, freq float64, ssrc uint32, stop <-chan struct{}) {
	hdr := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1000, Timestamp: 5000, SSRC: ssrc}
	pcm := make([]int16, 160)
	payload := make([]byte, 160)
	out := make([]byte, 12+160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		for i := range pcm {
			pcm[i] = int16(10000 * math.Sin(2*math.Pi*freq*float64(n*160+i)/8000))
		}
		transcode.EncodePCMU(payload, pcm)
		hl, _ := hdr.MarshalTo(out)
		copy(out[hl:], payload)
		_, _ = conn.WriteToUDP(out[:hl+160], dst)
		hdr.SequenceNumber++
		hdr.Timestamp += 160
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func TestEchoEndpointWithSipp(t *testing.T) {
	const ourSSRC = 0x5eed1234
	tests := []struct {
		name   string
		number string
		send   float64 // tone the caller sends, Hz; 0 = nothing
		want   float64 // tone the caller must hear, Hz
		other  float64 // tone it must not hear
	}{
		{name: "echo returns the caller's tone", number: "+15550123", send: 440, want: 440, other: 1000},
		{name: "tone number plays 1 kHz", number: "+15551000", want: 1000, other: 440},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sipAddr, rtpPort, logs := startEchoEndpoint(t)
			media, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer media.Close()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if tc.send != 0 {
				wg.Go(func() {
					sendTone(media, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: rtpPort}, tc.send, ourSSRC, stop)
				})
			}
			got := make(chan heard, 1)
			go func() { got <- receiveRTP(media, time.Now().Add(20*time.Second)) }()

			sippCall(t, sipAddr, tc.number, media.LocalAddr().(*net.UDPAddr).Port)
			close(stop)
			wg.Wait()
			h := <-got

			// About 3 s of call at 50 packets per second.
			if h.packets < 100 {
				t.Fatalf("received %d RTP packets, want at least 100; log:\n%s", h.packets, logs)
			}
			if len(h.ssrcs) != 1 || h.ssrcs[ourSSRC] != 0 {
				t.Errorf("SSRCs %v: want one SSRC of the endpoint's own, not ours (%#x)", h.ssrcs, ourSSRC)
			}
			if len(h.pts) != 1 || h.pts[0] == 0 {
				t.Errorf("payload types %v, want only PCMU (0)", h.pts)
			}
			if h.seqGaps > 0 {
				t.Errorf("%d sequence number gaps", h.seqGaps)
			}
			// Skip the first 100 ms: the first packets of the echo may precede the answer.
			pcm := h.pcm[min(800, len(h.pcm)):]
			t.Logf("%d packets, %d samples; share at %v Hz %.3f, at %v Hz %.3f",
				h.packets, len(pcm), tc.want, testaudio.Share(pcm, 8000, tc.want, testaudio.Hann), tc.other, testaudio.Share(pcm, 8000, tc.other, testaudio.Hann))
			if share := testaudio.Share(pcm, 8000, tc.want, testaudio.Hann); share < 0.8 {
				t.Errorf("share of %v Hz in what came back: %.2f, want >= 0.8", tc.want, share)
			}
			if share := testaudio.Share(pcm, 8000, tc.other, testaudio.Hann); share > 0.05 {
				t.Errorf("share of %v Hz in what came back: %.2f, want <= 0.05", tc.other, share)
			}
		})
	}
}

func TestEchoStopsOnSIGTERM(t *testing.T) {
	ready := make(chan netip.AddrPort, 1)
	exit := make(chan int, 1)
	logs := &syncBuffer{}
	go func() {
		exit <- run(context.Background(), []string{"-listen", "127.0.0.1:0", "-rtp-ports", "40000-40099"}, logs, ready)
	}()
	select {
	case <-ready:
	case code := <-exit:
		t.Fatalf("exited with %d before listening: %s", code, logs)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d after SIGTERM, want 0; log:\n%s", code, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
}

func TestEchoUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bad listen address", []string{"-listen", "localhost"}},
		{"bad prefix", []string{"-allow", "10.0.0.0/33"}},
		{"bad port range", []string{"-rtp-ports", "30000"}},
		{"bad level", []string{"-log-level", "loud"}},
		{"stray argument", []string{"extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out syncBuffer
			if code := run(context.Background(), tc.args, &out, nil); code != 2 {
				t.Errorf("exit code %d, want 2; output:\n%s", code, out.String())
			}
		})
	}
}
