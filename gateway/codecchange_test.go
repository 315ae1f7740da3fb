package gateway

import (
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/testcodec"

	"github.com/webtrunk/webtrunk/telephony"
)

// The trunk changes the G.711 codec of a call while media flows: the
// browser must go on hearing the trunk's tone at its frequency and level,
// and the trunk must receive the new codec's payload type carrying the
// browser's tone, with the RTP stream going on.

// checkSwitch fails unless the packets the trunk received from index from
// on change from audio payload type oldPT to newPT once, within one RTP
// stream: the first newPT packet has the SSRC and the next sequence number
// of the packet before it, the timestamp 20 ms per packet after the last
// oldPT packet (telephone-events in between each stand for one frame), and
// no oldPT packet comes after it.
func checkSwitch(t *testing.T, pk []rtp.Packet, from int, oldPT, newPT uint8) {
	t.Helper()
	first, last := -1, -1
	for i := from; i < len(pk) && first < 0; i++ {
		if pk[i].PayloadType == newPT {
			first = i
		}
	}
	for i := first - 1; i >= 0 && last < 0; i-- {
		if pk[i].PayloadType == oldPT {
			last = i
		}
	}
	if first < 0 || last < 0 {
		t.Fatalf("no payload type %d after %d from packet %d", newPT, oldPT, from)
	}
	prev, next := pk[first-1].Header, pk[first].Header
	wantTS := pk[last].Timestamp + uint32(160*(first-last))
	if next.SSRC != prev.SSRC || next.SequenceNumber != prev.SequenceNumber+1 || next.Timestamp != wantTS {
		t.Errorf("stream broken at the switch: ssrc %#x seq %d, then ssrc %#x seq %d ts %d (want ts %d)",
			prev.SSRC, prev.SequenceNumber, next.SSRC, next.SequenceNumber, next.Timestamp, wantTS)
	}
	for i := first; i < len(pk); i++ {
		if pk[i].PayloadType == oldPT {
			t.Fatalf("packet %d after the switch has the old payload type %d", i, oldPT)
		}
	}
}

// checkCodecChangeLogged fails unless the gateway logged exactly one
// "trunk codec changed" line per change, with the old and new codecs.
func checkCodecChangeLogged(t *testing.T, e *env, changes [][2]string) {
	t.Helper()
	var lines []string
	lines = append(lines, e.logs.Lines(`msg="trunk codec changed"`)...)
	if len(lines) != len(changes) {
		t.Fatalf("%d trunk codec changed lines, want %d:\n%s", len(lines), len(changes), strings.Join(lines, ""))
	}
	for i, c := range changes {
		for _, want := range []string{`old="` + c[0] + `"`, `new="` + c[1] + `"`, "call_id=", "sip_call_id="} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("change %d logged without %s:\n%s", i, want, lines[i])
			}
		}
	}
}

// checkEnded hangs call id up from the browser and fails unless the
// call's log line has every fragment of want.
func checkEnded(t *testing.T, e *env, b *gobrowser.Client, id string, want []string) {
	t.Helper()
	b.Send(t, signaling.Hangup{CallID: id})
	expect[signaling.HangupEvent](t, b)
	line := endedLine(t, e)
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("call log line lacks %q:\n%s", w, line)
		}
	}
}

// Early media on a 183 in PCMU, then the 200 OK answers PCMA (RFC 3261
// section 13.2.1: the 2xx's answer counts).
func TestTrunkCodecChangeAfterEarlyMedia(t *testing.T) {
	e := newEnv(t, testConfig{}, faketrunk.WithPlan(faketrunk.Plan{Manual: true}))
	b := login(t, e, "alice")
	c := dial(t, b, "c1", "5550123")
	call := e.trunk.NextCall(t)
	call.Respond(t, 183, telephony.PCMU)
	expectProgress[signaling.Progress](t, b)

	// Early media flows both ways in PCMU.
	testcodec.AssertToneLevel(t, c.Heard().WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)
	pk := call.Media().WaitPackets(t, "2 s of PCMU", func(p []rtp.Packet) bool { return len(testcodec.G711Audio(p, telephony.PCMU)) >= 2*secondOfAudio })
	testcodec.AssertToneLevel(t, testcodec.G711Audio(pk, telephony.PCMU)[secondOfAudio:], 440, 1000)

	mark := c.Heard().Len()
	call.Respond(t, 200, telephony.PCMA)
	expectProgress[signaling.Connected](t, b)

	// The browser hears the tone the trunk now sends in A-law.
	heard := c.Heard().WaitSamples(t, mark+2*secondOfAudio)
	testcodec.AssertToneLevel(t, heard[mark+secondOfAudio:], 1000, 440)
	// The trunk receives payload type 8 whose A-law carries the browser's
	// tone, in the same RTP stream.
	pk = call.Media().WaitPackets(t, "1.5 s of PCMA", func(p []rtp.Packet) bool { return len(testcodec.G711Audio(p, telephony.PCMA)) >= 3*secondOfAudio/2 })
	testcodec.AssertToneLevel(t, testcodec.G711Audio(pk, telephony.PCMA)[secondOfAudio/2:], 440, 1000)
	checkSwitch(t, pk, 0, 0, 8)
	if n := c.Breaks(); n != 0 {
		t.Errorf("the browser's stream broke %d times", n)
	}
	checkCodecChangeLogged(t, e, [][2]string{{"PCMU/8000 pt 0, telephone-event pt 101", "PCMA/8000 pt 8, telephone-event pt 101"}})
	checkEnded(t, e, b, "c1", []string{
		"trunk PCMA/8000 pt 8",
		"up: opus/48000 decode@8k (FEC, PLC) -> PCMA encode",
		"down: PCMA/8000 decode -> opus encode@8k",
	})
}

