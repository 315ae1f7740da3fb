package sip

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// fakeServerTx is a server transaction that records responses, for feeding requests straight
// into the user agent's handlers.
type fakeServerTx struct {
	mu        sync.Mutex
	responses []*sipmsg.Response
	done      chan struct{}
	acks      chan *sipmsg.Request
	onTerm    []sipmsg.FnTxTerminate
	closed    bool
}

func newFakeServerTx() *fakeServerTx {
	return &fakeServerTx{done: make(chan struct{}), acks: make(chan *sipmsg.Request)}
}

func (f *fakeServerTx) Respond(res *sipmsg.Response) error {
	f.mu.Lock()
	f.responses = append(f.responses, res)
	f.mu.Unlock()
	if res.StatusCode >= 300 {
		f.Terminate()
	}
	return nil
}

func (f *fakeServerTx) Acks() <-chan *sipmsg.Request    { return f.acks }
func (f *fakeServerTx) OnCancel(sipmsg.FnTxCancel) bool { return true }
func (f *fakeServerTx) Done() <-chan struct{}           { return f.done }
func (f *fakeServerTx) Err() error                      { return nil }
func (f *fakeServerTx) OnTerminate(fn sipmsg.FnTxTerminate) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.onTerm = append(f.onTerm, fn)
	return true
}

func (f *fakeServerTx) Terminate() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	close(f.done)
	fns := f.onTerm
	f.mu.Unlock()
	for _, fn := range fns {
		fn("fake", sipmsg.ErrTransactionTerminated)
	}
}

func (f *fakeServerTx) final() []*sipmsg.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sipmsg.Response
	for _, r := range f.responses {
		if r.StatusCode >= 200 {
			out = append(out, r)
		}
	}
	return out
}

const fuzzInvite = "INVITE sip:15557654321@127.0.0.1:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-fuzz\r\n" +
	"From: <sip:15551230000@127.0.0.1>;tag=abc\r\n" +
	"To: <sip:15557654321@127.0.0.1>\r\n" +
	"Call-ID: fuzz@test\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:peer@127.0.0.1:5099>\r\n" +
	"Max-Forwards: 70\r\n" +
	"%HEADERS%" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: %LEN%\r\n\r\n%BODY%"

func fuzzMessage(headers, body string) []byte {
	s := strings.NewReplacer("%HEADERS%", headers, "%LEN%", itoa(len(body)), "%BODY%", body).Replace(fuzzInvite)
	return []byte(s)
}

// FuzzIncomingInvite feeds arbitrary INVITEs (headers and bodies) to the user agent's INVITE
// handling. Every INVITE must get exactly one final response with a code this package means
// to send (never 500, never a panic), and no RTP port or call may be left behind.
func FuzzIncomingInvite(f *testing.F) {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	f.Add(fuzzMessage("", good))
	f.Add(fuzzMessage("", ""))
	f.Add(fuzzMessage("", "v=0\r\nm=audio"))
	f.Add(fuzzMessage("", strings.Replace(good, "RTP/AVP 0 101", "RTP/AVP 18", 1)))
	f.Add(fuzzMessage("", strings.Replace(good, "m=audio", "m=video", 1)))
	f.Add(fuzzMessage("", strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)))
	f.Add(fuzzMessage("Session-Expires: 30\r\nSupported: timer\r\n", good))
	f.Add(fuzzMessage("Session-Expires: abc;refresher=x\r\n", good))
	f.Add([]byte(strings.Replace(string(fuzzMessage("", good)), "Content-Type: application/sdp", "Content-Type: text/plain", 1)))
	f.Add([]byte(strings.Replace(string(fuzzMessage("", good)), "To: <sip:15557654321@127.0.0.1>", "To: <sip:15557654321@127.0.0.1>;tag=x", 1)))
	f.Add([]byte(strings.Replace(string(fuzzMessage("", good)), "Contact: <sip:peer@127.0.0.1:5099>\r\n", "", 1)))

	// *testing.F must not log from inside the fuzz target: discard the user agent's logs.
	quiet := slog.New(slog.DiscardHandler)
	env := startUA(f, Config{Trunks: []Trunk{inboundTrunk()}, Logger: quiet, InviteRate: -1}, func(ic *IncomingCall) {
		_ = ic.Reject(486, "Busy Here")
	})
	allowed := map[int]bool{400: true, 403: true, 415: true, 422: true, 481: true, 486: true, 488: true}

	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sipmsg.ParseMessage(data)
		if err != nil {
			return // the transport layer drops what does not parse
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok || req.Method != sipmsg.INVITE || req.Via() == nil || req.CSeq() == nil {
			return // sipgo answers these 400 before any handler runs
		}
		req.SetSource("127.0.0.1:5099")
		req.SetTransport("UDP")
		tx := newFakeServerTx()
		env.ua.onInvite(req, tx)
		finals := tx.final()
		if len(finals) != 1 {
			t.Fatalf("%d final responses, want 1: %v", len(finals), finals)
		}
		if code := finals[0].StatusCode; !allowed[code] {
			t.Fatalf("final response %d %s (%v)", code, finals[0].Reason, finals[0].GetHeader("Warning"))
		}
		if n := env.pool.InUse(); n != 0 {
			t.Fatalf("%d RTP ports in use after a rejected INVITE", n)
		}
		if n := env.ua.ActiveCalls(); n != 0 {
			t.Fatalf("%d calls active after a rejected INVITE", n)
		}
	})
}

