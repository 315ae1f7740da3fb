package integration

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/webtrunk/webtrunk/internal/sipp"
)

// startSipp runs the scenario of testdata/sipp with o (see runScenario).
// Its SDP names [$mport]: sipp's own media port, where it echoes RTP,
// when o.Echo is set; else mediaPort, a socket of the test.
func startSipp(t *testing.T, scenario string, o sipp.Options, mediaPort int) *sipp.Proc {
	t.Helper()
	if o.Echo {
		o.MediaPort = sipp.FreeEvenPort(t)
		mediaPort = o.MediaPort
	}
	o.Vars = map[string]string{"mport": strconv.Itoa(mediaPort)}

	return runScenario(t, scenario, o)
}

// runScenario runs the scenario file of testdata/sipp with o, its other
// options (o.Scenario is set from scenario), bounded to 60 s.
func runScenario(t *testing.T, scenario string, o sipp.Options) *sipp.Proc {
	t.Helper()
	o.Scenario = filepath.Join("testdata", "sipp", scenario)
	o.Timeout = 60 * time.Second

	return sipp.Start(t, o)
}
