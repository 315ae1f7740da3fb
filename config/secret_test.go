package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		vars    map[string]string
		want    string
		wantErr error
	}{
		{"literal", "p4ss", nil, "p4ss", nil},
		{"literal with dollar", "$2a$pa$$", nil, "$2a$pa$$", nil},
		{"literal with inner reference", "x${PW}", map[string]string{"PW": "v"}, "x${PW}", nil},
		{"set", "${PW}", map[string]string{"PW": "from-env"}, "from-env", nil},
		{"set but empty", "${PW}", map[string]string{"PW": ""}, "", nil},
		{"missing", "${PW}", nil, "", ErrEnvNotSet},
		{"missing with default", "${PW:-fallback}", nil, "fallback", nil},
		{"set overrides default", "${PW:-fallback}", map[string]string{"PW": "from-env"}, "from-env", nil},
		{"empty uses default", "${PW:-fallback}", map[string]string{"PW": ""}, "fallback", nil},
		{"empty default", "${PW:-}", nil, "", nil},
		{"default with special characters", "${PW:-a:-b}c}", nil, "a:-b}c", nil},
		{"unclosed", "${PW", nil, "", ErrEnvSyntax},
		{"empty name", "${}", nil, "", ErrEnvSyntax},
		{"bad name", "${P-W}", nil, "", ErrEnvSyntax},
		{"name starting with digit", "${1PW}", nil, "", ErrEnvSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlValue, err := json.Marshal(tt.value) // a JSON string is a YAML string
			if err != nil {
				t.Fatal(err)
			}
			doc := edit(t, baseYAML, "    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: "+string(yamlValue)+"}\n")
			cfg, err := Parse([]byte(doc), env(tt.vars))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var ve *ValidationError
				errors.As(err, &ve)
				if len(ve.Errors) != 1 || ve.Errors[0].Path != "trunks[0].auth.password" || ve.Errors[0].Line != 9 {
					t.Errorf("problems = %+v, want one at trunks[0].auth.password line 9", ve.Errors)
				}
				return
			}
			if tt.want == "" {
				// An empty password with a username is a validation problem.
				if err == nil || !strings.Contains(err.Error(), "trunks[0].auth.password: required when username is set") {
					t.Fatalf("err = %v, want password required", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Trunks[0].Auth.Password.Reveal(); got != tt.want {
				t.Errorf("Reveal() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSecretErrorNamesVariableNotValue checks that a missing variable is
// reported by name, and that a default value never shows in errors.
func TestSecretErrorNamesVariableNotValue(t *testing.T) {
	doc := edit(t, baseYAML,
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: \"${TRUNK_PASSWORD}\"}\n",
		"auth:\n", "auth:\n  jwt: {hmac_key: \"${JWT_KEY:-tooShortSecretDefault}\"}\n")
	_, err := Parse([]byte(doc), noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"line 9: trunks[0].auth.password: environment variable not set: TRUNK_PASSWORD",
		"line 11: auth.jwt.hmac_key: must be at least 32 bytes",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "tooShortSecretDefault") {
		t.Errorf("error shows a secret:\n%s", msg)
	}
}

func TestSecretRendering(t *testing.T) {
	const value = "hunter2-very-secret"
	s := NewSecret(value)
	var zero Secret
	tests := []struct {
		name      string
		got, want string
	}{
		{"String", s.String(), "[redacted]"},
		{"GoString", s.GoString(), `config.Secret("[redacted]")`},
		{"%v", fmt.Sprintf("%v", s), "[redacted]"},
		{"%s", fmt.Sprintf("%s", s), "[redacted]"},
		{"%q", fmt.Sprintf("%q", s), `"[redacted]"`},
		{"%x", fmt.Sprintf("%x", s), "[redacted]"},
		{"%#v", fmt.Sprintf("%#v", s), `config.Secret("[redacted]")`},
		{"%+v pointer", fmt.Sprintf("%+v", &s), "[redacted]"},
		{"%v in struct", fmt.Sprintf("%+v", struct{ P Secret }{s}), "{P:[redacted]}"},
		{"empty String", zero.String(), ""},
		{"empty %q", fmt.Sprintf("%q", zero), `""`},
		{"Reveal", s.Reveal(), value},
		{"Len", fmt.Sprint(s.Len()), fmt.Sprint(len(value))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	j, err := json.Marshal(map[string]Secret{"k": s, "e": zero})
	if err != nil || string(j) != `{"e":"","k":"[redacted]"}` {
		t.Errorf("json = %s, %v", j, err)
	}
	y, err := yaml.Marshal(map[string]Secret{"k": s})
	if err != nil || string(y) != "k: '[redacted]'\n" {
		t.Errorf("yaml = %q, %v", y, err)
	}
}

// TestConfigNeverShowsSecrets renders a configuration holding a secret in
// every Secret field in every way an operator might print or log it.
func TestConfigNeverShowsSecrets(t *testing.T) {
	secrets := map[string]string{
		"TRUNK_PW":  "trunk-Password-0001",
		"TURN_PW":   "turn-Credential-0002",
		"JWT_KEY":   "jwt-Key-0003-0123456789abcdefghijklmnop",
		"USER_HASH": testHash,
	}
	doc := edit(t, baseYAML,
		"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    auth: {username: u, password: \"${TRUNK_PW}\"}\n",
		"  public_ips: [127.0.0.1]", "  public_ips: [127.0.0.1]\n  ice_servers: [{urls: [\"turn:t.example\"], username: u, credential: \"${TURN_PW}\"}]",
		"auth:\n", "auth:\n  jwt: {hmac_key: \"${JWT_KEY}\"}\n",
		`password_hash: "`+testHash+`"`, `password_hash: "${USER_HASH}"`)
	cfg := mustParse(t, doc, env(secrets))
	if cfg.Auth.JWT.HMACKey.Reveal() != secrets["JWT_KEY"] || cfg.WebRTC.ICEServers[0].Credential.Reveal() != secrets["TURN_PW"] {
		t.Fatal("secrets were not loaded")
	}

	var text, jsonLog bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("loaded", "config", cfg, "value", *cfg)
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("loaded", "config", cfg, "value", *cfg, "trunk", cfg.Trunks[0])
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	renderings := map[string]string{
		"String":      cfg.String(),
		"%v":          fmt.Sprintf("%v", cfg),
		"%+v":         fmt.Sprintf("%+v", *cfg),
		"%#v":         fmt.Sprintf("%#v", cfg),
		"%#v value":   fmt.Sprintf("%#v", *cfg),
		"%v trunks":   fmt.Sprintf("%v", cfg.Trunks),
		"json":        string(js),
		"slog text":   text.String(),
		"slog json":   jsonLog.String(),
		"Warnings":    strings.Join(cfg.Warnings(), "\n"),
		"Validate ok": fmt.Sprint(cfg.Validate()),
	}
	for name, out := range renderings {
		for _, v := range secrets {
			if strings.Contains(out, v) {
				t.Errorf("%s shows a secret:\n%s", name, out)
			}
		}
		if name != "Warnings" && name != "Validate ok" && !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not show [redacted]:\n%s", name, out)
		}
	}
	// The structured log keeps the configuration readable.
	if !strings.Contains(text.String(), "config.sip.user_agent=Webtrunk") {
		t.Errorf("slog text output lacks nested keys:\n%s", text.String())
	}
	if !strings.Contains(jsonLog.String(), `"config":{"http":{"listen":"127.0.0.1:8080"`) {
		t.Errorf("slog json output lacks nested objects:\n%s", jsonLog.String())
	}

	// An invalid configuration reports problems next to secrets without
	// showing them.
	bad := edit(t, doc, "  jwt: {hmac_key: \"${JWT_KEY}\"}", "  jwt: {hmac_key: \"${JWT_KEY}\", issuer: [x]}")
	bad = edit(t, bad, "credential: \"${TURN_PW}\"", "credential: {nested: \"${TURN_PW}\"}")
	_, err = Parse([]byte(bad), env(secrets))
	if err == nil {
		t.Fatal("no error")
	}
	for _, v := range secrets {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error shows a secret:\n%s", err)
		}
	}
}

// TestMisplacedSecretNotEchoed checks that a value in the wrong place,
// which might be a secret, is described by its type only.
func TestMisplacedSecretNotEchoed(t *testing.T) {
	const leaked = "s3cr3t-typed-in-the-wrong-place"
	doc := edit(t, baseYAML, "auth:\n", "auth:\n  jwt: \""+leaked+"\"\n")
	doc = edit(t, doc, "  public_ips: [127.0.0.1]", "  public_ips: [127.0.0.1]\n  udp_listen: [\""+leaked+"\"]")
	_, err := Parse([]byte(doc), noEnv)
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), leaked) {
		t.Errorf("error echoes the value:\n%s", err)
	}
	if !strings.Contains(err.Error(), "auth.jwt: must be a mapping of keys, not a string") {
		t.Errorf("unexpected error:\n%s", err)
	}
}
