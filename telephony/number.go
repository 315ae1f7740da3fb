package telephony

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidNumber is wrapped by every error about a telephone number that
// cannot be turned into an E.164 number (ITU-T E.164): characters other
// than digits, visual separators and a leading "+", fewer than 7 or more
// than 15 digits, or a leading 0 in the country code.
var ErrInvalidNumber = errors.New("telephony: invalid telephone number")

// ErrNumberPlan is wrapped by NumberPlan.Validate for a plan that cannot
// rewrite numbers.
var ErrNumberPlan = errors.New("telephony: invalid number plan")

// NumberFormat is how a trunk writes telephone numbers in the user part of
// Request-URI, To and From, named as in configuration files.
type NumberFormat string

const (
	// FormatE164 is "+" and the full international number, "+442079460000"
	// (RFC 3966 global number). The empty NumberFormat means the same.
	FormatE164 NumberFormat = "e164"
	// FormatE164NoPlus is the full international number without the "+",
	// "442079460000", as many carriers expect.
	FormatE164NoPlus NumberFormat = "e164_no_plus"
	// FormatNational is the national number with the national prefix,
	// "02079460000"; numbers of other countries get the international
	// prefix, "0033123456789".
	FormatNational NumberFormat = "national"
)

// NumberFormats lists the valid formats.
var NumberFormats = [...]NumberFormat{FormatE164, FormatE164NoPlus, FormatNational}

// Valid reports whether f is one of NumberFormats or empty (E.164).
func (f NumberFormat) Valid() bool { return f == "" || slices.Contains(NumberFormats[:], f) }

// ParseNumberFormat returns the NumberFormat named s ("e164",
// "e164_no_plus", "national"), case-insensitively. It returns an error
// wrapping ErrNumberPlan for any other name.
func ParseNumberFormat(s string) (NumberFormat, error) {
	f := NumberFormat(strings.ToLower(s))
	if s == "" || !f.Valid() {
		return "", fmt.Errorf("%w: unknown number format %q", ErrNumberPlan, s)
	}
	return f, nil
}

// NumberPlan is the numbering of one trunk: how numbers dialled by users
// (ToE164) and numbers received from the trunk (FromTrunk) become E.164,
// and how E.164 numbers are written towards the trunk (ForTrunk). The zero
// value accepts only numbers that start with "+" and writes E.164. The
// yaml names are those of a trunk's numbering section in the
// configuration file.
type NumberPlan struct {
	// Format is how the trunk writes numbers. It also decides what a bare
	// number (no "+", no prefix) from the trunk means to FromTrunk:
	// international digits for FormatE164NoPlus, a national number
	// otherwise.
	Format NumberFormat `yaml:"format"`
	// CountryCode is the country calling code of the trunk's country
	// without "+", "44" for the United Kingdom (ITU-T E.164 annex): 1 to 3
	// digits, not starting with 0. Required for FormatNational.
	CountryCode string `yaml:"country_code"`
	// NationalPrefix is the trunk prefix dialled before national numbers,
	// "0" in the United Kingdom; empty when the country has none.
	NationalPrefix string `yaml:"national_prefix"`
	// InternationalPrefix is dialled before an international number,
	// "00" in most of Europe, "011" in North America.
	InternationalPrefix string `yaml:"international_prefix"`
	// StripPrefixes are removed from the start of a dialled number before
	// anything else, the first one that matches: an outside-line "9".
	StripPrefixes []string `yaml:"strip_prefixes"`
	// AddPrefix is put in front of every number sent to the trunk, a
	// routing or technical prefix some carriers require: digits, '*' and
	// '#'.
	AddPrefix string `yaml:"add_prefix"`
}

// MaxE164Digits is the longest international number, country code
// included (ITU-T E.164 section 6).
const MaxE164Digits = 15

