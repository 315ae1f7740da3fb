package gateway

import (
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/testdns"
)

// silentTrunk binds a UDP socket on loopback that reads nothing and
// answers nothing (a trunk that never responds), closed at cleanup, and
// returns its address.
func silentTrunk(t *testing.T) netip.AddrPort {
	t.Helper()
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(t.Context(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })

	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// withBackup returns a testConfig edit that adds trunk "backup" at
// 127.0.0.1:port (a copy of "fake") and makes every outbound rule try
// fake, then backup; change, when set, edits both trunks further.
func withBackup(port int, change func(fake, backup *config.Trunk)) func(*config.Config) {
	return func(cfg *config.Config) {
		b := cfg.Trunks[0]
		b.Name, b.Port = "backup", port
		b.Register.Enabled = false
		cfg.Trunks = append(cfg.Trunks, b)
		for i := range cfg.Outbound {
			cfg.Outbound[i].Trunk = ""
			cfg.Outbound[i].Trunks = []config.TrunkRef{{Name: "fake"}, {Name: "backup"}}
			cfg.Outbound[i].AttemptTimeout = 2 * time.Second
		}
		if change != nil {
			change(&cfg.Trunks[0], &cfg.Trunks[1])
		}
	}
}

// TestOutboundFailover: how a failure of the first trunk of a route decides
// whether the second is tried, what the browser sees (one ringing, one
// final outcome) and the attempts the call's log line lists.
func TestOutboundFailover(t *testing.T) {
	tests := []struct {
		name       string
		first      faketrunk.Plan
		finalCodes []int
		// wantBackup: the second trunk gets the call and answers.
		wantBackup bool
		hangup     signaling.Reason // when not wantBackup
		attempts   string
	}{
		{"503 fails over", faketrunk.Plan{Reject: 503}, nil, true, "", "fake:next:503 backup:answered"},
		{"500 after ringing fails over", faketrunk.Plan{Ring: 200 * time.Millisecond, Reject: 500}, nil, true, "", "fake:next:500 backup:answered"},
		{"408 fails over", faketrunk.Plan{Reject: 408}, nil, true, "", "fake:next:408 backup:answered"},
		{"a final 5xx ends the call", faketrunk.Plan{Reject: 502}, []int{502}, false, signaling.ReasonFailed, "fake:failed:502"},
		{"busy ends the call", faketrunk.Plan{Reject: 486}, nil, false, signaling.ReasonBusy, "fake:failed:486"},
		{"a decline ends the call", faketrunk.Plan{Reject: 603}, nil, false, signaling.ReasonRejected, "fake:failed:603"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backup := faketrunk.New(t, faketrunk.WithPlan(faketrunk.Plan{Ring: 300 * time.Millisecond}))
			records := filepath.Join(t.TempDir(), "cdr.jsonl")
			e := newEnv(t, testConfig{extra: "cdr:\n  file: " + records + "\n", edit: withBackup(int(backup.Addr().Port()), func(fake, _ *config.Trunk) {
				fake.FinalCodes = tt.finalCodes
			})}, faketrunk.WithPlan(tt.first))
			b := login(t, e, "alice")
			dial(t, b, "c1", "+15550123")
			e.trunk.NextCall(t).WaitEnded(t, faketrunk.EndRejected)
			if !tt.wantBackup {
				h := expectProgress[signaling.HangupEvent](t, b)
				if h.Reason != tt.hangup {
					t.Errorf("hangup %+v, want %s", h, tt.hangup)
				}
				if n := len(backup.Requests("INVITE")); n != 0 {
					t.Errorf("backup trunk got %d INVITEs, want none", n)
				}
			} else {
				bc := backup.NextCall(t)
				rang := 0
				for {
					m := b.Expect(t, "ringing or connected", func(m signaling.Message) bool {
						switch m.(type) {
						case signaling.Ringing, signaling.Connected:
							return true
						}
						return false
					})
					if _, ok := m.(signaling.Connected); ok {
						break
					}
					rang++
				}
				if rang != 1 {
					t.Errorf("the browser was told ringing %d times, want once", rang)
				}
				bc.Bye(t)
				expect[signaling.HangupEvent](t, b)
			}
			line := e.logs.WaitLine(t, `msg="call ended"`)
			if !strings.Contains(line, "attempts=\""+tt.attempts+"\"") && !strings.Contains(line, "attempts="+tt.attempts) {
				t.Errorf("call ended line %q, want attempts %q", line, tt.attempts)
			}
			if r := waitRecord(t, records, func(r cdr.Record) bool { return r.ID == "c1" }); r.Attempts != tt.attempts {
				t.Errorf("call record attempts %q, want %q", r.Attempts, tt.attempts)
			}
		})
	}
}

