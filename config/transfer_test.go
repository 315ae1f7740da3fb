package config

import "testing"

// TestTransfer: transfer defaults to off, takes refer and off, and an
// unknown value is refused with its path and the values allowed.
func TestTransfer(t *testing.T) {
	cases := []struct {
		name   string
		edits  []string
		want   TransferMode
		refers bool
	}{
		{name: "default", want: TransferOff},
		{name: "refer", edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transfer: refer\n"}, want: TransferRefer, refers: true},
		{name: "bridge", edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transfer: bridge\n"}, want: TransferBridge},
		{name: "off", edits: []string{"    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transfer: off\n"}, want: TransferOff},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustParse(t, edit(t, baseYAML, tc.edits...), noEnv).Trunks[0]
			if tr.Transfer != tc.want || tr.Refers() != tc.refers || tr.Bridges() != (tc.want == TransferBridge) {
				t.Errorf("transfer %q refers %v bridges %v, want %q and refers %v", tr.Transfer, tr.Refers(), tr.Bridges(), tc.want, tc.refers)
			}
		})
	}
	doc := edit(t, baseYAML, "    host: 192.0.2.10\n", "    host: 192.0.2.10\n    transfer: attended\n")
	checkProblems(t, doc, parseProblems(t, doc, noEnv), []want{{"trunks[0].transfer", "transfer: attended", "one of off, refer, bridge"}})
	if (&Trunk{}).Refers() {
		t.Error("a trunk built in code with no transfer refers")
	}
}
