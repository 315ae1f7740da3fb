package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestValidateProblems asserts the exact problems of invalid values and
// broken cross-references.
func TestValidateProblems(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("placeholder"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const trunkHost = "    host: 192.0.2.10\n"
	checkProblemCases(t, baseYAML, []problemCase{
		{
			name:  "listen address without port",
			extra: "http:\n  listen: 127.0.0.1\n",
			wants: []want{{"http.listen", "listen: 127.0.0.1", "must be host:port"}},
		},
		{
			name:  "listen address with a host name",
			extra: "http:\n  listen: \"example.com:80\"\n",
			wants: []want{{"http.listen", "example.com", "host must be an IP address"}},
		},
		{
			name:  "listen port out of range",
			edits: []string{`"127.0.0.1:5060"`, `"127.0.0.1:70000"`},
			wants: []want{{"sip.listeners[0].listen", "70000", "port must be a number from 0 to 65535"}},
		},
		{
			name:  "TLS certificate without key",
			extra: "http:\n  tls: {cert_file: " + cert + "}\n",
			wants: []want{{"http.tls.key_file", "tls:", "required when cert_file is set"}},
		},
		{
			name:  "TLS files that do not exist",
			extra: "http:\n  tls:\n    cert_file: /nonexistent/cert.pem\n    key_file: " + dir + "\n",
			wants: []want{
				{"http.tls.cert_file", "cert_file:", "no such file or directory"},
				{"http.tls.key_file", "key_file:", "is not a regular file"},
			},
		},
		{
			name:  "TLS files that exist",
			extra: "http:\n  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\nsipx: 1\n",
			wants: []want{{"sipx", "sipx:", "unknown key"}},
		},
		{
			name:  "origin with a path",
			extra: "http:\n  allowed_origins: [\"https://ok.example\", \"https://bad.example/app\"]\n",
			wants: []want{{"http.allowed_origins[1]", "allowed_origins", "is not an origin"}},
		},
		{
			name:  "tls listener without certificate, bad transport",
			edits: []string{`    - listen: "127.0.0.1:5060"`, "    - listen: \"127.0.0.1:5060\"\n    - {transport: tls, listen: \"127.0.0.1:5061\"}\n    - {transport: sctp, listen: \"127.0.0.1:5062\"}"},
			wants: []want{
				{"sip.listeners[1].tls.cert_file", "transport: tls", "required"},
				{"sip.listeners[1].tls.key_file", "transport: tls", "required"},
				{"sip.listeners[2].transport", "sctp", `must be one of udp, tcp, tls, not "sctp"`},
			},
		},
		{
			name:  "tls files on a udp listener and a duplicate listener",
			edits: []string{`    - listen: "127.0.0.1:5060"`, "    - listen: \"127.0.0.1:5060\"\n      tls: {cert_file: " + cert + ", key_file: " + key + "}\n    - listen: \"127.0.0.1:5060\""},
			wants: []want{
				{"sip.listeners[0].tls", "tls: {cert_file", "only allowed for transport tls"},
				{"sip.listeners[1]", "}\n    - listen", "same transport and listen address as sip.listeners[0]"},
			},
		},
		{
			name:  "wildcard listener needs a public host",
			edits: []string{`"127.0.0.1:5060"`, `":5060"`},
			wants: []want{{"sip.public_host", "sip:", "required when sip.listeners[0] does not bind a specific IP address"}},
		},
		{
			name:  "bad public host and user agent",
			edits: []string{"sip:\n", "sip:\n  public_host: \"bad host\"\n  user_agent: \"x\\r\\ny\"\n  unknown_sources: drop\n"},
			wants: []want{
				{"sip.public_host", "public_host", "is not a host name or IP address"},
				{"sip.user_agent", "user_agent", "printable ASCII"},
				{"sip.unknown_sources", "unknown_sources", `must be one of reject, ignore, not "drop"`},
			},
		},
		{
			name:  "rtp range odd and reversed",
			edits: []string{"sip:\n", "sip:\n  rtp: {port_min: 20001, port_max: 20001}\n"},
			wants: []want{
				{"sip.rtp.port_min", "port_min", "must be even"},
				{"sip.rtp.port_max", "port_max", "must be at least port_min+1"},
			},
		},
		{
			name:  "webrtc: one public IP per address family",
			edits: []string{"  public_ips: [127.0.0.1]", "  public_ips: [192.0.2.1, \"2001:db8::1\", 192.0.2.2, \"2001:db8::2\"]"},
			wants: []want{
				{"webrtc.public_ips[2]", "public_ips", "only one IPv4 and one IPv6 address"},
				{"webrtc.public_ips[3]", "public_ips", "only one IPv4 and one IPv6 address"},
			},
		},
		{
			name:  "webrtc: unusable public IP, TURN without credentials, bad URLs",
			edits: []string{"  public_ips: [127.0.0.1]", "  public_ips: [0.0.0.0]\n  tcp_listen: nope\n  ice_servers:\n    - urls: [\"turn:turn.example.org:3478?transport=udp\"]\n    - urls: [\"http://stun.example.org\", \"stun:bad_host\", \"stun:[::1]\"]\n    - urls: []"},
			wants: []want{
				{"webrtc.public_ips[0]", "public_ips", "must be an address browsers can reach"},
				{"webrtc.tcp_listen", "tcp_listen", "must be host:port"},
				{"webrtc.ice_servers[0].username", "turn:", "required for TURN URLs"},
				{"webrtc.ice_servers[0].credential", "turn:", "required for TURN URLs"},
				{"webrtc.ice_servers[1].urls[0]", "http://", "must start with stun:, stuns:, turn: or turns:"},
				{"webrtc.ice_servers[1].urls[1]", "http://", "has an invalid host"},
				{"webrtc.ice_servers[2].urls", "urls: []", "at least one URL is required"},
			},
		},
		{
			name: "trunk fields",
			edits: []string{trunkHost, trunkHost + `    port: 0
    transport: tcp
    auth: {username: "", password: "pw", realm: ""}
    caller_id: "02071234567"
    numbering:
      format: national
      national_prefix: "O"
      strip_prefixes: ["9", ""]
      add_prefix: "12a"
    codecs: [PCMU, G729, PCMU]
    max_calls: -1
`},
			wants: []want{
				{"trunks[0].transport", "transport: tcp", "no entry of sip.listeners has transport tcp"},
				{"trunks[0].auth.username", "auth:", "required when password is set"},
				{"trunks[0].caller_id", "caller_id", `"02071234567" is not an E.164 number`},
				{"trunks[0].numbering.country_code", "numbering:", "required for format national"},
				{"trunks[0].numbering.national_prefix", "national_prefix", "digits only"},
				{"trunks[0].numbering.strip_prefixes[1]", "strip_prefixes", "one or more digits"},
				{"trunks[0].numbering.add_prefix", "add_prefix", "digits, * and #"},
				{"trunks[0].codecs[1]", "codecs:", `must be one of PCMU, PCMA, not "G729"`},
				{"trunks[0].codecs[2]", "codecs:", "PCMU is listed twice"},
				{"trunks[0].max_calls", "max_calls", "must not be negative"},
			},
		},
		{
			name: "trunk names, hosts and registration",
			edits: []string{trunkHost, trunkHost + `    register: {enabled: true, expiry: 25h}
  - name: carrier
    host: "bad..host"
    numbering: {country_code: "044"}
  - name: Bad_Name
  - {host: 192.0.2.1, register: {expiry: 90500ms}, transport: ws}
`},
			wants: []want{
				{"trunks[0].auth.username", "- name: carrier", "required when register.enabled is true"},
				{"trunks[0].register.expiry", "25h", "must be at most 24h"},
				{"trunks[1].name", "25h}\n  - name: carrier", `"carrier" is already the name of trunks[0]`},
				{"trunks[1].host", "bad..host", "is not a host name or IP address"},
				{"trunks[1].numbering.country_code", "044", "not a country calling code"},
				{"trunks[2].name", "Bad_Name", "must be 1 to 63 characters"},
				{"trunks[2].host", "Bad_Name", "required"},
				{"trunks[3].name", "90500ms", "required"},
				{"trunks[3].transport", "90500ms", `must be one of udp, tcp, tls, not "ws"`},
				{"trunks[3].register.expiry", "90500ms", "must be whole seconds"},
			},
		},
		{
			name:  "short JWT key",
			edits: []string{"auth:\n", "auth:\n  jwt: {hmac_key: \"short\"}\n"},
			wants: []want{{"auth.jwt.hmac_key", "hmac_key", "must be at least 32 bytes"}},
		},
		{
			name: "users",
			edits: []string{`      password_hash: "` + testHash + `"`, `      password_hash: "` + testHash + `"
      caller_id: "+0123"
      max_calls: -3
    - id: alice
      password_hash: "correct horse"
    - id: "bob smith"
    - {id: carol, password_hash: "$2a$04$short", dial_rules: {allow: ["+1*"]}}`},
			wants: []want{
				{"auth.users[0].caller_id", "+0123", "is not an E.164 number"},
				{"auth.users[0].max_calls", "max_calls", "must not be negative"},
				{"auth.users[1].id", "-3\n    - id: alice", `"alice" is already the id of auth.users[0]`},
				{"auth.users[1].password_hash", `"correct horse"`, "must be a bcrypt hash"},
				{"auth.users[2].id", "bob smith", "must be 1 to 128 characters"},
				{"auth.users[2].password_hash", "bob smith", "required"},
				{"auth.users[3].password_hash", "carol", "must be a bcrypt hash"},
			},
		},
		{
			name:  "no authentication at all",
			edits: []string{"auth:\n  users:\n    - id: alice\n      password_hash: \"" + testHash + "\"\n", "auth:\n  users: []\n"},
			wants: []want{
				{"auth", "auth:", "no way to log in"},
				{"routes[0].user", "user: alice", `no user has id "alice"`},
			},
		},
		{
			name:  "routes and outbound references",
			edits: []string{"  - {did: \"+442071234567\", user: alice}\n", "  - {did: \"+442071234567\", user: alice}\n  - {did: \"+442071234567\", user: alice, ring_timeout: 1s}\n  - {did: \"442071234568\"}\n", "  - {pattern: \"+44*\", trunk: carrier}\n", "  - {pattern: \"+44*\", trunk: carrier}\n  - {trunk: nowhere}\n"},
			wants: []want{
				{"outbound[1].pattern", "nowhere", "required"},
				{"outbound[1].trunk", "nowhere", `no trunk is named "nowhere"`},
				{"routes[1].did", "ring_timeout: 1s", "+442071234567 is already routed by routes[0]"},
				{"routes[1].ring_timeout", "ring_timeout: 1s", "must be at least 5s"},
				{"routes[2].did", "442071234568", "is not an E.164 number"},
				{"routes[2].user", "442071234568", "required"},
			},
		},
		{
			name:  "negative gateway call limit",
			extra: "calls:\n  max_concurrent: -1\n",
			wants: []want{{"calls.max_concurrent", "max_concurrent: -1", "must not be negative (0 means unlimited)"}},
		},
		{
			name:  "opus complexity above 10",
			extra: "calls:\n  opus_complexity: 11\n",
			wants: []want{{"calls.opus_complexity", "opus_complexity: 11", "must be from 0 to 10"}},
		},
		{
			name:  "negative opus complexity",
			extra: "calls:\n  opus_complexity: -1\n",
			wants: []want{{"calls.opus_complexity", "opus_complexity: -1", "must be from 0 to 10"}},
		},
		{
			name:  "calls, log, metrics and shutdown ranges",
			extra: "calls: {ring_timeout: 4s, media_timeout: 11m, max_duration: 30s}\nlog: {level: verbose, format: xml}\nmetrics: {path: /healthz}\nshutdown: {grace_period: -1s}\n",
			wants: []want{
				{"calls.ring_timeout", "ring_timeout: 4s", "must be at least 5s"},
				{"calls.media_timeout", "ring_timeout: 4s", "must be at most 10m"},
				{"calls.max_duration", "ring_timeout: 4s", "must be at least 1m"},
				{"log.level", "verbose", `must be one of debug, info, warn, error, not "verbose"`},
				{"log.format", "verbose", `must be one of text, json, not "xml"`},
				{"metrics.path", "/healthz", `"/healthz" is used by the gateway itself`},
				{"shutdown.grace_period", "grace_period", "must be at least 0s"},
			},
		},
	})
}

// TestValidateAccepts checks valid variations of the base configuration.
func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
	}{
		{"routes to JWT users need no configured user", []string{
			"auth:\n", "auth:\n  jwt: {hmac_key: \"0123456789abcdef0123456789abcdef\"}\n",
			"user: alice}", "user: someone-else}",
		}},
		{"JWT only", []string{
			"auth:\n  users:\n    - id: alice\n      password_hash: \"" + testHash + "\"\n",
			"auth:\n  jwt: {hmac_key: \"0123456789abcdef0123456789abcdef\"}\n",
		}},
		{"IPv6 everywhere", []string{
			`"127.0.0.1:5060"`, `"[::1]:5060"`,
			"[127.0.0.1]", "[\"2001:db8::1\"]",
			"192.0.2.10", "\"2001:db8::10\"",
		}},
		{"no trunks, no routing", []string{
			"trunks:\n  - name: carrier\n    host: 192.0.2.10\n", "",
			"outbound:\n  - {pattern: \"+44*\", trunk: carrier}\n", "",
		}},
		{"all listeners, TURN and national numbering", []string{
			`    - listen: "127.0.0.1:5060"`, "    - listen: \"127.0.0.1:5060\"\n    - {transport: tcp, listen: \"127.0.0.1:5060\"}",
			"  public_ips: [127.0.0.1]", "  public_ips: [127.0.0.1]\n  tcp_listen: \"127.0.0.1:0\"\n  ice_servers:\n    - urls: [\"stun:stun.example.org\", \"turns:[2001:db8::3]:5349?transport=tcp\"]\n      username: u\n      credential: c",
			"    host: 192.0.2.10\n", "    host: sip.example.net\n    transport: tcp\n    numbering: {format: national, country_code: \"44\", strip_prefixes: [\"9\"], add_prefix: \"12#\"}\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, edit(t, baseYAML, tt.edits...), noEnv)
		})
	}
}

