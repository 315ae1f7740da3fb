package gateway

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/gateway/cdr"
	"github.com/webtrunk/webtrunk/gateway/signaling"
)

// Errors of the admin API's actions.
var (
	// errHungUpByOperator is the cause of a call an operator ended.
	errHungUpByOperator = errors.New("gateway: hung up by an operator")
	// errAdminDisconnect closes a connection an operator disconnected.
	errAdminDisconnect = errors.New("gateway: disconnected by an operator")
)

// errAdminHangup ends a call an operator hung up through the admin API.
var errAdminHangup = &endError{Reason: signaling.ReasonAdminHangup, Err: errHungUpByOperator}

// errUserLocked refuses the login or dial of a locked user.
var errUserLocked = &callError{Code: signaling.CodeUserLocked, Msg: "this user is locked"}

// adminAPI adds the admin API's endpoints (docs/admin-api.yaml) to mux.
func (g *Gateway) adminAPI(mux *http.ServeMux) {
	p := config.AdminPathPrefix
	mux.HandleFunc("GET "+p+"calls", g.apiListCalls)
	mux.HandleFunc("DELETE "+p+"calls/{id}", g.apiHangup)
	mux.HandleFunc("POST "+p+"users/{user}/disconnect", g.apiDisconnect)
	mux.HandleFunc("PUT "+p+"users/{user}/lock", g.apiLock)
	mux.HandleFunc("DELETE "+p+"users/{user}/lock", g.apiUnlock)
	mux.HandleFunc("GET "+p+"users/locked", g.apiLocked)
	mux.HandleFunc("GET "+p+"trunks", g.apiTrunks)
	mux.HandleFunc("GET "+p+"extensions", g.apiExtensions)
	mux.HandleFunc("POST "+p+"reload", g.apiReload)
	mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Detail: "no such endpoint"})
	})
}

