package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// redacted is what every rendering of a non-empty Secret shows.
const redacted = "[redacted]"

// Secret is a sensitive string such as a password or a signing key. In YAML
// it is a literal or an environment reference, "${NAME}" or
// "${NAME:-fallback}" (see the package documentation). Every way of
// printing, marshalling or logging a Secret shows "[redacted]", or "" when it
// is empty; only [Secret.Reveal] returns the value.
//
// The zero Secret is empty.
type Secret struct {
	value string
}

// NewSecret returns a Secret holding v, for configurations built in code.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the secret value. Call it only where the value is used,
// never to log or display it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// Len returns the length of the secret value in bytes.
func (s Secret) Len() int { return len(s.value) }

func (s Secret) shown() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string { return s.shown() }

// GoString returns the Go syntax of a redacted secret, for the %#v verb.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.shown()) }

// Format implements fmt.Formatter so that every verb, including %x, %q and
// %#v, prints the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = fmt.Fprint(f, s.GoString())
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", s.shown())
	default:
		_, _ = fmt.Fprint(f, s.shown())
	}
}

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalYAML implements yaml.Marshaler with the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// MarshalJSON implements json.Marshaler with the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.shown() + `"`), nil
}

// MarshalText implements encoding.TextMarshaler with the redacted form, for
// encoders that prefer text.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// Errors of environment references in Secret values.
var (
	// ErrEnvNotSet means a "${NAME}" reference names a variable that is
	// not set.
	ErrEnvNotSet = errors.New("config: environment variable not set")
	// ErrEnvSyntax means a value starting with "${" is not a well-formed
	// reference.
	ErrEnvSyntax = errors.New("config: malformed environment reference")
)

// expandSecret resolves a Secret's YAML text. A value that is exactly one
// reference "${NAME}" or "${NAME:-fallback}" is replaced by the variable's
// value; "${NAME:-fallback}" uses fallback when the variable is unset or
// empty, as in POSIX sh. Any other value starting with "${" is an
// ErrEnvSyntax error; everything else is a literal. Errors name the
// variable, never a value.
func expandSecret(text string, getenv func(string) (string, bool)) (Secret, error) {
	if !strings.HasPrefix(text, "${") {
		return Secret{value: text}, nil
	}
	if !strings.HasSuffix(text, "}") {
		return Secret{}, fmt.Errorf("%w: missing closing brace", ErrEnvSyntax)
	}
	body := text[2 : len(text)-1]
	name, fallback, hasFallback := strings.Cut(body, ":-")
	if !validEnvName(name) {
		return Secret{}, fmt.Errorf("%w: variable names are letters, digits and underscores, not starting with a digit", ErrEnvSyntax)
	}
	v, ok := getenv(name)
	switch {
	case hasFallback && v == "":
		return Secret{value: fallback}, nil
	case !ok:
		return Secret{}, fmt.Errorf("%w: %s", ErrEnvNotSet, name)
	}
	return Secret{value: v}, nil
}

// validEnvName reports whether s is a POSIX shell variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
