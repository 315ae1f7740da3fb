package integration

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// These tests put sipp (a third-party SIP implementation) in the place of
// carriers: a route of two trunks fails over from the first, OPTIONS
// probes mark a trunk down and up, the caller's identity is checked on the
// wire, and a trunk's hold reaches the browser.

// carrierNumber is the number the tests dial.
const carrierNumber = "+15550123"

// startCarrierGateway starts a gateway whose outbound rule tries trunk
// "first" on 127.0.0.1:firstPort, then "second" on 127.0.0.1:secondPort
// (none when 0), each attempt given attemptTimeout; extra is more YAML of
// the first trunk's entry.
func startCarrierGateway(t *testing.T, firstPort, secondPort int, attemptTimeout, extra string) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("first", uint16(firstPort), testconfig.User{ID: userAlice, DisplayName: "Alice"}) //nolint:gosec // a port
	c.Trunk.Extra = extra
	c.AttemptTimeout = attemptTimeout
	if secondPort != 0 {
		c.MoreTrunks = []testconfig.Trunk{{Name: "second", Port: uint16(secondPort), CallerID: "+15550101"}} //nolint:gosec // a port
		c.RouteTrunks = []string{"first", "second"}
	}

	return startGateway(t, c, logger.With("component", "gateway"), logs)
}

// answeringCarrier runs uas_answer.xml on a free port: a carrier that
// answers each call, its media on a free even port.
func answeringCarrier(t *testing.T) *sipp.Proc {
	t.Helper()

	return runScenario(t, "uas_answer.xml", sipp.Options{Vars: map[string]string{"mport": strconv.Itoa(sipp.FreeEvenPort(t))}})
}

// dialCarrier has b dial carrierNumber with a fresh peer and waits until
// the gateway says connected and the peer's media is up; it returns the
// call id and the peer.
func dialCarrier(t *testing.T, b *browser) (string, *gobrowser.Peer) {
	t.Helper()
	id := newCallID()
	peer := newPeer(t)
	b.ws.Dial(t, id, carrierNumber, peer)
	b.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](id))
	peer.WaitConnected(t)

	return id, peer
}

// dialUntilConnected has b dial carrierNumber and returns the call id once
// the gateway says connected, with the number of ringing messages seen on
// the way.
func dialUntilConnected(t *testing.T, b *browser) (string, int) {
	t.Helper()
	id := newCallID()
	b.ws.Dial(t, id, carrierNumber, newPeer(t))
	rang := 0
	for {
		m := b.ws.Expect(t, "ringing or connected of "+id, func(m signaling.Message) bool {
			return gobrowser.Is[signaling.Ringing](id)(m) || gobrowser.Is[signaling.Connected](id)(m) ||
				gobrowser.Is[signaling.HangupEvent](id)(m)
		})
		switch m := m.(type) {
		case signaling.Ringing:
			rang++
		case signaling.Connected:
			return id, rang
		default:
			t.Fatalf("call ended before it connected: %+v", m)
		}
	}
}

// trunkState returns the gateway's state of trunk name.
func trunkState(t *testing.T, e *env, name string) gateway.TrunkState {
	t.Helper()
	states := e.gw.TrunkStates()
	i := slices.IndexFunc(states, func(s gateway.TrunkState) bool { return s.Name == name })
	if i < 0 {
		t.Fatalf("no trunk %s in %+v", name, states)
	}

	return states[i]
}

