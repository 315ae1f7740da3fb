package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/sip"
)

// maxRetryAfterHold bounds how long one 503 with Retry-After keeps a trunk
// out of outbound routing.
const maxRetryAfterHold = time.Hour

// Defaults of config.TrunkHealth counts left at 0 by a configuration built
// in code.
const (
	defaultDownAfter = 3
	defaultUpAfter   = 2
)

// TrunkState is one trunk's availability for outbound calls, as the
// gateway sees it now: for /readyz, the metrics and an administrator.
type TrunkState struct {
	// Name is the trunk's configured name.
	Name string
	// Available is true when outbound rules may send calls to the trunk:
	// its probes pass (or it is not probed), no Retry-After holds it, and
	// it is registered when it registers.
	Available bool
	// Probed is true when the trunk has OPTIONS probes (health.interval).
	Probed bool
	// Up is the probes' verdict: false after health.down_after failures
	// in a row, true again after health.up_after answers in a row; always
	// true for a trunk without probes.
	Up bool
	// LastStatus is the status code of the last probe's response; 0 when
	// it got none (or no probe was sent yet).
	LastStatus int
	// LastProbe is when the last probe ended; zero before the first.
	LastProbe time.Time
	// HeldUntil is the end of a 503 Retry-After (RFC 3261 section 21.5.4)
	// the trunk answered a call with; zero or past when none holds it.
	HeldUntil time.Time
	// Registered is false while a trunk that registers holds no
	// registration; true for trunks that do not register.
	Registered bool
	// Targets are the trunk's probed addresses (sip.UA.Targets: its IP
	// address, or what DNS SRV and A records give for a host name), in
	// the order first probed; empty before the first probe.
	Targets []TargetState
}

// TargetState is the probe state of one address of a trunk.
type TargetState struct {
	// Addr is the address; the zero AddrPort stands for a host name that
	// did not resolve.
	Addr netip.AddrPort
	// Up is false after health.down_after failed probes in a row.
	Up bool
	// LastStatus is the last probe's status code, 0 when none arrived.
	LastStatus int
}

// trunkHealth is the probe state and Retry-After hold of every trunk. It is
// safe for concurrent use.
type trunkHealth struct {
	log     *slog.Logger
	metrics *carrierMetrics

	mu     sync.Mutex
	trunks map[string]*trunkStatus
	order  []string // configured order, for TrunkStates
}

// trunkStatus is one trunk's entry of trunkHealth: the probe state of each
// of its addresses (sip.UA.Targets), up when any of them is (or none was
// probed yet).
type trunkStatus struct {
	cfg        config.TrunkHealth
	up         bool
	targets    map[netip.AddrPort]*targetStatus
	order      []netip.AddrPort // targets in the order first probed
	lastStatus int
	lastProbe  time.Time
	heldUntil  time.Time
}

// targetStatus is the probe state of one address of a trunk. The zero
// address stands for a host name that did not resolve.
type targetStatus struct {
	up         bool
	fails, oks int
	lastStatus int
	heldUntil  time.Time // a 503 Retry-After of this address
}

// newTrunkHealth starts every trunk up.
func newTrunkHealth(cfg *config.Config, log *slog.Logger, m *carrierMetrics) *trunkHealth {
	h := &trunkHealth{log: log, metrics: m, trunks: make(map[string]*trunkStatus, len(cfg.Trunks))}
	for _, t := range cfg.Trunks {
		hc := t.Health
		if hc.DownAfter == 0 {
			hc.DownAfter = defaultDownAfter
		}
		if hc.UpAfter == 0 {
			hc.UpAfter = defaultUpAfter
		}
		if hc.Enabled() && hc.Timeout == 0 {
			hc.Timeout = min(5*time.Second, hc.Interval)
		}
		h.trunks[t.Name] = &trunkStatus{cfg: hc, up: true, targets: map[netip.AddrPort]*targetStatus{}}
		h.order = append(h.order, t.Name)
		m.TrunkUp.WithLabelValues(t.Name).Set(1)
	}

	return h
}

// hold keeps trunk name out of outbound routing for d (a 503's
// Retry-After, at most maxRetryAfterHold); only its address target when
// that is valid (a trunk given by host name).
func (h *trunkHealth) hold(name string, target netip.AddrPort, d time.Duration) {
	d = min(d, maxRetryAfterHold)
	until := time.Now().Add(d)
	h.mu.Lock()
	st, ok := h.trunks[name]
	if ok {
		if target.IsValid() {
			st.target(target).heldUntil = until
		} else {
			st.heldUntil = until
		}
	}
	h.mu.Unlock()
	if ok {
		h.log.Warn("trunk held by Retry-After", "trunk", name, "target", targetAttr(target), "retry_after", d)
	}
}

