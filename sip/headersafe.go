package sip

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/webtrunk/webtrunk/telephony"
)

// Strings from users (a browser's display name, caller ID and dialled number) end up in the
// headers of the requests this package builds. Display names are written as quoted-strings with
// every character that could end the string or the header made harmless; numbers are refused
// unless they are E.164 or dialable, so that no user string can add a header, a parameter or a
// second value to one (RFC 3261 section 25.1).

// MaxDisplayNameLen is the most characters (Unicode code points) of a display name written in a
// From header; longer names are cut (see DisplayName).
const MaxDisplayNameLen = 64

// DisplayName returns name as this package writes it in a From header's display-name, before
// quoting (RFC 3261 section 25.1, quoted-string): bytes that are not valid UTF-8 and control
// characters (including CR, LF and TAB) are removed, surrounding spaces trimmed, and the result
// cut to MaxDisplayNameLen characters. Quotes and backslashes are kept: quoteDisplayName escapes
// them.
func DisplayName(name string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(name) && n < MaxDisplayNameLen; {
		r, size := utf8.DecodeRuneInString(name[i:])
		i += size
		if r == utf8.RuneError && size <= 1 || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			continue
		}
		if b.Len() == 0 && r == ' ' {
			continue
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), " ")
}

// quoteDisplayName returns the content of the quoted-string for display name name (without
// the surrounding quotes, which sipgo writes): DisplayName(name) with '"' and '\' escaped as
// quoted-pairs (RFC 3261 section 25.1).
func quoteDisplayName(name string) string {
	clean := DisplayName(name)
	if !strings.ContainsAny(clean, `"\`) {
		return clean
	}
	var b strings.Builder
	for _, r := range clean {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unquoteDisplayName undoes the quoted-pairs of a display name as sipgo's parser returns it
// (the text between the quotes).
func unquoteDisplayName(q string) string {
	if !strings.Contains(q, `\`) {
		return q
	}
	var b strings.Builder
	escaped := false
	for _, r := range q {
		if r == '\\' && !escaped {
			escaped = true
			continue
		}
		escaped = false
		b.WriteRune(r)
	}
	return b.String()
}

// numberUser checks a number for the user part of a SIP URI (RFC 3261 section 19.1.1): E.164
// ("+" and digits) or dialable (digits, '*' and '#'); anything else fails with
// telephony.ErrInvalidNumber. '#' is written percent-encoded, as the URI grammar requires.
func numberUser(n string) (string, error) {
	if n == "" || !telephony.IsE164(n) && !telephony.Dialable(n) {
		return "", fmt.Errorf("%w: %q is neither E.164 nor dialable", telephony.ErrInvalidNumber, n)
	}
	return strings.ReplaceAll(n, "#", "%23"), nil
}

// safeUserPart reports whether s may be written as the user part of a SIP URI as it is: only
// unreserved characters, escapes and the user-unreserved set of RFC 3261 section 25.1. A
// peer's user part that is not is left out of the Contact we answer with.
func safeUserPart(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()%&=+$,;?/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// sanitizeText returns s with control characters and bytes that are not valid UTF-8 replaced
// by a space and '"' and '\' replaced by "'", for free text written inside a quoted-string of
// a header we build (the Warning text, RFC 3261 section 20.43) or on an SDP line (s=, RFC 4566
// section 5.3).
func sanitizeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1, unicode.IsControl(r), r == '\u2028', r == '\u2029':
			b.WriteByte(' ')
		case r == '"' || r == '\\':
			b.WriteByte('\'')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