// MinE164Digits is the shortest number accepted: international numbers in
// service have at least 7 digits (a 3-digit country code and a 4-digit
// subscriber number, as in +683 xxxx); anything shorter is a service code
// or a typing error.
const MinE164Digits = 7

// PlanProblem is one reason a NumberPlan cannot rewrite numbers: the yaml
// name of the field at fault (with an index for a list element,
// "strip_prefixes[1]") and what is wrong with it.
type PlanProblem struct {
	Field   string
	Message string
}

// Problems lists every problem of the plan, in field order: a format that
// is not one of NumberFormats, a country code that is not 1-3 digits not
// starting with 0 (or is missing for FormatNational), prefixes that are
// not digits, a national prefix equal to the international one, an added
// prefix with characters other than digits, '*' and '#'. It returns nil
// for a usable plan.
func (p NumberPlan) Problems() []PlanProblem {
	var out []PlanProblem
	add := func(field, msg string) { out = append(out, PlanProblem{Field: field, Message: msg}) }
	if !p.Format.Valid() {
		add("format", fmt.Sprintf("%q is not one of e164, e164_no_plus, national", string(p.Format)))
	}
	switch cc := p.CountryCode; {
	case cc == "":
		if p.Format == FormatNational {
			add("country_code", "required for format national")
		}
	case len(cc) > 3 || !allDigits(cc) || cc[0] == '0':
		add("country_code", fmt.Sprintf("%q is not a country calling code: 1 to 3 digits, not starting with 0", cc))
	}
	if p.NationalPrefix != "" && !allDigits(p.NationalPrefix) {
		add("national_prefix", "must be digits only")
	}
	if p.InternationalPrefix != "" && !allDigits(p.InternationalPrefix) {
		add("international_prefix", "must be digits only")
	}
	if p.NationalPrefix != "" && p.NationalPrefix == p.InternationalPrefix {
		add("international_prefix", fmt.Sprintf("must differ from national_prefix (both %q)", p.NationalPrefix))
	}
	for i, s := range p.StripPrefixes {
		if !allDigits(s) {
			add("strip_prefixes["+strconv.Itoa(i)+"]", "must be one or more digits")
		}
	}
	if !Dialable(p.AddPrefix) {
		add("add_prefix", "must be digits, * and # only")
	}
	return out
}

// Validate reports every problem of Problems at once, joined in one error
// (errors.Join) each part of which wraps ErrNumberPlan and names its
// field.
func (p NumberPlan) Validate() error {
	var errs []error
	for _, pr := range p.Problems() {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrNumberPlan, pr.Field, pr.Message))
	}
	return errors.Join(errs...)
}

// Dialable reports whether s holds only what a keypad sends: digits, '*'
// and '#' (the empty string is dialable).
func Dialable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '*' && c != '#' {
			return false
		}
	}
	return true
}

// ToE164 turns a number as a user dialled it into an E.164 number with
// "+", "+442079460000". In order it:
//   - removes spaces, tabs, '-', '.', '(' and ')';
//   - keeps a number starting with "+" as it is, but for a NationalPrefix
//     in parentheses right after our CountryCode ("+44 (0)20 7946 0000");
//   - removes the first StripPrefixes entry the number starts with;
//   - replaces InternationalPrefix by "+";
//   - replaces NationalPrefix by "+" and CountryCode;
//   - reads any other number as a national number without prefix, so
//     "202 555 0143" becomes "+12025550143" with CountryCode "1".
//
// The result has 7 to 15 digits (ITU-T E.164 section 6) and its country
// code does not start with 0. Any other outcome returns an error wrapping
// ErrInvalidNumber.
func (p NumberPlan) ToE164(dialled string) (string, error) {
	return p.normalize(dialled, true, false)
}

