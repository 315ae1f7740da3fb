package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// TestDialIdentity: the caller's identity on an outbound INVITE for each
// Trunk.Identity, presented or withheld (RFC 3323, RFC 3325), with a
// display name that tries to break out of its quoted-string.
func TestDialIdentity(t *testing.T) {
	const evil = "Eve\" <sip:x@y>\r\nX-Evil: 1"
	tests := []struct {
		name     string
		identity IdentityHeader
		withheld bool
		from     string // what From must contain
		pai      string // P-Asserted-Identity, "" = absent
		rpid     string // Remote-Party-ID, "" = absent
		privacy  string
	}{
		{"from", IdentityFrom, false, "<sip:+15550100@127.0.0.1>", "", "", ""},
		{"from withheld", IdentityFrom, true, "<sip:anonymous@anonymous.invalid>", "", "", "id"},
		{"pai", IdentityPAI, false, "<sip:+15550100@127.0.0.1>", `"Eve\" <sip:x@y>X-Evil: 1" <sip:+15550100@127.0.0.1>`, "", ""},
		{"pai withheld", IdentityPAI, true, `"Anonymous" <sip:anonymous@anonymous.invalid>`, "<sip:+15550100@127.0.0.1>", "", "id"},
		{"rpid", IdentityRPID, false, "<sip:+15550100@127.0.0.1>", "", `"Eve\" <sip:x@y>X-Evil: 1" <sip:+15550100@127.0.0.1>;party=calling;screen=yes;privacy=off`, ""},
		{"rpid withheld", IdentityRPID, true, "<sip:anonymous@anonymous.invalid>", "", "<sip:+15550100@127.0.0.1>;party=calling;screen=yes;privacy=full", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, env := dialingUAWith(t, func(tr *Trunk) { tr.Identity = tt.identity })
			dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", From: "+15550100", DisplayName: evil, Withheld: tt.withheld})
			inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
			peer.Send(peer.Reply(inv, 486, "Busy Here", nil), env.addr)
			peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
			if r := <-dialed; r.err == nil {
				t.Fatalf("Dial succeeded against a 486")
			}
			if got := headerValue(inv, "From"); !strings.Contains(got, tt.from) {
				t.Errorf("From = %q, want it to contain %q", got, tt.from)
			}
			if tt.withheld && strings.Contains(headerValue(inv, "From"), "Eve") {
				t.Errorf("withheld From shows the display name: %q", headerValue(inv, "From"))
			}
			for _, h := range []struct{ name, want string }{
				{"P-Asserted-Identity", tt.pai}, {"Remote-Party-ID", tt.rpid}, {"Privacy", tt.privacy},
			} {
				if got := headerValue(inv, h.name); got != h.want {
					t.Errorf("%s = %q, want %q", h.name, got, h.want)
				}
			}
			if inv.GetHeader("X-Evil") != nil {
				t.Errorf("the display name injected a header")
			}
		})
	}
}

