package telephony

import (
	"errors"
	"strings"
	"testing"
)

// ukPlan is a trunk in the United Kingdom that expects national numbers
// and an outside-line "9" that users may dial out of habit.
var ukPlan = NumberPlan{
	Format:              FormatNational,
	CountryCode:         "44",
	NationalPrefix:      "0",
	InternationalPrefix: "00",
	StripPrefixes:       []string{"9"},
}

// nanpPlan is a North American trunk: international prefix 011, the
// national prefix 1 and carriers that want 11-digit numbers without "+".
var nanpPlan = NumberPlan{
	Format:              FormatE164NoPlus,
	CountryCode:         "1",
	NationalPrefix:      "1",
	InternationalPrefix: "011",
}

func TestToE164(t *testing.T) {
	checkE164Cases(t, "ToE164", NumberPlan.ToE164, []e164Case{
		{"UK national with spaces", ukPlan, "020 7946 0000", "+442079460000", false},
		{"UK national with parentheses and dashes", ukPlan, "(020) 7946-0000", "+442079460000", false},
		{"UK mobile with dots", ukPlan, "07700.900.123", "+447700900123", false},
		{"00 international", ukPlan, "0033 1 23 45 67 89", "+33123456789", false},
		{"plus with national prefix in parentheses", ukPlan, "+44 (0)20 7946 0000", "+442079460000", false},
		{"national prefix kept after another country code", ukPlan, "+39 06 6988 0000", "+390669880000", false},
		{"NANP 1 after +1 without parentheses is kept", nanpPlan, "+1 1000 000", "+11000000", false},
		{"plus international", ukPlan, "+1 (202) 555-0143", "+12025550143", false},
		{"plus is not stripped of a 9", ukPlan, "+91 98765 43210", "+919876543210", false},
		{"outside line 9 stripped", ukPlan, "9 020 7946 0000", "+442079460000", false},
		{"outside line 9 then international", ukPlan, "900 33 123456789", "+33123456789", false},
		{"national number without prefix", ukPlan, "2079460000", "+442079460000", false},
		{"tab separator", ukPlan, "020\t7946\t0000", "+442079460000", false},
		{"NANP 011 international", nanpPlan, "011 44 20 7946 0000", "+442079460000", false},
		{"NANP 1 + area code", nanpPlan, "1-202-555-0143", "+12025550143", false},
		{"NANP ten digits are national", nanpPlan, "(202) 555-0143", "+12025550143", false},
		{"zero plan accepts plus numbers", NumberPlan{}, "+442079460000", "+442079460000", false},
		{"15 digits is the maximum", ukPlan, "+123456789012345", "+123456789012345", false},

		{"16 digits", ukPlan, "+1234567890123456", "", true},
		{"national number too long", ukPlan, "020 7946 0000 0000 0", "", true},
		{"empty", ukPlan, "", "", true},
		{"only separators", ukPlan, " - ( ) ", "", true},
		{"plus only", ukPlan, "+", "", true},
		{"letters", ukPlan, "0800 FLOWERS", "", true},
		{"sip uri", ukPlan, "sip:alice@example.com", "", true},
		{"plus in the middle", ukPlan, "020+7946", "", true},
		{"two plus signs", ukPlan, "++442079460000", "", true},
		{"country code starting with 0", ukPlan, "+0442079460000", "", true},
		{"000 is international prefix then 0", ukPlan, "000442079460000", "", true},
		{"star and hash", ukPlan, "*31#02079460000", "", true},
		{"unicode digits", ukPlan, "٠٢٠٧٩٤٦٠٠٠٠", "", true},
		{"zero plan rejects national numbers", NumberPlan{}, "02079460000", "", true},
		{"outside line alone", ukPlan, "9", "", true},
	})
}

// e164Case is one conversion to E.164 under a plan: in gives want, or
// fails with ErrInvalidNumber when wantErr is set.
type e164Case struct {
	name    string
	plan    NumberPlan
	in      string
	want    string
	wantErr bool
}

