package config

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeProblems feeds broken YAML and asserts the exact problems:
// path, line and message.
func TestDecodeProblems(t *testing.T) {
	checkProblemCases(t, baseYAML, []problemCase{
		{
			name:  "unknown top-level key",
			extra: "htpp:\n  listen: \"127.0.0.1:8080\"\n",
			wants: []want{{"htpp", "htpp:", `unknown key (did you mean "http"?)`}},
		},
		{
			name:  "unknown key without a likely meaning",
			extra: "frobnicate: true\n",
			wants: []want{{"frobnicate", "frobnicate:", "unknown key"}},
		},
		{
			name:  "misspelt nested key",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    regsiter: {enabled: true}\n"},
			wants: []want{{"trunks[0].regsiter", "regsiter:", `unknown key (did you mean "register"?)`}},
		},
		{
			name:  "misspelt required key is one problem, not two",
			edits: []string{"    host: 192.0.2.10", "    hots: 192.0.2.10"},
			wants: []want{{"trunks[0].hots", "hots:", `did you mean "host"?`}},
		},
		{
			name:  "key in wrong case",
			edits: []string{"    host: 192.0.2.10", "    Host: 192.0.2.10"},
			wants: []want{{"trunks[0].Host", "Host:", `did you mean "host"?`}},
		},
		{
			name:  "string where a number belongs",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    port: fivethousand\n"},
			wants: []want{{"trunks[0].port", "port:", "must be a whole number, not a string"}},
		},
		{
			name:  "fraction where a whole number belongs",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    max_calls: 1.5\n"},
			wants: []want{{"trunks[0].max_calls", "max_calls:", "must be a whole number, not a decimal number"}},
		},
		{
			name:  "string where the gateway call limit belongs",
			extra: "calls:\n  max_concurrent: unlimited\n",
			wants: []want{{"calls.max_concurrent", "max_concurrent:", "must be a whole number, not a string"}},
		},
		{
			name:  "scalar where a list belongs",
			edits: []string{"  public_ips: [127.0.0.1]", "  public_ips: 127.0.0.1"},
			wants: []want{{"webrtc.public_ips", "public_ips:", "must be a list, not a string"}},
		},
		{
			name:  "list where a mapping belongs",
			extra: "calls: [60s]\n",
			wants: []want{{"calls", "calls:", "must be a mapping of keys, not a list"}},
		},
		{
			name:  "boolean expected",
			extra: "metrics:\n  enabled: sometimes\n",
			wants: []want{{"metrics.enabled", "enabled:", "must be true or false"}},
		},
		{
			name:  "duration without unit",
			extra: "calls:\n  ring_timeout: 60\n",
			wants: []want{{"calls.ring_timeout", "ring_timeout:", `must be a duration such as "30s"`}},
		},
		{
			name:  "problems are sorted by line",
			extra: "shutdown:\n  grace_period: 1h\nmetrcs: {}\n",
			wants: []want{
				{"shutdown.grace_period", "grace_period:", "must be at most 10m"},
				{"metrcs", "metrcs:", `did you mean "metrics"?`},
			},
		},
		{
			name:  "duplicate key",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    name: other\n"},
			wants: []want{{"trunks[0].name", "name: other", "duplicate key (first set on line 7)"}},
		},
		{
			name:  "invalid IP address",
			edits: []string{"[127.0.0.1]", "[127.0.0.1, 300.1.2.3]"},
			wants: []want{{"webrtc.public_ips[1]", "public_ips:", "must be an IP address"}},
		},
		{
			name:  "invalid CIDR in a block list",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    allowed_sources:\n      - 192.0.2.0/24\n      - 192.0.2.0/33\n"},
			wants: []want{{"trunks[0].allowed_sources[1]", "/33", "CIDR prefix"}},
		},
		{
			name:  "invalid number pattern",
			edits: []string{`allow: ["+44*"]`, `allow: ["+44*", "+44[1-"]`},
			wants: []want{{"default_dial_rules.allow[1]", "allow:", "not closed"}},
		},
		{
			name:  "missing environment variable names the path and the variable",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: \"${TRUNK_PW}\"}\n"},
			wants: []want{{"trunks[0].auth.password", "TRUNK_PW", "environment variable not set: TRUNK_PW"}},
		},
		{
			name:  "malformed environment reference",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: \"${1BAD}\"}\n"},
			wants: []want{{"trunks[0].auth.password", "1BAD", "malformed environment reference"}},
		},
		{
			name:  "two documents",
			extra: "---\nlog: {level: debug}\n",
			wants: []want{{"", "---", "only one YAML document"}},
		},
		{
			name: "three mistakes give exactly three problems",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    register: {expiry: 30s}\n",
				"      password_hash:", "      pasword_hash:",
				`trunk: carrier}`, `trunk: carier}`},
			wants: []want{
				{"trunks[0].register.expiry", "register:", "must be at least 1m"},
				{"auth.users[0].pasword_hash", "pasword_hash", `did you mean "password_hash"?`},
				{"outbound[0].trunk", "carier", `no trunk is named "carier"`},
			},
		},
	})
	// Whole documents, not edits of baseYAML.
	checkProblemCases(t, "", []problemCase{
		{
			name:  "document is not a mapping",
			extra: "- sip\n- webrtc\n",
			wants: []want{{"", "- sip", "must be a mapping of keys, not a list"}},
		},
		{
			name: "empty document lists every required section",
			wants: []want{
				{"sip.listeners", "", "at least one listener is required"},
				{"webrtc.public_ips", "", "at least one IP address is required"},
				{"auth", "", "no way to log in"},
			},
		},
	})
}

