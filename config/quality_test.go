package config

import (
	"testing"
	"time"
)

// TestQuality: the jitter buffer and warning thresholds have their
// defaults, accept whole and fractional numbers, and refuse values out of
// range with their field paths.
func TestQuality(t *testing.T) {
	def := QualityDefault()
	off := def
	off.JitterMax = 0
	tuned := def
	tuned.JitterMin, tuned.JitterMax, tuned.MaxLossPercent, tuned.MinMOS = 10*time.Millisecond, 120*time.Millisecond, 2.5, 4
	checkSectionCases(t, afterBase, []sectionCase[QualityConfig]{
		{name: "default", want: def},
		{name: "buffer off", yaml: "quality:\n  jitter_max: 0s\n", want: off},
		{name: "tuned", yaml: "quality:\n  jitter_min: 10ms\n  jitter_max: 120ms\n  max_loss_percent: 2.5\n  min_mos: 4\n", want: tuned},
		{name: "buffer too deep", yaml: "quality:\n  jitter_max: 300ms\n", wantError: "quality.jitter_max: must be at most 200ms"},
		{name: "minimum above maximum", yaml: "quality:\n  jitter_min: 90ms\n", wantError: "quality.jitter_min: must be at most 80ms"},
		{name: "loss", yaml: "quality:\n  max_loss_percent: 0\n", wantError: "quality.max_loss_percent: must be from 1 to 100"},
		{name: "mos", yaml: "quality:\n  min_mos: 5\n", wantError: "quality.min_mos: must be from 1 to 4.5"},
		{name: "mos not a number", yaml: "quality:\n  min_mos: good\n", wantError: "quality.min_mos: must be a number"},
		{name: "interval", yaml: "quality:\n  interval: 100ms\n", wantError: "quality.interval: must be at least 1s"},
	}, func(c *Config) QualityConfig { return c.Quality })
}
