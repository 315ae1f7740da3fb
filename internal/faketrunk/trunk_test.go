package faketrunk

import (
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestMain fails the package when a goroutine of a trunk, a call or its
// media outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestTrunkCallsTrunk runs one trunk's calls against another's plans, so
// that a failing test of the gateway can be blamed on the gateway, not on
// the trunk: each side hears the other's tone, digits arrive, and every
// way of ending a call ends both sides with the right status.
func TestTrunkCallsTrunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		plan  Plan
		check func(t *testing.T, caller, callee *Call)
	}{
		{"answered after ringing, audio and digits both ways, caller hangs up", Plan{Ring: 100 * time.Millisecond},
			func(t *testing.T, caller, callee *Call) {
				caller.WaitAnswered(t)
				callee.Heard().WaitTone(t, "callee", 0, 700, DefaultToneHz)
				caller.Heard().WaitTone(t, "caller", 0, DefaultToneHz, 700)
				caller.Media().SendDigits("19#")
				callee.Heard().WaitDigits(t, "19#")
				callee.Media().SendDigits("*4")
				caller.Heard().WaitDigits(t, "*4")
				caller.Bye(t)
				callee.WaitEnded(t, EndByeReceived)
			}},
		{"answered in PCMA", Plan{Codec: telephony.PCMA},
			func(t *testing.T, caller, callee *Call) {
				caller.WaitAnswered(t)
				if got := caller.Remote().Codec(); !got.IsPCMA() {
					t.Fatalf("answered in %v, want PCMA", got)
				}
				callee.Heard().WaitTone(t, "callee", 0, 700, DefaultToneHz)
			}},
		{"rejected busy", Plan{Ring: 50 * time.Millisecond, Reject: 486}, rejectedWith(486)},
		{"cancelled while ringing", Plan{RingForever: true},
			func(t *testing.T, caller, callee *Call) {
				caller.WaitRinging(t)
				caller.Cancel()
				callee.WaitEnded(t, EndCancelled)
				caller.WaitEnded(t, EndCancelled)
				callee.trunk.WaitRequest(t, sipmsg.CANCEL, caller.CallID())
			}},
		{"callee hangs up", Plan{ByeAfter: 300 * time.Millisecond},
			func(t *testing.T, caller, callee *Call) {
				caller.WaitAnswered(t)
				caller.WaitEnded(t, EndByeReceived)
				callee.WaitEnded(t, EndByeSent)
			}},
		// sipgo's dialog client does not answer challenges by itself: the
		// caller sees the 407.
		{"digest challenge", Plan{Challenge: 407, User: "u", Password: "p"}, rejectedWith(407)},
		{"manual answer after early media, then re-INVITEs both ways", Plan{Manual: true},
			func(t *testing.T, caller, callee *Call) {
				callee.Respond(t, 183, telephony.PCMU)
				caller.WaitRinging(t)
				callee.Respond(t, 200, telephony.PCMA)
				caller.WaitAnswered(t)
				callee.Heard().WaitTone(t, "callee", 0, 700, DefaultToneHz)
				answer := callee.Reinvite(t, telephony.PCMU, 96, true)
				if answer.Codec().Name != telephony.NamePCMU || answer.TelephoneEventPT != 96 {
					t.Fatalf("re-INVITE answered %v with telephone-event %d", answer.Codecs, answer.TelephoneEventPT)
				}
				if offer := caller.WaitReinvite(t); offer.Direction != SendRecv || offer.TelephoneEventPT != 96 {
					t.Fatalf("caller saw the re-INVITE offer %+v", offer)
				}
				mark := caller.Heard().Len()
				caller.Heard().WaitTone(t, "caller after the re-INVITE", mark, DefaultToneHz, 700)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			callee := New(t, WithPlan(tt.plan))
			caller := New(t, WithTone(700))
			out := caller.Dial(t, callee.Addr(), "+15550100", DialOptions{})
			if tt.plan.Challenge != 0 {
				tt.check(t, out, nil)
				if n := len(callee.Requests(sipmsg.INVITE)); n != 1 {
					t.Errorf("callee received %d INVITEs, want the challenged one", n)
				}

				return
			}
			in := callee.NextCall(t)
			if in.Number() != "+15550100" || in.CallID() != out.CallID() {
				t.Fatalf("callee saw number %q in call %s, want +15550100 in %s", in.Number(), in.CallID(), out.CallID())
			}
			tt.check(t, out, in)
		})
	}
}

// rejectedWith checks that the caller's INVITE was rejected with code.
func rejectedWith(code int) func(t *testing.T, caller, callee *Call) {
	return func(t *testing.T, caller, _ *Call) {
		caller.WaitEnded(t, EndRejected)
		if caller.FinalCode() != code {
			t.Fatalf("caller got final status %d, want %d", caller.FinalCode(), code)
		}
	}
}