// reinviteStep is one re-INVITE of the trunk: the codec and
// telephone-event payload type it offers, and whether it then sends from a
// new RTP stream.
type reinviteStep struct {
	codec     telephony.Codec
	tePT      uint8
	newStream bool
	digit     string // sent each way after the change
}

// An established call whose trunk switches codec with re-INVITEs (RFC
// 3264 section 8.3.2), for a browser in Opus and one in PCMU, whose
// passthrough becomes transcoding and back.
func TestTrunkCodecChangeByReinvite(t *testing.T) {
	tests := []struct {
		name    string
		pcmu    bool // the browser speaks PCMU, else Opus
		steps   []reinviteStep
		changes [][2]string
		ended   []string
	}{
		{
			name:  "opus browser, PCMU to PCMA from a new RTP stream with a new telephone-event payload type",
			steps: []reinviteStep{{telephony.PCMA, 96, true, "5"}},
			changes: [][2]string{
				{"PCMU/8000 pt 0, telephone-event pt 101", "PCMA/8000 pt 8, telephone-event pt 96"},
			},
			ended: []string{"trunk PCMA/8000 pt 8", "-> PCMA encode", "down: PCMA/8000 decode -> opus"},
		},
		{
			name:    "opus browser, only the telephone-event payload type changes",
			steps:   []reinviteStep{{telephony.PCMU, 96, false, "1"}},
			changes: [][2]string{{"PCMU/8000 pt 0, telephone-event pt 101", "PCMU/8000 pt 0, telephone-event pt 96"}},
			ended:   []string{"trunk PCMU/8000 pt 0", "-> PCMU encode", "down: PCMU/8000 decode -> opus"},
		},
		{
			name:  "PCMU browser, passthrough to transcoding and back",
			pcmu:  true,
			steps: []reinviteStep{{telephony.PCMA, 101, false, "3"}, {telephony.PCMU, 101, true, "9"}},
			changes: [][2]string{
				{"PCMU/8000 pt 0, telephone-event pt 101", "PCMA/8000 pt 8, telephone-event pt 101"},
				{"PCMA/8000 pt 8, telephone-event pt 101", "PCMU/8000 pt 0, telephone-event pt 101"},
			},
			ended: []string{"trunk PCMU/8000 pt 0", "up: PCMU/8000 passthrough -> PCMU re-chunk", "down: PCMU/8000 passthrough -> PCMU re-chunk"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, testConfig{}, faketrunk.WithPlan(faketrunk.Plan{Manual: true}))
			b := login(t, e, "alice")
			var browser *gobrowser.Peer
			if tt.pcmu {
				browser = dialPCMU(t, b, "c1", "5550123")
			} else {
				browser = dial(t, b, "c1", "5550123")
			}
			heard := browser.Heard()
			call := e.trunk.NextCall(t)
			call.Respond(t, 200, telephony.PCMU)
			expectProgress[signaling.Connected](t, b)
			testcodec.AssertToneLevel(t, heard.WaitSamples(t, 2*secondOfAudio)[secondOfAudio:], 1000, 440)

			pt := telephony.PCMU.PayloadType
			for i, step := range tt.steps {
				mark, before := heard.Len(), len(call.Media().Packets())
				answer := call.Reinvite(t, step.codec, step.tePT, step.newStream)
				if len(answer.Codecs) != 1 || answer.Codecs[0].PayloadType != step.codec.PayloadType || answer.TelephoneEventPT != step.tePT {
					t.Fatalf("step %d: the gateway answered %v with telephone-event %d", i, answer.Codecs, answer.TelephoneEventPT)
				}
				h := heard.WaitSamples(t, mark+2*secondOfAudio)
				testcodec.AssertToneLevel(t, h[mark+secondOfAudio:], 1000, 440)
				newPT := step.codec.PayloadType
				pk := call.Media().WaitPackets(t, "1.5 s of "+step.codec.Name, func(p []rtp.Packet) bool {
					return len(testcodec.G711Audio(p[before:], step.codec)) >= 3*secondOfAudio/2
				})
				testcodec.AssertToneLevel(t, testcodec.G711Audio(pk[before:], step.codec)[secondOfAudio/2:], 440, 1000)
				if newPT != pt {
					checkSwitch(t, pk, before, pt, newPT)
				}
				pt = newPT

				// DTMF both ways with the telephone-event payload type of
				// the re-INVITE.
				sent := len(call.Media().Packets())
				b.Send(t, signaling.DTMF{CallID: "c1", Digits: step.digit})
				call.Media().WaitPackets(t, "digit "+step.digit, func(p []rtp.Packet) bool { return testcodec.Digits(p[sent:], step.tePT) == step.digit })
				call.Media().SendDigits("7")
				if d := expect[signaling.DTMFEvent](t, b); d.Digit != "7" {
					t.Errorf("step %d: browser got digit %q, want 7", i, d.Digit)
				}
			}
			if n := browser.Breaks(); n != 0 {
				t.Errorf("the browser's stream broke %d times at a codec change", n)
			}
			checkCodecChangeLogged(t, e, tt.changes)
			checkEnded(t, e, b, "c1", tt.ended)
		})
	}
}
