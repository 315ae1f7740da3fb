package fraud

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/redistest"
)

// newTestRedis returns a Redis counter on url with its own key prefix and
// a 300 ms timeout, closed at cleanup, and the errors it reported.
func newTestRedis(t *testing.T, url, prefix string, failClosed bool) (*Redis, *errorLog) {
	t.Helper()

	return newTestRedisTimeout(t, url, prefix, failClosed, 300*time.Millisecond)
}

// newTestRedisTimeout is newTestRedis with another timeout.
func newTestRedisTimeout(t *testing.T, url, prefix string, failClosed bool, timeout time.Duration) (*Redis, *errorLog) {
	t.Helper()
	errs := &errorLog{}
	r, err := NewRedis(RedisConfig{
		URL: url, KeyPrefix: prefix, FailClosed: failClosed, Timeout: timeout,
		OnError: errs.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	return r, errs
}

// errorLog keeps the operations a counter reported as failed.
type errorLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *errorLog) add(op string, err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()

	return len(l.ops)
}

// TestRedisLimits runs the limits cases of Memory against a real Redis:
// the shared counter refuses and frees exactly as the one of a process.
func TestRedisLimits(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	testLimits(t, func(t *testing.T) Counter {
		t.Helper()
		n++
		r, errs := newTestRedis(t, srv.URL(), "case"+strconv.Itoa(n)+":", false)
		t.Cleanup(func() {
			if errs.count() != 0 || !r.Up() {
				t.Errorf("%d redis errors", errs.count())
			}
		})

		return r
	})
	r, _ := newTestRedis(t, srv.URL(), "remaining:", false)
	day := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tk, _ := r.Begin("bob", "+1555", Limits{DailyMinutes: 30}, day)
	r.End(tk, 12*time.Minute+500*time.Millisecond, day.Add(time.Minute))
	tk, _ = r.Begin("bob", "+1555", Limits{DailyMinutes: 30}, day.Add(2*time.Minute))
	if want := 17*time.Minute + 59500*time.Millisecond; tk.Remaining != want || tk.Local || tk.ID == "" {
		t.Errorf("ticket %+v, want %v remaining, shared", tk, want)
	}
}

// TestRedisShared: two gateways' counters on one Redis hold a user to one
// set of limits, also when both begin calls at the same moment.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	// Twenty connections are dialled at once: on a busy machine that may
	// take longer than the 300 ms of the other tests, which would count
	// calls in process (fail open) rather than in Redis.
	a, aErrs := newTestRedisTimeout(t, srv.URL(), "shared:", true, 10*time.Second)
	b, bErrs := newTestRedisTimeout(t, srv.URL(), "shared:", true, 10*time.Second)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	lim := Limits{ConcurrentCalls: 3}
	results := make(chan Refusal, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		c := a
		if i%2 == 1 {
			c = b
		}
		wg.Go(func() {
			_, ref := c.Begin("alice", "+1555", lim, now)
			results <- ref
		})
	}
	wg.Wait()
	close(results)
	allowed := 0
	for ref := range results {
		switch ref {
		case None:
			allowed++
		case ConcurrentCalls:
		default:
			t.Errorf("refusal %q", ref)
		}
	}
	if allowed != 3 || aErrs.count()+bErrs.count() != 0 {
		t.Fatalf("%d calls allowed at once across two gateways (%d redis errors), want 3", allowed, aErrs.count()+bErrs.count())
	}
	// Another prefix (another cluster) counts apart.
	c, _ := newTestRedis(t, srv.URL(), "other:", false)
	if _, ref := c.Begin("alice", "+1555", lim, now); ref != None {
		t.Errorf("other key prefix: %q, want allowed", ref)
	}
}

