package config

import (
	"strings"
	"testing"
)

// TestWebhooks: receivers need a long enough secret, a queue directory,
// http(s) URLs, unique names and known event types; dial_auth defaults to
// a 2 s timeout and deny.
func TestWebhooks(t *testing.T) {
	dir := t.TempDir()
	good := "webhooks:\n  secret: \"0123456789abcdef\"\n  spool_dir: " + dir + "\n" +
		"  receivers: [{name: billing, url: \"https://b.example/hook\", events: [call.ended]}]\n" +
		"  dial_auth: {url: \"http://127.0.0.1:8000/auth\"}\n"
	cfg := mustParse(t, baseYAML+good, noEnv)
	if w := cfg.Webhooks; len(w.Receivers) != 1 || w.DialAuth.OnFailure != DialAuthDeny || w.DialAuth.Timeout.Seconds() != 2 || w.SpoolMaxMB != 64 {
		t.Errorf("webhooks %+v", w)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"webhooks:\n  receivers: [{name: a, url: \"http://x/\"}]\n", "webhooks.secret: required"},
		{"webhooks:\n  secret: short\n", "webhooks.secret: must be at least 16"},
		{"webhooks:\n  secret: \"0123456789abcdef\"\n  receivers: [{name: a, url: \"http://x/\"}]\n", "webhooks.spool_dir: required"},
		{strings.Replace(good, "https://b.example/hook", "ftp://b", 1), "webhooks.receivers[0].url"},
		{strings.Replace(good, "call.ended", "call.exploded", 1), "webhooks.receivers[0].events[0]"},
		{strings.Replace(good, "name: billing", "name: Billing!", 1), "webhooks.receivers[0].name"},
		{strings.Replace(good, "{url:", "{on_failure: maybe, url:", 1), "webhooks.dial_auth.on_failure"},
	} {
		checkRefused(t, tc.yaml, tc.want)
	}
}
