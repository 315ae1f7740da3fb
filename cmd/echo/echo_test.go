package main

import (
	"context"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/telephony"
	"github.com/webtrunk/webtrunk/transcode"
)

func TestMain(m *testing.M) {
	// signal.NotifyContext starts the runtime's signal watcher, which lives
	// as long as the process.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("os/signal.loop"), goleak.IgnoreAnyFunction("os/signal.signal_recv"))
}

// startEchoEndpoint runs the command in-process on a SIP port of its own
// choice, with RTP ports from rtpPorts, until the end of the test. It
// returns the SIP address and the log.
func startEchoEndpoint(t *testing.T, rtpPorts string) (netip.AddrPort, *logcapture.Capture) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := logcapture.NewWriter(t, logcapture.Name("echo log"))
	ready := make(chan netip.AddrPort, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-listen", "127.0.0.1:0", "-rtp-ports", rtpPorts, "-log-level", "debug"}, logs, ready)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-exit; code != 0 {
			t.Errorf("echo exited with %d", code)
		}
	})
	select {
	case addr := <-ready:
		return addr, logs
	case code := <-exit:
		exit <- code
		t.Fatalf("echo exited with %d before listening", code)
	case <-time.After(ear.WaitTimeout):
		t.Fatal("echo did not listen in time")
	}

	return netip.AddrPort{}, nil
}

// echoPackets is how many RTP packets of the endpoint a call waits for:
// two seconds at 50 packets per second.
const echoPackets = 100

// TestEchoEndpoint calls the endpoint from a fake trunk (the gateway's
// place) and judges the packets that came back, however long they took:
// one stream of the endpoint's own SSRC, PCMU only, no sequence gap, and
// the tone the number promises.
func TestEchoEndpoint(t *testing.T) {
	const callerHz = 440
	tests := []struct {
		name   string
		number string
		send   bool    // the caller sends its tone
		want   float64 // tone the caller must hear, Hz
		other  float64 // tone it must not hear
	}{
		{name: "echo returns the caller's tone", number: "+15550123", send: true, want: callerHz, other: 1000},
		{name: "tone number plays 1 kHz", number: "+15551000", want: 1000, other: callerHz},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sipAddr, _ := startEchoEndpoint(t, "41000-41099")
			trunk := faketrunk.New(t, faketrunk.WithTone(callerHz))
			call := trunk.Dial(t, sipAddr, tc.number, faketrunk.DialOptions{From: "+15550100", Codecs: []telephony.Codec{telephony.PCMU}})
			call.Media().SetMuted(!tc.send)
			call.WaitAnswered(t)
			// The echo starts with the caller's first packets: skip the
			// first 100 ms of what comes back, then judge 2 s of packets.
			const skip = 5
			packets := call.Media().WaitPackets(t, "2 s of RTP", func(p []rtp.Packet) bool { return len(p) >= skip+echoPackets })
			call.Bye(t)

			ssrcs, pts, gaps := map[uint32]int{}, map[uint8]int{}, 0
			var pcm []int16
			buf := make([]int16, 160)
			for i, p := range packets {
				ssrcs[p.SSRC]++
				pts[p.PayloadType]++
				if i > 0 && p.SequenceNumber != packets[i-1].SequenceNumber+1 {
					gaps++
				}
				if i >= skip && p.PayloadType == telephony.PayloadTypePCMU {
					pcm = append(pcm, buf[:transcode.DecodePCMU(buf, p.Payload)]...)
				}
			}
			if len(ssrcs) != 1 || ssrcs[faketrunk.SSRC] != 0 {
				t.Errorf("SSRCs %v: want one SSRC of the endpoint's own, not the caller's (%#x)", ssrcs, faketrunk.SSRC)
			}
			if len(pts) != 1 || pts[telephony.PayloadTypePCMU] == 0 {
				t.Errorf("payload types %v, want only PCMU (0)", pts)
			}
			if gaps > 0 {
				t.Errorf("%d sequence number gaps", gaps)
			}
			share, other := testaudio.Share(pcm, 8000, tc.want, testaudio.Hann), testaudio.Share(pcm, 8000, tc.other, testaudio.Hann)
			t.Logf("%d packets, %d samples judged; share at %v Hz %.3f, at %v Hz %.3f", len(packets), len(pcm), tc.want, share, tc.other, other)
			if share < 0.8 {
				t.Errorf("share of %v Hz in what came back: %.2f, want >= 0.8", tc.want, share)
			}
			if other > 0.05 {
				t.Errorf("share of %v Hz in what came back: %.2f, want <= 0.05", tc.other, other)
			}
		})
	}
}

func TestEchoStopsOnSIGTERM(t *testing.T) {
	ready := make(chan netip.AddrPort, 1)
	exit := make(chan int, 1)
	logs := logcapture.NewWriter(t, logcapture.Name("echo log"))
	go func() {
		exit <- run(context.Background(), []string{"-listen", "127.0.0.1:0", "-rtp-ports", "40000-40099"}, logs, ready)
	}()
	select {
	case <-ready:
	case code := <-exit:
		t.Fatalf("exited with %d before listening", code)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d after SIGTERM, want 0", code)
		}
	case <-time.After(ear.WaitTimeout):
		t.Fatal("still running after SIGTERM")
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
			out := logcapture.NewWriter(t, logcapture.Name("output"))
			if code := run(context.Background(), tc.args, out, nil); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}