// TestOutboundFailoverSilentTrunk: a first trunk that never answers the
// INVITE is given up after the rule's attempt_timeout and the second one
// answers; the browser never hears of the first.
func TestOutboundFailoverSilentTrunk(t *testing.T) {
	silent := silentTrunk(t)
	backup := faketrunk.New(t)
	logger, logs := logcapture.New(t)
	e := startGateway(t, testConfig{edit: withBackup(int(backup.Addr().Port()), nil)}, int(silent.Port()), logger, logs)
	b := login(t, e, "alice")
	start := time.Now()
	dial(t, b, "c1", "+15550123")
	bc := backup.NextCall(t)
	expectProgress[signaling.Connected](t, b)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("backup called after %v, before the 2s attempt timeout", d)
	}
	bc.Bye(t)
	expect[signaling.HangupEvent](t, b)
	if line := logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, "fake:next backup:answered") {
		t.Errorf("call ended line %q, want attempts fake:next backup:answered", line)
	}
}

// TestOutboundSkipsHeldTrunk: a 503 with Retry-After holds the trunk: the
// next call goes straight to the backup, and TrunkStates and /readyz
// ?verbose say why.
func TestOutboundSkipsHeldTrunk(t *testing.T) {
	backup := faketrunk.New(t)
	e := newEnv(t, testConfig{edit: withBackup(int(backup.Addr().Port()), nil)})
	e.gw.health.hold("fake", netip.AddrPort{}, time.Minute)
	b, _, bc := callUpVia(t, e, backup)
	if n := len(e.trunk.Requests("INVITE")); n != 0 {
		t.Errorf("held trunk got %d INVITEs", n)
	}
	states := e.gw.TrunkStates()
	i := slices.IndexFunc(states, func(s TrunkState) bool { return s.Name == "fake" })
	if i < 0 || states[i].Available || !states[i].Up || states[i].HeldUntil.Before(time.Now()) {
		t.Errorf("TrunkStates = %+v, want fake held and unavailable", states)
	}
	code, body := httpGet(t, e, "/readyz?verbose")
	if code != 200 || !strings.Contains(body, "trunk fake unavailable: held until") || !strings.Contains(body, "trunk backup available") {
		t.Errorf("/readyz?verbose = %d %q", code, body)
	}
	bc.Bye(t)
	expect[signaling.HangupEvent](t, b)
	if line := e.logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, "fake:held backup:answered") {
		t.Errorf("call ended line %q, want attempts fake:held backup:answered", line)
	}

	// With every trunk unavailable the dial is refused before any INVITE.
	e.gw.health.hold("backup", netip.AddrPort{}, time.Minute)
	b.Send(t, signaling.Dial{ID: "c2", To: "+15550123", SDP: offer(t)})
	er := expect[signaling.ErrorReply](t, b)
	if er.Code != signaling.CodeTrunkUnavailable {
		t.Errorf("dial with every trunk held: %+v, want trunk_unavailable", er)
	}
}

// TestOrderTrunks: weights share the first place in proportion, entries
// without weight keep theirs.
func TestOrderTrunks(t *testing.T) {
	a, b, c := &config.Trunk{Name: "a"}, &config.Trunk{Name: "b"}, &config.Trunk{Name: "c"}
	ts := []routeTrunk{{trunk: a, weight: 3}, {trunk: b, weight: 1}, {trunk: c}}
	first := map[string]int{}
	const n = 4000
	for range n {
		got := orderTrunks(ts)
		if len(got) != 3 || got[2].trunk != c || got[0].trunk == got[1].trunk {
			t.Fatalf("order %v: c must stay last, a and b once each", got)
		}
		first[got[0].trunk.Name]++
	}
	// a comes first with probability 3/4: 3000 expected, sd about 27.
	if first["a"] < 2800 || first["a"] > 3200 {
		t.Errorf("a first %d times of %d, want about 3000", first["a"], n)
	}
	plain := []routeTrunk{{trunk: a}, {trunk: b}}
	if got := orderTrunks(plain); got[0].trunk != a || got[1].trunk != b {
		t.Errorf("unweighted order changed: %v", got)
	}
}

