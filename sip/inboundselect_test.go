package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// selectTrunks are four trunks on one source address (127.0.0.1) told apart
// by their selectors; "fallback" has none.
func selectTrunks(withFallback bool) []Trunk {
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	ts := []Trunk{
		{Name: "by-host", Host: "127.0.0.1", AllowedSources: local, Inbound: InboundSelect{RequestHost: "pbx-a.example"}},
		{Name: "by-header", Host: "127.0.0.1", AllowedSources: local, Inbound: InboundSelect{Header: "X-Trunk", HeaderValue: "b"}},
		{Name: "by-user", Host: "127.0.0.1", AllowedSources: local, Inbound: InboundSelect{RequestUser: "+4420"}},
	}
	if withFallback {
		ts = append(ts, Trunk{Name: "fallback", Host: "127.0.0.1", AllowedSources: local})
	}
	return ts
}

// inviteFor is an INVITE from the wire for user@host with extra header lines.
func inviteFor(p *faketrunk.Wire, dst netip.AddrPort, user, host, extra, id string) string {
	text := p.InviteText(dst, user, "z9hG4bK-"+id, id, faketrunk.PCMUSDP(40000, "sendrecv"))
	_, rest, _ := strings.Cut(text, "\n")
	first := fmt.Sprintf("INVITE sip:%s@%s SIP/2.0", user, host)
	return first + "\n" + strings.Replace(rest, "Max-Forwards: 70\n", "Max-Forwards: 70\n"+extra, 1)
}

// TestInboundTrunkSelection: trunks sharing a source address are told
// apart by Request-URI host, Request-URI user and a header; an INVITE no
// selector matches goes to the trunk without selectors, or is refused with
// 403 when there is none.
func TestInboundTrunkSelection(t *testing.T) {
	tests := []struct {
		name     string
		fallback bool
		user     string
		host     string
		extra    string
		want     string // trunk, or "" for a 403
	}{
		{"request host", true, "15557654321", "pbx-a.example", "", "by-host"},
		{"request host any case", true, "15557654321", "PBX-A.example", "", "by-host"},
		{"header", true, "15557654321", "127.0.0.1", "X-Trunk: b\n", "by-header"},
		{"header with another value", true, "15557654321", "127.0.0.1", "X-Trunk: c\n", "fallback"},
		{"request user prefix", true, "+442079460000", "127.0.0.1", "", "by-user"},
		{"no selector matches", true, "15557654321", "127.0.0.1", "", "fallback"},
		{"no selector matches, no fallback", false, "15557654321", "127.0.0.1", "", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newWirePeer(t)
			env := startUA(t, Config{Trunks: selectTrunks(tt.fallback)})
			req := peer.SendText(inviteFor(peer, env.addr, tt.user, tt.host, tt.extra, fmt.Sprintf("sel-%d", i)), env.addr)
			if tt.want == "" {
				peer.ExpectResponse(req, 403, 5*time.Second)
				return
			}
			ic := awaitIncoming(t, env)
			if ic.Trunk() != tt.want {
				t.Errorf("INVITE went to trunk %q, want %q", ic.Trunk(), tt.want)
			}
			_ = ic.Reject(486, "Busy Here")
			peer.ExpectResponse(req, 486, 5*time.Second)
		})
	}
}

// TestInboundDigest: a trunk that admits INVITEs from any address by
// digest: no credentials get a 401 challenge, the right ones make the call,
// a wrong password or unknown user gets 403, an expired nonce a stale 401
// (RFC 3261 section 22.2, RFC 2617 section 3.2.1).
func TestInboundDigest(t *testing.T) {
	pbx := Trunk{Name: "pbx", Host: "192.0.2.50", AllowedSources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Inbound: InboundSelect{DigestUser: "pbx", DigestPassword: "s3cret", DigestRealm: "gw.test"}}
	tests := []struct {
		name       string
		user, pass string
		stale      bool // answer a nonce issued 10 minutes ago
		want       int  // 0: the call is taken
	}{
		{"right credentials", "pbx", "s3cret", false, 0},
		{"wrong password", "pbx", "guess", false, 403},
		{"unknown user", "mallory", "s3cret", false, 403},
		{"expired nonce", "pbx", "s3cret", true, 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newWirePeer(t)
			env := startUA(t, Config{Trunks: []Trunk{pbx}})
			id := fmt.Sprintf("dig-%d", i)
			first := peer.SendText(inviteFor(peer, env.addr, "15557654321", "127.0.0.1", "", id), env.addr)
			res := peer.ExpectResponse(first, 401, 5*time.Second)
			peer.Send(peer.ACKFailure(first, res), env.addr)
			chal, err := digest.ParseChallenge(headerValue(res, "WWW-Authenticate"))
			if err != nil || chal.Realm != "gw.test" || !chal.SupportsQOP("auth") {
				t.Fatalf("challenge %q: %v", headerValue(res, "WWW-Authenticate"), err)
			}
			if tt.stale {
				chal.Nonce = env.ua.nonces.New(time.Now().Add(-10 * time.Minute))
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:15557654321@127.0.0.1", Username: tt.user, Password: tt.pass})
			if err != nil {
				t.Fatal(err)
			}
			text := inviteFor(peer, env.addr, "15557654321", "127.0.0.1", "Authorization: "+cred.String()+"\n", id+"-2")
			text = strings.Replace(text, "Call-ID: "+id+"-2", "Call-ID: "+id, 1)
			text = strings.Replace(text, "CSeq: 7 INVITE", "CSeq: 8 INVITE", 1)
			second := peer.SendText(text, env.addr)
			if tt.want != 0 {
				res := peer.ExpectResponse(second, tt.want, 5*time.Second)
				if tt.want == 401 && !strings.Contains(headerValue(res, "WWW-Authenticate"), "stale=true") {
					t.Errorf("401 for an expired nonce lacks stale=true: %q", headerValue(res, "WWW-Authenticate"))
				}
				return
			}
			ic := awaitIncoming(t, env)
			if ic.Trunk() != "pbx" {
				t.Errorf("INVITE went to trunk %q, want pbx", ic.Trunk())
			}
			_ = ic.Reject(486, "Busy Here")
			peer.ExpectResponse(second, 486, 5*time.Second)
		})
	}
}

// TestInboundDigestRateLimited: an address no trunk allows, trying digest
// credentials, is held to the per-source INVITE rate before any challenge
// or check: past the burst it gets 503 with Retry-After, counted.
func TestInboundDigestRateLimited(t *testing.T) {
	pbx := Trunk{Name: "pbx", Host: "192.0.2.50", AllowedSources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Inbound: InboundSelect{DigestUser: "pbx", DigestPassword: "s3cret", DigestRealm: "gw.test"}}
	peer := newWirePeer(t)
	env := startUA(t, Config{Trunks: []Trunk{pbx}, InviteRate: 0.1, InviteBurst: 3})
	codes := inviteBurst(t, peer, env, func(i int) string {
		return inviteFor(peer, env.addr, "15557654321", "127.0.0.1", "", fmt.Sprintf("digrate-%d-%s", i, newID()))
	})
	if codes[401] != 3 || codes[503] != 3 {
		t.Errorf("final responses %v, want 3 x 401 (challenged) and 3 x 503 (over the rate)", codes)
	}
	if got := env.ua.Stats().InviteRateLimited; got != 3 {
		t.Errorf("Stats().InviteRateLimited = %d, want 3", got)
	}
}
