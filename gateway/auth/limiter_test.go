package auth

import (
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestPasswordRateLimited guesses passwords from one address until it is
// refused, checks that the right password is refused too while the address
// is blocked, that other addresses are unaffected, and that the address
// regains attempts at the configured rate.
// wrongGuesses tries n wrong passwords for user from addr, each of which
// must be refused with ErrBadCredentials.
func wrongGuesses(t *testing.T, a *Authenticator, addr netip.Addr, user string, n int) {
	t.Helper()
	for i := range n {
		if _, err := a.Password(addr, user, "guess"+strconv.Itoa(i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v, want ErrBadCredentials", i, err)
		}
	}
}

func TestPasswordRateLimited(t *testing.T) {
	cfg := testConfig(t)
	// 3 failures in a row, then one more every 10 s.
	a, c := newAuth(t, cfg, WithLimiter(NewLimiter(rate.Every(10*time.Second), 3, 100)))
	guesser := netip.MustParseAddr("192.0.2.7")
	neighbour := netip.MustParseAddr("192.0.2.8")

	wrongGuesses(t, a, guesser, "alice", 3)
	if _, err := a.Password(guesser, "alice", "guess3"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("4th guess: %v, want ErrRateLimited", err)
	}
	if _, err := a.Password(guesser, "alice", "correct horse"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("right password while blocked: %v, want ErrRateLimited", err)
	}
	if _, err := a.Token(guesser, "a.b.c"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("token while blocked: %v, want ErrRateLimited", err)
	}
	if id, err := a.Password(neighbour, "alice", "correct horse"); err != nil || id.UserID != "alice" {
		t.Fatalf("another address: %+v, %v", id, err)
	}

	c.t = c.t.Add(9 * time.Second)
	if _, err := a.Password(guesser, "alice", "correct horse"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after 9 s: %v, want ErrRateLimited", err)
	}
	c.t = c.t.Add(time.Second)
	if id, err := a.Password(guesser, "alice", "correct horse"); err != nil || id.UserID != "alice" {
		t.Fatalf("after 10 s: %+v, %v, want alice", id, err)
	}
}

// TestSuccessesAreFree checks that many logins from one address (an office
// behind NAT) are never limited when they succeed.
func TestSuccessesAreFree(t *testing.T) {
	cfg := testConfig(t)
	a, _ := newAuth(t, cfg, WithLimiter(NewLimiter(rate.Every(time.Hour), 2, 100)))
	for i := range 20 {
		if _, err := a.Password(client, "bob", "battery staple"); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

// TestTokenFailuresCount checks that bad tokens spend the same allowance.
func TestTokenFailuresCount(t *testing.T) {
	cfg := testConfig(t)
	a, _ := newAuth(t, cfg, WithLimiter(NewLimiter(rate.Every(time.Hour), 2, 100)))
	for range 2 {
		if _, err := a.Token(client, "x.y.z"); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("bad token: %v", err)
		}
	}
	if _, err := a.Password(client, "bob", "battery staple"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("after two bad tokens: %v, want ErrRateLimited", err)
	}
}

func TestLimiterKeys(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		sameSlot bool
	}{
		{"same IPv4", "198.51.100.1", "198.51.100.1", true},
		{"neighbour IPv4", "198.51.100.1", "198.51.100.2", false},
		{"IPv4-mapped IPv6", "198.51.100.1", "::ffff:198.51.100.1", true},
		{"same IPv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true},
		{"other IPv6 /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"zone ignored", "fe80::1%eth0", "fe80::1%eth1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(rate.Every(time.Hour), 1, 100)
			l.Failed(netip.MustParseAddr(tt.a), epoch)
			if got := !l.Allowed(netip.MustParseAddr(tt.b), epoch); got != tt.sameSlot {
				t.Fatalf("%s blocked after a failure of %s: %v, want %v", tt.b, tt.a, got, tt.sameSlot)
			}
		})
	}
}

// TestLimiterBounded floods the limiter from many addresses and checks that
// its table stays bounded, that addresses beyond it share one bucket, and
// that refilled addresses are forgotten.
func TestLimiterBounded(t *testing.T) {
	l := NewLimiter(rate.Every(time.Second), 2, 8)
	now := epoch
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	for i := range 8 {
		l.Failed(addr(i), now)
	}
	if l.Len() != 8 {
		t.Fatalf("Len = %d, want 8", l.Len())
	}
	// The table is full of fresh failures: newcomers share the overflow
	// bucket (burst 2), so the third newcomer's failure blocks a fourth.
	for i := 8; i < 10; i++ {
		if !l.Allowed(addr(i), now) {
			t.Fatalf("newcomer %d refused before any failure", i)
		}
		l.Failed(addr(i), now)
	}
	if l.Allowed(addr(11), now) {
		t.Fatal("overflow bucket not shared by addresses beyond the table")
	}
	if l.Len() != 8 {
		t.Fatalf("Len = %d, want 8 after the flood", l.Len())
	}
	// Once the buckets have refilled (2 s), the next newcomer sweeps them.
	now = now.Add(3 * time.Second)
	l.Failed(addr(12), now)
	if l.Len() != 1 {
		t.Fatalf("Len = %d after the sweep, want 1", l.Len())
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(rate.Every(time.Minute), 5, 64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				a := netip.AddrFrom4([4]byte{10, 1, byte(g), byte(i)})
				l.Failed(a, epoch)
				l.Allowed(a, epoch)
			}
		})
	}
	wg.Wait()
	if l.Len() > 64 {
		t.Fatalf("Len = %d, want at most 64", l.Len())
	}
}

func BenchmarkLimiterAllowed(b *testing.B) {
	l := NewLimiter(DefaultFailureRate, DefaultFailureBurst, DefaultLimiterSize)
	a := netip.MustParseAddr("2001:db8::1")
	l.Failed(a, epoch)
	b.ReportAllocs()
	for b.Loop() {
		l.Allowed(a, epoch)
	}
}

// TestPasswordConcurrent logs in from many goroutines and addresses at
// once, right and wrong, through the bounded bcrypt slots: every call
// returns its own result and no slot is lost.
func TestPasswordConcurrent(t *testing.T) {
	cfg := testConfig(t)
	a, _ := newAuth(t, cfg, append(unlimited(), WithBcryptQueue(2, 1, 64, time.Minute))...)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			user, password, want := "alice", "correct horse", error(nil)
			if i%2 == 1 {
				user, password, want = "bob", "wrong", ErrBadCredentials
			}
			// Each goroutine is its own address and retries while another
			// check of the same user is in flight.
			remote := netip.AddrFrom4([4]byte{10, 9, 0, byte(i)})
			for {
				_, err := a.Password(remote, user, password)
				if errors.Is(err, ErrTryLater) {
					time.Sleep(time.Millisecond)

					continue
				}
				if !errors.Is(err, want) {
					errs <- err
				}

				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent login: %v", err)
	}
	if q := a.gate.queued(); q != 0 || a.gate.free != 2 || a.gate.reserved != 1 {
		t.Fatalf("gate: %d waiting, %d+%d slots free, want 0 and 2+1", q, a.gate.free, a.gate.reserved)
	}
}
