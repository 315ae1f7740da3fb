package integration

import (
	"context"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
	"github.com/webtrunk/webtrunk/internal/freeport"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testcodec"
	"github.com/webtrunk/webtrunk/internal/testconfig"
)

// These tests put Chromium's calls through networks that are not perfect:
// UDP blocked towards the gateway (iptables in the test's private network
// namespace), and a signaling connection that dies mid-call.

// iptablesPath is where the Debian package iptables installs the tool.
const iptablesPath = "/usr/sbin/iptables"

// browserRecordPeersJS runs in the page before its own scripts: it keeps
// every RTCPeerConnection the page makes, with when it was made and when
// it first connected, so that the test can read the selected candidate
// pair from getStats.
const browserRecordPeersJS = `(() => {
	const Orig = window.RTCPeerConnection;
	window.__webtrunkTestPeers = [];
	function Recorded(...args) {
		const pc = new Orig(...args);
		const rec = { pc, created: performance.now(), connected: 0 };
		pc.addEventListener("connectionstatechange", () => {
			if (pc.connectionState === "connected" && !rec.connected) { rec.connected = performance.now(); }
		});
		window.__webtrunkTestPeers.push(rec);
		return pc;
	}
	Recorded.prototype = Orig.prototype;
	Object.setPrototypeOf(Recorded, Orig);
	window.RTCPeerConnection = Recorded;
})()`

// browserSelectedPairJS reads the selected candidate pair of the page's
// last RTCPeerConnection (W3C webrtc-stats: transport.selectedCandidatePairId).
const browserSelectedPairJS = `(async () => {
	const recs = window.__webtrunkTestPeers || [];
	const rec = recs[recs.length - 1];
	if (!rec) { return {found: false}; }
	const stats = await rec.pc.getStats();
	let pair;
	stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) { pair = stats.get(s.selectedCandidatePairId); } });
	if (!pair) { return {found: false}; }
	const l = stats.get(pair.localCandidateId), r = stats.get(pair.remoteCandidateId);
	const cand = (c) => ({type: c.candidateType, protocol: c.protocol, relayProtocol: c.relayProtocol || "", address: c.address, port: c.port});
	return {found: true, local: cand(l), remote: cand(r), setupMs: rec.connected ? rec.connected - rec.created : -1,
		bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived};
})()`

// browserCandidate is one side of a candidate pair, as getStats reports it.
type browserCandidate struct {
	Type          string `json:"type"`
	Protocol      string `json:"protocol"`
	RelayProtocol string `json:"relayProtocol"`
	Address       string `json:"address"`
	Port          int    `json:"port"`
}

// String is "type/protocol address:port", with the relay protocol of a
// relayed candidate.
func (c browserCandidate) String() string {
	s := c.Type + "/" + c.Protocol
	if c.RelayProtocol != "" {
		s += " (relay over " + c.RelayProtocol + ")"
	}

	return s + " " + c.Address + ":" + strconv.Itoa(c.Port)
}

// browserPair is the selected candidate pair of the page's call and how
// long its connection took to set up.
type browserPair struct {
	Found         bool             `json:"found"`
	Local         browserCandidate `json:"local"`
	Remote        browserCandidate `json:"remote"`
	SetupMs       float64          `json:"setupMs"`
	BytesSent     int64            `json:"bytesSent"`
	BytesReceived int64            `json:"bytesReceived"`
}

// recordPeers makes the page keep its RTCPeerConnections for
// selectedPair; call it before the page loads.
func (b *browserChrome) recordPeers() {
	b.t.Helper()
	b.run(10*time.Second, "record the page's peer connections", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: browserRecordPeersJS})

		return err
	}))
}

// selectedPair returns the selected candidate pair of the page's last call.
func (b *browserChrome) selectedPair() browserPair {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[browserPair](browserSelectedPairJS, chromedp.EvalAwaitPromise))
	if err != nil || !p.Found {
		b.t.Fatalf("no selected candidate pair in the page (error %v); %s", err, b.pageState())
	}

	return p
}

