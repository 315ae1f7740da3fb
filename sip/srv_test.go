package sip

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/testdns"
)

// TestTargets: the addresses of a trunk as RFC 3263 orders them, from the
// test's DNS server.
func TestTargets(t *testing.T) {
	ip := netip.MustParseAddr
	zone := testdns.Zone{
		SRV: map[string][]net.SRV{
			"_sip._udp.carrier.test": {
				{Target: "backup.carrier.test", Port: 5072, Priority: 20, Weight: 0},
				{Target: "main.carrier.test", Port: 5071, Priority: 10, Weight: 0},
			},
			"_sips._tcp.carrier.test": {{Target: "tls.carrier.test", Port: 5061, Priority: 10}},
		},
		A: map[string][]netip.Addr{
			"main.carrier.test":   {ip("127.0.0.1")},
			"backup.carrier.test": {ip("127.0.0.2"), ip("127.0.0.3")},
			"tls.carrier.test":    {ip("127.0.0.4")},
			"carrier.test":        {ip("127.0.0.5"), ip("127.0.0.6")},
			"plain.test":          {ip("127.0.0.7")},
		},
	}
	res := testdns.Start(t, zone)
	tests := []struct {
		name  string
		trunk Trunk
		want  string
	}{
		{"IP address", Trunk{Host: "127.0.0.9", Port: 5080}, "127.0.0.9:5080"},
		{"A records, each", Trunk{Host: "carrier.test", Port: 5060}, "127.0.0.5:5060 127.0.0.6:5060"},
		{"SRV by priority, every address", Trunk{Host: "carrier.test", Port: 5060, SRV: true},
			"127.0.0.1:5071 127.0.0.2:5072 127.0.0.3:5072"},
		{"SRV of tls", Trunk{Host: "carrier.test", Port: 5061, SRV: true, Transport: "tls"}, "127.0.0.4:5061"},
		{"no SRV record: A records", Trunk{Host: "plain.test", Port: 5060, SRV: true}, "127.0.0.7:5060"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.trunk.Name = "carrier"
			ua := &UA{cfg: Config{Resolver: res}}
			ua.trunks.Store(&[]*trunk{{Trunk: tt.trunk}})
			ua.log = testLogger(t)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			got, err := ua.Targets(ctx, "carrier")
			if err != nil {
				t.Fatalf("Targets: %v", err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if strings.Join(s, " ") != tt.want {
				t.Errorf("Targets = %v, want %s", s, tt.want)
			}
		})
	}
	ua := &UA{cfg: Config{Resolver: res}}
	ua.trunks.Store(&[]*trunk{{Trunk: Trunk{Name: "carrier", Host: "nowhere.test", Port: 5060}}})
	if _, err := ua.Targets(t.Context(), "carrier"); err == nil {
		t.Errorf("Targets of a name that does not resolve: no error")
	}
}

// TestShuffleWeighted: within one priority, a record of weight 3 comes
// first three times as often as one of weight 1; weight 0 comes last.
func TestShuffleWeighted(t *testing.T) {
	type rec struct {
		name   string
		weight int
	}
	first := map[string]int{}
	const n = 4000
	for range n {
		s := []rec{{"zero", 0}, {"one", 1}, {"three", 3}}
		ShuffleWeighted(s, func(r rec) int { return r.weight })
		if s[2].name != "zero" {
			t.Fatalf("order %v: weight 0 must come last", s)
		}
		first[s[0].name]++
	}
	if first["three"] < 2800 || first["three"] > 3200 {
		t.Errorf("weight 3 first %d times of %d, want about 3000", first["three"], n)
	}
	if !slices.Equal([]int{1, 2}, func() []int { s := []int{1, 2}; ShuffleWeighted(s, func(int) int { return 0 }); return s }()) {
		t.Errorf("all weights 0 must keep the order")
	}
}

// TestDialTarget: a trunk given by name is called at the target address
// given in the request, with its host name in the Request-URI.
func TestDialTarget(t *testing.T) {
	peer := newWirePeer(t)
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "carrier.test", Port: 5060}}})
	dialed := dialAsync(t.Context(), env, DialRequest{Trunk: "carrier", To: "+15557654321", Target: peer.Addr()})
	inv := peer.ExpectRequest(sipmsg.INVITE, 5*time.Second)
	if inv.Recipient.Host != "carrier.test" {
		t.Errorf("Request-URI host %q, want carrier.test", inv.Recipient.Host)
	}
	peer.Send(peer.Reply(inv, 486, "Busy Here", nil), env.addr)
	peer.ExpectRequest(sipmsg.ACK, 5*time.Second)
	if r := <-dialed; r.err == nil {
		t.Errorf("Dial succeeded against a 486")
	}
}
