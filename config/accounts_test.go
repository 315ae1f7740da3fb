package config

import (
	"strings"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/telephony"
)

// TestSIPAccount: a user's sip_account gets its defaults, its password
// from the environment, and is refused with a precise problem when its
// registrar, username, transport or expiry cannot be used, or when no
// trunk would let the registrar's calls in.
func TestSIPAccount(t *testing.T) {
	account := func(body string) string {
		return strings.Replace(baseYAML, `      password_hash: "`+testHash+`"`,
			`      password_hash: "`+testHash+`"`+"\n      sip_account:\n"+body, 1)
	}
	good := "        registrar: 192.0.2.10\n        username: \"201\"\n        password: \"${EXT_PW}\"\n"
	cfg := mustParse(t, account(good), env(map[string]string{"EXT_PW": "s3cret"}))
	a := cfg.Auth.Users[0].SIPAccount
	if host, port := a.RegistrarHostPort(); a == nil || host != "192.0.2.10" || port != 5060 || a.Expiry != 5*time.Minute ||
		a.Transport != telephony.TransportUDP || a.Password.Reveal() != "s3cret" {
		t.Fatalf("account %+v", a)
	}
	for _, tc := range []struct{ body, want string }{
		{"        registrar: 192.0.2.10\n", "sip_account.username: required"},
		{"        registrar: 192.0.2.10\n        username: \"2 01\"\n", "sip_account.username"},
		{"        registrar: \"192.0.2.10:99999\"\n        username: \"201\"\n", "sip_account.registrar: must be host or host:port"},
		{"        registrar: 198.51.100.7\n        username: \"201\"\n", "no trunk allows INVITEs from 198.51.100.7"},
		{good + "        transport: tcp\n", "sip_account.transport: no sip.listeners entry of transport tcp"},
		{good + "        expiry: 10s\n", "sip_account.expiry: must be at least 1m"},
	} {
		if _, err := Parse([]byte(account(tc.body)), env(map[string]string{"EXT_PW": "x"})); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s", tc.body, err, tc.want)
		}
	}
}
