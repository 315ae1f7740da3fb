package config

import "time"

// maxResumeWindow is the longest calls.resume_window: calls whose browser is
// gone should not hold a trunk line for long.
const maxResumeWindow = 10 * time.Minute

// validateNetwork checks the settings that keep calls up across a dropped
// signaling connection.
func (c *Config) validateNetwork(p *problems) {
	checkRange(p, "calls.resume_window", c.Calls.ResumeWindow, 0, maxResumeWindow)
	c.validateTURN(p)
}
