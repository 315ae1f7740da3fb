package gateway

import (
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/ear"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/netimpair"
	"github.com/webtrunk/webtrunk/internal/testaudio"
	"github.com/webtrunk/webtrunk/internal/testcodec"
)

// viaRelay rewrites the gateway's answer so that the browser sends its
// media through an impairing relay: the UDP host candidate's address
// becomes the relay's, which forwards to the gateway; other candidates
// (ICE-TCP) are left out. It returns the gateway's media address and the
// rewritten answer.
func viaRelay(t *testing.T, answer string, relay func(gw netip.AddrPort) netip.AddrPort) string {
	t.Helper()
	var out []string
	found := false
	for _, line := range strings.Split(answer, "\r\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			out = append(out, line)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") || found {
			continue
		}
		port, err := strconv.Atoi(f[5])
		if err != nil {
			t.Fatalf("candidate %q: %v", line, err)
		}
		ip, err := netip.ParseAddr(f[4])
		if err != nil {
			t.Fatalf("candidate %q: %v", line, err)
		}
		r := relay(netip.AddrPortFrom(ip, uint16(port)))
		f[4], f[5] = r.Addr().String(), strconv.Itoa(int(r.Port()))
		out = append(out, strings.Join(f, " "))
		found = true
	}
	if !found {
		t.Fatalf("no UDP candidate in the answer:\n%s", answer)
	}

	return strings.Join(out, "\r\n")
}

// longestSilence returns the longest run of silent 5 ms pieces of pcm (8
// kHz), as ear.Silent judges them.
func longestSilence(pcm []int16) time.Duration {
	const piece = 40
	longest, run := 0, 0
	for i := 0; i+piece <= len(pcm); i += piece {
		if ear.Silent(pcm[i : i+piece]) {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}

	return time.Duration(longest) * 5 * time.Millisecond
}

// TestUplinkSurvivesImpairment: a browser whose packets to the gateway
// are lost, jittered and reordered by an impairing relay still reaches
// the trunk as its tone, at its level within 3 dB and with no silence of
// 60 ms or more, measured over the packets the trunk received: the
// uplink's jitter buffer decodes reordered packets in order, and Opus FEC
// and PLC fill the lost ones.
func TestUplinkSurvivesImpairment(t *testing.T) {
	jittery := netimpair.Impairment{Jitter: 30 * time.Millisecond, Reorder: 0.05}
	tests := []struct {
		name     string
		imp      netimpair.Impairment
		noBuffer bool   // the uplink as it was before its jitter buffer
		seed     uint64 // of the relay's pattern
	}{
		// Seed 3 drops 3 of the first 200 packets at 1%, after 80.
		{"1% loss", netimpair.Impairment{Loss: 0.01}, false, 3},
		{"5% loss", netimpair.Impairment{Loss: 0.05}, false, 13},
		{"10% loss", netimpair.Impairment{Loss: 0.1}, false, 13},
		{"30 ms jitter with reordering", jittery, false, 13},
		{"5% loss, 30 ms jitter, reordering, duplicates", netimpair.Impairment{Loss: 0.05, Jitter: 30 * time.Millisecond, Reorder: 0.05, Duplicate: 0.02}, false, 13},
		{"30 ms jitter with reordering, no jitter buffer", jittery, true, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := testConfig{}
			if tt.noBuffer {
				tc.edit = func(c *config.Config) { c.Quality.JitterMax = 0 }
			}
			e := newEnv(t, tc)
			b := login(t, e, "alice")
			p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
			b.Send(t, signaling.Dial{ID: "c1", To: "+15550123", SDP: p.Offer(t), Ref: "c1"})
			imp := tt.imp
			imp.RTPOnly = true
			var relay *netimpair.Relay
			answer := viaRelay(t, b.ExpectAnswer(t, "c1").SDP, func(gw netip.AddrPort) netip.AddrPort {
				relay = netimpair.Start(t, gw, imp, netimpair.Impairment{}, tt.seed)
				return relay.Addr()
			})
			p.ApplyAnswer(t, answer)
			call := e.trunk.NextCall(t)
			expectProgress[signaling.Connected](t, b)

			// Three seconds of packets after the first second.
			heard := call.Heard().WaitSamples(t, 4*secondOfAudio)[secondOfAudio:]
			testcodec.AssertTone(t, heard, 440, 1000)
			sent := testaudio.ToneLevelDBFS(testcodec.ToneAmp)
			if l := testaudio.LevelDBFS(heard); math.Abs(l-sent) > 3 {
				t.Errorf("tone at %.1f dBFS, sent at %.1f dBFS", l, sent)
			}
			if s := longestSilence(heard); s >= 60*time.Millisecond {
				t.Errorf("%v of silence reached the trunk", s)
			}
			st := relay.Up()
			if (imp.Loss > 0 && st.Dropped == 0) || (imp.Reorder > 0 && st.Reordered == 0) {
				t.Errorf("the relay did not impair the uplink: %+v", st)
			}
			b.Send(t, signaling.Hangup{CallID: "c1"})
			line := e.logs.WaitLine(t, `msg="call ended"`)
			reordered, late := logInt(t, line, "uplink_reordered"), logInt(t, line, "uplink_late")
			if !tt.noBuffer && imp.Reorder > 0 && reordered == 0 {
				t.Errorf("no reordered packet was decoded: %s", line)
			}
			if tt.noBuffer && (reordered != 0 || late == 0) {
				t.Errorf("without a jitter buffer, %d reordered and %d late packets: %s", reordered, late, line)
			}
			t.Logf("relay %+v; tone %.1f dBFS (sent %.1f), longest silence %v; uplink reordered %d, late %d, mos %s",
				st, testaudio.LevelDBFS(heard), sent, longestSilence(heard), reordered, late, logValue(line, "uplink_mos"))
		})
	}
}