// record applies one probe's outcome at target to trunk name: alive is
// whether it answered with a status that shows the trunk takes calls. It
// returns the trunk's new verdict (up while any target is) and whether it
// changed.
func (h *trunkHealth) record(name string, target netip.AddrPort, alive bool, status int) (up, changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.trunks[name]
	st.lastStatus, st.lastProbe = status, time.Now()
	ts := st.target(target)
	ts.lastStatus = status
	if alive {
		ts.fails, ts.oks = 0, ts.oks+1
		if !ts.up && ts.oks >= st.cfg.UpAfter {
			ts.up = true
		}
	} else {
		ts.oks, ts.fails = 0, ts.fails+1
		if ts.up && ts.fails >= st.cfg.DownAfter {
			ts.up = false
		}
	}
	was := st.up
	st.up = false
	for _, t := range st.targets {
		st.up = st.up || t.up
	}

	return st.up, st.up != was
}

// target returns the state of address a, adding it (up) when new; the
// trunkHealth's mutex is held.
func (st *trunkStatus) target(a netip.AddrPort) *targetStatus {
	ts, ok := st.targets[a]
	if !ok {
		ts = &targetStatus{up: true}
		st.targets[a] = ts
		st.order = append(st.order, a)
	}

	return ts
}

// targetUp reports whether calls may go to target of trunk name: its
// probes pass (true for an address never probed) and no Retry-After holds
// it.
func (h *trunkHealth) targetUp(name string, target netip.AddrPort) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.trunks[name]
	if !ok {
		return false
	}
	ts, ok := st.targets[target]

	return !ok || ts.up && !time.Now().Before(ts.heldUntil)
}

// probeAlive reports whether a probe's outcome shows a trunk that takes
// calls: any response but 408 and 5xx (RFC 3261 section 11.2: an OPTIONS is
// answered as an INVITE would be, so 404 or 405 still shows a live server,
// while 503 says it is overloaded or in maintenance).
func probeAlive(status int, err error) bool {
	return err == nil && status != 408 && (status < 500 || status > 599)
}

// run probes every trunk with health.interval until ctx ends, one
// goroutine per probed trunk; it returns when they all have.
func (h *trunkHealth) run(ctx context.Context, ua *sip.UA) {
	var wg sync.WaitGroup
	for _, name := range h.order {
		cfg := h.trunks[name].cfg
		if !cfg.Enabled() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.probeLoop(ctx, ua, name, cfg)
		}()
	}
	wg.Wait()
}