// TestIncomingInviteResponses checks the final response chosen for malformed and unacceptable
// INVITEs (the fuzz target's seeds): 400 malformed, 415 foreign body, 422 short session
// interval, 481 unknown dialog, 488 no usable offer; an acceptable one reaches the handler.
func TestIncomingInviteResponses(t *testing.T) {
	good := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	replace := func(from, to string) []byte { // in the headers
		return []byte(strings.Replace(string(fuzzMessage("", good)), from, to, 1))
	}
	body := func(from, to string) []byte {
		return fuzzMessage("", strings.Replace(good, from, to, 1))
	}
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}}, func(ic *IncomingCall) {
		_ = ic.Reject(486, "Busy Here")
	})
	for _, tc := range []struct {
		name string
		msg  []byte
		code int
		hdr  string // a header the response must carry
	}{
		{"acceptable offer reaches the handler", fuzzMessage("", good), 486, ""},
		{"old-style hold offer is acceptable", body("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"), 486, ""},
		{"late offer reaches the handler", fuzzMessage("", ""), 486, ""},
		{"malformed SDP", fuzzMessage("", "v=0\r\nm=audio"), 400, "Warning"},
		{"no common codec", body("RTP/AVP 0 101", "RTP/AVP 18"), 488, "Warning"},
		{"no audio stream", body("m=audio", "m=video"), 488, "Warning"},
		{"session interval below Min-SE", fuzzMessage("Session-Expires: 30\r\nSupported: timer\r\n", good), 422, "Min-SE"},
		{"unreadable Session-Expires", fuzzMessage("Session-Expires: abc\r\n", good), 400, "Warning"},
		{"body not SDP", replace("Content-Type: application/sdp", "Content-Type: text/plain"), 415, "Accept"},
		{"unknown dialog", replace("To: <sip:15557654321@127.0.0.1>", "To: <sip:15557654321@127.0.0.1>;tag=x"), 481, ""},
		{"no Contact", replace("Contact: <sip:peer@127.0.0.1:5099>\r\n", ""), 400, "Warning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := sipmsg.ParseMessage(tc.msg)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			req := msg.(*sipmsg.Request)
			req.SetSource("127.0.0.1:5099")
			req.SetTransport("UDP")
			tx := newFakeServerTx()
			env.ua.onInvite(req, tx)
			finals := tx.final()
			if len(finals) != 1 || finals[0].StatusCode != tc.code {
				t.Fatalf("final responses %v, want one %d", finals, tc.code)
			}
			if tc.hdr != "" && finals[0].GetHeader(tc.hdr) == nil {
				t.Errorf("%d response lacks %s:\n%s", tc.code, tc.hdr, finals[0])
			}
			if n := env.pool.InUse(); n != 0 {
				t.Errorf("%d RTP ports in use", n)
			}
		})
	}
}

// TestUnknownSource: INVITEs from addresses no trunk allows get 403, or nothing when so configured.
func TestUnknownSource(t *testing.T) {
	for _, reject := range []bool{true, false} {
		t.Run(map[bool]string{true: "reject", false: "ignore"}[reject], func(t *testing.T) {
			tr := inboundTrunk()
			tr.AllowedSources = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			env := startUA(t, Config{Trunks: []Trunk{tr}, RejectUnknownSources: reject})
			msg, _ := sipmsg.ParseMessage(fuzzMessage("", ""))
			req := msg.(*sipmsg.Request)
			req.SetSource("127.0.0.1:5099")
			tx := newFakeServerTx()
			env.ua.onInvite(req, tx)
			finals := tx.final()
			switch {
			case reject && (len(finals) != 1 || finals[0].StatusCode != 403):
				t.Errorf("responses %v, want 403", finals)
			case !reject && len(finals) != 0:
				t.Errorf("responses %v, want none", finals)
			}
			select {
			case ic := <-env.incoming:
				t.Errorf("call from an unknown source reached the handler: %s", ic.CallID())
			default:
			}
		})
	}
}
