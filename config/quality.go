package config

import "time"

// QualityConfig is how the gateway keeps audio intelligible under loss,
// jitter and reordering, and when it warns the browser about the quality
// of a call (docs/protocol.md, "Call quality").
type QualityConfig struct {
	// JitterMin and JitterMax bound the adaptive jitter buffers of both
	// directions (the browser's uplink and the trunk's downlink):
	// packets that arrive out of order are decoded in
	// order, and a missing packet is waited for three times the measured
	// interarrival jitter (RFC 3550 appendix A.8), within these bounds,
	// before its time is concealed. In-order packets are not delayed; the
	// packets behind a missing one are delayed by at most JitterMax.
	// JitterMax 0 turns the buffer off. From 1ms to 200ms, JitterMin at
	// most JitterMax. Defaults 20ms and 80ms.
	JitterMin time.Duration `yaml:"jitter_min"`
	JitterMax time.Duration `yaml:"jitter_max"`
	// MaxLossPercent is the packet loss of one direction over the last
	// report interval, in percent, above which the browser gets a quality
	// warning. From 1 to 100. Default 5.
	MaxLossPercent float64 `yaml:"max_loss_percent"`
	// MaxJitter is the interarrival jitter of one direction above which
	// the browser gets a quality warning. From 1ms to 1s. Default 30ms.
	MaxJitter time.Duration `yaml:"max_jitter"`
	// MinMOS is the estimated mean opinion score (1 to 4.5, ITU-T G.107
	// E-model) below which the browser gets a quality warning. Default
	// 3.5.
	MinMOS float64 `yaml:"min_mos"`
	// Interval is how often the gateway measures each call's quality and
	// raises or clears warnings. From 1s to 1m. Default 5s.
	Interval time.Duration `yaml:"interval"`
}

// QualityDefault returns the defaults of the quality section.
func QualityDefault() QualityConfig {
	return QualityConfig{
		JitterMin: 20 * time.Millisecond, JitterMax: 80 * time.Millisecond,
		MaxLossPercent: 5, MaxJitter: 30 * time.Millisecond, MinMOS: 3.5, Interval: 5 * time.Second,
	}
}

// validateQuality checks the quality section.
func (c *Config) validateQuality(p *problems) {
	q := &c.Quality
	if q.JitterMax != 0 {
		checkRange(p, "quality.jitter_max", q.JitterMax, time.Millisecond, 200*time.Millisecond)
		checkRange(p, "quality.jitter_min", q.JitterMin, time.Millisecond, q.JitterMax)
	}
	if q.MaxLossPercent < 1 || q.MaxLossPercent > 100 {
		p.add("quality.max_loss_percent", "must be from 1 to 100")
	}
	checkRange(p, "quality.max_jitter", q.MaxJitter, time.Millisecond, time.Second)
	if q.MinMOS < 1 || q.MinMOS > 4.5 {
		p.add("quality.min_mos", "must be from 1 to 4.5")
	}
	checkRange(p, "quality.interval", q.Interval, time.Second, time.Minute)
}