// FromTrunk turns a number received from the trunk (the user part of an
// inbound INVITE's Request-URI, From or P-Asserted-Identity) into E.164,
// like ToE164 but without StripPrefixes, and reading a number without "+"
// or prefix as the trunk's Format says: international digits for
// FormatE164NoPlus ("442079460000"), a national number otherwise. Errors
// wrap ErrInvalidNumber.
func (p NumberPlan) FromTrunk(user string) (string, error) {
	return p.normalize(user, false, p.Format == FormatE164NoPlus)
}

// normalize implements ToE164 and FromTrunk.
func (p NumberPlan) normalize(number string, strip, bareIsInternational bool) (string, error) {
	n := strings.NewReplacer(" ", "", "\t", "").Replace(number)
	// "+44 (0)20 7946 0000": the national prefix written in parentheses
	// after our own country code is not part of the number.
	if own := "+" + p.CountryCode + "(" + p.NationalPrefix + ")"; p.CountryCode != "" && p.NationalPrefix != "" && strings.HasPrefix(n, own) {
		n = "+" + p.CountryCode + n[len(own):]
	}
	n = stripSeparators(n)
	var digits string
	switch {
	case strings.HasPrefix(n, "+"):
		digits = n[1:]
	default:
		for _, s := range p.StripPrefixes {
			if strip && s != "" && strings.HasPrefix(n, s) && len(n) > len(s) {
				n = n[len(s):]
				break
			}
		}
		switch {
		case p.InternationalPrefix != "" && strings.HasPrefix(n, p.InternationalPrefix):
			digits = n[len(p.InternationalPrefix):]
		case p.NationalPrefix != "" && strings.HasPrefix(n, p.NationalPrefix) && p.CountryCode != "":
			digits = p.CountryCode + n[len(p.NationalPrefix):]
		case bareIsInternational:
			digits = n
		case p.CountryCode != "":
			digits = p.CountryCode + n
		default:
			return "", fmt.Errorf("%w: %q has no country code", ErrInvalidNumber, number)
		}
	}
	switch {
	case !allDigits(digits):
		return "", fmt.Errorf("%w: %q is not a telephone number", ErrInvalidNumber, number)
	case len(digits) < MinE164Digits:
		return "", fmt.Errorf("%w: %q is too short", ErrInvalidNumber, number)
	case len(digits) > MaxE164Digits:
		return "", fmt.Errorf("%w: %q has more than %d digits", ErrInvalidNumber, number, MaxE164Digits)
	case digits[0] == '0':
		return "", fmt.Errorf("%w: %q: country code starts with 0", ErrInvalidNumber, number)
	}
	return "+" + digits, nil
}

// IsE164 reports whether s is an E.164 number as ToE164 returns it: "+"
// and 7 to 15 digits, the first of them not 0.
func IsE164(s string) bool {
	digits, ok := strings.CutPrefix(s, "+")
	return ok && allDigits(digits) && len(digits) >= MinE164Digits && len(digits) <= MaxE164Digits && digits[0] != '0'
}

// ForTrunk writes an E.164 number (as ToE164 returns it; a missing "+" is
// tolerated) in the trunk's Format and puts AddPrefix in front. In
// FormatNational a number of CountryCode becomes NationalPrefix and the
// national number, any other InternationalPrefix and the digits; a
// national number that would then start with InternationalPrefix ("+44 0…"
// written "00…") reads back as international, but no numbering plan with a
// national prefix assigns such numbers.
func (p NumberPlan) ForTrunk(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	var out string
	switch p.Format {
	case FormatE164NoPlus:
		out = digits
	case FormatNational:
		if p.CountryCode != "" && strings.HasPrefix(digits, p.CountryCode) {
			out = p.NationalPrefix + digits[len(p.CountryCode):]
		} else {
			out = p.InternationalPrefix + digits
		}
	default:
		out = "+" + digits
	}
	return p.AddPrefix + out
}

// stripSeparators removes the visual separators people write in numbers.
func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-', '.', '(', ')':
			return -1
		}
		return r
	}, s)
}

// allDigits reports whether s is non-empty and only ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