// TestRedisOutage kills Redis between calls: a fail-open counter counts
// in its process alone (and frees those calls there), a fail-closed one
// refuses with Unavailable; both report each failure, say they are down,
// answer within their timeout, and share again once Redis is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	open, openErrs := newTestRedis(t, srv.URL(), "o:", false)
	closed, closedErrs := newTestRedis(t, srv.URL(), "o:", true)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	lim := Limits{ConcurrentCalls: 1}
	shared, ref := open.Begin("alice", "+1555", lim, now)
	if ref != None || shared.Local {
		t.Fatalf("before the outage: %q local=%v", ref, shared.Local)
	}
	if _, ref := closed.Begin("alice", "+1555", lim, now); ref != ConcurrentCalls {
		t.Fatalf("second call across counters: %q, want %q", ref, ConcurrentCalls)
	}

	srv.Kill()
	start := time.Now()
	local, ref := open.Begin("alice", "+1555", lim, now)
	if ref != None || !local.Local {
		t.Fatalf("fail open during the outage: %q local=%v, want a local ticket", ref, local.Local)
	}
	if _, ref := open.Begin("alice", "+1555", lim, now); ref != ConcurrentCalls {
		t.Errorf("fail open still counts in process: %q, want %q", ref, ConcurrentCalls)
	}
	open.End(local, time.Minute, now)
	if tk, ref := open.Begin("alice", "+1555", lim, now); ref != None || !tk.Local {
		t.Errorf("after the local call ended: %q, want a local ticket", ref)
	}
	if _, ref := closed.Begin("bob", "+1555", Limits{}, now); ref != Unavailable {
		t.Errorf("fail closed during the outage: %q, want %q", ref, Unavailable)
	}
	open.End(shared, time.Minute, now) // lost: the lease frees it
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("five operations against a dead Redis took %v", took)
	}
	if open.Up() || closed.Up() || openErrs.count() != 4 || closedErrs.count() != 1 {
		t.Errorf("up %v/%v, errors %d/%d, want down, 4 and 1", open.Up(), closed.Up(), openErrs.count(), closedErrs.count())
	}

	srv.Start() // empty: what was counted is gone
	if tk, ref := closed.Begin("alice", "+1555", lim, now); ref != None || tk.Local || !closed.Up() {
		t.Errorf("after the outage: %q local=%v up=%v", ref, tk.Local, closed.Up())
	}
	if _, ref := open.Begin("alice", "+1555", lim, now); ref != ConcurrentCalls || !open.Up() {
		t.Errorf("after the outage the counts are shared again: %q, want %q", ref, ConcurrentCalls)
	}
}

// TestRedisHung: a server that accepts connections and never answers
// costs a call at most about the timeout.
func TestRedisHung(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	r, errs := newTestRedis(t, "redis://"+ln.Addr().String(), "", true)
	start := time.Now()
	if _, ref := r.Begin("alice", "+1555", Limits{}, start); ref != Unavailable {
		t.Errorf("hung redis, fail closed: %q", ref)
	}
	if took := time.Since(start); took > 2*time.Second || errs.count() != 1 {
		t.Errorf("took %v with %d errors, want about 300ms and 1", took, errs.count())
	}
}

// TestNewRedisBadURL: a URL go-redis cannot parse is ErrRedisURL.
func TestNewRedisBadURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:6379", "redis://127.0.0.1:6379/notadb", ""} {
		if _, err := NewRedis(RedisConfig{URL: u}); !errors.Is(err, ErrRedisURL) {
			t.Errorf("%q: %v, want ErrRedisURL", u, err)
		}
	}
}

// BenchmarkBeginEnd times one call's Begin and End (every limit set, one
// capped prefix) with the counter of one process and with Redis on
// loopback: the cost a dial pays for shared limits.
func BenchmarkBeginEnd(b *testing.B) {
	srv := redistest.Start(b)
	r, err := NewRedis(RedisConfig{URL: srv.URL(), Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close() })
	lim := Limits{CallsPerMinute: 1 << 30, ConcurrentCalls: 10, DailyMinutes: 1 << 20,
		Prefixes: []PrefixCap{{Prefix: "+1555", MaxConcurrent: 10, MaxPerDay: 1 << 30}}}
	for _, c := range []struct {
		name    string
		counter Counter
	}{{"memory", &Memory{}}, {"redis", r}} {
		b.Run(c.name, func(b *testing.B) {
			now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
			for b.Loop() {
				tk, ref := c.counter.Begin("alice", "+15550123", lim, now)
				if ref != None || tk.Local {
					b.Fatalf("refused %q local=%v", ref, tk.Local)
				}
				c.counter.End(tk, time.Second, now)
				now = now.Add(time.Minute) // the starts of the minute stay few
			}
		})
	}
}
