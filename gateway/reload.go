package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"

	"github.com/webtrunk/webtrunk/config"
	"github.com/webtrunk/webtrunk/sip"
)

// ErrNoConfigFile is returned by ReloadFile when the gateway was not told
// its configuration file (SetConfigFile).
var ErrNoConfigFile = errors.New("gateway: no configuration file to reload")

// Reload results, the label of Metrics.Reloads.
const (
	reloadOK     = "ok"
	reloadFailed = "failed"
)

// ReloadResult says what a successful reload could not change.
type ReloadResult struct {
	// Restart lists the configuration sections whose new values take
	// effect only after a restart (listener addresses, TLS files, the RTP
	// range, the WebRTC ports, logging, the metrics and admin listeners,
	// the call record file); the running gateway keeps the old values.
	Restart []string `json:"restart_needed"`
}

// restartSections are the sections read only at start-up, each with how
// to get it from a configuration.
var restartSections = []struct {
	path string
	get  func(*config.Config) any
}{
	{"http", func(c *config.Config) any { return c.HTTP }},
	{"sip", func(c *config.Config) any { return c.SIP }},
	{"webrtc", func(c *config.Config) any { return c.WebRTC }},
	{"log", func(c *config.Config) any { return c.Log }},
	{"metrics", func(c *config.Config) any { return c.Metrics }},
	{"admin", func(c *config.Config) any { return c.Admin }},
	{"cdr", func(c *config.Config) any { return c.CDR }},
	{"webhooks", func(c *config.Config) any { return c.Webhooks }},
	// The limits' counter (Redis or in process) is chosen by New.
	{"cluster", func(c *config.Config) any { return c.Cluster }},
	// OPTIONS probes start with the gateway: a trunk's probe settings, or a
	// trunk with probes added or removed, take a restart (until then an
	// added trunk counts as up).
	{"trunks[].health", func(c *config.Config) any {
		probed := map[string]config.TrunkHealth{}
		for _, t := range c.Trunks {
			if t.Health.Enabled() {
				probed[t.Name] = t.Health
			}
		}

		return probed
	}},
}

// SetConfigFile tells the gateway the file its configuration came from,
// for ReloadFile (SIGHUP, the admin API's reload).
func (g *Gateway) SetConfigFile(path string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.configFile = path
}

// ReloadFile reads the configuration file again and applies it with
// Reload. A file that cannot be read or is invalid changes nothing: each
// problem is logged with its field path and line, the failure is counted
// in webtrunk_config_reloads_total{result="failed"}, and the error
// (a *config.ValidationError for an invalid file) is returned.
func (g *Gateway) ReloadFile() (ReloadResult, error) {
	g.mu.Lock()
	path := g.configFile
	g.mu.Unlock()
	if path == "" {
		return ReloadResult{}, ErrNoConfigFile
	}
	cfg, err := config.Load(path)
	if err != nil {
		g.reloadFailed(path, err)

		return ReloadResult{}, err
	}
	res, err := g.Reload(cfg)
	if err != nil {
		g.reloadFailed(path, err)

		return ReloadResult{}, err
	}

	return res, nil
}

// reloadFailed logs and counts a refused reload.
func (g *Gateway) reloadFailed(file string, err error) {
	g.metrics.Reloads.WithLabelValues(reloadFailed).Inc()
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for i := range ve.Errors {
			fe := &ve.Errors[i]
			g.log.Error("reload refused: configuration unchanged", "file", file, "path", fe.Path, "line", fe.Line, "problem", fe.Error())
		}

		return
	}
	g.log.Error("reload refused: configuration unchanged", "file", file, "error", err)
}