// netRule adds an iptables rule to the INPUT chain of the test's network
// namespace and deletes it at cleanup. It fails the test loudly when
// iptables is missing (scripts/deps.sh test installs it).
func netRule(t *testing.T, rule ...string) {
	t.Helper()
	if _, err := exec.LookPath(iptablesPath); err != nil {
		t.Fatalf("iptables not found at %s: install the Debian package iptables (%v)", iptablesPath, err)
	}
	run := func(op string) error {
		args := append([]string{op, "INPUT"}, rule...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, iptablesPath, args...).CombinedOutput()
		if err != nil {
			return &exec.Error{Name: "iptables " + strings.Join(args, " ") + ": " + strings.TrimSpace(string(out)), Err: err}
		}

		return nil
	}
	if err := run("-A"); err != nil {
		t.Fatalf("%v (run the test in a private network namespace: scripts/isolated.sh)", err)
	}
	t.Cleanup(func() {
		if err := run("-D"); err != nil {
			t.Errorf("remove rule: %v", err)
		}
	})
}

// blockUDPTo drops every UDP datagram to port on loopback, as a firewall
// that allows only TCP would.
func blockUDPTo(t *testing.T, port uint16) {
	t.Helper()
	netRule(t, "-p", "udp", "--dport", strconv.Itoa(int(port)), "-j", "DROP")
}

// netStartGateway runs the gateway for the network tests: like
// browserStartGateway, with edit applied to its configuration first.
func netStartGateway(t *testing.T, trunkAddr netip.AddrPort, edit func(*testconfig.Gateway)) *env {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name("gateway log"))
	c := newGatewayConfig("peer", trunkAddr.Port(), testconfig.User{ID: userAlice, DisplayName: "Alice"})
	c.Grace = "2s"
	if edit != nil {
		edit(&c)
	}
	e := startGateway(t, c, logger, logs)
	checkServesPage(t, e.pageURL())

	return e
}

// netEchoCall starts sipp answering with an echo, the gateway (its
// configuration changed by edit, when not nil), runs beforeDial (when not
// nil) and Chromium, whose page signs in, calls through the gateway and
// hears its own tone echoed. The page's peer connections are recorded.
func netEchoCall(t *testing.T, edit func(*testconfig.Gateway), beforeDial func(*env)) (*sipp.Proc, *env, *browserChrome) {
	t.Helper()
	uas := startSipp(t, "uas_answer.xml", sipp.Options{Echo: true}, 0)
	gw := netStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uas.Port())), edit) //nolint:gosec // a port
	if beforeDial != nil {
		beforeDial(gw)
	}
	b := browserStart(t, browserToneHz)
	b.recordPeers()
	b.login(gw.pageURL(), userAlice, testPassword)
	b.dial(browserDemoNumber)
	b.waitState("connected", 30*time.Second)

	return uas, gw, b
}

// hangUp hangs the page's call up and waits for the SIP side's scenario
// to end with it.
func (b *browserChrome) hangUp(uas *sipp.Proc) {
	b.t.Helper()
	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	uas.Wait(stepTimeout)
}

// TestBrowserICETCPWithUDPBlocked: with every UDP datagram to the
// gateway's media port dropped, Chromium's call still connects, over
// ICE-TCP (RFC 6544) to the gateway's passive TCP candidate, and carries
// audio both ways: the page hears its own tone echoed by sipp.
func TestBrowserICETCPWithUDPBlocked(t *testing.T) {
	tcpPort := int(freeport.TCP(t).Port())
	uas, _, b := netEchoCall(t, func(c *testconfig.Gateway) { c.WebRTCTCP = "127.0.0.1:" + strconv.Itoa(tcpPort) },
		func(gw *env) { blockUDPTo(t, gw.gw.WebRTCAddr().Port()) })
	rep := b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)
	p := b.selectedPair()
	t.Logf("ICE-TCP with UDP blocked: selected pair %s -> %s, connected %.0f ms after the peer connection was made; echo rms %.0f, share %.2f",
		p.Local, p.Remote, p.SetupMs, rep.RMS, rep.Want)
	if p.Local.Protocol != "tcp" || p.Remote.Protocol != "tcp" || p.Remote.Port != tcpPort {
		t.Errorf("selected pair %s -> %s, want TCP to the gateway's ICE-TCP port %d", p.Local, p.Remote, tcpPort)
	}
	b.hangUp(uas)
}