// TestValidateCodeBuilt checks Validate on a configuration built in code:
// valid from Default plus the required fields, and problems without lines.
func TestValidateCodeBuilt(t *testing.T) {
	c := Default()
	c.SIP.Listeners = []SIPListener{{Transport: telephony.TransportUDP, Listen: "127.0.0.1:5060"}}
	c.SIP.PublicHost = "gw.example.net"
	c.WebRTC.PublicIPs = []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	c.Auth.JWT.HMACKey = NewSecret(strings.Repeat("k", 32))
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}

	c.Outbound = []OutboundRule{{Trunk: "none"}}
	c.Calls.MaxDuration = 49 * time.Hour
	c.Calls.MaxConcurrent = -5
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want *ValidationError", err)
	}
	got := make([]string, len(ve.Errors))
	for i, e := range ve.Errors {
		if e.Line != 0 {
			t.Errorf("%s: line %d, want 0", e.Path, e.Line)
		}
		got[i] = e.Path
	}
	want := "outbound[0].pattern outbound[0].trunk calls.max_duration calls.max_concurrent"
	if strings.Join(got, " ") != want {
		t.Errorf("paths = %v, want %s", got, want)
	}
	if ve.File != "" || !strings.HasPrefix(err.Error(), "outbound[0].pattern: required\n") {
		t.Errorf("Error() = %q", err)
	}
}