// TestDecodeSyntaxErrors checks that a YAML syntax error is one problem
// with the parser's line. The parser reports the line where the broken
// construct starts or, for some errors, the line before it.
func TestDecodeSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, old, new, at string
	}{
		{"unclosed flow sequence", "    host: 192.0.2.10", "    host: [192.0.2.10", "host: [192"},
		{"tab indentation", "    host: 192.0.2.10", "\thost: 192.0.2.10", "\thost"},
		{"unclosed quote", `allow: ["+44*"]`, `allow: ["+44*]`, "allow:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := edit(t, baseYAML, tt.old, tt.new)
			got := parseProblems(t, doc, noEnv)
			line := lineContaining(t, doc, tt.at)
			if len(got) != 1 || got[0].Path != "" || !strings.HasPrefix(got[0].Msg, "invalid YAML: ") ||
				got[0].Line < line-1 || got[0].Line > line {
				t.Errorf("problems = %+v, want one invalid YAML problem on line %d or %d", got, line-1, line)
			}
		})
	}
}

// TestDecodeErrorText checks the rendering of a ValidationError from Load:
// file:line: path: message, one problem per line.
func TestDecodeErrorText(t *testing.T) {
	doc := edit(t, baseYAML,
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    register: {expiry: 30s}\n",
		"  public_ips: [127.0.0.1]", "  public_ips: [127.0.0.1]\n  udp_lisen: \":1\"")
	path := writeTemp(t, doc)
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load: no error")
	}
	want := path + ":6: webrtc.udp_lisen: unknown key (did you mean \"udp_listen\"?)\n" +
		path + ":10: trunks[0].register.expiry: must be at least 1m"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "webrtc.udp_lisen" {
		t.Errorf("errors.As(*FieldError) = %v", fe)
	}

	// Parse has no file name and says "line".
	_, err = Parse([]byte(doc), noEnv)
	if got := strings.SplitN(err.Error(), "\n", 2)[0]; got != `line 6: webrtc.udp_lisen: unknown key (did you mean "udp_listen"?)` {
		t.Errorf("Parse first line = %q", got)
	}
}

// TestDecodeUnderlyingErrors checks that causes stay reachable with
// errors.Is.
func TestDecodeUnderlyingErrors(t *testing.T) {
	doc := edit(t, baseYAML,
		`allow: ["+44*"]`, `allow: ["44*"]`,
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: \"${MISSING}\"}\n")
	_, err := Parse([]byte(doc), noEnv)
	for _, target := range []error{ErrInvalid, ErrPattern, ErrEnvNotSet} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(err, %v) = false; err:\n%v", target, err)
		}
	}
	if errors.Is(err, ErrEnvSyntax) {
		t.Errorf("errors.Is(err, ErrEnvSyntax) = true, want false")
	}
}

// TestDecodeAnchorsAndMerge checks that YAML anchors, aliases and merge
// keys work like in any YAML file, with explicit keys overriding merged
// ones.
func TestDecodeAnchorsAndMerge(t *testing.T) {
	doc := edit(t, baseYAML, "trunks:\n  - name: carrier\n    host: 192.0.2.10\n", `trunks:
  - &common
    name: carrier
    host: 192.0.2.10
    codecs: [PCMA]
    max_calls: 5
  - <<: *common
    name: backup
    max_calls: 7
`)
	cfg := mustParse(t, doc, noEnv)
	if len(cfg.Trunks) != 2 {
		t.Fatalf("got %d trunks", len(cfg.Trunks))
	}
	b := cfg.Trunks[1]
	if b.Name != "backup" || b.Host != "192.0.2.10" || b.MaxCalls != 7 || len(b.Codecs) != 1 || b.Codecs[0] != CodecPCMA {
		t.Errorf("merged trunk = %+v", b)
	}
}

// TestDecodeAliasBomb checks that alias expansion is cut off by the node
// budget with one problem instead of exhausting memory and time. The
// budget is lowered so that the test stays fast; the schema only descends
// into known keys, so the expansion follows its shape: many users sharing
// one long list of patterns.
func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("default_dial_rules: &r {allow: [")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"+1*"`)
	}
	b.WriteString("]}\nauth:\n  users: [")
	for i := range 100 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("{dial_rules: *r}")
	}
	b.WriteString("]\n")

	cfg := Default()
	cfg.lines = map[string]int{}
	d := decoder{getenv: noEnv, probs: &problems{lines: cfg.lines}, budget: 5000}
	d.decodeYAML([]byte(b.String()), cfg)
	got := d.probs.list
	if len(got) != 1 || got[0].Path != "" || !strings.Contains(got[0].Msg, "document too large") || len(d.skip) != 1 || d.skip[0] != "" {
		t.Fatalf("problems = %+v, want one: document too large", got)
	}

	// Through Parse, with the real budget, the same shape at a size that
	// fits decodes normally.
	if _, err := Parse([]byte(b.String()), noEnv); err == nil || strings.Contains(err.Error(), "document too large") {
		t.Fatalf("Parse: %v", firstLine(err))
	}
}

func firstLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.SplitN(err.Error(), "\n", 2)[0]
}
