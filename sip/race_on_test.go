//go:build race

package sip

// raceDetector reports whether the test binary runs with the race detector,
// under which sync.Pool drops items at random (so pooled buffers allocate).
const raceDetector = true