// checkE164Cases runs each case as a subtest of conv, the NumberPlan
// method called name.
func checkE164Cases(t *testing.T, name string, conv func(NumberPlan, string) (string, error), cases []e164Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := conv(tc.plan, tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidNumber) {
					t.Errorf("%s(%q) = %q, %v; want ErrInvalidNumber", name, tc.in, got, err)
				}

				return
			}
			if err != nil || got != tc.want {
				t.Errorf("%s(%q) = %q, %v; want %q", name, tc.in, got, err, tc.want)
			}
		})
	}
}

func TestFromTrunk(t *testing.T) {
	ukNoPlus := NumberPlan{Format: FormatE164NoPlus, CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00", StripPrefixes: []string{"4"}}
	checkE164Cases(t, "FromTrunk", NumberPlan.FromTrunk, []e164Case{
		{"no-plus trunk: bare digits are international", ukNoPlus, "442079460000", "+442079460000", false},
		{"no-plus trunk: StripPrefixes are for users only", ukNoPlus, "4930901820", "+4930901820", false},
		{"no-plus trunk: national caller ID", ukNoPlus, "02079460000", "+442079460000", false},
		{"no-plus trunk: international prefix", ukNoPlus, "0033123456789", "+33123456789", false},
		{"no-plus NANP trunk", nanpPlan, "12025550143", "+12025550143", false},
		{"national trunk: bare digits are national", ukPlan, "2079460000", "+442079460000", false},
		{"national trunk: 9 is not stripped", ukPlan, "9876543210", "+449876543210", false},
		{"E.164 trunk", NumberPlan{CountryCode: "44"}, "+442079460000", "+442079460000", false},
		{"anonymous", ukNoPlus, "anonymous", "", true},
		{"too long", ukNoPlus, "4420794600001234", "", true},
	})
}

func TestForTrunk(t *testing.T) {
	tests := []struct {
		name string
		plan NumberPlan
		e164 string
		want string
	}{
		{"E.164", NumberPlan{CountryCode: "44"}, "+442079460000", "+442079460000"},
		{"E.164 without plus", NumberPlan{Format: FormatE164NoPlus}, "+442079460000", "442079460000"},
		{"national, own country", ukPlan, "+442079460000", "02079460000"},
		{"national, other country", ukPlan, "+33123456789", "0033123456789"},
		{"national, NANP 1+10", NumberPlan{Format: FormatNational, CountryCode: "1", NationalPrefix: "1", InternationalPrefix: "011"}, "+12025550143", "12025550143"},
		{"national, no national prefix (Spain)", NumberPlan{Format: FormatNational, CountryCode: "34", InternationalPrefix: "00"}, "+34912345678", "912345678"},
		{"AddPrefix before E.164", NumberPlan{AddPrefix: "1010"}, "+442079460000", "1010+442079460000"},
		{"AddPrefix before national", NumberPlan{Format: FormatNational, CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "00", AddPrefix: "#31#"}, "+442079460000", "#31#02079460000"},
		{"missing plus tolerated", NumberPlan{Format: FormatE164}, "442079460000", "+442079460000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.plan.ForTrunk(tt.e164); got != tt.want {
				t.Errorf("ForTrunk(%q) = %q, want %q", tt.e164, got, tt.want)
			}
		})
	}
}

// TestNumberRoundTrip checks that what we send to a trunk comes back as the
// same E.164 number when the trunk sends it to us as a caller number.
func TestNumberRoundTrip(t *testing.T) {
	plans := map[string]NumberPlan{
		"uk national": ukPlan,
		"nanp":        nanpPlan,
		"e164":        {CountryCode: "49", NationalPrefix: "0", InternationalPrefix: "00"},
	}
	numbers := []string{"+442079460000", "+12025550143", "+33123456789", "+4930901820"}
	for name, plan := range plans {
		for _, n := range numbers {
			t.Run(name+"/"+n, func(t *testing.T) {
				got, err := plan.FromTrunk(plan.ForTrunk(n))
				if err != nil || got != n {
					t.Errorf("FromTrunk(ForTrunk(%q)) = %q, %v", n, got, err)
				}
			})
		}
	}
}

