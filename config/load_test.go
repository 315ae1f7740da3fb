package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/telephony"
)

// unsetEnv removes an environment variable for the duration of the test.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the previous value at cleanup
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestExampleLoads(t *testing.T) {
	for _, name := range []string{"WEBTRUNK_JWT_KEY", "WEBTRUNK_DEMO_PASSWORD_HASH"} {
		unsetEnv(t, name)
	}
	cfg, err := Load("example.yaml")
	if err != nil {
		t.Fatalf("Load(example.yaml):\n%v", err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("example has warnings: %q", w)
	}
	if got := cfg.HTTP.Listen; got != "127.0.0.1:8080" {
		t.Errorf("http.listen = %q", got)
	}
	if l := cfg.SIP.Listeners; len(l) != 1 || l[0].Transport != telephony.TransportUDP || l[0].Listen != "127.0.0.1:5060" {
		t.Errorf("sip.listeners = %+v", l)
	}
	if cfg.WebRTC.UDPListen != "127.0.0.1:50000" || !reflect.DeepEqual(cfg.WebRTC.PublicIPs, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
		t.Errorf("webrtc = %+v", cfg.WebRTC)
	}
	demo, ok := cfg.Trunk("demo")
	if !ok || demo.Host != "127.0.0.1" || demo.Port != 5070 || demo.Transport != telephony.TransportUDP || demo.Register.Enabled {
		t.Fatalf("trunk demo = %+v", demo)
	}
	user, ok := cfg.User("demo")
	if !ok {
		t.Fatal("no user demo")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(user.PasswordHash.Reveal()), []byte("demo")); err != nil {
		t.Errorf("demo password is not \"demo\": %v", err)
	}
	// No signing key ships in the example: a known key would let anyone
	// mint tokens. JWT logins are off until WEBTRUNK_JWT_KEY is set.
	if cfg.Auth.JWT.Enabled() {
		t.Errorf("the example enables JWT logins with a key of %d bytes from the file", cfg.Auth.JWT.HMACKey.Len())
	}
	// The demo numbers are consistent: the DID routes to the user, whose
	// caller ID is dialable and goes out through the demo trunk.
	route, ok := cfg.Route(user.CallerID)
	if !ok || route.User != "demo" || route.RingTimeout != 30*time.Second {
		t.Errorf("route for %s = %+v", user.CallerID, route)
	}
	if !user.DialRules.Allows("+15550123") || user.DialRules.Allows("+15559990000") || user.DialRules.Allows("+442071234567") {
		t.Errorf("demo dial rules = %+v", user.DialRules)
	}
	if tr, ok := cfg.OutboundTrunk("+15550123"); !ok || tr.Name != "demo" {
		t.Errorf("outbound trunk for +15550123 = %v", tr)
	}
	if cfg.Calls.MaxConcurrent != 0 {
		t.Errorf("calls.max_concurrent = %d, want 0 (unlimited) in the demo", cfg.Calls.MaxConcurrent)
	}
	if cfg.Calls.OpusComplexity != 5 {
		t.Errorf("calls.opus_complexity = %d, want 5 in the demo", cfg.Calls.OpusComplexity)
	}
}

func TestExampleUsesEnvironment(t *testing.T) {
	key := strings.Repeat("k", 40)
	t.Setenv("WEBTRUNK_JWT_KEY", key)
	cfg, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.JWT.HMACKey.Reveal() != key {
		t.Error("WEBTRUNK_JWT_KEY was not used")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Errorf("a missing file is reported as an invalid configuration")
	}
}

// TestDefaults checks every default on the smallest valid configuration.
func TestDefaults(t *testing.T) {
	doc := `sip:
  listeners: [{listen: "192.0.2.5:5060"}, {transport: tls, listen: ":5061", tls: {cert_file: CERT, key_file: CERT}}]
webrtc:
  public_ips: [192.0.2.5]
trunks:
  - {name: a, host: 192.0.2.10}
  - {name: b, host: "2001:db8::7", transport: tls}
  - {name: c, host: sip.example.net}
auth:
  jwt: {hmac_key: "0123456789abcdef0123456789abcdef"}
  users:
    - {id: alice, password_hash: "` + testHash + `"}
    - {id: bob, password_hash: "` + testHash + `", dial_rules: {allow: ["+1*"]}, max_calls: 0}
default_dial_rules: {allow: ["+44*"], deny: ["+449*"]}
routes:
  - {did: "+442071234567", user: alice}
`
	doc = strings.ReplaceAll(doc, "CERT", writeTemp(t, "x"))
	cfg := mustParse(t, doc, noEnv)
	def := Default()
	if cfg.HTTP.Listen != "127.0.0.1:8080" || len(cfg.HTTP.AllowedOrigins) != 0 || cfg.HTTP.TLS.Enabled() {
		t.Errorf("http = %+v", cfg.HTTP)
	}
	if cfg.SIP.PublicHost != "192.0.2.5" || cfg.SIP.UserAgent != "Webtrunk" || cfg.SIP.UnknownSources != UnknownSourcesReject ||
		cfg.SIP.RTP != (PortRange{20000, 20999}) || cfg.SIP.RTP.Pairs() != 500 {
		t.Errorf("sip = %+v", cfg.SIP)
	}
	if cfg.SIP.Listeners[0].Transport != telephony.TransportUDP {
		t.Errorf("listener transport = %q", cfg.SIP.Listeners[0].Transport)
	}
	if cfg.WebRTC.UDPListen != "127.0.0.1:50000" || cfg.WebRTC.TCPListen != "" || len(cfg.WebRTC.ICEServers) != 0 {
		t.Errorf("webrtc = %+v", cfg.WebRTC)
	}
	a, b, c := cfg.Trunks[0], cfg.Trunks[1], cfg.Trunks[2]
	wantNumbering := telephony.NumberPlan{Format: telephony.FormatE164, NationalPrefix: "0", InternationalPrefix: "00"}
	if a.Port != 5060 || a.Transport != telephony.TransportUDP || a.Register.Enabled || a.Register.Expiry != 300*time.Second ||
		!reflect.DeepEqual(a.Codecs, []Codec{CodecPCMU, CodecPCMA}) || a.MaxCalls != 0 ||
		!reflect.DeepEqual(a.Numbering, wantNumbering) ||
		!reflect.DeepEqual(a.AllowedSources, []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}) {
		t.Errorf("trunk a = %+v", a)
	}
	if b.Port != 5061 || !reflect.DeepEqual(b.AllowedSources, []netip.Prefix{netip.MustParsePrefix("2001:db8::7/128")}) {
		t.Errorf("trunk b = %+v", b)
	}
	if c.Port != 5060 || len(c.AllowedSources) != 0 {
		t.Errorf("trunk c = %+v", c)
	}
	alice, bob := cfg.Auth.Users[0], cfg.Auth.Users[1]
	if alice.MaxCalls != 2 || !reflect.DeepEqual(*alice.DialRules, cfg.DefaultDialRules) {
		t.Errorf("alice = %+v, rules %+v", alice, alice.DialRules)
	}
	if bob.MaxCalls != 0 || bob.DialRules.Allows("+442071234567") || !bob.DialRules.Allows("+12125550100") {
		t.Errorf("bob = %+v", bob)
	}
	if cfg.Routes[0].RingTimeout != 60*time.Second {
		t.Errorf("route ring timeout = %v", cfg.Routes[0].RingTimeout)
	}
	if cfg.Calls != def.Calls || cfg.Calls.RingTimeout != time.Minute || cfg.Calls.MediaTimeout != 30*time.Second ||
		cfg.Calls.MaxDuration != 4*time.Hour || cfg.Calls.TranscodeSameCodec || cfg.Calls.MaxConcurrent != 0 || cfg.Calls.OpusComplexity != 5 {
		t.Errorf("calls = %+v", cfg.Calls)
	}
	if cfg.Log != (LogConfig{"info", "text"}) || cfg.Metrics != (MetricsConfig{Enabled: true, Listener: "admin", Path: "/metrics"}) ||
		cfg.Admin.Listen != "127.0.0.1:9090" || !cfg.Admin.Token.IsZero() || cfg.Admin.Pprof ||
		cfg.Shutdown.GracePeriod != 30*time.Second {
		t.Errorf("log %+v metrics %+v shutdown %+v", cfg.Log, cfg.Metrics, cfg.Shutdown)
	}
	want := []string{
		"outbound: no rules: no outbound call can be placed",
		"trunks[2].allowed_sources: empty and host is not an IP address: inbound INVITEs from this trunk are not accepted",
		"auth.users[0].password_hash: bcrypt cost 4 is below 10",
		"auth.users[1].password_hash: bcrypt cost 4 is below 10",
	}
	if got := cfg.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Warnings() =\n%q\nwant\n%q", got, want)
	}
}

