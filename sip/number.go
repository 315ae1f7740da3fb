package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidNumber is wrapped by every error about a telephone number that
// cannot be turned into an E.164 number (ITU-T E.164): characters other
// than digits, visual separators and a leading "+", fewer than 7 or more
// than 15 digits, or a leading 0 in the country code.
var ErrInvalidNumber = errors.New("sip: invalid telephone number")

// ErrNumberPlan is wrapped by NumberPlan.Validate for a plan that cannot
// rewrite numbers.
var ErrNumberPlan = errors.New("sip: invalid number plan")

// NumberFormat is how a trunk writes telephone numbers in the user part of
// Request-URI, To and From.
type NumberFormat int

const (
	// FormatE164 is "+" and the full international number, "+442079460000"
	// (RFC 3966 global number). It is the zero value.
	FormatE164 NumberFormat = iota
	// FormatE164NoPlus is the full international number without the "+",
	// "442079460000", as many carriers expect.
	FormatE164NoPlus
	// FormatNational is the national number with the national prefix,
	// "02079460000"; numbers of other countries get the international
	// prefix, "0033123456789".
	FormatNational
)

// String returns the name ParseNumberFormat accepts: "e164",
// "e164_no_plus" or "national".
func (f NumberFormat) String() string {
	switch f {
	case FormatE164:
		return "e164"
	case FormatE164NoPlus:
		return "e164_no_plus"
	case FormatNational:
		return "national"
	default:
		return "NumberFormat(" + strconv.Itoa(int(f)) + ")"
	}
}

// ParseNumberFormat returns the NumberFormat named s (see String), case
// insensitively. It returns an error wrapping ErrNumberPlan for any other
// name.
func ParseNumberFormat(s string) (NumberFormat, error) {
	for _, f := range [...]NumberFormat{FormatE164, FormatE164NoPlus, FormatNational} {
		if strings.EqualFold(s, f.String()) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown number format %q", ErrNumberPlan, s)
}

// NumberPlan is the numbering of one trunk: how numbers dialled by users
// (ToE164) and numbers received from the trunk (FromTrunk) become E.164,
// and how E.164 numbers are written towards the trunk (ForTrunk). The zero value accepts only numbers that
// start with "+" and writes E.164.
type NumberPlan struct {
	// Format is how the trunk writes numbers. It also decides what a bare
	// number (no "+", no prefix) from the trunk means to FromTrunk:
	// international digits for FormatE164NoPlus, a national number
	// otherwise.
	Format NumberFormat
	// CountryCode is the country calling code of the trunk's country
	// without "+", "44" for the United Kingdom (ITU-T E.164 annex).
	CountryCode string
	// NationalPrefix is the trunk prefix dialled before national numbers,
	// "0" in the United Kingdom; empty when the country has none.
	NationalPrefix string
	// InternationalPrefix is dialled before an international number,
	// "00" in most of Europe, "011" in North America.
	InternationalPrefix string
	// StripPrefixes are removed from the start of a dialled number before
	// anything else, the first one that matches: an outside-line "9".
	StripPrefixes []string
	// AddPrefix is put in front of every number sent to the trunk, a
	// routing or technical prefix some carriers require.
	AddPrefix string
}

// maxE164Digits is the longest international number (ITU-T E.164 section 6).
const maxE164Digits = 15

// minE164Digits is the shortest number accepted: international numbers in
// service have at least 7 digits (a 3-digit country code and a 4-digit
// subscriber number, as in +683 xxxx); anything shorter is a service code
// or a typing error.
const minE164Digits = 7

// Validate reports every problem of the plan at once, joined in one error
// (errors.Join) each part of which wraps ErrNumberPlan: a format out of range, a country code that is not 1-3
// digits not starting with 0, prefixes that are not digits, or a national
// prefix equal to the international one.
func (p NumberPlan) Validate() error {
	var errs []error
	if p.Format < FormatE164 || p.Format > FormatNational {
		errs = append(errs, fmt.Errorf("%w: format %v unknown", ErrNumberPlan, p.Format))
	}
	if p.CountryCode != "" && (len(p.CountryCode) > 3 || !allDigits(p.CountryCode) || p.CountryCode[0] == '0') {
		errs = append(errs, fmt.Errorf("%w: country code %q is not 1-3 digits", ErrNumberPlan, p.CountryCode))
	}
	if p.Format == FormatNational && p.CountryCode == "" {
		errs = append(errs, fmt.Errorf("%w: national format needs a country code", ErrNumberPlan))
	}
	prefixes := [...]struct{ name, value string }{
		{"national prefix", p.NationalPrefix},
		{"international prefix", p.InternationalPrefix},
		{"added prefix", p.AddPrefix},
	}
	for _, pr := range prefixes {
		if pr.value != "" && !allDigits(pr.value) {
			errs = append(errs, fmt.Errorf("%w: %s %q is not digits", ErrNumberPlan, pr.name, pr.value))
		}
	}
	if p.NationalPrefix != "" && p.NationalPrefix == p.InternationalPrefix {
		errs = append(errs, fmt.Errorf("%w: national and international prefix are both %q", ErrNumberPlan, p.NationalPrefix))
	}
	for _, s := range p.StripPrefixes {
		if s == "" || !allDigits(s) {
			errs = append(errs, fmt.Errorf("%w: strip prefix %q is not digits", ErrNumberPlan, s))
		}
	}
	return errors.Join(errs...)
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
	case len(digits) < minE164Digits:
		return "", fmt.Errorf("%w: %q is too short", ErrInvalidNumber, number)
	case len(digits) > maxE164Digits:
		return "", fmt.Errorf("%w: %q has more than %d digits", ErrInvalidNumber, number, maxE164Digits)
	case digits[0] == '0':
		return "", fmt.Errorf("%w: %q: country code starts with 0", ErrInvalidNumber, number)
	}
	return "+" + digits, nil
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
