package transcode

import (
	"testing"
	"time"
)

// overheadRun times, interleaved in one loop so that machine noise hits
// both alike, a frame through Uplink+Downlink and the bare libopus decode
// plus encode of the same frame, and returns nanoseconds per frame of each.
func overheadRun(b *testing.B) (pipeline, bare float64) {
	b.Helper()
	pk, g := benchInputs(b)
	up, down := benchLegs(b)
	dec, enc, pcm := bareOpus(b, g)
	dpcm := make([]int16, 160)
	out := make([]byte, 1500)
	var tPipe, tBare time.Duration
	var n int
	b.ReportAllocs()
	for b.Loop() {
		i := n % 50
		runPipe := func() {
			pushDrain(b, up, uint16(n), uint32(n*960), pk[i], out)
			pushDrain(b, down, uint16(n), uint32(n*160), g[i], out)
		}
		runBare := func() {
			if _, err := dec.Decode(pk[i], dpcm); err != nil {
				b.Fatal(err)
			}
			if _, err := enc.Encode(pcm[i], out); err != nil {
				b.Fatal(err)
			}
		}
		// Alternate which runs first so neither always meets a cold cache.
		first, second, tFirst, tSecond := runPipe, runBare, &tPipe, &tBare
		if n%2 == 1 {
			first, second, tFirst, tSecond = runBare, runPipe, &tBare, &tPipe
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		*tFirst += t1.Sub(t0)
		*tSecond += time.Since(t1)
		n++
	}
	pipeline = float64(tPipe.Nanoseconds()) / float64(n)
	bare = float64(tBare.Nanoseconds()) / float64(n)
	b.ReportMetric(pipeline, "pipeline-ns/frame")
	b.ReportMetric(bare, "bare-ns/frame")
	b.ReportMetric(100*(pipeline-bare)/bare, "overhead-%")
	return pipeline, bare
}

// BenchmarkOverhead reports this package's cost over bare libopus per
// frame in each direction (one uplink and one downlink frame).
func BenchmarkOverhead(b *testing.B) { overheadRun(b) }
