package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway"
	"github.com/webtrunk/webtrunk/gateway/browserleg"
	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/internal/gobrowser"
	"github.com/webtrunk/webtrunk/internal/logcapture"
	"github.com/webtrunk/webtrunk/internal/redistest"
	"github.com/webtrunk/webtrunk/internal/sipp"
	"github.com/webtrunk/webtrunk/internal/testproc"
)

// The cluster of these tests: Kamailio on 127.0.0.1 with the shipped
// deploy/kamailio.cfg, two gateway instances on 127.0.0.2 and 127.0.0.3
// sharing limits in one Redis, alice an extension (the DID without its +)
// on Kamailio, and sipp as the carrier on 127.0.0.1.
const (
	clusterExtension = "15550100"
	clusterDID       = "+15550100"
)

// kamailio is a running Kamailio.
type kamailio struct {
	port int
	proc *testproc.Proc
	log  *logcapture.Capture
}

// startKamailio runs Kamailio with deploy/kamailio.cfg on 127.0.0.1:port,
// its dispatcher file listing carriers (set 1) and gateways (set 2), until
// the end of the test; it returns once the SIP port is bound.
func startKamailio(t *testing.T, port int, carriers, gateways []string) *kamailio {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		bin = "/usr/sbin/kamailio"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("kamailio not found (install the Debian package kamailio: scripts/deps.sh test)")
		}
	}
	dir := t.TempDir()
	var list strings.Builder
	for _, c := range carriers {
		fmt.Fprintf(&list, "1 sip:%s\n", c)
	}
	for _, g := range gateways {
		fmt.Fprintf(&list, "2 sip:%s\n", g)
	}
	dsFile := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(dsFile, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs(filepath.Join("..", "deploy", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	k := &kamailio{port: port, log: logcapture.NewWriter(t, logcapture.Name("kamailio"))}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-f", cfg, "-DD", "-E", "-m", "64", "-M", "8",
		"-A", "LISTEN=udp:127.0.0.1:"+strconv.Itoa(port), "-A", `DISPATCHER_LIST="`+dsFile+`"`,
		"-w", dir, "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, k.log, k.log
	// Kamailio forks its workers: stop the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	k.proc = testproc.Start(t, "kamailio", cmd, cancel)
	awaitUDPBound(t, k)

	return k
}

// awaitUDPBound waits until a socket of this network namespace is bound
// to k's UDP port on 127.0.0.1 (read from /proc/net/udp), or fails the
// test when Kamailio ended first.
func awaitUDPBound(t *testing.T, k *kamailio) {
	t.Helper()
	want := fmt.Sprintf("0100007F:%04X", k.port)
	deadline := time.Now().Add(stepTimeout)
	for {
		f, err := os.Open("/proc/net/udp")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		bound := false
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 1 && fields[1] == want {
				bound = true
			}
		}
		_ = f.Close()
		if bound {
			return
		}
		select {
		case <-k.proc.Done():
			t.Fatalf("kamailio exited at start: %v\n%s", k.proc.Err(), k.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not bind 127.0.0.1:%d within %v\n%s", k.port, stepTimeout, k.log.String())
		}
	}
}

// clusterGateway is one instance of the cluster.
type clusterGateway struct {
	*env
	name string
}

// aliceHash is alice's bcrypt hash in the cluster's configuration.
var aliceHash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
})

