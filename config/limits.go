package config

import (
	"strconv"
	"time"
)

// Limits are fraud limits on a user's outbound calls (README,
// "Operators"), so that a stolen password cannot hold the most calls for
// the longest time to the dearest numbers. Every key is optional; 0 (or
// absent) is no limit. A dial past a limit is refused with its own
// protocol code (limit_calls_per_minute, limit_concurrent_calls,
// limit_daily_minutes, limit_prefix), a call record and a dial.denied
// event. The counts live in the process and survive reloads.
type Limits struct {
	// CallsPerMinute caps the calls a user starts in any 60 s, from 0 to
	// 10000.
	CallsPerMinute int `yaml:"calls_per_minute"`
	// ConcurrentCalls caps the user's calls in progress, from 0 to 10000
	// (besides the user's max_calls).
	ConcurrentCalls int `yaml:"concurrent_calls"`
	// MaxCallDuration ends a call this long after its answer (reason
	// max_duration), from 0 to 48h; calls.max_duration applies as well.
	MaxCallDuration time.Duration `yaml:"max_call_duration"`
	// DailyMinutes caps the answered minutes of the user's calls per UTC
	// day, from 0 to 1440: a dial once they are used is refused, and a
	// call in progress ends (reason max_duration) when the minutes left at
	// its start are used.
	DailyMinutes int `yaml:"daily_minutes"`
	// Prefixes cap the user's calls to numbers starting with a prefix,
	// such as premium or international ranges.
	Prefixes []PrefixLimit `yaml:"prefixes"`
}

// PrefixLimit caps a user's calls to numbers starting with Prefix.
type PrefixLimit struct {
	// Prefix is an E.164 prefix: "+" and 1 to 15 digits ("+1900", "+44").
	Prefix string `yaml:"prefix"`
	// MaxConcurrent caps the calls in progress to the prefix, 0 to 10000.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxPerDay caps the calls started to the prefix per UTC day, 0 to
	// 1000000.
	MaxPerDay int `yaml:"max_per_day"`
}

// LimitsFor returns the limits of the configured user id: its own, or the
// top-level ones (also for users not configured, such as JWT subjects).
func (c *Config) LimitsFor(id string) *Limits {
	for i := range c.Auth.Users {
		if u := &c.Auth.Users[i]; u.ID == id && u.Limits != nil {
			return u.Limits
		}
	}

	return &c.Limits
}

// validateLimits checks the top-level limits and every user's.
func (c *Config) validateLimits(p *problems) {
	c.Limits.validate(p, "limits")
	for i := range c.Auth.Users {
		if l := c.Auth.Users[i].Limits; l != nil {
			l.validate(p, "auth.users["+strconv.Itoa(i)+"].limits")
		}
	}
}

func (l *Limits) validate(p *problems, path string) {
	checkIntRange(p, path+".calls_per_minute", l.CallsPerMinute, 0, 10000)
	checkIntRange(p, path+".concurrent_calls", l.ConcurrentCalls, 0, 10000)
	checkRange(p, path+".max_call_duration", l.MaxCallDuration, 0, 48*time.Hour)
	checkIntRange(p, path+".daily_minutes", l.DailyMinutes, 0, 1440)
	seen := map[string]bool{}
	for i, pl := range l.Prefixes {
		pp := path + ".prefixes[" + strconv.Itoa(i) + "]"
		if !validE164Prefix(pl.Prefix) {
			p.add(pp+".prefix", "must be + and 1 to 15 digits")
		} else if seen[pl.Prefix] {
			p.add(pp+".prefix", "listed twice")
		}
		seen[pl.Prefix] = true
		checkIntRange(p, pp+".max_concurrent", pl.MaxConcurrent, 0, 10000)
		checkIntRange(p, pp+".max_per_day", pl.MaxPerDay, 0, 1000000)
	}
}

// validE164Prefix reports whether s is "+" and 1 to 15 digits.
func validE164Prefix(s string) bool {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}

	return true
}