// TestBrowserResumesAfterWebSocketKilled: mid-call, the page's WebSocket
// is destroyed (ss -K, as a dead network would); the call goes on, the
// library reconnects and resumes within the window, the trunk hears the
// page's tone without a gap of more than 200 ms and receives no SIP
// message, and the resumed page still hangs up the call.
func TestBrowserResumesAfterWebSocketKilled(t *testing.T) {
	media := faketrunk.NewMedia(t, trunkToneHz) // records; sends nothing
	uas := startSipp(t, "uas_answer.xml", sipp.Options{}, int(media.Addr().Port()))
	gw := netStartGateway(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(uas.Port())), nil) //nolint:gosec // a port
	b := browserStart(t, browserToneHz)
	b.login(gw.pageURL(), userAlice, testPassword)

	b.dial(browserDemoNumber)
	b.waitState("connected", 20*time.Second)
	media.Heard().WaitTone(t, "the SIP side", 0, browserToneHz, trunkToneHz)
	sipBefore := len(uas.Messages())
	media.Heard().MarkGap()
	before := len(media.Packets())

	killed := time.Now()
	httpPort := strings.TrimPrefix(gw.httpURL, "http://127.0.0.1:")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ss", "-K", "dst", "127.0.0.1", "dport", "=", ":"+httpPort).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ":"+httpPort) {
		t.Fatalf("ss -K killed no WebSocket of the page (error %v): %s", err, out)
	}
	line := gw.logs.WaitLine(t, "calls resumed")
	t.Logf("resumed %v after the WebSocket was killed: %s", time.Since(killed).Round(time.Millisecond), line)
	if !strings.Contains(line, "calls=1") {
		t.Errorf("resume log %q, want one call", line)
	}

	// A second of the page's tone after the resume, without a gap.
	mark := media.Heard().Len()
	media.Heard().WaitTone(t, "the SIP side after the resume", mark, browserToneHz, trunkToneHz)
	media.Heard().WaitSamples(t, mark+8000) // a second of audio after the resume
	// The gap is measured in media time (RTP timestamps), which a busy
	// machine does not stretch; the gap between arrivals is logged.
	gap, n := testcodec.LongestStep(media.Packets()[before:], 0, 8000)
	if gap > 200*time.Millisecond || n < 50 {
		t.Errorf("the trunk's stream skipped %v of the page's tone over %d PCMU packets, want at most 200 ms over a second or more", gap, n)
	}
	t.Logf("across the resume the longest RTP timestamp step at the trunk was %v (20 ms: no audio missing); longest gap between arrivals %v", gap, media.Heard().LongestGap())
	if n := len(uas.Messages()); n != sipBefore {
		t.Errorf("the trunk exchanged %d SIP messages across the resume, want none", n-sipBefore)
	}
	b.waitState("connected", time.Second)
	b.run(10*time.Second, "the page says the connection is back", chromedp.Poll[chromedp.Void](
		`document.getElementById("status").textContent === "Connection restored."`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))

	b.click("hangup")
	b.waitState("idle", 10*time.Second)
	uas.Wait(stepTimeout)
}

// turnTestSecret is the TURN REST secret of the network tests.
const turnTestSecret = "the TURN secret of the integration tests"

// metricValue is the value of the gateway's metric name (summed over its
// labels): counter, gauge or untyped.
func metricValue(t *testing.T, e *env, name string) float64 {
	t.Helper()
	families, err := e.gw.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}

	return sum
}

// TestBrowserTURNOverTCPWithUDPBlocked: with UDP to the gateway's media
// port and to the TURN port dropped and no ICE-TCP on the gateway, the
// page's call goes through the embedded TURN server over TCP (a relay
// allocated with the credentials the gateway minted for the session),
// whose relay socket on 127.0.0.2 is the only source the media port still
// accepts UDP from; audio flows both ways.
func TestBrowserTURNOverTCPWithUDPBlocked(t *testing.T) {
	uas, gw, b := netEchoCall(t, func(c *testconfig.Gateway) {
		c.Extra = "turn:\n  secret: \"" + turnTestSecret + "\"\n  listen: \"127.0.0.1:0\"\n  relay_ip: 127.0.0.2\n  credential_lifetime: 10m\n"
	}, func(gw *env) {
		media, turnAddr := gw.gw.WebRTCAddr(), gw.gw.TURNAddr()
		if !turnAddr.IsValid() {
			t.Fatal("the gateway runs no TURN server")
		}
		netRule(t, "-p", "udp", "--dport", strconv.Itoa(int(media.Port())), "!", "-s", "127.0.0.2", "-j", "DROP")
		blockUDPTo(t, turnAddr.Port())
	})
	rep := b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)
	p := b.selectedPair()
	t.Logf("TURN/TCP with UDP blocked: selected pair %s -> %s, connected %.0f ms after the peer connection was made; echo rms %.0f, share %.2f",
		p.Local, p.Remote, p.SetupMs, rep.RMS, rep.Want)
	if p.Local.Type != "relay" || p.Local.RelayProtocol != "tcp" {
		t.Errorf("selected local candidate %s, want a relay reached over TCP", p.Local)
	}
	if got := metricValue(t, gw, "webtrunk_turn_relayed_bytes_total"); got == 0 {
		t.Error("webtrunk_turn_relayed_bytes_total is 0 during a relayed call")
	}
	if got := metricValue(t, gw, "webtrunk_turn_allocations"); got < 1 {
		t.Errorf("webtrunk_turn_allocations %v during a relayed call", got)
	}
	b.hangUp(uas)
}