// logValue returns the value of key in a text log line, "" when absent.
func logValue(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}

	return ""
}

// logInt returns the whole number of key in a text log line, failing t
// when it is absent.
func logInt(t *testing.T, line, key string) int {
	t.Helper()
	n, err := strconv.Atoi(logValue(line, key))
	if err != nil {
		t.Fatalf("%s in %q: %v", key, line, err)
	}

	return n
}

// dialViaRelay has alice dial c1 with her media through an impairing relay
// that impairs her packets by up, and returns her tab, the relay and the
// trunk's call once connected.
func dialViaRelay(t *testing.T, e *env, up netimpair.Impairment) (*gobrowser.Client, *netimpair.Relay, *faketrunk.Call) {
	t.Helper()
	b := login(t, e, "alice")
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	b.Send(t, signaling.Dial{ID: "c1", To: "+15550123", SDP: p.Offer(t), Ref: "c1"})
	var relay *netimpair.Relay
	answer := viaRelay(t, b.ExpectAnswer(t, "c1").SDP, func(gw netip.AddrPort) netip.AddrPort {
		relay = netimpair.Start(t, gw, up, netimpair.Impairment{}, 21)
		return relay.Addr()
	})
	p.ApplyAnswer(t, answer)
	call := e.trunk.NextCall(t)
	expectProgress[signaling.Connected](t, b)

	return b, relay, call
}

// isQuality matches the quality event raising (or clearing) warning name
// about direction dir of call c1.
func isQuality(name signaling.QualityWarning, dir string, raised bool) func(signaling.Message) bool {
	return func(m signaling.Message) bool {
		q, ok := m.(signaling.Quality)
		return ok && q.CallID == "c1" && q.Name == name && q.Direction == dir && q.Raised == raised
	}
}

// TestQualityEventsUnderLoss: when a fifth of the browser's packets are
// lost, the gateway raises high_loss (and low_mos) on the uplink for the
// browser, and clears them once the loss stops; the trunk receives the
// gateway's RTCP reports meanwhile (and answers them), and the call's
// record and end log line carry the uplink's reduced MOS.
func TestQualityEventsUnderLoss(t *testing.T) {
	records := filepath.Join(t.TempDir(), "cdr.jsonl")
	e := newEnv(t, testConfig{extra: "cdr:\n  file: " + records + "\n", edit: func(c *config.Config) { c.Quality.Interval = time.Second }})
	b, relay, call := dialViaRelay(t, e, netimpair.Impairment{Loss: 0.2, RTPOnly: true})
	m := b.Expect(t, "high_loss raised", isQuality(signaling.WarningHighLoss, signaling.QualityUplink, true))
	if q := m.(signaling.Quality); q.Value < 0.05 || q.Threshold != 0.05 {
		t.Errorf("high_loss %+v, want a loss above the 0.05 threshold", q)
	}
	b.Expect(t, "low_mos raised", isQuality(signaling.WarningLowMOS, signaling.QualityUplink, true))

	relay.SetImpairment(netimpair.Impairment{RTPOnly: true}, netimpair.Impairment{})
	b.Expect(t, "high_loss cleared", isQuality(signaling.WarningHighLoss, signaling.QualityUplink, false))
	checkTrunkRTCP(t, call.Media().RTCP())

	b.Send(t, signaling.Hangup{CallID: "c1"})
	line := e.logs.WaitLine(t, `msg="call ended"`)
	mos, err := strconv.ParseFloat(logValue(line, "uplink_mos"), 64)
	// The MOS is the whole call's: how far it falls depends on how long
	// the loss lasted before the warning cleared it.
	if err != nil || mos >= 4.4 || mos < 1 || logInt(t, line, "uplink_lost") == 0 {
		t.Errorf("uplink_mos %q, want one reduced by loss: %s", logValue(line, "uplink_mos"), line)
	}
	rec := waitRecord(t, records, func(r cdr.Record) bool { return r.ID == "c1" })
	if rec.Uplink.MOS != mos || rec.Downlink.MOS < 4 || rec.Uplink.Lost == 0 {
		t.Errorf("record media up %+v down %+v, want the uplink's MOS %v of the log line and a clean downlink", rec.Uplink, rec.Downlink, mos)
	}
	// The fake trunk answers each sender report with a receiver report:
	// the round trip on loopback is short, and it lost nothing.
	if q := rec.TrunkQuality; q == nil || q.RTTMS <= 0 || q.RTTMS > 500 || q.Lost != 0 || q.MOS < 4 {
		t.Errorf("record trunk quality %+v, want a short round trip, no loss and a good MOS", q)
	}
}

// checkTrunkRTCP fails t unless the trunk received a sender report of
// the gateway with a report block about the trunk's own stream.
func checkTrunkRTCP(t *testing.T, got [][]byte) {
	t.Helper()
	for _, b := range got {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			t.Errorf("the trunk received a malformed RTCP packet: %v", err)
			continue
		}
		if sr, ok := pkts[0].(*rtcp.SenderReport); ok && len(sr.Reports) == 1 && sr.Reports[0].SSRC == faketrunk.SSRC && sr.PacketCount > 0 {
			return
		}
	}
	t.Errorf("the trunk received no sender report about its stream among %d RTCP packets", len(got))
}
