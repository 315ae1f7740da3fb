package config

import "testing"

// TestTrunkModeProblems: invalid prack, dtmf and dtmf_info settings and the
// combination dtmf_info without INFO digits, each with its exact path,
// line and message.
func TestTrunkModeProblems(t *testing.T) {
	const host = "    host: 192.0.2.10\n"
	tests := []struct {
		name  string
		add   string
		wants []want
	}{
		{"unknown prack", "    prack: always\n", []want{{"trunks[0].prack", "prack:", `must be one of off, supported, required, not "always"`}}},
		{"unknown dtmf", "    dtmf: inband\n", []want{{"trunks[0].dtmf", "dtmf:", `must be one of rfc4733, info, auto, not "inband"`}}},
		{"unknown dtmf_info", "    dtmf: info\n    dtmf_info: sipinfo\n", []want{{"trunks[0].dtmf_info", "dtmf_info:", `must be one of dtmf-relay, dtmf, not "sipinfo"`}}},
		{"dtmf_info with rfc4733", "    dtmf_info: dtmf\n", []want{{"trunks[0].dtmf_info", "dtmf_info:", "only with dtmf info or auto"}}},
		{"dtmf_info with explicit rfc4733", "    dtmf: rfc4733\n    dtmf_info: dtmf-relay\n", []want{{"trunks[0].dtmf_info", "dtmf_info:", "only with dtmf info or auto"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := edit(t, baseYAML, host, host+tt.add)
			checkProblems(t, doc, parseProblems(t, doc, noEnv), tt.wants)
		})
	}
}

// TestTrunkModeDefaults: prack supported and dtmf rfc4733 unless set; the
// settings are read as written.
func TestTrunkModeDefaults(t *testing.T) {
	cfg := mustParse(t, baseYAML, noEnv)
	if tr := cfg.Trunks[0]; tr.PRACK != PRACKSupported || tr.DTMF != DTMFRFC4733 || tr.DTMFInfo != "" {
		t.Errorf("defaults prack %q dtmf %q dtmf_info %q, want supported, rfc4733, empty", tr.PRACK, tr.DTMF, tr.DTMFInfo)
	}
	const host = "    host: 192.0.2.10\n"
	cfg = mustParse(t, edit(t, baseYAML, host, host+"    prack: required\n    dtmf: auto\n    dtmf_info: dtmf\n"), noEnv)
	if tr := cfg.Trunks[0]; tr.PRACK != PRACKRequired || tr.DTMF != DTMFAuto || tr.DTMFInfo != DTMFInfoPlain {
		t.Errorf("prack %q dtmf %q dtmf_info %q, want required, auto, dtmf", tr.PRACK, tr.DTMF, tr.DTMFInfo)
	}
}