// TestExplicitValuesOverrideDefaults checks that a value equal to the
// zero value, written in the file, is kept rather than defaulted.
func TestExplicitValuesOverrideDefaults(t *testing.T) {
	doc := edit(t, baseYAML,
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    numbering: {national_prefix: \"\", international_prefix: \"\"}\n    codecs: [PCMA]\n    allowed_sources: [198.51.100.0/24]\n",
		"      password_hash:", "      max_calls: 0\n      password_hash:") +
		"metrics: {enabled: false}\nshutdown: {grace_period: 0s}\ncalls: {transcode_same_codec: true, max_concurrent: 250, opus_complexity: 0}\nlog: {level: debug, format: json}\n"
	cfg := mustParse(t, doc, noEnv)
	tr := cfg.Trunks[0]
	if tr.Numbering.NationalPrefix != "" || tr.Numbering.InternationalPrefix != "" || !reflect.DeepEqual(tr.Codecs, []Codec{CodecPCMA}) {
		t.Errorf("trunk = %+v", tr)
	}
	if !tr.AllowsSource(netip.MustParseAddr("198.51.100.9")) || tr.AllowsSource(netip.MustParseAddr("192.0.2.10")) ||
		!tr.AllowsSource(netip.MustParseAddr("::ffff:198.51.100.9")) {
		t.Errorf("allowed sources = %v", tr.AllowedSources)
	}
	if cfg.Auth.Users[0].MaxCalls != 0 || cfg.Metrics.Enabled || cfg.Shutdown.GracePeriod != 0 || !cfg.Calls.TranscodeSameCodec ||
		cfg.Calls.MaxConcurrent != 250 || cfg.Calls.OpusComplexity != 0 {
		t.Errorf("explicit zero values were replaced by defaults: %+v", cfg)
	}
	if cfg.Log.SlogLevel() != slog.LevelDebug {
		t.Errorf("SlogLevel = %v", cfg.Log.SlogLevel())
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  string
	}{
		{"no dial rules", []string{`default_dial_rules:\n  allow: ["+44*"]\n`, ""}, "default_dial_rules.allow: empty"},
		{"user without allowed numbers", []string{"      password_hash:", "      dial_rules: {deny: [\"+1*\"]}\n      password_hash:"}, "auth.users[0].dial_rules.allow: empty"},
		{"public HTTP without TLS", []string{"sip:\n", "http: {listen: \":8080\"}\nsip:\n"}, "http.tls: not set"},
		{"loopback candidate on a public socket", []string{"  public_ips:", "  udp_listen: \":50000\"\n  public_ips:"}, "webrtc.public_ips[0]: a loopback address"},
		{"call limit above the RTP ports", []string{"sip:\n", "calls: {max_concurrent: 6}\nsip:\n  rtp: {port_min: 20000, port_max: 20009}\n"}, "calls.max_concurrent: 6 is more than the 5 RTP port pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edits := make([]string, len(tt.edits))
			for i, e := range tt.edits {
				edits[i] = strings.ReplaceAll(e, `\n`, "\n")
			}
			cfg := mustParse(t, edit(t, baseYAML, edits...), noEnv)
			w := strings.Join(cfg.Warnings(), "\n")
			if !strings.Contains(w, tt.want) {
				t.Errorf("Warnings() =\n%s\nwant one starting %q", w, tt.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	doc := edit(t, baseYAML, "outbound:\n  - {pattern: \"+44*\", trunk: carrier}\n",
		"outbound:\n  - {pattern: \"+449*\", trunk: premium}\n  - {pattern: \"+44*\", trunk: carrier}\n",
		"trunks:\n", "trunks:\n  - {name: premium, host: 192.0.2.20}\n")
	cfg := mustParse(t, doc, noEnv)
	tests := []struct {
		number, trunk string
	}{
		{"+449012345678", "premium"},
		{"+442071234567", "carrier"},
		{"+33123456789", ""},
	}
	for _, tt := range tests {
		got := ""
		if tr, ok := cfg.OutboundTrunk(tt.number); ok {
			got = tr.Name
		}
		if got != tt.trunk {
			t.Errorf("OutboundTrunk(%s) = %q, want %q", tt.number, got, tt.trunk)
		}
	}
	if _, ok := cfg.Trunk("nope"); ok {
		t.Error("Trunk(nope) found")
	}
	if _, ok := cfg.User("nope"); ok {
		t.Error("User(nope) found")
	}
	if r, ok := cfg.Route("+442071234567"); !ok || r.User != "alice" {
		t.Errorf("Route = %+v", r)
	}
	if _, ok := cfg.Route("+442071234568"); ok {
		t.Error("Route found an unrouted DID")
	}
}
