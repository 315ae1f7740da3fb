package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
)

// recordSlack is how far a record's time may be from the time the test
// observed the same event.
const recordSlack = 50 * time.Millisecond

// waitRecords waits until the JSON Lines file at path holds n records and
// returns them.
func waitRecords(t *testing.T, path string, n int) []cdr.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var recs []cdr.Record
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var r cdr.Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("record line %q: %v", sc.Text(), err)
			}
			recs = append(recs, r)
		}
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records in %s after 10 s, want %d:\n%s", len(recs), path, n, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRecord waits until the JSON Lines file at path holds a record
// matching match, and returns it.
func waitRecord(t *testing.T, path string, match func(cdr.Record) bool) cdr.Record {
	t.Helper()
	for n := 1; ; n++ {
		recs := waitRecords(t, path, n)
		for _, r := range recs {
			if match(r) {
				return r
			}
		}
		n = len(recs)
	}
}

// near fails the test unless got is within recordSlack of want.
func near(t *testing.T, what string, got cdr.Time, want time.Time) {
	t.Helper()
	if d := got.Sub(want); got.IsZero() || d < -recordSlack || d > recordSlack {
		t.Errorf("%s %v, observed %v (off by %v)", what, got.Time, want.UTC(), got.Sub(want))
	}
}

// TestCallRecordFile: an answered outbound call, a refused dial and an
// inbound call for an unknown DID each leave one JSON line in cdr.file,
// with the times the test observed (within 50 ms), the numbers as dialled
// and as sent, the trunk, the end reason and the media counters.
func TestCallRecordFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cdr.jsonl")
	e := newEnv(t, testConfig{extra: "cdr:\n  file: " + path + "\n"},
		faketrunk.WithPlan(faketrunk.Plan{Ring: 300 * time.Millisecond}))
	b := login(t, e, "alice")
	obs := observedCall(t, e, b, "c1", "5550123")
	start, ring, answer, end, ended, tc := obs.start, obs.ring, obs.answer, obs.end, obs.ended, obs.trunk
	offer := offer(t)

	refusedAt := time.Now()
	b.Send(t, signaling.Dial{ID: "c2", To: "+15559990000", SDP: offer, Ref: "c2"})
	if r := expect[signaling.ErrorReply](t, b); r.Code != signaling.CodeForbiddenNumber {
		t.Fatalf("dial of a denied number: %+v", r)
	}
	inboundAt := time.Now()
	if res := rawInvite(t, e, "+15550999"); res.StatusCode != 404 {
		t.Fatalf("INVITE for an unknown DID: %d", res.StatusCode)
	}

	recs := waitRecords(t, path, 3)
	c1, c2, in := recs[0], recs[1], recs[2]
	near(t, "start", c1.Start, start)
	near(t, "ring", c1.Ring, ring)
	near(t, "answer", c1.Answer, answer)
	near(t, "end", c1.End, end)
	if c1.End.After(ended) {
		t.Errorf("end %v after the hangup reached the browser at %v", c1.End.Time, ended.UTC())
	}
	if want := cdr.Billable(c1.Answer.Time, c1.End.Time); c1.BillableSeconds != want || want < 1 {
		t.Errorf("billable %d s, want %d (at least 1)", c1.BillableSeconds, want)
	}
	for _, c := range []struct{ what, got, want string }{
		{"id", c1.ID, "c1"},
		{"direction", c1.Direction, cdr.Outbound},
		{"user", c1.User, "alice"},
		{"from_dialled", c1.FromDialled, "+15550100"},
		{"to_dialled", c1.ToDialled, "5550123"},
		{"from", c1.From, "+15550100"},
		{"to", c1.To, "+15550123"},
		{"trunk", c1.Trunk, "fake"},
		{"reason", c1.Reason, string(signaling.ReasonLocalHangup)},
		{"sip_call_id", c1.SIPCallID, tc.Invite().CallID().Value()},
		{"browser_addr", c1.BrowserAddr, "127.0.0.1"},
		{"refused id", c2.ID, "c2"},
		{"refused reason", c2.Reason, string(signaling.CodeForbiddenNumber)},
		{"refused to_dialled", c2.ToDialled, "+15559990000"},
		{"inbound direction", in.Direction, cdr.Inbound},
		{"inbound to", in.To, "+15550999"},
		{"inbound reason", in.Reason, "no_route"},
	} {
		if c.got != c.want {
			t.Errorf("%s %q, want %q", c.what, c.got, c.want)
		}
	}
	if c1.Uplink.Packets < 50 || c1.Downlink.Packets < 50 || c1.Uplink.MOS < 4 || c1.Downlink.MOS < 4 || c1.Codecs == "" {
		t.Errorf("media up %+v down %+v codecs %q", c1.Uplink, c1.Downlink, c1.Codecs)
	}
	if c1.RecordID == "" || c1.RecordID == c2.RecordID {
		t.Errorf("record ids %q and %q", c1.RecordID, c2.RecordID)
	}
	near(t, "refused start", c2.Start, refusedAt)
	near(t, "refused end", c2.End, refusedAt)
	if !c2.Ring.IsZero() || !c2.Answer.IsZero() || c2.BillableSeconds != 0 {
		t.Errorf("refused dial rang or was answered: %+v", c2)
	}
	near(t, "inbound start", in.Start, inboundAt)
	if in.SIPCode != 404 {
		t.Errorf("inbound sip_code %d, want 404", in.SIPCode)
	}
}

// observed are the times a test saw of one call, and the trunk's call.
type observed struct {
	start, ring, answer, end, ended time.Time
	trunk                           *faketrunk.Call
}

// observedCall has b dial id to number (the trunk rings before it
// answers), exchange a second of audio and hang up, and returns when each
// step happened as the test saw it: the dial sent, ringing and connected
// received, the hangup sent (end) and its answer received (ended).
func observedCall(t *testing.T, e *env, b *gobrowser.Client, id, number string) observed {
	t.Helper()
	var o observed
	p := gobrowser.NewPeer(t, gobrowser.PeerOptions{})
	sdp := p.Offer(t)
	o.start = time.Now()
	b.Send(t, signaling.Dial{ID: id, To: number, SDP: sdp, Ref: id})
	p.ApplyAnswer(t, b.ExpectAnswer(t, id).SDP)
	expect[signaling.Ringing](t, b)
	o.ring = time.Now()
	expectProgress[signaling.Connected](t, b)
	o.answer = time.Now()
	o.trunk = e.trunk.NextCall(t)
	o.trunk.Heard().WaitSamples(t, secondOfAudio)
	p.Heard().WaitSamples(t, secondOfAudio)
	o.end = time.Now()
	b.Send(t, signaling.Hangup{CallID: id})
	expect[signaling.HangupEvent](t, b)
	o.ended = time.Now()

	return o
}
