package sip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAccountRegistration: an account registers its extension with a
// contact of its own user part and +sip.instance, answers the digest
// challenge, refreshes, and Stop removes the binding; a registrar that
// refuses (403) leaves a failed state with the code, retried with back-off.
func TestAccountRegistration(t *testing.T) {
	tests := []struct {
		name   string
		script []int
		check  func(t *testing.T, r *AccountRegistration, reg *registrar)
	}{
		{"registered", nil, func(t *testing.T, r *AccountRegistration, reg *registrar) {
			t.Helper()
			waitUntil(t, "two accepted REGISTERs (a refresh)", func() bool { return countStatus(reg, 200) >= 2 })
			if st := r.State(); st.Status != RegRegistered || st.Trunk != "alice" || st.LastCode != 200 {
				t.Errorf("state %+v, want registered", st)
			}
			c := lastAccepted(t, reg.seen()).contact
			if !strings.HasPrefix(c, "<sip:ext201@127.0.0.1:") || !strings.Contains(c, `+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>"`) {
				t.Errorf("Contact %q, want the extension at our address with +sip.instance", c)
			}
			r.Stop()
			seen := reg.seen()
			if last := seen[len(seen)-1]; last.expires != "0" || last.auth == "" || last.status != 200 {
				t.Errorf("last REGISTER %+v, want an authorised Expires: 0", last)
			}
			if st := r.State(); st.Status != RegUnregistered {
				t.Errorf("state after Stop %+v", st)
			}
		}},
		{"forbidden", []int{403, 403, 200}, func(t *testing.T, r *AccountRegistration, reg *registrar) {
			t.Helper()
			waitUntil(t, "a refused REGISTER", func() bool { return r.State().LastCode == 403 })
			if st := r.State(); st.Status != RegFailed || st.Registered || st.Failures == 0 {
				t.Errorf("state %+v, want failed with 403", st)
			}
			waitUntil(t, "registered after the back-off", func() bool { return r.State().Registered })
			r.Stop()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := startRegistrar(t, tc.script...)
			env := startUA(t, Config{
				RegisterRetryMin: 100 * time.Millisecond, RegisterRetryMax: 200 * time.Millisecond,
				Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: 9}},
			})
			r, err := env.ua.StartAccount(Account{
				Name: "alice", Host: "127.0.0.1", Port: reg.addr.Port, Username: "ext201", Password: "secret",
				Expiry: time.Minute, Instance: "urn:uuid:00000000-0000-0000-0000-000000000001",
			})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r, reg)
		})
	}
}

// TestStartAccountRefused: an account without a registrar, or with a
// transport the user agent has no listener for, is ErrAccount.
func TestStartAccountRefused(t *testing.T) {
	env := startUA(t, Config{Trunks: []Trunk{{Name: "carrier", Host: "127.0.0.1", Port: 9}}})
	for _, a := range []Account{
		{Name: "a", Username: "x"},
		{Name: "b", Host: "127.0.0.1"},
		{Name: "c", Host: "127.0.0.1", Username: "x", Transport: "tcp"},
	} {
		if _, err := env.ua.StartAccount(a); !errors.Is(err, ErrAccount) {
			t.Errorf("%+v: %v, want ErrAccount", a, err)
		}
	}
}

// countStatus counts the authorised REGISTERs reg answered with status.
func countStatus(reg *registrar, status int) int {
	n := 0
	for _, s := range reg.seen() {
		if s.auth != "" && s.status == status && s.expires != "0" {
			n++
		}
	}

	return n
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
