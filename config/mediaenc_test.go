package config

import (
	"testing"
)

// TestMediaEncryption: media_encryption defaults to none, takes sdes and
// sdes_optional on a tls trunk, and is refused with its path and reason on
// other transports or with an unknown value.
func TestMediaEncryption(t *testing.T) {
	tlsListener := func(t *testing.T) []string {
		t.Helper()
		cert := writeTemp(t, "x")
		return []string{`    - listen: "127.0.0.1:5060"`, "    - listen: \"127.0.0.1:5060\"\n    - {transport: tls, listen: \"127.0.0.1:5061\", tls: {cert_file: " + cert + ", key_file: " + cert + "}}"}
	}
	notPEM := writeTemp(t, "no certificate here")
	checkProblemCases(t, baseYAML, []problemCase{
		{
			name:  "sdes over udp",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    media_encryption: sdes\n"},
			wants: []want{{"trunks[0].media_encryption", "media_encryption: sdes", "sdes needs transport tls"}},
		},
		{
			name:  "sdes_optional over tcp",
			edits: []string{`    - listen: "127.0.0.1:5060"`, "    - listen: \"127.0.0.1:5060\"\n    - {transport: tcp, listen: \"127.0.0.1:5060\"}", "    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transport: tcp\n    media_encryption: sdes_optional\n"},
			wants: []want{{"trunks[0].media_encryption", "media_encryption: sdes_optional", "transport is tcp"}},
		},
		{
			name:  "unknown value",
			edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    media_encryption: dtls\n"},
			wants: []want{{"trunks[0].media_encryption", "media_encryption: dtls", "one of none, sdes, sdes_optional"}},
		},
		{
			name:  "tls_ca_file without a certificate",
			edits: []string{"  listeners:\n", "  tls_ca_file: " + notPEM + "\n  listeners:\n"},
			wants: []want{{"sip.tls_ca_file", "tls_ca_file", "holds no PEM certificate"}},
		},
		{
			name:  "tls_ca_file missing",
			edits: []string{"  listeners:\n", "  tls_ca_file: /nonexistent/ca.pem\n  listeners:\n"},
			wants: []want{{"sip.tls_ca_file", "tls_ca_file", "no such file"}},
		},
	})

	if got := mustParse(t, baseYAML, noEnv).Trunks[0].MediaEncryption; got != MediaEncryptionNone {
		t.Errorf("default media_encryption %q, want none", got)
	}
	for _, v := range []MediaEncryption{MediaEncryptionSDES, MediaEncryptionSDESOptional} {
		doc := edit(t, baseYAML, append(tlsListener(t), "    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transport: tls\n    media_encryption: "+string(v)+"\n")...)
		if got := mustParse(t, doc, noEnv).Trunks[0].MediaEncryption; got != v {
			t.Errorf("media_encryption %q read as %q", v, got)
		}
	}
}
