package sip

import (
	"errors"
	"testing"
	"time"
)

// TestSetTrunks: replacing the trunks keeps an unchanged trunk (and its
// registration), starts registering a new one at once, removes the
// binding of a removed one (Expires: 0), and refuses an invalid list
// without changing anything.
func TestSetTrunks(t *testing.T) {
	keep, gone, added := startRegistrar(t), startRegistrar(t), startRegistrar(t)
	trunk := func(name string, r *registrar) Trunk {
		return Trunk{Name: name, Host: "127.0.0.1", Port: r.addr.Port, Register: true, RegisterExpiry: time.Minute,
			Username: "alice", Password: "secret", Realm: "reg.test"}
	}
	env := startUA(t, Config{Trunks: []Trunk{trunk("keep", keep), trunk("gone", gone)}})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; state %+v", what, env.ua.RegistrationStates())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("both registered", func() bool { return env.ua.Ready() })
	kept := env.ua.trunkByName("keep")

	if err := env.ua.SetTrunks([]Trunk{trunk("keep", keep), {Name: "keep", Host: "x"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("SetTrunks with a duplicate name = %v, want ErrInvalidConfig", err)
	}
	if env.ua.trunkByName("gone") == nil {
		t.Fatal("an invalid list changed the trunks")
	}

	if err := env.ua.SetTrunks([]Trunk{trunk("keep", keep), trunk("added", added)}); err != nil {
		t.Fatal(err)
	}
	if env.ua.trunkByName("keep") != kept {
		t.Error("the unchanged trunk was replaced")
	}
	if env.ua.trunkByName("gone") != nil {
		t.Error("the removed trunk is still listed")
	}
	waitFor("the removed trunk unregistered", func() bool {
		seen := gone.seen()
		return len(seen) > 0 && seen[len(seen)-1].expires == "0" && seen[len(seen)-1].status == 200
	})
	waitFor("the new trunk registered", func() bool { return env.ua.Ready() && len(env.ua.RegistrationStates()) == 2 })
	for _, s := range keep.seen() {
		if s.expires == "0" || s.callID != keep.seen()[0].callID {
			t.Errorf("the kept trunk's registration was removed or restarted: %+v", s)
		}
	}
}
