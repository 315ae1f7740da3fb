package gateway

import (
	"errors"
	"testing"

	"github.com/webtrunk/webtrunk/gateway/signaling"
	"github.com/webtrunk/webtrunk/sip"
)

func TestRouteNormalisesAndChecksDialRules(t *testing.T) {
	cfg := parseTestConfig(t, testConfig{})
	r, err := newRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := cfg.User("alice")
	bob, _ := cfg.User("bob")
	tests := []struct {
		name     string
		dialled  string
		user     string
		wantE164 string
		wantCode signaling.Code
		denied   string
	}{
		{"e164", "+15550123", "alice", "+15550123", "", ""},
		{"national digits", "5550123", "alice", "+15550123", "", ""},
		{"national prefix", "15550123", "alice", "+15550123", "", ""},
		{"outside line stripped", "95550123", "alice", "+15550123", "", ""},
		{"international prefix", "011442079460000", "bob", "+442079460000", "", ""},
		{"denied premium range", "+15559990000", "alice", "", signaling.CodeForbiddenNumber, deniedDialRules},
		{"other user's rules", "+15550123", "bob", "", signaling.CodeForbiddenNumber, deniedDialRules},
		{"allowed but unrouted is forbidden for alice", "+33123456789", "alice", "", signaling.CodeForbiddenNumber, deniedDialRules},
		{"not a number", "12", "alice", "", signaling.CodeInvalidNumber, deniedInvalidNumber},
		{"star code", "*21#", "alice", "", signaling.CodeInvalidNumber, deniedInvalidNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := alice.DialRules
			if tt.user == "bob" {
				rules = bob.DialRules
			}
			rt, denied, err := r.Route(tt.dialled, rules)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Route(%q) = %v", tt.dialled, err)
				}
				if rt.E164 != tt.wantE164 || rt.Trunk != "fake" || rt.DefaultCallerID != "+15550199" {
					t.Fatalf("Route(%q) = %+v, want %s on fake", tt.dialled, rt, tt.wantE164)
				}

				return
			}
			var ce *callError
			if !errors.As(err, &ce) || ce.Code != tt.wantCode {
				t.Fatalf("Route(%q) error %v, want code %s", tt.dialled, err, tt.wantCode)
			}
			if denied != tt.denied {
				t.Errorf("denied label %q, want %q", denied, tt.denied)
			}
			if tt.wantCode == signaling.CodeForbiddenNumber && !errors.Is(err, ErrForbiddenNumber) {
				t.Errorf("error %v does not wrap ErrForbiddenNumber", err)
			}
		})
	}
}

func TestRouteWithoutRuleIsTrunkUnavailable(t *testing.T) {
	cfg := parseTestConfig(t, testConfig{extra: ""})
	cfg.Outbound = cfg.Outbound[:1] // +1555* only
	r, err := newRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := cfg.User("bob")
	_, denied, err := r.Route("+442079460000", bob.DialRules)
	var ce *callError
	if !errors.As(err, &ce) || ce.Code != signaling.CodeTrunkUnavailable || !errors.Is(err, ErrNoRoute) || denied != deniedNoRoute {
		t.Fatalf("Route = %v (%s), want trunk_unavailable / no_route", err, denied)
	}
}

func TestCauseOf(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason signaling.Reason
		code   int
		text   string
	}{
		{"busy", &sip.StatusError{Code: 486, Reason: "Busy Here"}, signaling.ReasonBusy, 486, "Busy Here"},
		{"busy everywhere", &sip.StatusError{Code: 600, Reason: "Busy Everywhere"}, signaling.ReasonBusy, 600, "Busy Everywhere"},
		{"request timeout", &sip.StatusError{Code: 408, Reason: "Request Timeout"}, signaling.ReasonNoAnswer, 408, "Request Timeout"},
		{"unavailable", &sip.StatusError{Code: 480, Reason: "Temporarily Unavailable"}, signaling.ReasonNoAnswer, 480, "Temporarily Unavailable"},
		{"declined", &sip.StatusError{Code: 603, Reason: "Decline"}, signaling.ReasonRejected, 603, "Decline"},
		{"not found", &sip.StatusError{Code: 404, Reason: "Not Found"}, signaling.ReasonFailed, 404, "Not Found"},
		{"address incomplete", &sip.StatusError{Code: 484, Reason: "Address Incomplete"}, signaling.ReasonFailed, 484, "Address Incomplete"},
		{"codec", &sip.StatusError{Code: 488, Reason: "Not Acceptable Here"}, signaling.ReasonFailed, 488, "Not Acceptable Here"},
		{"trunk down", &sip.StatusError{Code: 503, Reason: "Service Unavailable"}, signaling.ReasonFailed, 503, "Service Unavailable"},
		{"remote bye with reason", &sip.HangupError{By: sip.Remote, Protocol: "Q.850", Cause: 16, Text: "Normal call clearing"}, signaling.ReasonRemoteHangup, 16, "Normal call clearing"},
		{"remote bye", &sip.HangupError{By: sip.Remote}, signaling.ReasonRemoteHangup, 0, ""},
		{"cancel", sip.ErrCanceled, signaling.ReasonCancelled, 0, ""},
		{"ua shutdown", sip.ErrShuttingDown, signaling.ReasonShutdown, 0, ""},
		{"ua ring timeout", sip.ErrRingTimeout, signaling.ReasonRingTimeout, 0, ""},
		{"browser hangup", errLocalHangup, signaling.ReasonLocalHangup, 0, ""},
		{"socket closed", errConnClosed, signaling.ReasonLocalHangup, 0, ""},
		{"ice", errICEFailed, signaling.ReasonICEFailed, 0, ""},
		{"media timeout", errMediaTimeout, signaling.ReasonMediaTimeout, 0, ""},
		{"max duration", errMaxDuration, signaling.ReasonMaxDuration, 0, ""},
		{"ring timeout", errRingTimeout, signaling.ReasonRingTimeout, 0, ""},
		{"shutdown", errShutdown, signaling.ReasonShutdown, 0, ""},
		{"ack timeout", sip.ErrAckTimeout, signaling.ReasonFailed, 0, ""},
		{"too many calls on trunk", sip.ErrTooManyCalls, signaling.ReasonFailed, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := causeOf(tt.err)
			if c.Reason != tt.reason || c.SIPCode != tt.code || c.SIPText != tt.text {
				t.Fatalf("causeOf(%v) = %s %d %q, want %s %d %q", tt.err, c.Reason, c.SIPCode, c.SIPText, tt.reason, tt.code, tt.text)
			}
			if !c.Reason.Valid() {
				t.Fatalf("reason %q is not a protocol reason", c.Reason)
			}
		})
	}
}