// TestDialSilentTrunk: a trunk that sends nothing at all is given up
// after ProgressTimeout with ErrNoProgress, well before Timer B.
func TestDialSilentTrunk(t *testing.T) {
	peer, env := dialingUA(t)
	start := time.Now()
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", ProgressTimeout: 300 * time.Millisecond})
	peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	select {
	case r := <-dialed:
		if !errors.Is(r.err, ErrNoProgress) {
			t.Errorf("Dial = %v, want ErrNoProgress", r.err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Dial returned after %v, want about 300ms", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Dial still waits for a silent trunk after 20 s")
	}
	if n := env.ua.Ports().Free(); n != env.pool.Free() {
		t.Errorf("ports free %d", n)
	}
}

// TestDialSilentAfterTrying: a trunk that answered 100 Trying but does not
// ring within ProgressTimeout gets a CANCEL (RFC 3261 section 9.1), and
// Dial returns ErrNoProgress once the INVITE is terminated.
func TestDialSilentAfterTrying(t *testing.T) {
	peer, env := dialingUA(t)
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", ProgressTimeout: 300 * time.Millisecond})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	peer.Send(peer.Reply(inv, 100, "Trying", nil), env.addr)
	cancelReq := peer.ExpectRequest(sipmsg.CANCEL, 10*time.Second)
	peer.Send(peer.Reply(cancelReq, 200, "OK", nil), env.addr)
	peer.Send(peer.Reply(inv, 487, "Request Terminated", nil), env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	if r := <-dialed; !errors.Is(r.err, ErrNoProgress) {
		t.Errorf("Dial = %v, want ErrNoProgress", r.err)
	}
}

// TestDialRingingBeatsProgressTimeout: a trunk that rings in time is not
// given up by ProgressTimeout however long it rings.
func TestDialRingingBeatsProgressTimeout(t *testing.T) {
	peer, env := dialingUA(t)
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", ProgressTimeout: 200 * time.Millisecond})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	peer.Send(peer.Reply(inv, 180, "Ringing", nil), env.addr)
	select {
	case r := <-dialed:
		t.Fatalf("Dial returned %v although the trunk rings", r.err)
	case <-time.After(time.Second):
	}
	peer.Send(peer.Reply(inv, 503, "Service Unavailable", nil), env.addr)
	r := <-dialed
	var se *StatusError
	if !errors.As(r.err, &se) || se.Code != 503 {
		t.Errorf("Dial = %v, want the 503", r.err)
	}
}

// TestStatusErrorRetryAfter reads Retry-After of a failure response.
func TestStatusErrorRetryAfter(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"120 (maintenance);duration=60", 2 * time.Minute},
		{"soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			res := sipmsg.NewResponse(503, "Service Unavailable")
			if tt.header != "" {
				res.AppendHeader(sipmsg.NewHeader("Retry-After", tt.header))
			}
			if got := statusErrorFrom(res).RetryAfter(); got != tt.want {
				t.Errorf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProbe: an OPTIONS probe gets the trunk's status code, and
// ErrNoProgress when the trunk does not answer in time.
func TestProbe(t *testing.T) {
	peer, env := dialingUA(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = env.ua.Probe(ctx, "carrier", netip.AddrPort{})
		got <- err
	}()
	opt := peer.ExpectRequest(sipmsg.OPTIONS, 5*time.Second)
	peer.Send(peer.Reply(opt, 200, "OK", nil), env.addr)
	if err := <-got; err != nil || code != 200 {
		t.Fatalf("Probe = %d, %v; want 200", code, err)
	}
	if opt.Recipient.Host != "127.0.0.1" || opt.Recipient.Port != int(peer.Addr().Port()) {
		t.Errorf("OPTIONS Request-URI %s", opt.Recipient.String())
	}

	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	if _, err := env.ua.Probe(short, "carrier", netip.AddrPort{}); !errors.Is(err, ErrNoProgress) {
		t.Errorf("Probe of a silent trunk = %v, want ErrNoProgress", err)
	}
	if _, err := env.ua.Probe(t.Context(), "nowhere", netip.AddrPort{}); !errors.Is(err, ErrUnknownTrunk) {
		t.Errorf("Probe of an unknown trunk = %v, want ErrUnknownTrunk", err)
	}
}

// TestIncomingIdentity: the caller of an inbound INVITE from P-Asserted-
// Identity when the trunk is trusted, anonymous under Privacy: id, and
// Diversion and History-Info read as entries.
func TestIncomingIdentity(t *testing.T) {
	const div = "Diversion: <sip:+442079460001@carrier.example>;reason=no-answer;counter=1\n"
	const hist = "History-Info: <sip:+442079460002@carrier.example?Reason=SIP%3Bcause%3D302>;index=1, <sip:+442079460003@carrier.example;cause=486>;index=1.1\n"
	tests := []struct {
		name    string
		trusted bool
		extra   string
		want    CallerIdentity
	}{
		{"untrusted PAI ignored", false, "P-Asserted-Identity: <sip:+15559990000@carrier.example>\n",
			CallerIdentity{Number: "+15551230000"}},
		{"trusted PAI", true, "P-Asserted-Identity: \"Bob\" <sip:+15559990000@carrier.example>, <tel:+15559990001>\n",
			CallerIdentity{Number: "+15559990000", DisplayName: "Bob", Asserted: true}},
		{"trusted tel PAI", true, "P-Asserted-Identity: <tel:+15559990001>\n",
			CallerIdentity{Number: "+15559990001", Asserted: true}},
		{"privacy id", true, "P-Asserted-Identity: <sip:+15559990000@carrier.example>\nPrivacy: id\n",
			CallerIdentity{Number: "anonymous", Withheld: true, Asserted: true}},
		{"diversion and history", false, div + hist, CallerIdentity{
			Number:    "+15551230000",
			Diversion: []Redirection{{Number: "+442079460001", Reason: "no-answer"}},
			History:   []Redirection{{Number: "+442079460002", Index: "1"}, {Number: "+442079460003", Reason: "486", Index: "1.1"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, env := inboundUA(t, func(tr *Trunk) { tr.TrustIdentity = tt.trusted })
			text := peer.InviteText(env.addr, "15557654321", "z9hG4bK-id-"+strings.ReplaceAll(tt.name, " ", "-"), "id-"+strings.ReplaceAll(tt.name, " ", "-"), faketrunk.PCMUSDP(40000, "sendrecv"))
			text = strings.Replace(text, "Max-Forwards: 70\n", "Max-Forwards: 70\n"+tt.extra, 1)
			peer.SendText(text, env.addr)
			ic := awaitIncoming(t, env)
			got := ic.Identity()
			if !equalIdentity(got, tt.want) {
				t.Errorf("Identity = %+v, want %+v", got, tt.want)
			}
			_ = ic.Reject(486, "Busy Here")
		})
	}
}

// equalIdentity compares two CallerIdentity values field by field.
func equalIdentity(a, b CallerIdentity) bool {
	eq := func(x, y []Redirection) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return a.Number == b.Number && a.DisplayName == b.DisplayName && a.Withheld == b.Withheld &&
		a.Asserted == b.Asserted && eq(a.Diversion, b.Diversion) && eq(a.History, b.History)
}
