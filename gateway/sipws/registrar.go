package sipws

import (
	"errors"
	"sync"
	"time"
)

// binding is one registered contact of a user (RFC 3261 section 10.3),
// reachable only over the connection it registered on (RFC 7118 section
// 5).
type binding struct {
	user    string
	contact string // the Contact URI as the client sent it
	conn    *conn
	expires time.Time
	timer   *time.Timer
}

// registrar holds the bindings of every user, bounded per user.
type registrar struct {
	max     int
	metrics *Metrics

	mu    sync.Mutex
	users map[string][]*binding
}

func newRegistrar(maxPerUser int, m *Metrics) *registrar {
	return &registrar{max: maxPerUser, metrics: m, users: make(map[string][]*binding)}
}

// errTooManyBindings refuses a REGISTER beyond the user's limit.
var errTooManyBindings = errors.New("sipws: too many registrations for the user")

// update adds or refreshes user's contact on c for ttl (0 removes it).
func (r *registrar) update(c *conn, user, contact string, ttl time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.users[user]
	for i, b := range list {
		if b.conn == c && b.contact == contact {
			b.timer.Stop()
			if ttl == 0 {
				r.removeLocked(user, i)

				return nil
			}
			b.expires = time.Now().Add(ttl)
			b.timer = time.AfterFunc(ttl, func() { r.expire(b) })

			return nil
		}
	}
	if ttl == 0 {
		return nil
	}
	if len(list) >= r.max {
		return errTooManyBindings
	}
	b := &binding{user: user, contact: contact, conn: c, expires: time.Now().Add(ttl)}
	b.timer = time.AfterFunc(ttl, func() { r.expire(b) })
	r.users[user] = append(list, b)
	r.metrics.Registrations.Inc()

	return nil
}

// removeLocked removes the i-th binding of user.
func (r *registrar) removeLocked(user string, i int) {
	list := r.users[user]
	list[i].timer.Stop()
	list = append(list[:i], list[i+1:]...)
	if len(list) == 0 {
		delete(r.users, user)
	} else {
		r.users[user] = list
	}
	r.metrics.Registrations.Dec()
}

// expire removes b when its registration runs out and tells its
// connection.
func (r *registrar) expire(b *binding) {
	r.mu.Lock()
	found := false
	for i, x := range r.users[b.user] {
		if x == b {
			r.removeLocked(b.user, i)
			found = true

			break
		}
	}
	r.mu.Unlock()
	if found {
		b.conn.bindingsChanged(b.user)
	}
}

// removeConn removes every binding of connection c, or of c and user
// when user is not empty (Contact "*", RFC 3261 section 10.2.2).
func (r *registrar) removeConn(c *conn, user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u, list := range r.users {
		if user != "" && u != user {
			continue
		}
		for i := len(list) - 1; i >= 0; i-- {
			if list[i].conn == c {
				r.removeLocked(u, i)
				list = r.users[u]
			}
		}
	}
}

// contacts returns user's bindings on c, newest last, with the seconds
// each has left.
func (r *registrar) contacts(c *conn, user string) []boundContact {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []boundContact
	now := time.Now()
	for _, b := range r.users[user] {
		if c == nil || b.conn == c {
			out = append(out, boundContact{uri: b.contact, left: max(0, int(b.expires.Sub(now).Seconds()+0.5))})
		}
	}

	return out
}

// boundContact is a contact and the seconds its binding has left.
type boundContact struct {
	uri  string
	left int
}