// probeLoop sends trunk name one OPTIONS probe per interval, the first at
// once; a probe sent before the user agent serves is not counted.
func (h *trunkHealth) probeLoop(ctx context.Context, ua *sip.UA, name string, cfg config.TrunkHealth) {
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		targets, err := ua.Targets(rctx, name)
		cancel()
		if err != nil && ctx.Err() == nil {
			h.log.Debug("trunk does not resolve", "trunk", name, "error", err)
			h.probed(name, netip.AddrPort{}, 0, err)
		}
		for _, target := range targets {
			pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			status, err := ua.Probe(pctx, name, target)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, sip.ErrNotServing) {
				h.probed(name, target, status, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probed counts and records one probe of trunk name at target, logging a
// change of the trunk's verdict.
func (h *trunkHealth) probed(name string, target netip.AddrPort, status int, err error) {
	alive := probeAlive(status, err)
	h.metrics.probe(name, alive)
	up, changed := h.record(name, target, alive, status)
	if changed {
		h.metrics.TrunkUp.WithLabelValues(name).Set(boolGauge(up))
		h.log.Warn("trunk health changed", "trunk", name, "up", up, "target", targetAttr(target), "status", status, "error", errString(err))
	}
}

// states returns every trunk's probe and hold state in configured order;
// Available and Registered are left for the caller.
func (h *trunkHealth) states() []TrunkState {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]TrunkState, 0, len(h.order))
	for _, name := range h.order {
		st := h.trunks[name]
		ts := TrunkState{
			Name: name, Probed: st.cfg.Enabled(), Up: st.up,
			LastStatus: st.lastStatus, LastProbe: st.lastProbe, HeldUntil: st.heldUntil,
		}
		for _, a := range st.order {
			t := st.targets[a]
			ts.Targets = append(ts.Targets, TargetState{Addr: a, Up: t.up, LastStatus: t.lastStatus})
		}
		out = append(out, ts)
	}

	return out
}

// TrunkStates returns the availability of every configured trunk, in
// configured order (see TrunkState). It is safe to call at any time.
func (g *Gateway) TrunkStates() []TrunkState {
	states := g.health.states()
	now := time.Now()
	for i := range states {
		st := &states[i]
		st.Registered = g.trunkUp(g.policy(), st.Name)
		st.Available = st.Up && !now.Before(st.HeldUntil) && st.Registered
	}

	return states
}

// trunkAvailable reports whether outbound calls may go to trunk name now:
// registered when it registers, up by its probes, not held by a
// Retry-After (a trunk a reload removed is unregistered, one it added is
// unprobed and up). The second result names why not ("unregistered", "down",
// "held") when it may not.
func (g *Gateway) trunkAvailable(name string) (bool, string) {
	if !g.trunkUp(g.policy(), name) {
		return false, attemptUnregistered
	}
	h := g.health
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.trunks[name]
	switch {
	case !ok:
		// A trunk a reload added: its OPTIONS probes start with the next
		// restart, until then it counts as up.
		return true, ""
	case !st.up:
		return false, attemptDown
	case time.Now().Before(st.heldUntil):
		return false, attemptHeld
	}

	return true, ""
}

// carrierMetrics are the collectors of trunk health and outbound attempts,
// registered in the gateway's registry.
type carrierMetrics struct {
	// TrunkUp is 1 while a trunk's OPTIONS probes pass (always for a trunk
	// without probes), 0 once it is marked down.
	TrunkUp *prometheus.GaugeVec
	// TrunkProbes counts OPTIONS probes by trunk and result (ok, failed).
	TrunkProbes *prometheus.CounterVec
	// CallAttempts counts outbound attempts by trunk and outcome
	// (answered, failed, next: failed over to the next trunk, and the
	// skipped outcomes down, held, unregistered).
	CallAttempts *prometheus.CounterVec
}

// newCarrierMetrics creates the collectors and registers them in m's
// registry.
func newCarrierMetrics(m *Metrics) *carrierMetrics {
	return &carrierMetrics{
		TrunkUp: m.gaugeVec("webtrunk_trunk_up",
			"1 while the trunk's OPTIONS probes pass (always for a trunk without probes), 0 when marked down.", "trunk"),
		TrunkProbes: m.counterVec("webtrunk_trunk_probes_total",
			"OPTIONS probes sent to trunks, by trunk and result (ok, failed).", "trunk", "result"),
		CallAttempts: m.counterVec("webtrunk_call_attempts_total",
			"Outbound call attempts, by trunk and outcome (answered, failed, next, and skipped trunks: down, held, unregistered).", "trunk", "outcome"),
	}
}

// probe counts one probe of trunk name.
func (m *carrierMetrics) probe(name string, alive bool) {
	result := "ok"
	if !alive {
		result = "failed"
	}
	m.TrunkProbes.WithLabelValues(name, result).Inc()
}

// boolGauge is 1 for true, 0 for false.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}

	return 0
}

// errString is err's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}

	return err.Error()
}

// writeTrunkStates writes one line per trunk after the verdict of /readyz:
// "trunk NAME available", or "trunk NAME unavailable: down, held until
// TIME, unregistered" with every reason that applies.
func (g *Gateway) writeTrunkStates(w io.Writer) {
	var b strings.Builder
	for _, st := range g.TrunkStates() {
		b.WriteString("trunk " + st.Name)
		if st.Available {
			b.WriteString(" available\n")

			continue
		}
		var why []string
		if !st.Up {
			why = append(why, "down (OPTIONS)")
		}
		if time.Now().Before(st.HeldUntil) {
			why = append(why, "held until "+st.HeldUntil.UTC().Format(time.RFC3339))
		}
		if !st.Registered {
			why = append(why, "unregistered")
		}
		b.WriteString(" unavailable: " + strings.Join(why, ", ") + "\n")
	}
	for _, st := range g.TrunkStates() {
		if len(st.Targets) < 2 {
			continue
		}
		for _, t := range st.Targets {
			state := "up"
			if !t.Up {
				state = "down"
			}
			b.WriteString("trunk " + st.Name + " target " + t.Addr.String() + " " + state + "\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}
