// Package testconfig writes the YAML configuration of a gateway under test
// (the schema of package config): every listener (the admin one too, with
// the token AdminToken) on 127.0.0.1 with a port the kernel chooses, one UDP trunk on 127.0.0.1 whose port the test bound
// first, and the users, dial rules, routes and timers the test names. It
// is imported only by tests.
package testconfig

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"text/template"

	"golang.org/x/crypto/bcrypt"

	"github.com/webtrunk/webtrunk/config"
)

// Gateway is what a test sets of the configuration; empty fields are left
// out (the configuration's defaults apply) unless their comment says
// otherwise.
type Gateway struct {
	// RTPMin and RTPMax bound the trunk-side RTP port range (sip.rtp).
	RTPMin, RTPMax int
	// WebRTC is the WebRTC UDP listen address, "127.0.0.1:0" when empty.
	WebRTC string
	// WebRTCTCP is the ICE-TCP listen address (webrtc.tcp_listen); none
	// when empty.
	WebRTCTCP string
	Trunk     Trunk
	// JWTKey is the HS256 key of the token login; none when empty.
	JWTKey string
	Users  []User
	// Allow and Deny are default_dial_rules (Allow must not be empty).
	Allow, Deny []string
	// Outbound sends each number pattern to the trunk, in order.
	Outbound []string
	// MoreTrunks are further trunks on 127.0.0.1 after Trunk.
	MoreTrunks []Trunk
	// RouteTrunks, when set, makes every outbound rule list these trunks
	// (trunks: [...]) instead of Trunk alone; AttemptTimeout is the rules'
	// attempt_timeout when set.
	RouteTrunks    []string
	AttemptTimeout string
	Routes         []Route
	Calls          Calls
	// Grace is shutdown.grace_period, "0s" when empty.
	Grace string
	// LogLevel is log.level.
	LogLevel string
	// Extra is appended as it is: more YAML at the top level.
	Extra string
	// TLSCert and TLSKey, when set, add a tls SIP listener on 127.0.0.1
	// with a port the kernel chooses, with this PEM certificate and key.
	TLSCert, TLSKey string
	// TLSCAFile is sip.tls_ca_file when set.
	TLSCAFile string
}

// Trunk is the one trunk, on 127.0.0.1 over UDP, allowed to send from
// 127.0.0.1.
type Trunk struct {
	Name     string
	Port     uint16
	CallerID string
	// Numbering is the trunk's numbering block as YAML, indented for its
	// place (six spaces); none when empty.
	Numbering string
	// Register makes the gateway register with the trunk.
	Register bool
	// User and Password answer the trunk's digest challenges; no auth
	// block when User is empty.
	User, Password string
	// Extra is more YAML of the trunk's entry, each line indented by
	// four spaces (for example "    identity: pai").
	Extra string
	// Sources replaces allowed_sources ["127.0.0.1"] when set.
	Sources []string
	// Transport is the trunk's transport, udp when empty.
	Transport string
}

// User is one user of auth.users with the password Password.
type User struct {
	ID          string
	DisplayName string
	CallerID    string
	// MaxCalls is max_calls (0 is unlimited); the default when nil.
	MaxCalls *int
	// Allow is the user's own dial_rules.allow; the default rules when
	// empty.
	Allow []string
	// SIPPassword is sip_password (SIP over WebSocket); none when empty.
	SIPPassword string
}

// Route routes a DID to a user, with its own ring timeout when given.
type Route struct {
	DID, User, RingTimeout string
}

// Calls is the calls block; its zero fields are left out.
type Calls struct {
	RingTimeout, MediaTimeout string
	TranscodeSameCodec        bool
	MaxConcurrent             int
	// ResumeWindow is calls.resume_window; the default when empty.
	ResumeWindow string
}

// AdminToken is the admin listener's bearer token (admin.token) of every
// test gateway.
const AdminToken = "test-admin-token-0123456789"

// Password is the password of every test user.
const Password = "correct horse battery staple"

// hash is the users' bcrypt hash, computed once per test binary at the
// minimum cost so that tests stay fast.
var hash = sync.OnceValues(func() ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
})

