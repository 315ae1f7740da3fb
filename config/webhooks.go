package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// WebhookEvents are the event types a receiver may ask for.
var WebhookEvents = []string{"call.ringing", "call.answered", "call.ended", "dial.denied", "trunk.registration"}

// Dial authorisation outcomes when the backend does not decide
// (DialAuthConfig.OnFailure).
const (
	DialAuthDeny  = "deny"
	DialAuthAllow = "allow"
)

// minWebhookSecretLen is the shortest accepted signing secret in bytes.
const minWebhookSecretLen = 16

// receiverName is the form of a receiver's name.
var receiverName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// WebhooksConfig sends call events to the operator's backend
// (docs/webhooks.md): JSON POSTs signed with HMAC-SHA256, in order per
// receiver, from a durable queue, retried with a back-off. Changes take
// effect after a restart.
type WebhooksConfig struct {
	// Secret keys the signature of every request (header
	// Webtrunk-Signature), at least 16 bytes; required with receivers or
	// dial_auth. Typically "${WEBTRUNK_WEBHOOK_SECRET}".
	Secret Secret `yaml:"secret"`
	// SpoolDir is the existing directory of the receivers' queues, one
	// file per receiver; required with receivers.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxMB bounds each receiver's queue in MiB, 1 to 1048576; an
	// event that does not fit is dropped for that receiver and counted.
	// Default 64.
	SpoolMaxMB int `yaml:"spool_max_mb"`
	// Timeout bounds one delivery attempt, 100ms to 1m. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
	// Receivers get the events.
	Receivers []WebhookReceiver `yaml:"receivers"`
	// DialAuth, when its URL is set, asks the backend before each
	// outbound dial reaches a trunk.
	DialAuth DialAuthConfig `yaml:"dial_auth"`
}

// WebhookReceiver is one URL that receives events.
type WebhookReceiver struct {
	// Name labels it in logs and metrics and names its queue file:
	// lowercase letters, digits, "-" and "_", up to 64; unique.
	Name string `yaml:"name"`
	// URL is an absolute http or https URL.
	URL string `yaml:"url"`
	// Events are the types it receives (WebhookEvents); empty: all.
	Events []string `yaml:"events"`
}

// DialAuthConfig is the dial authorisation hook.
type DialAuthConfig struct {
	// URL is an absolute http or https URL; empty: no hook. Default empty.
	URL string `yaml:"url"`
	// Timeout is the longest a dial waits for the answer, 50ms to 10s.
	// Default 2s.
	Timeout time.Duration `yaml:"timeout"`
	// OnFailure is the decision when the backend does not answer in time
	// or answers badly: deny (refused with dial_denied) or allow.
	// Default deny.
	OnFailure string `yaml:"on_failure"`
}

// WebhooksDefault returns the defaults of the webhooks section.
func WebhooksDefault() WebhooksConfig {
	return WebhooksConfig{SpoolMaxMB: 64, Timeout: 5 * time.Second,
		DialAuth: DialAuthConfig{Timeout: 2 * time.Second, OnFailure: DialAuthDeny}}
}

// SpoolMaxBytes is SpoolMaxMB in bytes.
func (w WebhooksConfig) SpoolMaxBytes() int64 { return int64(w.SpoolMaxMB) << 20 }

// validateWebhooks checks the webhooks section.
func (c *Config) validateWebhooks(p *problems) {
	w := &c.Webhooks
	checkIntRange(p, "webhooks.spool_max_mb", w.SpoolMaxMB, 1, 1<<20)
	checkRange(p, "webhooks.timeout", w.Timeout, 100*time.Millisecond, time.Minute)
	checkRange(p, "webhooks.dial_auth.timeout", w.DialAuth.Timeout, 50*time.Millisecond, 10*time.Second)
	checkOneOf(p, "webhooks.dial_auth.on_failure", w.DialAuth.OnFailure, DialAuthDeny, DialAuthAllow)
	used := len(w.Receivers) > 0 || w.DialAuth.URL != ""
	switch {
	case used && w.Secret.IsZero():
		p.add("webhooks.secret", "required with receivers or dial_auth")
	case !w.Secret.IsZero() && w.Secret.Len() < minWebhookSecretLen:
		p.add("webhooks.secret", fmt.Sprintf("must be at least %d bytes", minWebhookSecretLen))
	}
	if len(w.Receivers) > 0 {
		if w.SpoolDir == "" {
			p.add("webhooks.spool_dir", "required with receivers")
		} else {
			checkWritableDir(p, "webhooks.spool_dir", w.SpoolDir)
		}
	}
	names := map[string]bool{}
	for i, r := range w.Receivers {
		path := "webhooks.receivers[" + strconv.Itoa(i) + "]"
		switch {
		case !receiverName.MatchString(r.Name):
			p.add(path+".name", "must be 1 to 64 of a-z, 0-9, - and _, starting with a letter or digit")
		case names[r.Name]:
			p.add(path+".name", "used twice")
		}
		names[r.Name] = true
		checkHTTPURL(p, path+".url", r.URL)
		for j, e := range r.Events {
			if !slices.Contains(WebhookEvents, e) {
				p.add(path+".events["+strconv.Itoa(j)+"]", fmt.Sprintf("%q is not one of %v", e, WebhookEvents))
			}
		}
	}
	if w.DialAuth.URL != "" {
		checkHTTPURL(p, "webhooks.dial_auth.url", w.DialAuth.URL)
	}
}

// checkHTTPURL checks an absolute http or https URL.
func checkHTTPURL(p *problems, path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(path, "must be an absolute http or https URL")
	}
}
