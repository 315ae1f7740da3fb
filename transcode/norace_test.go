//go:build !race

package transcode

// raceEnabled reports that the race detector instruments this build.
const raceEnabled = false
