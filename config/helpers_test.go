package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// testHash is a bcrypt hash (cost 4) of "correct horse".
const testHash = "$2a$04$Lcd/4Whw56CqH7GjVI6VxuYGShEpF6YVq9iNKN7OweN4/6U4k4v9W"

// baseYAML is a small valid configuration that test cases edit.
const baseYAML = `sip:
  listeners:
    - listen: "127.0.0.1:5060"
webrtc:
  public_ips: [127.0.0.1]
trunks:
  - name: carrier
    host: 192.0.2.10
auth:
  users:
    - id: alice
      password_hash: "` + testHash + `"
default_dial_rules:
  allow: ["+44*"]
outbound:
  - {pattern: "+44*", trunk: carrier}
routes:
  - {did: "+442071234567", user: alice}
`

// edit returns doc with each pair of (old, new) replaced once, failing the
// test when old does not occur.
func edit(t *testing.T, doc string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("edit: odd number of arguments")
	}
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("edit: %q not found in document", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

// noEnv is a getenv with no variables set.
func noEnv(string) (string, bool) { return "", false }

// env returns a getenv over a fixed set of variables.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// mustParse parses doc and fails the test on any error.
func mustParse(t *testing.T, doc string, getenv func(string) (string, bool)) *Config {
	t.Helper()
	cfg, err := Parse([]byte(doc), getenv)
	if err != nil {
		t.Fatalf("Parse: unexpected error:\n%v\ndocument:\n%s", err, doc)
	}
	return cfg
}

// parseCase parses doc for one table case: with wantError set, Parse must
// fail with an error containing it and parseCase returns nil; without,
// Parse must succeed.
func parseCase(t *testing.T, doc string, getenv func(string) (string, bool), wantError string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(doc), getenv)
	if wantError != "" {
		if err == nil || !strings.Contains(err.Error(), wantError) {
			t.Fatalf("Parse: %v, want a problem %q", err, wantError)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// checkRefused reports an error unless baseYAML followed by yaml fails to
// parse with a problem containing want.
func checkRefused(t *testing.T, yaml, want string) {
	t.Helper()
	if _, err := Parse([]byte(baseYAML+yaml), noEnv); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%q: %v, want a problem at %s", yaml, err, want)
	}
}

// problemCase is one invalid configuration and the exact problems Parse
// must report for it, in order.
type problemCase struct {
	name  string
	edits []string // (old, new) pairs applied to the base document
	extra string   // appended after the edits
	wants []want
}

// checkProblemCases runs each case as a subtest: the document is base
// with the case's edits and extra, and its problems must be the case's.
func checkProblemCases(t *testing.T, base string, cases []problemCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := edit(t, base, tc.edits...) + tc.extra
			checkProblems(t, doc, parseProblems(t, doc, noEnv), tc.wants)
		})
	}
}

// sectionCase is one document for the test of a configuration section:
// with wantError set, Parse must fail with a problem containing it;
// without, the section must read as want.
type sectionCase[T comparable] struct {
	name, yaml string
	want       T
	wantError  string
}

// checkSectionCases runs each case as a subtest on the document doc makes
// of the case's yaml, comparing section of the parsed configuration with
// the case's want.
func checkSectionCases[T comparable](t *testing.T, doc func(yaml string) string, cases []sectionCase[T], section func(*Config) T) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parseCase(t, doc(tc.yaml), noEnv, tc.wantError)
			if cfg != nil && section(cfg) != tc.want {
				t.Errorf("read %+v, want %+v", section(cfg), tc.want)
			}
		})
	}
}

// afterBase returns baseYAML followed by yaml.
func afterBase(yaml string) string { return baseYAML + yaml }

// parseProblems parses doc, which must be invalid, and returns its problems.
func parseProblems(t *testing.T, doc string, getenv func(string) (string, bool)) []FieldError {
	t.Helper()
	cfg, err := Parse([]byte(doc), getenv)
	if err == nil {
		t.Fatalf("Parse: no error; want problems\ndocument:\n%s", doc)
	}
	if cfg != nil {
		t.Errorf("Parse returned a Config together with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error %T %v is not a *ValidationError", err, err)
	}
	if len(ve.Errors) == 0 {
		t.Fatalf("ValidationError without problems")
	}
	return ve.Errors
}

// lineContaining returns the 1-based line on which the first occurrence
// of s in doc ends (s may span lines).
func lineContaining(t *testing.T, doc, s string) int {
	t.Helper()
	i := strings.Index(doc, s)
	if i < 0 {
		t.Fatalf("document does not contain %q", s)
	}
	return strings.Count(doc[:i+len(s)], "\n") + 1
}

// want describes one expected problem: its path, the text of the line it
// must point at ("" for line 0) and a fragment of its message.
type want struct {
	path string
	at   string
	msg  string
}

// checkProblems asserts that got holds exactly the wanted problems, in
// order.
func checkProblems(t *testing.T, doc string, got []FieldError, wants []want) {
	t.Helper()
	match := len(got) == len(wants)
	for i := 0; match && i < len(wants); i++ {
		line := 0
		if wants[i].at != "" {
			line = lineContaining(t, doc, wants[i].at)
		}
		match = got[i].Path == wants[i].path && got[i].Line == line && strings.Contains(got[i].Msg, wants[i].msg)
	}
	if match {
		return
	}
	var b strings.Builder
	for _, e := range got {
		b.WriteString("\n  " + e.Error())
	}
	b.WriteString("\nwant:")
	for _, w := range wants {
		line := 0
		if w.at != "" {
			line = lineContaining(t, doc, w.at)
		}
		b.WriteString("\n  line " + strconv.Itoa(line) + ": " + w.path + ": ..." + w.msg + "...")
	}
	t.Errorf("problems:%s\ndocument:\n%s", b.String(), doc)
}
