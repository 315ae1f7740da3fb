package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/webtrunk/webtrunk/telephony"
)

// ErrPattern is wrapped by every error of [ParseNumberPattern].
var ErrPattern = errors.New("config: invalid number pattern")

// digitSet is a set of decimal digits: bit d is set when digit d is in the
// set.
type digitSet uint16

// anyDigit is the set of all ten digits.
const anyDigit digitSet = 1<<10 - 1

// NumberPattern matches E.164 numbers. Its text starts with "+" and is
// followed, position by position, by:
//
//   - a digit, which matches itself;
//   - X, which matches any one digit;
//   - a bracket set such as [135] or [1-5] or [0-37-9], which matches one
//     digit of the set;
//
// and optionally ends with *, which matches any number of further digits,
// none included. Without * the number must have exactly as many digits as
// the pattern has positions. Examples: "+44*" (all UK numbers),
// "+4420XXXXXXXX" (London), "+44[1-3]*", "+*" (every number).
//
// In YAML a NumberPattern is a string. The zero NumberPattern matches
// nothing.
type NumberPattern struct {
	text string
	pos  [telephony.MaxE164Digits]digitSet
	n    int  // positions used in pos
	tail bool // ends with *
}

// ParseNumberPattern compiles a pattern. Errors wrap [ErrPattern] and say
// what is wrong where, counting characters from 1.
func ParseNumberPattern(s string) (NumberPattern, error) {
	p := NumberPattern{text: s}
	fail := func(i int, format string, args ...any) (NumberPattern, error) {
		return NumberPattern{}, fmt.Errorf("%w %q: at character %d: %s", ErrPattern, s, i+1, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return NumberPattern{}, fmt.Errorf("%w: empty", ErrPattern)
	}
	if s[0] != '+' {
		return fail(0, "must start with +")
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		var set digitSet
		switch {
		case c == '*':
			if i != len(s)-1 {
				return fail(i, "* is only allowed at the end")
			}
			p.tail = true
			continue
		case c >= '0' && c <= '9':
			set = 1 << (c - '0')
		case c == 'X' || c == 'x':
			set = anyDigit
		case c == '[':
			var end int
			var problem string
			set, end, problem = parseDigitSet(s, i)
			if problem != "" {
				return fail(end, "%s", problem)
			}
			i = end
		default:
			return fail(i, "unexpected %q; use digits, X, [set] or a final *", c)
		}
		if p.n == telephony.MaxE164Digits {
			return fail(i, "longer than the %d digits of an E.164 number", telephony.MaxE164Digits)
		}
		if p.n == 0 && set == 1 {
			return fail(i, "E.164 country codes do not start with 0")
		}
		p.pos[p.n] = set
		p.n++
	}
	if p.n == 0 && !p.tail {
		return fail(0, "no digits; use \"+*\" to match every number")
	}
	return p, nil
}

// parseDigitSet parses the bracket set starting at s[open] == '['. It
// returns the set and the index of the closing ']', or a description of the
// problem and the index of the offending character.
func parseDigitSet(s string, open int) (set digitSet, end int, problem string) {
	closing := strings.IndexByte(s[open:], ']')
	if closing < 0 {
		return 0, open, "[ is not closed"
	}
	closing += open
	i := open + 1
	for ; i < closing; i++ {
		lo := s[i]
		if lo < '0' || lo > '9' {
			return 0, i, fmt.Sprintf("unexpected %q in [set]; use digits and ranges such as 1-5", lo)
		}
		hi := lo
		if i+2 < closing && s[i+1] == '-' {
			hi = s[i+2]
			if hi < '0' || hi > '9' {
				return 0, i + 2, fmt.Sprintf("range %c-%c does not end with a digit", lo, hi)
			}
			if hi < lo {
				return 0, i, fmt.Sprintf("range %c-%c is reversed", lo, hi)
			}
			i += 2
		}
		for d := lo; d <= hi; d++ {
			set |= 1 << (d - '0')
		}
	}
	if set == 0 {
		return 0, open, "empty []"
	}
	return set, i, ""
}

// Match reports whether the E.164 number e164 ("+" and digits) matches the
// pattern. It does not allocate and is safe for concurrent use.
func (p *NumberPattern) Match(e164 string) bool {
	if p.text == "" || len(e164) < 1 || e164[0] != '+' {
		return false
	}
	digits := len(e164) - 1
	if digits < p.n || (!p.tail && digits != p.n) {
		return false
	}
	for i := 1; i < len(e164); i++ {
		c := e164[i]
		if c < '0' || c > '9' {
			return false
		}
		if k := i - 1; k < p.n && p.pos[k]&(1<<(c-'0')) == 0 {
			return false
		}
	}
	return true
}

// String returns the pattern's text.
func (p NumberPattern) String() string { return p.text }

// IsZero reports whether p is the zero NumberPattern.
func (p NumberPattern) IsZero() bool { return p.text == "" }

// MarshalText implements encoding.TextMarshaler with the pattern's text.
func (p NumberPattern) MarshalText() ([]byte, error) { return []byte(p.text), nil }

// UnmarshalText implements encoding.TextUnmarshaler with
// [ParseNumberPattern].
func (p *NumberPattern) UnmarshalText(b []byte) error {
	q, err := ParseNumberPattern(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// MarshalYAML implements yaml.Marshaler with the pattern's text.
func (p NumberPattern) MarshalYAML() (any, error) { return p.text, nil }
