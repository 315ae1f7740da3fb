package gateway

import (
	"maps"
	"slices"
	"sync"
)

// hub knows the authenticated signaling connections of every user (the
// browsers an inbound call rings) and counts each user's calls against its
// limit, across all its connections, inbound and outbound.
type hub struct {
	mu    sync.Mutex
	users map[string]map[*wsConn]struct{}
	calls map[string]int
	all   map[*wsConn]struct{}
	// presence, when set, is told of each authenticated connection that
	// arrives (true) or leaves (false), under mu: it must not call the hub.
	presence func(user string, arrived bool)
}

func newHub() *hub {
	return &hub{
		users: make(map[string]map[*wsConn]struct{}),
		calls: make(map[string]int),
		all:   make(map[*wsConn]struct{}),
	}
}

// track registers a connection (authenticated or not) for shutdown.
func (h *hub) track(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all[c] = struct{}{}
}

// login records that c is authenticated as user, unless user already has
// limit connections: then it returns false and records nothing.
func (h *hub) login(c *wsConn, user string, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[user]
	if len(set) >= limit {
		return false
	}
	if set == nil {
		set = make(map[*wsConn]struct{})
		h.users[user] = set
	}
	set[c] = struct{}{}
	if h.presence != nil {
		h.presence(user, true)
	}

	return true
}

// forget removes a closed connection.
func (h *hub) forget(c *wsConn, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, c)
	h.dropUserLocked(c, user)
}

// conns returns the authenticated connections of user.
func (h *hub) conns(user string) []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()

	return slices.Collect(maps.Keys(h.users[user]))
}

// connections returns every connection.
func (h *hub) connections() []*wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*wsConn, 0, len(h.all))
	for c := range h.all {
		out = append(out, c)
	}

	return out
}

// reserve counts one more call for user unless it already has limit calls
// (0: unlimited); it reports whether the call may proceed.
func (h *hub) reserve(user string, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if limit > 0 && h.calls[user] >= limit {
		return false
	}
	h.calls[user]++

	return true
}

// atLimit reports whether user has limit calls (0: unlimited).
func (h *hub) atLimit(user string, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()

	return limit > 0 && h.calls[user] >= limit
}

// release counts one call of user less.
func (h *hub) release(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calls[user] <= 1 {
		delete(h.calls, user)

		return
	}
	h.calls[user]--
}

// sessionSet tracks the gateway's running sessions and ringing inbound
// calls, for draining and shutdown.
type sessionSet struct {
	mu       sync.Mutex
	sessions map[*session]struct{}
	ringing  map[*inboundCall]struct{}
}

func newSessionSet() *sessionSet {
	return &sessionSet{sessions: make(map[*session]struct{}), ringing: make(map[*inboundCall]struct{})}
}

func (s *sessionSet) add(x *session)               { setMember(&s.mu, s.sessions, x, true) }
func (s *sessionSet) remove(x *session)            { setMember(&s.mu, s.sessions, x, false) }
func (s *sessionSet) addRinging(x *inboundCall)    { setMember(&s.mu, s.ringing, x, true) }
func (s *sessionSet) removeRinging(x *inboundCall) { setMember(&s.mu, s.ringing, x, false) }

// setMember adds x to set, or removes it when in is false, under mu.
func setMember[K comparable](mu *sync.Mutex, set map[K]struct{}, x K, in bool) {
	mu.Lock()
	defer mu.Unlock()
	if in {
		set[x] = struct{}{}
	} else {
		delete(set, x)
	}
}

// len returns how many calls are in progress (ringing included).
func (s *sessionSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()

	return len(s.sessions) + len(s.ringing)
}

// forgetUser removes c from user's connections that inbound calls ring,
// keeping it tracked for shutdown; the user's presence counts it gone (a
// SIP over WebSocket client that unregistered is no longer one of the
// user's browsers for its extension).
func (h *hub) forgetUser(c *wsConn, user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropUserLocked(c, user)
}

// dropUserLocked removes c from user's connections, telling presence when
// c was one of them; h.mu is held.
func (h *hub) dropUserLocked(c *wsConn, user string) {
	if set := h.users[user]; set != nil {
		if _, ok := set[c]; ok && h.presence != nil {
			h.presence(user, false)
		}
		delete(set, c)
		if len(set) == 0 {
			delete(h.users, user)
		}
	}
}
