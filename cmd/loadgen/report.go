package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the outcome of one run, printed as a table and written as
// JSON. Durations are in milliseconds, CPU in percent of one core, memory
// in KiB.
type report struct {
	Started  time.Time `json:"started"`
	Codec    string    `json:"codec"`
	Calls    int       `json:"calls"`
	Rate     float64   `json:"rate_per_s"`
	WindowS  float64   `json:"window_s"` // length of the measured steady state
	Host     hostInfo  `json:"host"`
	Setup    setupInfo `json:"setup"`
	Media    mediaInfo `json:"media"`
	Gateway  gwInfo    `json:"gateway"`
	Loadgen  lgInfo    `json:"loadgen"`
	CPUs     []cpuBusy `json:"cpus"`
	Pass     bool      `json:"pass"`
	Verdict  string    `json:"verdict"`
	PerCall  []callRow `json:"per_call"`
	Warnings []string  `json:"warnings,omitempty"`
}

// hostInfo describes the machine.
type hostInfo struct {
	NProc    int        `json:"nproc"`
	CPUModel string     `json:"cpu_model"`
	LoadAvg  [3]float64 `json:"loadavg_at_start"`
}

// setupInfo summarizes the calls' set-up.
type setupInfo struct {
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	Errors    map[string]int `json:"errors,omitempty"`
	P50Ms     float64        `json:"p50_ms"`
	P90Ms     float64        `json:"p90_ms"`
	P99Ms     float64        `json:"p99_ms"`
	MaxMs     float64        `json:"max_ms"`
}

// mediaInfo sums the calls' media during the steady state, seen by the
// simulated browsers: uplink packets they sent, downlink packets they
// received back through gateway, echo and gateway.
type mediaInfo struct {
	UplinkSent       uint64  `json:"uplink_sent"`
	DownlinkReceived uint64  `json:"downlink_received"`
	DownlinkExpected uint64  `json:"downlink_expected"`
	Lost             uint64  `json:"lost"`
	Late             uint64  `json:"late"`
	LostPct          float64 `json:"lost_pct"`
	LatePct          float64 `json:"late_pct"`
	MaxGapMs         float64 `json:"max_interarrival_ms"`
	CallsWithTone    int     `json:"calls_with_tone"`
	CallsDropped     int     `json:"calls_dropped"`
	// Gateway is the gateway's own count over the whole run (set-up to
	// hang-up), from its metrics: packets it received on each leg and
	// sequence gaps it saw.
	Gateway *gatewayCounters `json:"gateway_counters,omitempty"`
	// UplinkLostPct is the share of the browsers' packets that never
	// reached the gateway, by its count over the whole run (ramp
	// included). The downlink figures above cannot show these: the gateway
	// conceals uplink gaps before the echo sends the audio back.
	UplinkLostPct float64 `json:"uplink_lost_pct"`
}

// gwInfo is the gateway process during the steady state.
type gwInfo struct {
	PID        int     `json:"pid"`
	CPUPct     float64 `json:"cpu_pct"`
	CPUPerCall float64 `json:"cpu_per_call_pct"`
	RSSIdleKiB uint64  `json:"rss_idle_kib"`
	RSSKiB     uint64  `json:"rss_steady_kib"`
	RSSPerCall float64 `json:"rss_per_call_kib"`
	// TranscodeWallPerCall is the time the gateway spent inside its
	// transcoders per call, from its metrics (webtrunk_transcode_seconds),
	// in percent of a core. It is wall-clock time: close to the codec's
	// CPU time while the core has room, larger once the gateway's threads
	// wait for the core, so it is no measure of CPU near saturation.
	TranscodeWallPerCall float64 `json:"transcode_wall_per_call_pct,omitempty"`
}

// lgInfo is the load generator's own health: a saturated generator makes
// the figures meaningless.
type lgInfo struct {
	CPUPct      float64 `json:"cpu_pct"`
	LateTicks   uint64  `json:"late_ticks"`
	BehindTicks uint64  `json:"behind_ticks"`
	Skipped     uint64  `json:"skipped_frames"`
	SendErrors  uint64  `json:"send_errors"`
}

// cpuBusy is one CPU's utilisation during the steady state.
type cpuBusy struct {
	CPU     int     `json:"cpu"`
	BusyPct float64 `json:"busy_pct"`
}

// callRow is one call's figures.
type callRow struct {
	ID       string  `json:"id"`
	ToneHz   int     `json:"tone_hz"`
	SetupMs  float64 `json:"setup_ms,omitempty"`
	Error    string  `json:"error,omitempty"`
	Sent     uint64  `json:"sent"`
	Received uint64  `json:"received"`
	Lost     uint64  `json:"lost"`
	Late     uint64  `json:"late"`
	ToneOK   bool    `json:"tone_ok"`
	TonePct  float64 `json:"tone_blocks_pct"`
	Dropped  bool    `json:"dropped,omitempty"`
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct returns 100·a/b, or 0 when b is 0.
func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}

	return 100 * a / b
}

