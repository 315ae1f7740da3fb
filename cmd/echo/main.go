// Command echo is a small SIP endpoint for trying Webtrunk without a carrier:
// it plays the part of the "demo" trunk of config/example.yaml, answers every
// call the gateway sends it and
//
//   - on the tone number (default +15551000) plays a 1 kHz tone;
//   - on any other number echoes the caller's audio back, so the caller
//     hears their own voice after the round trip through the gateway;
//   - logs every DTMF digit it receives (RFC 4733) and echoes it back.
//
// Usage:
//
//	echo [-listen 127.0.0.1:5070] [-gateway 127.0.0.1:5060] [-allow 127.0.0.1/32]
//	     [-rtp-ports 30000-30999] [-tone-number +15551000] [-max-duration 10m]
//	     [-log-level info]
//
// It speaks SIP over UDP and G.711 (PCMU, PCMA) over RTP, stops on SIGINT or
// SIGTERM (calls in progress get a BYE), and exits 0 after a clean stop, 1 on
// a failure and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/webtrunk/webtrunk/sip"

	"github.com/webtrunk/webtrunk/telephony"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr, nil))
}

// run is main without the process globals. When ready is not nil it
// receives the bound SIP address once the endpoint listens.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- netip.AddrPort) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5070", "UDP `address` to receive SIP on (the trunk address the gateway calls)")
	gatewayAddr := fs.String("gateway", "127.0.0.1:5060", "SIP `address` of the gateway")
	allow := fs.String("allow", "127.0.0.1/32", "comma-separated `prefixes` INVITEs may come from")
	ports := fs.String("rtp-ports", "30000-30999", "UDP port `range` for RTP (even ports, RTCP on the next)")
	toneNumber := fs.String("tone-number", "+15551000", "E.164 `number` answered with a 1 kHz tone instead of the echo")
	maxDuration := fs.Duration("max-duration", 10*time.Minute, "hang up calls after this `duration` (0: never)")
	level := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}

		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "echo: unexpected arguments:", fs.Args())

		return 2
	}
	uaCfg, err := uaConfig(*listen, *gatewayAddr, *allow, *ports)
	if err != nil {
		fmt.Fprintln(stderr, err)

		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "echo: -log-level:", err)

		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	ep, err := newEndpoint(uaCfg, endpointConfig{ToneNumber: *toneNumber, MaxDuration: *maxDuration, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, err)

		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := ep.listen(); err != nil {
		logger.Error("cannot listen", "error", err)

		return 1
	}
	addr, _ := ep.ua.ListenAddr(telephony.TransportUDP)
	logger.Info("echo endpoint listening", "sip", addr.String(), "tone_number", *toneNumber,
		"echo", "every other number")
	if ready != nil {
		ready <- addr
	}
	if err := ep.run(ctx); err != nil {
		logger.Error("stopped", "error", err)

		return 1
	}
	logger.Info("echo endpoint stopped")

	return 0
}

// errPortRange reports a -rtp-ports value that is not MIN-MAX.
var errPortRange = errors.New("echo: -rtp-ports: want MIN-MAX")

// uaConfig builds the user agent configuration: one UDP listener, and the
// gateway as the only trunk, allowed to send INVITEs from allow.
func uaConfig(listen, gatewayAddr, allow, ports string) (sip.Config, error) {
	bind, err := netip.ParseAddrPort(listen)
	if err != nil {
		return sip.Config{}, fmt.Errorf("echo: -listen: %w", err)
	}
	gw, err := netip.ParseAddrPort(gatewayAddr)
	if err != nil {
		return sip.Config{}, fmt.Errorf("echo: -gateway: %w", err)
	}
	var prefixes []netip.Prefix
	for s := range strings.SplitSeq(allow, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return sip.Config{}, fmt.Errorf("echo: -allow: %w", err)
		}
		prefixes = append(prefixes, p)
	}
	lo, hi, ok := strings.Cut(ports, "-")
	minPort, err1 := strconv.Atoi(lo)
	maxPort, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		return sip.Config{}, fmt.Errorf("%w, got %q", errPortRange, ports)
	}
	pool, err := sip.NewPortPool(bind.Addr(), minPort, maxPort)
	if err != nil {
		return sip.Config{}, fmt.Errorf("echo: -rtp-ports: %w", err)
	}

	return sip.Config{
		Listeners:            []sip.Listener{{Transport: telephony.TransportUDP, Addr: bind.String()}},
		UserAgent:            "Webtrunk echo",
		RejectUnknownSources: true,
		RTPPorts:             pool,
		Trunks: []sip.Trunk{{
			Name:           "gateway",
			Host:           gw.Addr().String(),
			Port:           int(gw.Port()),
			AllowedSources: prefixes,
		}},
	}, nil
}
