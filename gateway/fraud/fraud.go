// Package fraud counts what a user's calls are held against, so that a
// stolen password cannot run up a carrier bill: calls started per minute,
// calls in progress, answered minutes per day (UTC), and calls per
// destination prefix (premium or international ranges), in progress and
// per day.
//
// The counting is behind the Counter interface: Memory keeps the counts
// of one process; a shared implementation (Redis, say) lets several
// gateways hold one user to one set of limits.
package fraud

import (
	"strings"
	"sync"
	"time"
)

// Limits are one user's limits; a zero field is no limit.
type Limits struct {
	// CallsPerMinute caps the calls started in any 60 s.
	CallsPerMinute int
	// ConcurrentCalls caps the calls in progress.
	ConcurrentCalls int
	// MaxCallDuration ends a call this long after its answer.
	MaxCallDuration time.Duration
	// DailyMinutes caps the answered time of the user's calls per UTC day;
	// a call that would pass it is ended when the day's minutes are used.
	DailyMinutes int
	// Prefixes cap calls to numbers starting with a prefix.
	Prefixes []PrefixCap
}

// PrefixCap caps a user's calls to numbers starting with Prefix (E.164,
// "+1900"); a zero field is no limit.
type PrefixCap struct {
	Prefix string
	// MaxConcurrent caps the calls in progress to the prefix.
	MaxConcurrent int
	// MaxPerDay caps the calls started to the prefix per UTC day.
	MaxPerDay int
}

// Refusal names the limit that refused a call; None allows it.
type Refusal string

// Refusals.
const (
	None            Refusal = ""
	CallsPerMinute  Refusal = "calls_per_minute"
	ConcurrentCalls Refusal = "concurrent_calls"
	DailyMinutes    Refusal = "daily_minutes"
	Prefix          Refusal = "prefix"
	// Unavailable: a shared Counter could not reach its store and is
	// configured to fail closed (Redis.Begin).
	Unavailable Refusal = "unavailable"
)

// Ticket is one counted call, handed back to End.
type Ticket struct {
	// User is the user the call counts for.
	User string
	// Prefixes are the capped prefixes the number matched.
	Prefixes []string
	// Remaining is what is left of the user's daily minutes when the call
	// started; 0 when DailyMinutes is not set.
	Remaining time.Duration
	// ID names the call in a shared Counter's counts (Redis); empty for
	// Memory.
	ID string
	// Local reports that a shared Counter counted the call in process
	// because its store could not be reached (fail open); End gives it
	// back there.
	Local bool
}

// Counter holds users' calls against their limits. Implementations are
// safe for concurrent use.
type Counter interface {
	// Begin checks a new call of user to number (E.164) at now against
	// lim: when every limit allows it, it is counted (a start in the
	// minute, a call in progress, a call to each matching prefix) and its
	// ticket returned with None; otherwise nothing is counted and the
	// first limit that refused it is returned.
	Begin(user, number string, lim Limits, now time.Time) (Ticket, Refusal)
	// End gives back the call's place in progress and adds its answered
	// time to the user's minutes of now's UTC day.
	End(t Ticket, answered time.Duration, now time.Time)
}

// Memory is a Counter of one process. Its counts live as long as the
// value, across configuration reloads. The zero Memory is ready.
type Memory struct {
	mu    sync.Mutex
	users map[string]*userCount
	// day is the UTC day of the last Begin; when it turns, users with no
	// call in progress are forgotten, so that the map holds only users
	// who called today or are still on a call.
	day string
}

// userCount is one user's counts.
type userCount struct {
	starts   []time.Time // starts in the last minute, oldest first
	inFlight int
	day      string // the UTC day of used and prefixDay
	used     time.Duration
	prefixIn map[string]int // calls in progress per prefix
	prefixes map[string]int // calls started today per prefix
}

// dayOf is the UTC day of t.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// user returns user's counts, with the day rolled over to now's.
func (m *Memory) user(user string, now time.Time) *userCount {
	if m.users == nil {
		m.users = make(map[string]*userCount)
	}
	u := m.users[user]
	if u == nil {
		u = &userCount{prefixIn: map[string]int{}, prefixes: map[string]int{}}
		m.users[user] = u
	}
	if d := dayOf(now); u.day != d {
		u.day, u.used = d, 0
		clear(u.prefixes)
	}
	cut := 0
	for cut < len(u.starts) && now.Sub(u.starts[cut]) >= time.Minute {
		cut++
	}
	u.starts = u.starts[cut:]

	return u
}

// Begin implements Counter.
func (m *Memory) Begin(user, number string, lim Limits, now time.Time) (Ticket, Refusal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := dayOf(now); d != m.day {
		m.day = d
		for k, u := range m.users {
			if u.inFlight == 0 && u.day != d {
				delete(m.users, k)
			}
		}
	}
	u := m.user(user, now)
	switch {
	case lim.CallsPerMinute > 0 && len(u.starts) >= lim.CallsPerMinute:
		return Ticket{}, CallsPerMinute
	case lim.ConcurrentCalls > 0 && u.inFlight >= lim.ConcurrentCalls:
		return Ticket{}, ConcurrentCalls
	case lim.DailyMinutes > 0 && u.used >= time.Duration(lim.DailyMinutes)*time.Minute:
		return Ticket{}, DailyMinutes
	}
	t := Ticket{User: user}
	for _, p := range lim.Prefixes {
		if !strings.HasPrefix(number, p.Prefix) {
			continue
		}
		if (p.MaxConcurrent > 0 && u.prefixIn[p.Prefix] >= p.MaxConcurrent) ||
			(p.MaxPerDay > 0 && u.prefixes[p.Prefix] >= p.MaxPerDay) {
			return Ticket{}, Prefix
		}
		t.Prefixes = append(t.Prefixes, p.Prefix)
	}
	u.starts = append(u.starts, now)
	u.inFlight++
	for _, p := range t.Prefixes {
		u.prefixIn[p]++
		u.prefixes[p]++
	}
	if lim.DailyMinutes > 0 {
		t.Remaining = time.Duration(lim.DailyMinutes)*time.Minute - u.used
	}

	return t, None
}

// End implements Counter.
func (m *Memory) End(t Ticket, answered time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.user(t.User, now)
	u.inFlight = max(u.inFlight-1, 0)
	for _, p := range t.Prefixes {
		if u.prefixIn[p] <= 1 {
			delete(u.prefixIn, p)
		} else {
			u.prefixIn[p]--
		}
	}
	u.used += max(answered, 0)
}