// writeTable prints the report for people.
func (r *report) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	p("codec", "%s (%d calls, %.1f calls/s ramp, %.1f s measured)", r.Codec, r.Calls, r.Rate, r.WindowS)
	p("host", "%d CPUs, %s, load average %.2f at start", r.Host.NProc, r.Host.CPUModel, r.Host.LoadAvg[0])
	p("calls connected / failed", "%d / %d", r.Setup.Connected, r.Setup.Failed)
	for _, k := range slices.Sorted(maps.Keys(r.Setup.Errors)) {
		p("  failure", "%dx %s", r.Setup.Errors[k], k)
	}
	p("setup p50 / p90 / p99 / max", "%.0f / %.0f / %.0f / %.0f ms", r.Setup.P50Ms, r.Setup.P90Ms, r.Setup.P99Ms, r.Setup.MaxMs)
	p("uplink packets sent", "%d", r.Media.UplinkSent)
	p("downlink packets received", "%d of %d expected", r.Media.DownlinkReceived, r.Media.DownlinkExpected)
	p("lost", "%d (%.3f %%)", r.Media.Lost, r.Media.LostPct)
	p("late (> 40 ms)", "%d (%.3f %%), largest gap %.0f ms", r.Media.Late, r.Media.LatePct, r.Media.MaxGapMs)
	p("calls with their tone", "%d of %d", r.Media.CallsWithTone, r.Setup.Connected)
	p("calls dropped", "%d", r.Media.CallsDropped)
	if g := r.Media.Gateway; g != nil {
		p("gateway received up / down", "%.0f / %.0f packets, lost %.0f (%.3f %%) / %.0f",
			g.UplinkPackets, g.DownlinkPackets, g.UplinkLost, r.Media.UplinkLostPct, g.DownlinkLost)
		p("gateway transcoding up / down", "%.2f / %.2f s", g.UplinkTranscodeS, g.DownlinkTranscodeS)
	}
	if r.Gateway.PID != 0 {
		p("gateway CPU", "%.1f %% of a core, %.3f %% per call", r.Gateway.CPUPct, r.Gateway.CPUPerCall)
		if r.Gateway.TranscodeWallPerCall > 0 {
			p("  time in transcoders", "%.3f %% of a core per call (wall clock)", r.Gateway.TranscodeWallPerCall)
		}
		p("gateway RSS", "%d KiB idle, %d KiB loaded, %.0f KiB per call", r.Gateway.RSSIdleKiB, r.Gateway.RSSKiB, r.Gateway.RSSPerCall)
	}
	p("loadgen CPU", "%.1f %% (late ticks %d, catch-up ticks %d, skipped frames %d, send errors %d)",
		r.Loadgen.CPUPct, r.Loadgen.LateTicks, r.Loadgen.BehindTicks, r.Loadgen.Skipped, r.Loadgen.SendErrors)
	for _, c := range r.CPUs {
		p(fmt.Sprintf("cpu%d busy", c.CPU), "%.1f %%", c.BusyPct)
	}
	for _, wn := range r.Warnings {
		p("warning", "%s", wn)
	}
	p("result", "%s", r.Verdict)

	return tw.Flush()
}

// writeJSON writes the report to path.
func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}

	return nil
}

// summarize prints one Markdown table row per JSON report in files, in
// the order given.
func summarize(w io.Writer, files []string) error {
	var b strings.Builder
	b.WriteString("| codec | calls | connected | setup p50 / p99 (ms) | uplink lost % | lost % | late % | tone | gateway CPU % | CPU per call % | transcode wall time per call % | RSS per call (KiB) | loadgen CPU % | pass |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		var r report
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("loadgen: %s: %w", f, err)
		}
		pass := "yes"
		if !r.Pass {
			pass = "no"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f / %.0f | %.3f | %.3f | %.3f | %d/%d | %.1f | %.3f | %.3f | %.0f | %.1f | %s |\n",
			r.Codec, r.Calls, r.Setup.Connected, r.Setup.P50Ms, r.Setup.P99Ms, r.Media.UplinkLostPct, r.Media.LostPct, r.Media.LatePct,
			r.Media.CallsWithTone, r.Setup.Connected, r.Gateway.CPUPct, r.Gateway.CPUPerCall, r.Gateway.TranscodeWallPerCall,
			r.Gateway.RSSPerCall, r.Loadgen.CPUPct, pass)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}

	return nil
}
