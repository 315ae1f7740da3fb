package sip

import (
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// TestAnsweredElsewhere: a CANCEL whose Reason says SIP cause 200 (RFC
// 3326) tells the ringing side the call was answered elsewhere; any other
// reason, or none, is a plain cancel.
func TestAnsweredElsewhere(t *testing.T) {
	tests := []struct {
		name    string
		reasons []string
		want    bool
	}{
		{"none", nil, false},
		{"kamailio's", []string{`SIP;cause=200;text="Call completed elsewhere"`}, true},
		{"spaced, lower case", []string{`sip ; cause = 200 ; text="x"`}, true},
		{"two reasons in one header", []string{`Q.850;cause=16, SIP;cause=200`}, true},
		{"second header", []string{`Q.850;cause=16`, `SIP;cause=200`}, true},
		{"Q.850 normal clearing", []string{`Q.850;cause=16;text="Normal call clearing"`}, false},
		{"SIP cause 486", []string{`SIP;cause=486`}, false},
		{"cause 2000", []string{`SIP;cause=2000`}, false},
		{"no cause", []string{`SIP;text="cause=200"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sipmsg.NewRequest(sipmsg.CANCEL, sipmsg.Uri{User: "1", Host: "127.0.0.1"})
			for _, r := range tt.reasons {
				req.AppendHeader(sipmsg.NewHeader("Reason", r))
			}
			if got := answeredElsewhere(req); got != tt.want {
				t.Errorf("answeredElsewhere(%q) = %v, want %v", tt.reasons, got, tt.want)
			}
		})
	}
}