// apiCall is one live call in GET /v1/calls.
type apiCall struct {
	ID          string    `json:"id"`
	SIPCallID   string    `json:"sip_call_id,omitempty"`
	Direction   string    `json:"direction"`
	State       string    `json:"state"`
	User        string    `json:"user"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Trunk       string    `json:"trunk"`
	Start       cdr.Time  `json:"start"`
	Answer      cdr.Time  `json:"answer"`
	Seconds     float64   `json:"seconds"`
	Uplink      cdr.Media `json:"uplink"`
	Downlink    cdr.Media `json:"downlink"`
	BrowserAddr string    `json:"browser_addr,omitempty"`
	// TrunkQuality is what the trunk's RTCP reports said of the uplink.
	TrunkQuality *cdr.TrunkQuality `json:"trunk_quality,omitempty"`
}

// Call states of the admin API.
const (
	apiStateRinging   = "ringing"
	apiStateSetup     = "setup"
	apiStateConnected = "connected"
)

// view describes a session for the admin API.
func (s *session) view(now time.Time) apiCall {
	up, down, trunkQuality := s.mediaRecords()
	s.mu.Lock()
	answered, sipCallID := s.answeredAt, s.sipCallID
	s.mu.Unlock()
	state := apiStateSetup
	if callState(s.state.Load()) == stateConnected {
		state = apiStateConnected
	}
	c := apiCall{
		ID: s.id, SIPCallID: sipCallID, Direction: s.dir, State: state, User: s.user.UserID,
		From: s.from, To: s.to, Trunk: s.trunk, Start: cdr.At(s.epoch), Answer: cdr.At(answered),
		Seconds:      now.Sub(s.epoch).Round(time.Millisecond).Seconds(),
		Uplink:       up,
		Downlink:     down,
		TrunkQuality: trunkQuality,
	}
	if s.conn != nil && s.conn.remote.IsValid() {
		c.BrowserAddr = s.conn.remote.String()
	}

	return c
}

// view describes a ringing inbound call for the admin API.
func (in *inboundCall) view(now time.Time) apiCall {
	return apiCall{
		ID: in.id, SIPCallID: in.ic.CallID(), Direction: directionInbound, State: apiStateRinging, User: in.user,
		From: in.ic.From(), To: in.ic.To(), Trunk: in.ic.Trunk(), Start: cdr.At(in.start),
		Seconds: now.Sub(in.start).Round(time.Millisecond).Seconds(),
	}
}

// snapshot returns the running sessions and ringing inbound calls.
func (s *sessionSet) snapshot() ([]*session, []*inboundCall) {
	s.mu.Lock()
	defer s.mu.Unlock()

	return slices.Collect(maps.Keys(s.sessions)), slices.Collect(maps.Keys(s.ringing))
}

// apiListCalls answers GET /v1/calls: every live call, oldest first,
// optionally only those of ?user=.
func (g *Gateway) apiListCalls(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	now := time.Now()
	sessions, ringing := g.sessions.snapshot()
	calls := make([]apiCall, 0, len(sessions)+len(ringing))
	for _, s := range sessions {
		if user == "" || s.user.UserID == user {
			calls = append(calls, s.view(now))
		}
	}
	for _, in := range ringing {
		if user == "" || in.user == user {
			calls = append(calls, in.view(now))
		}
	}
	slices.SortFunc(calls, func(a, b apiCall) int { return a.Start.Compare(b.Start.Time) })
	writeJSON(w, http.StatusOK, struct {
		Calls []apiCall `json:"calls"`
	}{calls})
}

// apiHangup answers DELETE /v1/calls/{id}[?user=]: the call ends with
// reason admin_hangup (BYE or CANCEL to the trunk, 603 to a ringing
// inbound INVITE, hangup to the browsers). Call ids are chosen by
// browsers, so two users' calls may share one: then ?user= must say
// whose (409 otherwise).
func (g *Gateway) apiHangup(w http.ResponseWriter, r *http.Request) {
	id, user := r.PathValue("id"), r.URL.Query().Get("user")
	sessions, ringing := g.sessions.snapshot()
	var ends []func()
	var owners []string
	for _, s := range sessions {
		if s.id == id && (user == "" || s.user.UserID == user) {
			ends = append(ends, func() { s.end(errAdminHangup) })
			owners = append(owners, s.user.UserID)
		}
	}
	for _, in := range ringing {
		if in.id == id && (user == "" || in.user == user) {
			ends = append(ends, func() { in.finish(errAdminHangup, 603, "Decline") })
			owners = append(owners, in.user)
		}
	}
	switch len(ends) {
	case 0:
		writeJSON(w, http.StatusNotFound, apiError{Error: "not_found", Detail: "no live call " + id})
	case 1:
		g.log.Info("admin: call hung up", "call_id", id, "user", owners[0], "source", r.RemoteAddr)
		ends[0]()
		writeJSON(w, http.StatusOK, struct {
			HungUp string `json:"hung_up"`
			User   string `json:"user"`
		}{id, owners[0]})
	default:
		writeJSON(w, http.StatusConflict, apiError{Error: "ambiguous",
			Detail: "calls of several users have this id (" + strings.Join(owners, ", ") + "); add ?user="})
	}
}

// disconnectUser ends every call of user with admin_hangup, waits (at
// most hangupTimeout and a second) until they have told the browser, and
// closes its WebSockets (status 1008 with reason; the calls still ringing
// them are withdrawn as for any closed connection); it returns how many
// connections it closed.
func (g *Gateway) disconnectUser(user, why string) int {
	sessions, _ := g.sessions.snapshot()
	var ending []*session
	for _, s := range sessions {
		if s.user.UserID == user {
			s.end(errAdminHangup)
			ending = append(ending, s)
		}
	}
	g.waitEnded(ending, hangupTimeout+time.Second)
	conns := g.hub.conns(user)
	for _, c := range conns {
		c.finish(websocket.StatusPolicyViolation, why, errAdminDisconnect)
	}

	return len(conns)
}

// apiDisconnect answers POST /v1/users/{user}/disconnect.
func (g *Gateway) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	n := g.disconnectUser(user, "disconnected by an operator")
	g.log.Info("admin: user disconnected", "user", user, "connections", n, "source", r.RemoteAddr)
	writeJSON(w, http.StatusOK, struct {
		User        string `json:"user"`
		Connections int    `json:"connections"`
	}{user, n})
}

// apiLock answers PUT /v1/users/{user}/lock: the user's calls end, its
// connections close, and its logins and dials are refused with
// user_locked until unlocked (a lock lasts until the process ends and
// survives reloads).
func (g *Gateway) apiLock(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	g.locks.set(user, true)
	n := g.disconnectUser(user, "locked by an operator")
	g.log.Info("admin: user locked", "user", user, "connections", n, "source", r.RemoteAddr)
	writeJSON(w, http.StatusOK, struct {
		User        string `json:"user"`
		Locked      bool   `json:"locked"`
		Connections int    `json:"connections"`
	}{user, true, n})
}

// apiUnlock answers DELETE /v1/users/{user}/lock.
func (g *Gateway) apiUnlock(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	was := g.locks.set(user, false)
	g.log.Info("admin: user unlocked", "user", user, "was_locked", was, "source", r.RemoteAddr)
	writeJSON(w, http.StatusOK, struct {
		User   string `json:"user"`
		Locked bool   `json:"locked"`
	}{user, false})
}

// apiLocked answers GET /v1/users/locked.
func (g *Gateway) apiLocked(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Users []string `json:"users"`
	}{g.locks.list()})
}

// apiTrunk is one trunk in GET /v1/trunks.
type apiTrunk struct {
	Name       string `json:"name"`
	Host       string `json:"host"`
	Port       int    `json:"port"`
	Transport  string `json:"transport"`
	Calls      int    `json:"calls"`
	Registers  bool   `json:"registers"`
	Registered bool   `json:"registered"`
	// Registration details, for a trunk that registers.
	Status    string   `json:"status,omitempty"`
	LastCode  int      `json:"last_code,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	Expires   cdr.Time `json:"expires,omitzero"`
	Failures  int      `json:"failures,omitempty"`
}