// Reload applies cfg (loaded and validated with config.Load) to new calls
// and logins: users, passwords and JWT settings, dial rules, outbound
// rules and routes, call timers and limits, the gateway's call limit and
// the trunks (sip.UA.SetTrunks: a removed trunk takes no new call,
// finishes its calls and unregisters). Calls in progress keep the policy
// they started with. Sections that need a restart are listed in the
// result and logged; they keep their old values. An error leaves
// everything unchanged.
func (g *Gateway) Reload(cfg *config.Config) (ReloadResult, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	pol, err := newPolicy(cfg)
	if err != nil {
		return ReloadResult{}, err
	}
	trunks := make([]sip.Trunk, 0, len(cfg.Trunks))
	for i := range cfg.Trunks {
		t, err := sipTrunk(&cfg.Trunks[i])
		if err != nil {
			return ReloadResult{}, err
		}
		trunks = append(trunks, t)
	}
	old := g.policy()
	if err := g.auth.Update(cfg); err != nil {
		return ReloadResult{}, fmt.Errorf("gateway: %w", err)
	}
	if err := g.ua.SetTrunks(trunks); err != nil {
		_ = g.auth.Update(old.cfg)

		return ReloadResult{}, fmt.Errorf("gateway: %w", err)
	}
	g.admission.setLimit(cfg.Calls.MaxConcurrent)
	g.metrics.CallsMaxConcurrent.Set(float64(cfg.Calls.MaxConcurrent))
	g.pol.Store(pol)
	g.reloaded(old.cfg, cfg)

	var res ReloadResult
	for _, s := range restartSections {
		if !reflect.DeepEqual(s.get(g.cfg), s.get(cfg)) {
			res.Restart = append(res.Restart, s.path)
		}
	}
	if maxRingTimeout(cfg) > maxRingTimeout(g.cfg) {
		res.Restart = append(res.Restart, "routes.ring_timeout (beyond the longest at start-up)")
	}
	g.metrics.Reloads.WithLabelValues(reloadOK).Inc()
	g.log.Info("configuration reloaded", "users", len(cfg.Auth.Users), "trunks", len(cfg.Trunks),
		"outbound", len(cfg.Outbound), "routes", len(cfg.Routes), "restart_needed", res.Restart)

	return res, nil
}

// reloaded updates what follows the trunks outside the user agent: the
// registration gauges of trunks added or removed.
func (g *Gateway) reloaded(old, cfg *config.Config) {
	for _, t := range old.Trunks {
		if nt, ok := cfg.Trunk(t.Name); !ok || !nt.Register.Enabled {
			g.metrics.Registrations.DeleteLabelValues(t.Name)
		}
	}
	for _, t := range cfg.Trunks {
		if ot, ok := old.Trunk(t.Name); t.Register.Enabled && (!ok || !ot.Register.Enabled) {
			g.metrics.Registrations.WithLabelValues(t.Name).Set(0)
		}
	}
}

// apiReload answers POST /v1/reload: the file is read again as on
// SIGHUP; 200 with what needs a restart, or 422 with every problem of an
// invalid file (nothing changed).
func (g *Gateway) apiReload(w http.ResponseWriter, r *http.Request) {
	g.log.Info("admin: reload", "source", r.RemoteAddr)
	res, err := g.ReloadFile()
	var ve *config.ValidationError
	switch {
	case err == nil:
		if res.Restart == nil {
			res.Restart = []string{}
		}
		writeJSON(w, http.StatusOK, struct {
			Reloaded bool `json:"reloaded"`
			ReloadResult
		}{true, res})
	case errors.As(err, &ve):
		problems := make([]string, len(ve.Errors))
		for i := range ve.Errors {
			problems[i] = ve.Errors[i].Error()
		}
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			apiError
			Problems []string `json:"problems"`
		}{apiError{Error: "invalid_config", Detail: "the file is invalid; nothing changed"}, problems})
	case errors.Is(err, ErrNoConfigFile):
		writeJSON(w, http.StatusConflict, apiError{Error: "no_config_file", Detail: err.Error()})
	default:
		writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: "reload_failed", Detail: err.Error()})
	}
}
