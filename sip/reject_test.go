package sip

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/faketrunk"
)

// TestRejectRetryAfter: a rejected INVITE carries Retry-After in whole seconds, rounded up
// (RFC 3261 section 20.33), and a plain Reject carries none.
func TestRejectRetryAfter(t *testing.T) {
	peer, env := inboundUA(t, nil)
	tests := []struct {
		name   string
		code   int
		reason string
		after  time.Duration
		plain  bool   // Reject, without Retry-After
		want   string // Retry-After value; "" for none
	}{
		{name: "overloaded", code: 503, reason: "Service Unavailable", after: 5 * time.Second, want: "5"},
		{name: "fraction rounds up", code: 503, reason: "Service Unavailable", after: 1500 * time.Millisecond, want: "2"},
		{name: "zero", code: 480, reason: "Temporarily Unavailable", after: 0, want: "0"},
		{name: "negative counts as zero", code: 486, reason: "Busy Here", after: -time.Second, want: "0"},
		{name: "plain reject", code: 503, reason: "Service Unavailable", plain: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callID := fmt.Sprintf("retry-after-%d@test", i)
			inv := peer.SendText(peer.InviteText(env.addr, "15557654321", fmt.Sprintf("z9hG4bK-retry-%d", i), callID, faketrunk.PCMUSDP(40010+2*i, "sendrecv")), env.addr)
			ic := awaitIncoming(t, env)
			var err error
			if tt.plain {
				err = ic.Reject(tt.code, tt.reason)
			} else {
				err = ic.RejectRetryAfter(tt.code, tt.reason, tt.after)
			}
			if err != nil {
				t.Fatalf("reject: %v", err)
			}
			res := peer.ExpectResponse(inv, tt.code, 5*time.Second)
			if got := res.CallID().Value(); got != callID {
				t.Fatalf("response for Call-ID %q, want %q", got, callID)
			}
			h := res.GetHeader("Retry-After")
			switch {
			case tt.want == "" && h != nil:
				t.Errorf("Retry-After %q on a plain reject", h.Value())
			case tt.want != "" && h == nil:
				t.Errorf("no Retry-After in\n%s", res)
			case tt.want != "" && h.Value() != tt.want:
				t.Errorf("Retry-After %q, want %q", h.Value(), tt.want)
			}
			peer.Send(peer.ACKFailure(inv, res), env.addr)
			var se *StatusError
			if !errors.As(ic.Cause(), &se) || se.Code != tt.code {
				t.Errorf("Cause() = %v, want StatusError %d", ic.Cause(), tt.code)
			}
			if err := ic.RejectRetryAfter(503, "Service Unavailable", time.Second); !errors.Is(err, ErrCallFinalized) {
				t.Errorf("second reject: %v, want ErrCallFinalized", err)
			}
		})
	}
	t.Run("bad status code", func(t *testing.T) {
		inv := peer.SendText(peer.InviteText(env.addr, "15557654321", "z9hG4bK-retry-bad", "retry-after-bad@test", faketrunk.PCMUSDP(40030, "sendrecv")), env.addr)
		ic := awaitIncoming(t, env)
		if err := ic.RejectRetryAfter(200, "OK", time.Second); !errors.Is(err, ErrBadStatus) {
			t.Errorf("RejectRetryAfter(200): %v, want ErrBadStatus", err)
		}
		// The call still rings: a valid rejection goes through.
		if err := ic.RejectRetryAfter(503, "Service Unavailable", time.Second); err != nil {
			t.Fatalf("reject: %v", err)
		}
		res := peer.ExpectResponse(inv, 503, 5*time.Second)
		peer.Send(peer.ACKFailure(inv, res), env.addr)
	})
}
