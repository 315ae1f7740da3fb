package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must never panic, and it
// returns either a valid configuration or a ValidationError whose problems
// all have a message.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	// The example without its comments: the same keys in a tenth of the
	// bytes, so that the fuzzer spends its time on structure, not on
	// scanning prose.
	f.Add(stripComments(string(example)))
	f.Add(baseYAML)
	f.Add("")
	f.Add("- a\n- b\n")
	f.Add("a: &a [*a]\n")
	f.Add("trunks: [{<<: {name: x}, host: 1.2.3.4}]\n")
	f.Add(strings.Replace(baseYAML, "192.0.2.10", "[", 1))
	f.Add("auth: {jwt: {hmac_key: \"${K:-x}\"}}\n")
	f.Add("default_dial_rules: {allow: [\"+4[4-\", \"+*\"]}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := Parse([]byte(doc), env(map[string]string{"K": "0123456789abcdef0123456789abcdef"}))
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		_ = cfg.String()
		_ = cfg.Warnings()
	})
}

// stripComments drops the comment and blank lines of a YAML document.
func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(line)
	}

	return b.String()
}