// TestOutboundSRVFailover: a trunk given by host name with dns_srv is
// called at its SRV targets by priority (the test's DNS server): the first
// answers 500, the second answers; the attempts name each address.
func TestOutboundSRVFailover(t *testing.T) {
	second := faketrunk.New(t)
	logger, logs := logcapture.New(t)
	first := faketrunk.New(t, faketrunk.WithLogger(logger.With("component", "fake-trunk")), faketrunk.WithPlan(faketrunk.Plan{Reject: 500}))
	res := testdns.Start(t, testdns.Zone{
		SRV: map[string][]net.SRV{"_sip._udp.carrier.test": {
			{Target: "b.carrier.test", Port: second.Addr().Port(), Priority: 20},
			{Target: "a.carrier.test", Port: first.Addr().Port(), Priority: 10},
		}},
		A: map[string][]netip.Addr{"a.carrier.test": {first.Addr().Addr()}, "b.carrier.test": {second.Addr().Addr()}},
	})
	e := startGateway(t, testConfig{
		edit: func(c *config.Config) {
			c.Trunks[0].Host, c.Trunks[0].DNSSRV = "carrier.test", true
		},
		prepare: func(g *Gateway) { g.ua.SetResolver(res) },
	}, 5060, logger, logs)
	b := login(t, e, "alice")
	dial(t, b, "c1", "+15550123")
	first.NextCall(t).WaitEnded(t, faketrunk.EndRejected)
	sc := second.NextCall(t)
	expectProgress[signaling.Connected](t, b)
	if got := sc.Invite().Recipient.Host; got != "carrier.test" {
		t.Errorf("Request-URI host %q, want carrier.test", got)
	}
	sc.Bye(t)
	expect[signaling.HangupEvent](t, b)
	want := "fake@" + first.Addr().String() + ":next:500 fake@" + second.Addr().String() + ":answered"
	if line := logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, want) {
		t.Errorf("call ended line %q, want attempts %s", line, want)
	}
}

// TestProbesPerTarget: OPTIONS probes go to each SRV target of a trunk; a
// target that never answers is marked down and skipped by calls while the
// trunk stays up through its other target.
func TestProbesPerTarget(t *testing.T) {
	silent := silentTrunk(t)
	live := faketrunk.New(t)
	res := testdns.Start(t, testdns.Zone{
		SRV: map[string][]net.SRV{"_sip._udp.carrier.test": {
			{Target: "a.carrier.test", Port: silent.Port(), Priority: 10},
			{Target: "b.carrier.test", Port: live.Addr().Port(), Priority: 20},
		}},
		A: map[string][]netip.Addr{"a.carrier.test": {silent.Addr()}, "b.carrier.test": {live.Addr().Addr()}},
	})
	logger, logs := logcapture.New(t)
	e := startGateway(t, testConfig{
		edit: func(c *config.Config) {
			c.Trunks[0].Host, c.Trunks[0].DNSSRV = "carrier.test", true
			c.Trunks[0].Health = config.TrunkHealth{Interval: time.Second, Timeout: 300 * time.Millisecond, DownAfter: 1, UpAfter: 1}
		},
		prepare: func(g *Gateway) { g.ua.SetResolver(res) },
	}, 5060, logger, logs)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := e.gw.TrunkStates()[0]
		if len(st.Targets) == 2 && !st.Targets[0].Up && st.Targets[1].Up && st.Targets[1].LastStatus == 200 {
			if !st.Up || !st.Available {
				t.Errorf("trunk with one live target: %+v, want up and available", st)
			}

			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("targets not probed as expected: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(live.Requests("OPTIONS")); n == 0 {
		t.Errorf("the live target got no OPTIONS")
	}
	b, _, lc2 := callUpVia(t, e, live)
	lc2.Bye(t)
	expect[signaling.HangupEvent](t, b)
	want := "fake@" + silent.String() + ":down fake@" + live.Addr().String() + ":answered"
	if line := logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, want) {
		t.Errorf("call ended line %q, want attempts %s", line, want)
	}
}

// TestOutboundSkipsUnregisteredTrunk: a trunk whose registration failed
// is skipped without an INVITE and the route's next trunk takes the call.
func TestOutboundSkipsUnregisteredTrunk(t *testing.T) {
	backup := faketrunk.New(t)
	e := newEnv(t, testConfig{register: true, edit: withBackup(int(backup.Addr().Port()), nil)}, faketrunk.WithRegisterStatus(403))
	e.trunk.WaitRequest(t, "REGISTER", "")
	b, _, bc := callUpVia(t, e, backup)
	if n := len(e.trunk.Requests("INVITE")); n != 0 {
		t.Errorf("unregistered trunk got %d INVITEs", n)
	}
	bc.Bye(t)
	expect[signaling.HangupEvent](t, b)
	if line := e.logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, "fake:unregistered backup:answered") {
		t.Errorf("call ended line %q, want attempts fake:unregistered backup:answered", line)
	}
}
