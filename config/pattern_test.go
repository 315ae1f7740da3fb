package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNumberPatternErrors(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{"", "empty"},
		{"44*", "at character 1: must start with +"},
		{"+", "no digits"},
		{"+4*4", "at character 3: * is only allowed at the end"},
		{"+**", "at character 2: * is only allowed at the end"},
		{"+44a", `at character 4: unexpected 'a'`},
		{"+44 1", `at character 4: unexpected ' '`},
		{"+4[", "at character 3: [ is not closed"},
		{"+4[1-", "at character 3: [ is not closed"},
		{"+4[]", "at character 3: empty []"},
		{"+4[5-1]", "at character 4: range 5-1 is reversed"},
		{"+4[1-a]", "at character 6: range 1-a does not end with a digit"},
		{"+4[1,2]", `at character 5: unexpected ',' in [set]`},
		{"+0*", "at character 2: E.164 country codes do not start with 0"},
		{"+1234567890123456", "at character 17: longer than the 15 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseNumberPattern(tt.in)
			if err == nil {
				t.Fatalf("ParseNumberPattern(%q) = %v, want error", tt.in, p)
			}
			if !errors.Is(err, ErrPattern) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %q, want ErrPattern containing %q", err, tt.msg)
			}
		})
	}
}

func TestNumberPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"+44*", []string{"+44", "+442071234567", "+447700900123"}, []string{"+4", "+43123", "+4420712345a7", "442071234567", ""}},
		{"+*", []string{"+1", "+442071234567", "+"}, []string{"1", "", "+44x"}},
		{"+4420XXXXXXXX", []string{"+442071234567"}, []string{"+44207123456", "+4420712345678", "+442171234567"}},
		{"+4420xxxxxxxx", []string{"+442071234567"}, []string{"+44207123456"}},
		{"+44[1-3]*", []string{"+441", "+4420", "+44312"}, []string{"+44", "+4440", "+4490"}},
		{"+44[135]X", []string{"+4410", "+4439", "+4459"}, []string{"+4420", "+441", "+44100"}},
		{"+1[2-35-7]", []string{"+12", "+13", "+15", "+17"}, []string{"+14", "+18", "+11"}},
		{"+[1-9]*", []string{"+1", "+999"}, []string{"+0", "+"}},
		{"+15550100", []string{"+15550100"}, []string{"+155501000", "+1555010", "+15550101"}},
		{"+XXXXXXXXXXXXXXX", []string{"+123456789012345"}, []string{"+12345678901234", "+1234567890123456"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := ParseNumberPattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.pattern {
				t.Errorf("String() = %q", p.String())
			}
			for _, n := range tt.yes {
				if !p.Match(n) {
					t.Errorf("%s does not match %q", tt.pattern, n)
				}
			}
			for _, n := range tt.no {
				if p.Match(n) {
					t.Errorf("%s matches %q", tt.pattern, n)
				}
			}
		})
	}
	var zero NumberPattern
	if zero.Match("+44") || !zero.IsZero() {
		t.Error("zero NumberPattern matches")
	}
}

func TestNumberPatternText(t *testing.T) {
	var p NumberPattern
	if err := p.UnmarshalText([]byte("+44[1-3]*")); err != nil {
		t.Fatal(err)
	}
	b, _ := p.MarshalText()
	if string(b) != "+44[1-3]*" || !p.Match("+4420") {
		t.Errorf("round trip = %q", b)
	}
	if err := p.UnmarshalText([]byte("+44[")); !errors.Is(err, ErrPattern) {
		t.Errorf("UnmarshalText error = %v", err)
	}
	if p.String() != "+44[1-3]*" {
		t.Errorf("failed UnmarshalText changed the pattern to %q", p)
	}
}

func TestDialRulesAllows(t *testing.T) {
	rules := DialRules{
		Allow: []NumberPattern{mustPattern(t, "+44[1-3]*"), mustPattern(t, "+447*")},
		Deny:  []NumberPattern{mustPattern(t, "+449*"), mustPattern(t, "+4470*"), mustPattern(t, "+44207946XXXX")},
	}
	tests := []struct {
		number string
		want   bool
	}{
		{"+442071234567", true},  // London
		{"+441612345678", true},  // Manchester
		{"+447700900123", true},  // mobile
		{"+447012345678", false}, // personal numbering, denied
		{"+449012345678", false}, // premium, not allowed anyway
		{"+442079460123", false}, // denied exactly
		{"+33123456789", false},  // international
		{"+44", false},           // no pattern covers it
		{"442071234567", false},  // no plus
		{"+4420712345678901", false},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			if got := rules.Allows(tt.number); got != tt.want {
				t.Errorf("Allows(%q) = %v, want %v", tt.number, got, tt.want)
			}
		})
	}
	var empty DialRules
	if empty.Allows("+442071234567") {
		t.Error("empty rules allow a number")
	}
	var none *DialRules
	if none.Allows("+442071234567") {
		t.Error("nil rules allow a number")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := mustPattern(t, "+44[1-3]XXXXXXXX*")
	rules := DialRules{Allow: []NumberPattern{p}, Deny: []NumberPattern{mustPattern(t, "+449*")}}
	allocs := testing.AllocsPerRun(1000, func() {
		if !p.Match("+442071234567") || !rules.Allows("+442071234567") {
			t.Fatal("unexpected result")
		}
	})
	if allocs != 0 {
		t.Errorf("Match/Allows allocate %v times per call", allocs)
	}
}

func BenchmarkNumberPatternMatch(b *testing.B) {
	p, err := ParseNumberPattern("+44[1-3]XXXXXXXX*")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !p.Match("+442071234567") {
			b.Fatal("no match")
		}
	}
}

func BenchmarkDialRulesAllows(b *testing.B) {
	rules := DialRules{}
	for _, s := range []string{"+44[1-3]*", "+447*"} {
		p, _ := ParseNumberPattern(s)
		rules.Allow = append(rules.Allow, p)
	}
	for _, s := range []string{"+449*", "+4487*", "+4470*"} {
		p, _ := ParseNumberPattern(s)
		rules.Deny = append(rules.Deny, p)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !rules.Allows("+447700900123") {
			b.Fatal("not allowed")
		}
	}
}

// mustPattern compiles a pattern or fails the test.
func mustPattern(t *testing.T, s string) NumberPattern {
	t.Helper()
	p, err := ParseNumberPattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