// waitTrunk waits until the state of trunk name satisfies ok, failing the
// test after stepTimeout. Probes run on their own clock, so the state is
// read until it changes.
func waitTrunk(t *testing.T, e *env, name, what string, ok func(gateway.TrunkState) bool) gateway.TrunkState {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		st := trunkState(t, e, name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("trunk %s not %s within %v: %+v", name, what, stepTimeout, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyzVerbose returns the body of GET /readyz?verbose.
func readyzVerbose(t *testing.T, e *env) string {
	t.Helper()
	_, body, err := getReadyz(t.Context(), &http.Client{Timeout: 5 * time.Second}, e.httpURL+"/readyz?verbose")
	if err != nil {
		t.Fatalf("GET /readyz?verbose: %v", err)
	}

	return body
}

// TestCarrierFailover503: the first carrier rings, then answers 503 with
// Retry-After; the gateway calls the second, which rings and answers. The
// browser sees one ringing (the first carrier's, which has time to arrive;
// the second's 180 comes right before its 200 and may be overtaken by it
// in the SIP stack) and connected, the first trunk is held for the
// Retry-After, and the call's log line lists both attempts.
func TestCarrierFailover503(t *testing.T) {
	first := runScenario(t, "uas_503.xml", sipp.Options{})
	second := answeringCarrier(t)
	e := startCarrierGateway(t, first.Port(), second.Port(), "5s", "")
	b := e.login(t, userAlice)

	id, rang := dialUntilConnected(t, b)
	if rang != 1 {
		t.Errorf("the browser was told ringing %d times, want once", rang)
	}
	first.Wait(stepTimeout)
	second.MustReceive("INVITE ")
	st := trunkState(t, e, "first")
	if st.Available || time.Until(st.HeldUntil) < 50*time.Second {
		t.Errorf("first trunk after its 503 Retry-After: 60: %+v, want held about a minute", st)
	}
	if body := readyzVerbose(t, e); !strings.Contains(body, "trunk first unavailable: held until") || !strings.Contains(body, "trunk second available") {
		t.Errorf("/readyz?verbose = %q", body)
	}
	b.ws.HangUp(t, id)
	second.Wait(stepTimeout)
	line := e.logs.WaitLine(t, `msg="call ended"`)
	if !strings.Contains(line, `attempts="first:next:503 second:answered"`) || !strings.Contains(line, "trunk=second") {
		t.Errorf("call ended line %q, want the attempts first:next:503 second:answered", line)
	}
}

// TestCarrierFailoverTimeout: the first carrier answers 100 Trying and
// never rings; after the rule's attempt_timeout the gateway cancels it
// (CANCEL, 487, ACK, all checked by sipp) and the second carrier answers.
func TestCarrierFailoverTimeout(t *testing.T) {
	first := runScenario(t, "uas_trying.xml", sipp.Options{})
	second := answeringCarrier(t)
	e := startCarrierGateway(t, first.Port(), second.Port(), "2s", "")
	b := e.login(t, userAlice)

	start := time.Now()
	id, _ := dialUntilConnected(t, b)
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("connected after %v, before the first trunk's 2s attempt timeout", d)
	}
	first.Wait(stepTimeout)
	b.ws.HangUp(t, id)
	second.Wait(stepTimeout)
	if line := e.logs.WaitLine(t, `msg="call ended"`); !strings.Contains(line, `attempts="first:next second:answered"`) {
		t.Errorf("call ended line %q, want the attempts first:next second:answered", line)
	}
}

// TestCarrierOptionsDownUp: OPTIONS probes every second; a carrier in
// maintenance answers 503 twice and the trunk is marked down (a dial is
// refused before any INVITE); once it answers 200 twice it is up again.
func TestCarrierOptionsDownUp(t *testing.T) {
	port := sipp.FreePort(t)
	down := runScenario(t, "uas_options_503.xml", sipp.Options{Port: port, Extra: []string{"-m", "2"}})
	e := startCarrierGateway(t, port, 0, "", "    health: {interval: 1s, timeout: 500ms, down_after: 2, up_after: 2}")
	st := waitTrunk(t, e, "first", "down", func(s gateway.TrunkState) bool { return !s.Up })
	down.Wait(stepTimeout)
	if st.LastStatus != 503 || st.Available {
		t.Errorf("trunk marked down: %+v, want last status 503, unavailable", st)
	}
	opt := down.MustReceive("OPTIONS ")
	if !strings.HasPrefix(opt.FirstLine(), "OPTIONS sip:127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("probe %q, want OPTIONS to the trunk's address", opt.FirstLine())
	}
	if body := readyzVerbose(t, e); !strings.Contains(body, "trunk first unavailable: down (OPTIONS)") {
		t.Errorf("/readyz?verbose = %q", body)
	}
	b := e.login(t, userAlice)
	b.ws.Send(t, signaling.Dial{ID: "while-down", To: carrierNumber, SDP: newPeer(t).Offer(t)})
	if er := b.ws.Expect(t, "error of the dial", gobrowser.Is[signaling.ErrorReply]("while-down")).(signaling.ErrorReply); er.Code != signaling.CodeTrunkUnavailable { //nolint:forcetypeassert // matched
		t.Errorf("dial while the trunk is down: %+v, want trunk_unavailable", er)
	}

	up := runScenario(t, "uas_options_200.xml", sipp.Options{Port: port, Extra: []string{"-m", "4"}})
	st = waitTrunk(t, e, "first", "up", func(s gateway.TrunkState) bool { return s.Up })
	if st.LastStatus != 200 || !st.Available {
		t.Errorf("trunk marked up: %+v, want last status 200, available", st)
	}
	up.Wait(stepTimeout)
	if got := e.logs.Lines("trunk health changed"); len(got) < 2 {
		t.Errorf("log has %d trunk health changes, want down and up", len(got))
	}
}

// TestCarrierIdentityOnWire: a trunk with identity pai gets the caller's
// number in P-Asserted-Identity; a dial with privacy id makes From
// anonymous and adds Privacy: id (RFC 3323, RFC 3325), as sipp received
// them.
func TestCarrierIdentityOnWire(t *testing.T) {
	tests := []struct {
		name    string
		privacy string
		from    string
		pai     string
		header  string // Privacy
	}{
		{"presented", "", `"Alice" <sip:+15550100@127.0.0.1>`, `"Alice" <sip:+15550100@127.0.0.1>`, ""},
		{"withheld", signaling.PrivacyID, `"Anonymous" <sip:anonymous@anonymous.invalid>`, "<sip:+15550100@127.0.0.1>", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uas := answeringCarrier(t)
			e := startCarrierGateway(t, uas.Port(), 0, "", "    identity: pai")
			b := e.login(t, userAlice)
			id := newCallID()
			peer := newPeer(t)
			b.ws.Send(t, signaling.Dial{ID: id, To: carrierNumber, SDP: peer.Offer(t), Privacy: tt.privacy})
			peer.ApplyAnswer(t, b.ws.ExpectAnswer(t, id).SDP)
			b.ws.Expect(t, "connected", gobrowser.Is[signaling.Connected](id))
			b.ws.HangUp(t, id)
			uas.Wait(stepTimeout)
			inv := uas.MustReceive("INVITE ")
			if got := inv.Header("From"); !strings.HasPrefix(got, tt.from) {
				t.Errorf("From: %q, want %q", got, tt.from)
			}
			if got := inv.Header("P-Asserted-Identity"); got != tt.pai {
				t.Errorf("P-Asserted-Identity: %q, want %q", got, tt.pai)
			}
			if got := inv.Header("Privacy"); got != tt.header {
				t.Errorf("Privacy: %q, want %q", got, tt.header)
			}
		})
	}
}

// TestCarrierHoldSeenByBrowser: the trunk (sipp) puts the call on hold
// with a re-INVITE a=sendonly and resumes it with a=sendrecv; the Go
// browser is told held, then resumed, and the call goes on until the
// browser hangs up.
func TestCarrierHoldSeenByBrowser(t *testing.T) {
	uas := runScenario(t, "uas_hold.xml", sipp.Options{})
	e := startCarrierGateway(t, uas.Port(), 0, "", "")
	b := e.login(t, userAlice)
	id, _ := dialUntilConnected(t, b)
	b.ws.Expect(t, "held", gobrowser.Is[signaling.Held](id))
	b.ws.Expect(t, "resumed", gobrowser.Is[signaling.Resumed](id))
	b.ws.HangUp(t, id)
	uas.Wait(stepTimeout)
	if got := len(uas.Received("SIP/2.0 200", false)); got < 2 {
		t.Errorf("sipp got %d 200 answers, want the two to its re-INVITEs", got)
	}
}

// TestCarrierDigestWrong: a PBX sending from an address no trunk allows is
// challenged (401) and, answering with a wrong password, refused with 403;
// sipp computes the digest itself. No browser rings.
func TestCarrierDigestWrong(t *testing.T) {
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("pbx", uint16(sipp.FreePort(t)), testconfig.User{ID: userAlice}) //nolint:gosec // a port
	c.Trunk.Sources = []string{"192.0.2.0/24"}
	c.Trunk.Extra = `    inbound: {digest: {username: pbx, password: right-secret, realm: gw.test}}`
	e := startGateway(t, c, logger.With("component", "gateway"), logs)
	b := e.login(t, userAlice)
	uac := runScenario(t, "uac_digest_wrong.xml", sipp.Options{
		Remote: e.sipAddr.String(), Service: didAlice, Extra: []string{"-au", "pbx", "-ap", "wrong-secret"},
	})
	uac.Wait(stepTimeout)
	challenge := uac.MustReceive("SIP/2.0 401")
	if h := challenge.Header("WWW-Authenticate"); !strings.Contains(h, `realm="gw.test"`) || !strings.Contains(h, `qop="auth"`) {
		t.Errorf("challenge %q, want realm gw.test and qop auth", h)
	}
	b.ws.None(t, 500*time.Millisecond, "an incoming call", gobrowser.IsType(signaling.TypeIncoming))
	if lines := e.logs.Lines("wrong digest response"); len(lines) == 0 {
		t.Errorf("no log line of the refused credentials")
	}
}