// apiTrunks answers GET /v1/trunks: each configured trunk with its calls
// in progress and its registration.
func (g *Gateway) apiTrunks(w http.ResponseWriter, _ *http.Request) {
	sessions, ringing := g.sessions.snapshot()
	calls := map[string]int{}
	for _, s := range sessions {
		calls[s.trunk]++
	}
	for _, in := range ringing {
		calls[in.ic.Trunk()]++
	}
	regs := g.ua.RegistrationStates()
	cfg := g.policy().cfg
	trunks := make([]apiTrunk, 0, len(cfg.Trunks))
	for i := range cfg.Trunks {
		t := &cfg.Trunks[i]
		at := apiTrunk{Name: t.Name, Host: t.Host, Port: t.Port, Transport: string(t.Transport), Calls: calls[t.Name],
			Registers: t.Register.Enabled}
		for _, st := range regs {
			if st.Trunk == t.Name {
				at.Registered, at.Status, at.LastCode, at.LastError = st.Registered, string(st.Status), st.LastCode, st.LastError
				at.Expires, at.Failures = cdr.At(st.Expires), st.Failures
			}
		}
		trunks = append(trunks, at)
	}
	writeJSON(w, http.StatusOK, struct {
		Trunks []apiTrunk `json:"trunks"`
	}{trunks})
}

// userLocks is the set of users an operator locked.
type userLocks struct {
	mu    sync.Mutex
	users map[string]struct{}
}

// set locks or unlocks user and reports whether it was locked.
func (l *userLocks) set(user string, locked bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, was := l.users[user]
	if locked {
		if l.users == nil {
			l.users = make(map[string]struct{})
		}
		l.users[user] = struct{}{}
	} else {
		delete(l.users, user)
	}

	return was
}

// locked reports whether user is locked.
func (l *userLocks) locked(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.users[user]

	return ok
}

// list returns the locked users, sorted.
func (l *userLocks) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.users))
	for u := range l.users {
		out = append(out, u)
	}
	slices.Sort(out)

	return out
}

// waitEnded waits until none of sessions is running any more, at most
// limit.
func (g *Gateway) waitEnded(sessions []*session, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for len(sessions) > 0 && time.Now().Before(deadline) {
		running, _ := g.sessions.snapshot()
		sessions = slices.DeleteFunc(sessions, func(s *session) bool { return !slices.Contains(running, s) })
		if len(sessions) > 0 {
			time.Sleep(drainPoll / 10)
		}
	}
}