// clusterConfig is the configuration of instance name on ip: its trunk
// and registrar Kamailio on 127.0.0.1:kamPort, limits in redisURL.
func clusterConfig(t *testing.T, name, ip string, kamPort int, redisURL string, rtpMin, rtpMax int) *config.Config {
	t.Helper()
	hash, err := aliceHash()
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
sip:
  listeners: [{transport: udp, listen: "%[1]s:0"}]
  public_host: "%[1]s"
  rtp: {port_min: %[2]d, port_max: %[3]d}
webrtc:
  udp_listen: "%[1]s:0"
  public_ips: ["%[1]s"]
trunks:
  - name: kamailio
    host: 127.0.0.1
    port: %[4]d
    transport: udp
    caller_id: "+15550100"
    allowed_sources: ["127.0.0.1"]
auth:
  users:
    - id: alice
      password_hash: "%[5]s"
      max_calls: 4
      sip_account: {registrar: "127.0.0.1:%[4]d", username: "%[6]s", expiry: 1m}
default_dial_rules: {allow: ["+1*"]}
outbound: [{pattern: "+1*", trunk: kamailio}]
calls: {ring_timeout: 30s, resume_window: 1s}
limits: {concurrent_calls: 1}
cluster:
  instance: %[7]s
  redis: {url: "%[8]s", failure_policy: fail_closed}
shutdown: {grace_period: 20s}
admin: {listen: "127.0.0.1:0", token: "test-admin-token-0123456789"}
log: {level: debug}
`, ip, rtpMin, rtpMax, kamPort, hash, clusterExtension, name, redisURL)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("cluster configuration of %s refused: %v\n%s", name, err, doc)
	}

	return cfg
}

// newClusterGateway creates and binds instance name on ip (not running).
func newClusterGateway(t *testing.T, name, ip string, kamPort int, redisURL string) *clusterGateway {
	t.Helper()
	logger, logs := logcapture.New(t, logcapture.Name(name+" log"))
	e := &env{t: t, logs: logs}
	e.rtpMin, e.rtpMax = reserveRTPRange(t)
	cfg := clusterConfig(t, name, ip, kamPort, redisURL, e.rtpMin, e.rtpMax)
	e.cfg = cfg
	gw, err := gateway.New(cfg, logger.With("component", "gateway", "instance", name), browserleg.ListenConfig)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	if err := gw.Listen(); err != nil {
		t.Fatalf("gateway.Listen: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	e.gw = gw
	e.httpURL = "http://" + gw.HTTPAddr().String()
	e.sipAddr, _ = gw.SIPAddr("udp")
	e.webrtc = gw.WebRTCAddr()

	return &clusterGateway{env: e, name: name}
}

// run starts the instance; it is stopped (drained) at cleanup unless
// stopped before.
func (g *clusterGateway) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.runDone = make(chan error, 1)
	go func() { g.runDone <- g.gw.Run(ctx) }()
	t.Cleanup(func() {
		if g.stopped.CompareAndSwap(false, true) {
			cancel()
			if err := <-g.runDone; err != nil {
				t.Errorf("%s Run: %v", g.name, err)
			}
		}
	})
}

// alice signs alice in on the instance and waits until her extension is
// registered from it.
func (g *clusterGateway) alice(t *testing.T) *browser {
	t.Helper()
	b := g.login(t, userAlice)
	if m := gobrowser.Next[signaling.Extension](t, b.ws); m.Status != signaling.ExtensionRegistered {
		t.Fatalf("%s: extension %+v, want registered", g.name, m)
	}

	return b
}

// ringing waits for the incoming call on b and returns its id.
func ringing(t *testing.T, b *browser) string {
	t.Helper()
	in, ok := b.ws.Expect(t, "incoming", gobrowser.IsType(signaling.TypeIncoming)).(signaling.Incoming)
	if !ok || in.To != clusterExtension {
		t.Fatalf("incoming %+v, want a call to %s", in, clusterExtension)
	}

	return in.CallID
}

// carrierCall has sipp call the DID through Kamailio; the scenario ends
// with its BYE 3 s after the answer.
func carrierCall(t *testing.T, kamPort int) *sipp.Proc {
	t.Helper()

	return startSipp(t, "uac_proxy_did.xml", sipp.Options{
		Remote: "127.0.0.1:" + strconv.Itoa(kamPort), Service: clusterDID, Echo: true,
	}, 0)
}

// cluster is Redis, Kamailio (the shipped configuration) on kamPort in
// front of a carrier that answers, and two running gateway instances on
// 127.0.0.2 and 127.0.0.3.
type cluster struct {
	kamPort  int
	carrier  *sipp.Proc
	gw1, gw2 *clusterGateway
}

// startCluster starts a cluster; every part stops at cleanup.
func startCluster(t *testing.T) cluster {
	t.Helper()
	srv := redistest.Start(t)
	c := cluster{kamPort: sipp.FreePort(t), carrier: answeringCarrier(t)}
	c.gw1 = newClusterGateway(t, "gw1", "127.0.0.2", c.kamPort, srv.URL())
	c.gw2 = newClusterGateway(t, "gw2", "127.0.0.3", c.kamPort, srv.URL())
	startKamailio(t, c.kamPort, []string{"127.0.0.1:" + strconv.Itoa(c.carrier.Port())},
		[]string{c.gw1.sipAddr.String(), c.gw2.sipAddr.String()})
	c.gw1.run(t)
	c.gw2.run(t)

	return c
}

// TestClusterKamailio runs the cluster: a call to the DID reaches alice on
// the second instance; with alice on both, both ring, the first answer wins
// and the other stops ringing; alice over her concurrent limit on one
// instance is refused on the other; a drained instance unregisters at once
// and the next call goes to the other with no failed call.
func TestClusterKamailio(t *testing.T) {
	c := startCluster(t)
	kamPort, carrier, gw1, gw2 := c.kamPort, c.carrier, c.gw1, c.gw2

	// Alice on the second instance only.
	a2 := gw2.alice(t)
	uac := carrierCall(t, kamPort)
	id := ringing(t, a2)
	a2.accept(t, id)
	a2.ws.Expect(t, "connected "+id, gobrowser.Is[signaling.Connected](id))
	a2.ws.ExpectHangup(t, id, signaling.ReasonRemoteHangup, 0)
	uac.Wait(stepTimeout)

	// Alice on both: both ring, the second answers, the first stops.
	a1 := gw1.alice(t)
	uac = carrierCall(t, kamPort)
	id1, id2 := ringing(t, a1), ringing(t, a2)
	a2.accept(t, id2)
	a2.ws.Expect(t, "connected "+id2, gobrowser.Is[signaling.Connected](id2))
	// Kamailio cancels the other branch (RFC 3261 section 9) saying it was
	// answered elsewhere (RFC 3326): the tab is told answered_elsewhere.
	a1.ws.ExpectHangup(t, id1, signaling.ReasonAnsweredElsewhere, 0)
	a2.ws.ExpectHangup(t, id2, signaling.ReasonRemoteHangup, 0)
	uac.Wait(stepTimeout)

	// One call in progress on the first instance: the second refuses
	// another (limits.concurrent_calls 1, shared in Redis).
	out := newCallID()
	a1.ws.Dial(t, out, "+15551230001", newPeer(t))
	a1.ws.Expect(t, "connected "+out, gobrowser.Is[signaling.Connected](out))
	a2.ws.Send(t, signaling.Dial{ID: "over", To: "+15551230002", SDP: newPeer(t).Offer(t), Ref: "over"})
	if r := gobrowser.Next[signaling.ErrorReply](t, a2.ws); r.Code != signaling.CodeLimitConcurrentCalls {
		t.Errorf("dial over the limit on the other instance: %+v, want %s", r, signaling.CodeLimitConcurrentCalls)
	}
	a1.ws.HangUp(t, out)
	carrier.Wait(stepTimeout)

	// Drain the second instance: it unregisters before anything else, the
	// next call rings the first alone and is answered there.
	gw2.stopped.Store(true)
	gw2.cancel()
	gw2.logs.WaitLine(t, "extensions unregistered")
	uac = carrierCall(t, kamPort)
	id = ringing(t, a1)
	a1.accept(t, id)
	a1.ws.Expect(t, "connected "+id, gobrowser.Is[signaling.Connected](id))
	a1.ws.ExpectHangup(t, id, signaling.ReasonRemoteHangup, 0)
	uac.Wait(stepTimeout)
	if n := len(gw2.logs.Lines("inbound call refused")); n != 0 {
		t.Errorf("the drained instance refused %d calls", n)
	}
	if err := <-gw2.runDone; err != nil {
		t.Errorf("gw2 Run: %v", err)
	}
}

// TestKamailioConfigChecks: the shipped configuration loads in the Debian
// kamailio package (kamailio -c).
func TestKamailioConfigChecks(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(ds, []byte("1 sip:127.0.0.1:5090\n2 sip:127.0.0.2:5060\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kamailio", "-c", "-f", filepath.Join("..", "deploy", "kamailio.cfg"),
		"-A", `DISPATCHER_LIST="`+ds+`"`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config file ok") {
		t.Fatalf("kamailio -c: %v\n%s", err, out)
	}
}
