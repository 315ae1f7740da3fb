package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	good := func() *report {
		r := &report{}
		r.Setup.Connected = 10
		r.Media.CallsWithTone = 10
		r.Media.DownlinkReceived = 15000
		r.Media.LostPct, r.Media.LatePct = 0.1, 0.49

		return r
	}
	tests := []struct {
		name   string
		edit   func(*report)
		pass   bool
		reason string
	}{
		{"clean", func(*report) {}, true, "PASS"},
		{"failed set-up", func(r *report) { r.Setup.Failed = 1 }, false, "1 calls failed"},
		{"dropped", func(r *report) { r.Media.CallsDropped = 2 }, false, "2 calls dropped"},
		{"tone missing", func(r *report) { r.Media.CallsWithTone = 9 }, false, "1 calls without their tone"},
		{"lost at the limit", func(r *report) { r.Media.LostPct = 0.5 }, false, "lost"},
		{"late", func(r *report) { r.Media.LatePct = 3 }, false, "3.000 % late"},
		{"uplink loss", func(r *report) { r.Media.UplinkLostPct = 0.7 }, false, "0.700 % lost on the uplink"},
		{"silent", func(r *report) { r.Media.DownlinkReceived = 0 }, false, "no audio"},
		{"generator behind", func(r *report) { r.Loadgen.Skipped = 4 }, false, "fell behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.edit(r)
			pass, why := verdict(r, 0.5)
			if pass != tt.pass || !strings.Contains(why, tt.reason) {
				t.Errorf("verdict = %v %q, want %v and %q", pass, why, tt.pass, tt.reason)
			}
		})
	}
}

func TestReportOutputs(t *testing.T) {
	r := &report{Codec: codecOpus, Calls: 50, Rate: 10, WindowS: 30, Pass: true, Verdict: "PASS: 50 calls"}
	r.Setup = setupInfo{Connected: 50, P50Ms: 210, P99Ms: 480, Errors: map[string]int{}}
	r.Media = mediaInfo{UplinkSent: 75000, DownlinkReceived: 74990, DownlinkExpected: 75000, Lost: 10, LostPct: 0.013, CallsWithTone: 50}
	r.Gateway = gwInfo{PID: 42, CPUPct: 45, CPUPerCall: 0.9, RSSPerCall: 700}
	var table bytes.Buffer
	if err := r.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"opus (50 calls", "210 / ", "74990 of 75000", "45.0 % of a core", "PASS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := r.writeJSON(a); err != nil {
		t.Fatal(err)
	}
	r.Codec, r.Calls, r.Pass = codecPCMU, 400, false
	if err := r.writeJSON(b); err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	if err := summarize(&sum, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(sum.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("summary has %d lines, want header, rule and 2 rows:\n%s", len(lines), sum.String())
	}
	if !strings.HasPrefix(lines[2], "| opus | 50 | 50 | 210 / 480 | 0.000 | 0.013 |") || !strings.HasSuffix(lines[2], "| yes |") {
		t.Errorf("row 1: %s", lines[2])
	}
	if !strings.HasPrefix(lines[3], "| pcmu | 400 |") || !strings.HasSuffix(lines[3], "| no |") {
		t.Errorf("row 2: %s", lines[3])
	}
	if err := summarize(&sum, []string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing report was summarized")
	}
}