func TestNumberPlanValidate(t *testing.T) {
	tests := []struct {
		name  string
		plan  NumberPlan
		wants []string // parts of the error text, none for a valid plan
	}{
		{"uk", ukPlan, nil},
		{"nanp", nanpPlan, nil},
		{"zero", NumberPlan{}, nil},
		{"bad format", NumberPlan{Format: "international"}, []string{"format: \"international\" is not one of"}},
		{"country code with plus", NumberPlan{CountryCode: "+44"}, []string{"country_code"}},
		{"country code too long", NumberPlan{CountryCode: "4444"}, []string{"country_code"}},
		{"national without country", NumberPlan{Format: FormatNational}, []string{"country_code: required for format national"}},
		{
			"every problem at once",
			NumberPlan{CountryCode: "0", NationalPrefix: "x", InternationalPrefix: "0 0", AddPrefix: "+", StripPrefixes: []string{""}},
			[]string{"country_code", "national_prefix", "international_prefix", "add_prefix", "strip_prefixes[0]"},
		},
		{"same prefixes", NumberPlan{CountryCode: "44", NationalPrefix: "0", InternationalPrefix: "0"}, []string{"both \"0\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNumberPlan) {
				t.Fatalf("Validate = %v, want ErrNumberPlan", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, missing %q", err, w)
				}
			}
		})
	}
}

func TestParseNumberFormat(t *testing.T) {
	for _, f := range []NumberFormat{FormatE164, FormatE164NoPlus, FormatNational} {
		for _, s := range []string{string(f), strings.ToUpper(string(f))} {
			got, err := ParseNumberFormat(s)
			if err != nil || got != f {
				t.Errorf("ParseNumberFormat(%q) = %v, %v; want %v", s, got, err, f)
			}
		}
	}
	if _, err := ParseNumberFormat("international"); !errors.Is(err, ErrNumberPlan) {
		t.Errorf("ParseNumberFormat(international) error = %v, want ErrNumberPlan", err)
	}
}

// FuzzToE164 checks that whatever ToE164 accepts is a valid E.164 number
// that ToE164 keeps as it is, and that what FromTrunk accepts survives the
// trunk's format and back.
func FuzzToE164(f *testing.F) {
	for _, s := range []string{"020 7946 0000", "+1 (202) 555-0143", "+44 (0) 20 7946 0000", "11000000", "+4400000", "0033123456789", "9 020", "", "+", "0800 FLOWERS"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dialled string) {
		for _, plan := range []NumberPlan{ukPlan, nanpPlan, {}} {
			if got, err := plan.FromTrunk(dialled); err == nil {
				written := plan.ForTrunk(got)
				// A national number that starts like the international
				// prefix is ambiguous in national format (see ForTrunk).
				ambiguous := plan.Format == FormatNational && plan.InternationalPrefix != "" &&
					strings.HasPrefix(got, "+"+plan.CountryCode) && strings.HasPrefix(written, plan.InternationalPrefix)
				if again, err := plan.FromTrunk(written); !ambiguous && (err != nil || again != got) {
					t.Fatalf("FromTrunk(ForTrunk(%q)) = %q, %v", got, again, err)
				}
			} else if !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("undocumented error %v", err)
			}
			got, err := plan.ToE164(dialled)
			if err != nil {
				if !errors.Is(err, ErrInvalidNumber) {
					t.Fatalf("undocumented error %v", err)
				}
				continue
			}
			digits := strings.TrimPrefix(got, "+")
			if len(got) != len(digits)+1 || !allDigits(digits) || len(digits) < MinE164Digits || len(digits) > MaxE164Digits || digits[0] == '0' {
				t.Fatalf("ToE164(%q) = %q, not E.164", dialled, got)
			}
			if again, err := plan.ToE164(got); err != nil || again != got {
				t.Fatalf("ToE164 not idempotent: %q -> %q -> %q, %v", dialled, got, again, err)
			}
		}
	})
}

func TestIsE164(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"+442071234567", true},
		{"+15550100", true},
		{"+1234567", true},
		{"+123456", false}, // 6 digits: a service code, not a number in service
		{"+123456789012345", true},
		{"+1234567890123456", false}, // 16 digits
		{"+1", false},
		{"+", false},
		{"", false},
		{"442071234567", false},
		{"+0442071234567", false},
		{"+44 20 7123 4567", false},
		{"+44-20", false},
		{"++44", false},
		{"+4420712345a7", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := IsE164(tt.in); got != tt.want {
				t.Errorf("IsE164(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
