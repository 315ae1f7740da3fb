package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// TestIncomingCallBindsPortsOnRing: INVITEs reach the handler without taking RTP ports; Ring
// binds a pair, Reject gives it back.
func TestIncomingCallBindsPortsOnRing(t *testing.T) {
	peer, env := inboundUA(t, nil)
	var calls []*IncomingCall
	var invites []*sipmsg.Request
	for i := range 3 {
		inv := peer.SendText(peer.InviteText(env.addr, "15557654321", fmt.Sprintf("z9hG4bK-bind-%d-%s", i, newID()), "bind-"+newID()+"@test", faketrunk.PCMUSDP(40020, "sendrecv")), env.addr)
		invites = append(invites, inv)
		calls = append(calls, awaitIncoming(t, env))
	}
	if n := env.pool.InUse(); n != 0 {
		t.Fatalf("%d RTP port pairs in use by calls not yet rung, want 0", n)
	}
	if err := calls[0].Ring(); err != nil {
		t.Fatalf("Ring: %v", err)
	}
	if n := env.pool.InUse(); n != 1 {
		t.Fatalf("%d RTP port pairs in use after one Ring, want 1", n)
	}
	for i, ic := range calls {
		if err := ic.Reject(486, "Busy Here"); err != nil {
			t.Fatalf("Reject: %v", err)
		}
		res := peer.ExpectResponse(invites[i], 486, 5*time.Second)
		peer.Send(peer.ACKFailure(invites[i], res), env.addr)
	}
	if n := env.pool.InUse(); n != 0 {
		t.Fatalf("%d RTP port pairs in use after Reject, want 0", n)
	}
}

// TestRingWithoutPorts: when every RTP port pair is taken, Ring fails with ErrNoPorts and the
// trunk gets 503 with Retry-After.
func TestRingWithoutPorts(t *testing.T) {
	peer := newWirePeer(t)
	base := 20000 + 2*int(randUint64()%4000)
	pool, err := NewPortPool(netip.MustParseAddr("127.0.0.1"), base, base+1)
	if err != nil {
		t.Fatal(err)
	}
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}, RTPPorts: pool})
	held, err := pool.Listen()
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer held.Close()
	inv := peer.SendText(peer.InviteText(env.addr, "15557654321", "z9hG4bK-noports-"+newID(), "noports-"+newID()+"@test", faketrunk.PCMUSDP(40030, "sendrecv")), env.addr)
	ic := awaitIncoming(t, env)
	if err := ic.Ring(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Ring: %v, want ErrNoPorts", err)
	}
	res := peer.ExpectResponse(inv, 503, 5*time.Second)
	if res.GetHeader("Retry-After") == nil {
		t.Errorf("503 without Retry-After:\n%s", res)
	}
	peer.Send(peer.ACKFailure(inv, res), env.addr)
	if pool.Exhausted() == 0 {
		t.Error("PortPool.Exhausted() = 0 after a failed Ring")
	}
}

// TestInviteRateLimit: a source that sends more new INVITEs than its bucket holds gets 503
// with Retry-After for the extra ones, before any handler runs, and they are counted.
func TestInviteRateLimit(t *testing.T) {
	peer := newWirePeer(t)
	env := startUA(t, Config{Trunks: []Trunk{inboundTrunk()}, InviteRate: 0.1, InviteBurst: 3}, func(ic *IncomingCall) {
		_ = ic.Reject(486, "Busy Here")
	})
	codes := inviteBurst(t, peer, env, func(i int) string {
		return peer.InviteText(env.addr, "15557654321", fmt.Sprintf("z9hG4bK-rate-%d-%s", i, newID()), "rate-"+newID()+"@test", faketrunk.PCMUSDP(40040, "sendrecv"))
	})
	if codes[486] != 3 || codes[503] != 3 {
		t.Errorf("final responses %v, want 3 x 486 (handled) and 3 x 503 (over the rate)", codes)
	}
	if got := env.ua.Stats().InviteRateLimited; got != 3 {
		t.Errorf("Stats().InviteRateLimited = %d, want 3", got)
	}
}

// inviteBurst sends six new INVITEs from peer, the text of each made by invite from its index,
// and counts their final responses by status code. Each failure is acknowledged; a 503 must
// carry Retry-After (RFC 3261 section 21.5.4).
func inviteBurst(t *testing.T, peer *faketrunk.Wire, env *testEnv, invite func(i int) string) map[int]int {
	t.Helper()
	codes := map[int]int{}
	for i := range 6 {
		inv := peer.SendText(invite(i), env.addr)
		res := peer.ExpectFinal(inv, 5*time.Second)
		codes[res.StatusCode]++
		if res.StatusCode == 503 && res.GetHeader("Retry-After") == nil {
			t.Errorf("503 without Retry-After:\n%s", res)
		}
		peer.Send(peer.ACKFailure(inv, res), env.addr)
	}
	return codes
}
