// Command loadgen measures how many concurrent calls a Webtrunk gateway
// carries with clean audio.
//
// It plays N browsers at once against a running gateway: each call opens a
// WebSocket, authenticates, dials a number through the gateway to a SIP
// endpoint that echoes the audio (cmd/echo), and sends a tone of its own
// frequency over WebRTC (pion) every 20 ms, as Opus (the gateway
// transcodes to G.711) or as PCMU (the gateway passes it through). Calls
// start at -rate per second; once all are up and a settling pause has
// passed, the steady state is measured for -duration; then every call is
// hung up and the report is printed (and written as JSON with -json):
//
//   - calls connected and failed, set-up time (dial to connected)
//     percentiles;
//   - packets sent and received back, loss (sequence gaps, RFC 3550
//     appendix A.3), late packets (more than 40 ms after the previous one),
//     whether each call heard its own tone back (Goertzel), and the
//     gateway's own per-direction packet and loss counts from its metrics;
//   - the gateway process's CPU (user+system from /proc/PID/stat) and
//     resident memory (VmRSS of /proc/PID/status), per call against the
//     idle gateway, and its transcoding time from its metrics;
//   - the load generator's own CPU and pacing, and each CPU's utilisation,
//     so that a saturated generator is seen.
//
// Every address must be loopback. The run is bounded: it stops by itself
// after the ramp, the set-up timeout, the settle pause, the duration and
// the hang-up.
//
// Usage:
//
//	loadgen -password PW [-user load] [-codec opus|pcmu] [-calls N] [-rate R]
//	        [-duration D] [-url ws://127.0.0.1:8080/ws] [-gateway-pid PID]
//	        [-json FILE]
//	loadgen -summary FILE.json...
//
// Exit codes: 0 when the run passed (every call up, its tone heard, lost
// packets in each direction and late packets each under -max-bad percent), 3 when it ran but did not
// pass, 1 when it could not run, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process globals.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)

		return 2
	}
	if o.summary {
		if err := summarize(stdout, o.files); err != nil {
			fmt.Fprintln(stderr, err)

			return 1
		}

		return 0
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	return execute(ctx, o, stdout, stderr)
}