var gatewayTemplate = template.Must(template.New("gateway").Funcs(template.FuncMap{"list": list}).Parse(`
http:
  listen: "127.0.0.1:0"
sip:
  listeners:
    - transport: udp
      listen: "127.0.0.1:0"
{{- if .TLSCert}}
    - transport: tls
      listen: "127.0.0.1:0"
      tls: {cert_file: "{{.TLSCert}}", key_file: "{{.TLSKey}}"}
{{- end}}
  public_host: "127.0.0.1"
{{- if .TLSCAFile}}
  tls_ca_file: "{{.TLSCAFile}}"
{{- end}}
  rtp:
    port_min: {{.RTPMin}}
    port_max: {{.RTPMax}}
webrtc:
  udp_listen: "{{.WebRTC}}"
  public_ips: ["127.0.0.1"]
{{- if .WebRTCTCP}}
  tcp_listen: "{{.WebRTCTCP}}"
{{- end}}
trunks:
{{- range .AllTrunks}}
  - name: {{.Name}}
    host: 127.0.0.1
    port: {{.Port}}
    transport: {{if .Transport}}{{.Transport}}{{else}}udp{{end}}
    caller_id: "{{.CallerID}}"
    allowed_sources: {{if .Sources}}{{list .Sources}}{{else}}["127.0.0.1"]{{end}}
{{- if .Numbering}}
    numbering:
{{.Numbering}}
{{- end}}
{{- if .Register}}
    register: {enabled: true}
{{- end}}
{{- if .User}}
    auth: {username: "{{.User}}", password: "{{.Password}}"}
{{- end}}
{{- if .Extra}}
{{.Extra}}
{{- end}}
{{- end}}
auth:
{{- if .JWTKey}}
  jwt:
    hmac_key: "{{.JWTKey}}"
{{- end}}
  users:
{{- range .Users}}
    - id: {{.ID}}
      password_hash: "{{$.Hash}}"
{{- if .DisplayName}}
      display_name: "{{.DisplayName}}"
{{- end}}
{{- if .CallerID}}
      caller_id: "{{.CallerID}}"
{{- end}}
{{- if .MaxCalls}}
      max_calls: {{.MaxCalls}}
{{- end}}
{{- if .Allow}}
      dial_rules: {allow: {{list .Allow}}}
{{- end}}
{{- if .SIPPassword}}
      sip_password: "{{.SIPPassword}}"
{{- end}}
{{- end}}
default_dial_rules:
  allow: {{list .Allow}}
{{- if .Deny}}
  deny: {{list .Deny}}
{{- end}}
outbound:
{{- range .Outbound}}
  - pattern: "{{.}}"
{{- if $.RouteTrunks}}
    trunks:
{{- range $.RouteTrunks}}
      - name: {{.}}
{{- end}}
{{- else}}
    trunk: {{$.Trunk.Name}}
{{- end}}
{{- if $.AttemptTimeout}}
    attempt_timeout: {{$.AttemptTimeout}}
{{- end}}
{{- end}}
routes:
{{- range .Routes}}
  - did: "{{.DID}}"
    user: {{.User}}
{{- if .RingTimeout}}
    ring_timeout: {{.RingTimeout}}
{{- end}}
{{- end}}
calls:
{{- if .Calls.RingTimeout}}
  ring_timeout: {{.Calls.RingTimeout}}
{{- end}}
{{- if .Calls.MediaTimeout}}
  media_timeout: {{.Calls.MediaTimeout}}
{{- end}}
{{- if .Calls.TranscodeSameCodec}}
  transcode_same_codec: true
{{- end}}
{{- if .Calls.MaxConcurrent}}
  max_concurrent: {{.Calls.MaxConcurrent}}
{{- end}}
{{- if .Calls.ResumeWindow}}
  resume_window: {{.Calls.ResumeWindow}}
{{- end}}
{{- if .LogLevel}}
log:
  level: {{.LogLevel}}
{{- end}}
shutdown:
  grace_period: {{.Grace}}
admin:
  listen: "127.0.0.1:0"
  token: "{{.AdminToken}}"
{{.Extra}}`))

// list writes strings as a YAML flow sequence.
func list(items []string) string { return `["` + strings.Join(items, `", "`) + `"]` }

// YAML returns g as a configuration file.
func (g Gateway) YAML(tb testing.TB) []byte {
	tb.Helper()
	h, err := hash()
	if err != nil {
		tb.Fatal(err)
	}
	if g.WebRTC == "" {
		g.WebRTC = "127.0.0.1:0"
	}
	if g.Grace == "" {
		g.Grace = "0s"
	}
	var buf bytes.Buffer
	if err := gatewayTemplate.Execute(&buf, struct {
		Gateway
		Hash       string
		AdminToken string
		AllTrunks  []Trunk
	}{g, string(h), AdminToken, append([]Trunk{g.Trunk}, g.MoreTrunks...)}); err != nil {
		tb.Fatal(err)
	}

	return buf.Bytes()
}

// Parse returns g parsed and validated by package config (secrets from no
// environment), failing tb with the file when it is refused.
func (g Gateway) Parse(tb testing.TB) *config.Config {
	tb.Helper()
	yaml := g.YAML(tb)
	cfg, err := config.Parse(yaml, func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatalf("test configuration refused: %v\n%s", err, yaml)
	}

	return cfg
}
