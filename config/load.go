package config

import (
	"fmt"
	"os"
	"slices"
)

// Load reads the YAML configuration file at path, resolves environment
// references in Secret fields with os.LookupEnv, decodes it strictly,
// applies defaults and validates it.
//
// A file that cannot be read yields the *fs.PathError wrapped. Any problem
// in its content yields a [*ValidationError] whose File is path and which
// lists every problem found, each with its field path and line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, os.LookupEnv, path)
}

// Parse is [Load] for a document held in memory, with getenv in place of
// os.LookupEnv (it reports whether the variable is set, like
// os.LookupEnv). A nil getenv treats every variable as unset. Problems are
// returned as a [*ValidationError] with an empty File.
func Parse(data []byte, getenv func(name string) (string, bool)) (*Config, error) {
	return parse(data, getenv, "")
}

func parse(data []byte, getenv func(string) (string, bool), file string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) (string, bool) { return "", false }
	}
	cfg := Default()
	cfg.lines = make(map[string]int)
	probs := &problems{lines: cfg.lines}
	d := decoder{getenv: getenv, probs: probs, budget: nodeBudget}
	d.decodeYAML(data, cfg)
	cfg.applyDerivedDefaults()

	// Validation problems inside values that failed to decode describe the
	// placeholder left there, not the file: leave them out.
	vp := &problems{lines: cfg.lines}
	cfg.validate(vp)
	for _, e := range vp.list {
		if !slices.ContainsFunc(d.skip, func(s string) bool { return s == "" || within(e.Path, s) }) {
			probs.list = append(probs.list, e)
		}
	}
	if err := probs.result(file); err != nil {
		return nil, err
	}
	cfg.applyUserDialRules()
	return cfg, nil
}

// applyDerivedDefaults fills the defaults that depend on other fields; see
// the doc comments of Trunk.Port, Trunk.AllowedSources, SIPConfig.PublicHost
// and Route.RingTimeout.
func (c *Config) applyDerivedDefaults() {
	for i := range c.Trunks {
		c.Trunks[i].applyDerivedDefaults()
	}
	if c.SIP.PublicHost == "" && len(c.SIP.Listeners) > 0 {
		if a, _, err := parseListen(c.SIP.Listeners[0].Listen); err == nil && a.IsValid() && !a.IsUnspecified() {
			c.SIP.PublicHost = a.WithZone("").String()
		}
	}
	for i := range c.Outbound {
		c.Outbound[i].applyRuleDefaults()
	}
	for i := range c.Routes {
		if c.Routes[i].RingTimeout == 0 {
			c.Routes[i].RingTimeout = c.Calls.RingTimeout
		}
	}
	c.setTURNDefaults()
	c.setAccountDefaults()
}

// applyUserDialRules gives users without dial rules a copy of the default
// rules. It runs after validation, so that a problem in default_dial_rules
// is reported once, not again for every user.
func (c *Config) applyUserDialRules() {
	for i := range c.Auth.Users {
		if c.Auth.Users[i].DialRules == nil {
			c.Auth.Users[i].DialRules = &DialRules{
				Allow: slices.Clone(c.DefaultDialRules.Allow),
				Deny:  slices.Clone(c.DefaultDialRules.Deny),
			}
		}
	}
}
