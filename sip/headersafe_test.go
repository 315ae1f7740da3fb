package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

// hostileName is a display name that, written into a quoted-string as it is, closes the string
// and adds a second From value with a tag of its own.
const hostileName = `Evil" <sip:+19005550000@evil.example>;tag=spoof, "x`

// TestDialHostileDisplayName: a display name with quotes, a URI, a tag and a comma reaches the
// trunk as one From header whose display name is that text, escaped; a caller ID that is neither
// E.164 nor dialable fails Dial before anything is sent.
func TestDialHostileDisplayName(t *testing.T) {
	peer, env := dialingUA(t)
	for _, name := range []string{hostileName, "back\\slash\r\nX-Injected: 1", "ctl\x00\x07\x1b[31m\xff\xfe"} {
		dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", From: "+15551230000", DisplayName: name})
		inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
		assertOneAddress(t, inv)
		if got, want := unquoteDisplayName(inv.From().DisplayName), DisplayName(name); got != want {
			t.Errorf("display name %q arrived as %q, want %q", name, got, want)
		}
		if strings.Contains(inv.String(), "X-Injected") && inv.GetHeader("X-Injected") != nil {
			t.Errorf("display name %q added a header", name)
		}
		if u := inv.From().Address.User; u != "+15551230000" {
			t.Errorf("From user %q, want +15551230000", u)
		}
		busy := peer.Reply(inv, 486, "Busy Here", nil)
		peer.Send(busy, env.addr)
		if r := <-dialed; r.err == nil {
			t.Fatalf("Dial succeeded against a 486")
		}
	}
	for _, from := range []string{`1555" <sip:x@evil>`, "+1555;tag=x", "alice", "+"} {
		_, err := env.ua.Dial(t.Context(), DialRequest{Trunk: "carrier", To: "+15557654321", From: from})
		if !errors.Is(err, telephony.ErrInvalidNumber) {
			t.Errorf("Dial from %q: %v, want ErrInvalidNumber", from, err)
		}
	}
}

// assertOneAddress checks that a request has exactly one From, To and Contact, on the wire too.
func assertOneAddress(t *testing.T, req *sipmsg.Request) {
	t.Helper()
	wire := req.String()
	msg, err := sipmsg.ParseMessage([]byte(wire))
	if err != nil {
		t.Fatalf("request does not parse: %v\n%s", err, wire)
	}
	for _, h := range []string{"From", "To", "Contact"} {
		if n := len(msg.GetHeaders(h)); n != 1 {
			t.Fatalf("%d %s headers, want 1:\n%s", n, h, wire)
		}
		lines := 0
		for _, line := range strings.Split(wire, "\r\n") {
			if name, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), h) {
				lines++
			}
		}
		if lines != 1 {
			t.Fatalf("%d %s lines on the wire, want 1:\n%s", lines, h, wire)
		}
	}
}

func TestDisplayName(t *testing.T) {
	long := strings.Repeat("é", 100)
	tests := []struct{ in, clean, quoted string }{
		{"Alice", "Alice", "Alice"},
		{hostileName, hostileName, `Evil\" <sip:+19005550000@evil.example>;tag=spoof, \"x`},
		{`a\b`, `a\b`, `a\\b`},
		{"  pad \t\r\n ", "pad", "pad"},
		{"bad\xffutf8", "badutf8", "badutf8"},
		{"line\u2028sep", "linesep", "linesep"},
		{long, strings.Repeat("é", MaxDisplayNameLen), strings.Repeat("é", MaxDisplayNameLen)},
	}
	for _, tc := range tests {
		if got := DisplayName(tc.in); got != tc.clean {
			t.Errorf("DisplayName(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if got := quoteDisplayName(tc.in); got != tc.quoted {
			t.Errorf("quoteDisplayName(%q) = %q, want %q", tc.in, got, tc.quoted)
		}
		if got := unquoteDisplayName(quoteDisplayName(tc.in)); got != tc.clean {
			t.Errorf("unquote(quote(%q)) = %q, want %q", tc.in, got, tc.clean)
		}
	}
}

func TestNumberUser(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		ok      bool
	}{
		{"+15551230000", "+15551230000", true},
		{"0015551230000", "0015551230000", true},
		{"*67#", "*67%23", true},
		{"", "", false},
		{"+", "", false},
		{"+1555;x", "", false},
		{"alice", "", false},
		{"1555@evil", "", false},
	} {
		got, err := numberUser(tc.in)
		if (err == nil) != tc.ok || got != tc.out {
			t.Errorf("numberUser(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.out, tc.ok)
		}
		if err != nil && !errors.Is(err, telephony.ErrInvalidNumber) {
			t.Errorf("numberUser(%q) error %v does not wrap ErrInvalidNumber", tc.in, err)
		}
	}
}

// FuzzBuildInvite builds INVITEs with arbitrary display names and caller IDs: numbers that are
// neither E.164 nor dialable are refused, and every INVITE built parses with sipgo's parser,
// has exactly one From, To and Contact, and carries the display name as DisplayName makes it.
func FuzzBuildInvite(f *testing.F) {
	for _, s := range []string{"Alice", hostileName, "a\\\"b", "\r\nVia: x", "\xff\xfe", strings.Repeat("\"", 80), ""} {
		f.Add(s, "+15551230000")
	}
	f.Add("Bob", "*67#")
	f.Add("Bob", "1555<sip:x>")
	ua, err := NewUA(Config{
		Listeners: []Listener{{Transport: telephony.TransportUDP, Addr: "127.0.0.1:0"}},
		RTPPorts:  uaPortPool(f),
		Trunks:    []Trunk{{Name: "carrier", Host: "192.0.2.10"}},
	})
	if err != nil {
		f.Fatal(err)
	}
	ua.cfg.PublicHost = "192.0.2.1"
	b := &boundListener{transport: telephony.TransportUDP, local: netip.MustParseAddrPort("192.0.2.1:5060"), publicPort: 5060}
	offer, err := BuildOffer(SDPParams{Addr: netip.MustParseAddrPort("192.0.2.1:10000"), Codecs: []telephony.Codec{telephony.PCMU}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, display, caller string) {
		user, err := numberUser(caller)
		if err != nil {
			if caller != "" && (telephony.IsE164(caller) || telephony.Dialable(caller)) {
				t.Fatalf("numberUser refused %q: %v", caller, err)
			}
			user = "anonymous"
		}
		inv := ua.buildInvite(ua.trunkList()[0], b, display, user, "15557654321", offer)
		wire := inv.String()
		msg, err := sipmsg.ParseMessage([]byte(wire))
		if err != nil {
			t.Fatalf("INVITE does not parse: %v\n%q", err, wire)
		}
		for _, h := range []string{"From", "To", "Contact", "Call-ID", "CSeq"} {
			if n := len(msg.GetHeaders(h)); n != 1 {
				t.Fatalf("%d %s headers, want 1:\n%q", n, h, wire)
			}
		}
		req := msg.(*sipmsg.Request)
		want := DisplayName(display)
		if got := unquoteDisplayName(req.From().DisplayName); got != want {
			t.Fatalf("display name %q arrived as %q, want %q", display, got, want)
		}
		if utf8.RuneCountInString(want) > MaxDisplayNameLen {
			t.Fatalf("display name of %d characters", utf8.RuneCountInString(want))
		}
		if req.From().Address.User != user || req.From().Address.Host != "192.0.2.10" {
			t.Fatalf("From %s, want user %q at 192.0.2.10", req.From().Address.String(), user)
		}
	})
}