// TestBrowserRestartsICEWhenItsPathBreaks: mid-call, every datagram from
// the page's media socket is dropped, as when a laptop leaves its Wi-Fi;
// ICE goes disconnected, webtrunk.js restarts it (ice_restart), Chromium
// gathers on new sockets, the gateway answers on the same call, and the
// audio comes back both ways from the page's new address, with no SIP
// message on the trunk leg.
func TestBrowserRestartsICEWhenItsPathBreaks(t *testing.T) {
	uas, gw, b := netEchoCall(t, nil, nil)
	b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)
	before := b.selectedPair()
	sipBefore := len(uas.Messages())

	broken := time.Now()
	netRule(t, "-p", before.Local.Protocol, "--sport", strconv.Itoa(before.Local.Port), "-j", "DROP")
	line := gw.logs.WaitLine(t, `msg="ice restart"`)
	restarted := time.Since(broken)
	b.waitState("connected", time.Second)
	rep := b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)
	back := time.Since(broken)
	after := b.selectedPair()
	t.Logf("path broken at %s: ICE restarted after %v (%s), audio back after %v from %s (rms %.0f); the first connection took %.0f ms",
		before.Local, restarted.Round(time.Millisecond), strings.TrimSpace(line[strings.Index(line, "answered_in"):]), back.Round(time.Millisecond), after.Local, rep.RMS, after.SetupMs)
	if after.Local.Port == before.Local.Port {
		t.Errorf("the page still uses %s after the restart", after.Local)
	}
	if n := len(uas.Messages()); n != sipBefore {
		t.Errorf("the trunk exchanged %d SIP messages across the ICE restart, want none", n-sipBefore)
	}
	if got := metricValue(t, gw, "webtrunk_ice_restarts_total"); got < 1 {
		t.Errorf("webtrunk_ice_restarts_total %v after a restart", got)
	}
	b.hangUp(uas)
}

// TestBrowserCallEndsWhenNotResumedInTime: the page's WebSocket dies and
// every new connection to the gateway's HTTP port is refused for longer
// than calls.resume_window (3 s here); the gateway ends the call with BYE
// to the trunk and the reason signaling_lost, and the page ends it too.
func TestBrowserCallEndsWhenNotResumedInTime(t *testing.T) {
	uas, gw, b := netEchoCall(t, func(c *testconfig.Gateway) { c.Calls.ResumeWindow = "3s" }, nil)
	b.waitHears(browserToneHz, trunkToneHz, 15*time.Second)

	httpPort := strings.TrimPrefix(gw.httpURL, "http://127.0.0.1:")
	netRule(t, "-p", "tcp", "--dport", httpPort, "--syn", "-j", "REJECT", "--reject-with", "tcp-reset")
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ss", "-K", "dst", "127.0.0.1", "dport", "=", ":"+httpPort).CombinedOutput(); err != nil {
		t.Fatalf("ss -K: %v: %s", err, out)
	}
	line := gw.logs.WaitLine(t, "reason=signaling_lost")
	ended := time.Since(killed)
	if ended < 2500*time.Millisecond {
		t.Errorf("the call ended %v after the drop, before the 3 s window", ended)
	}
	uas.Wait(stepTimeout) // the scenario ends with the gateway's BYE
	b.waitState("idle", 10*time.Second)
	t.Logf("call ended %v after the WebSocket died: %s", ended.Round(time.Millisecond), strings.TrimSpace(line[strings.Index(line, "reason="):]))
}
