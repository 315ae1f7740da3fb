package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"time"
)

// options are the command line settings of one run.
type options struct {
	url          string        // signaling WebSocket URL
	metricsURL   string        // gateway's Prometheus endpoint; "" skips it
	user         string        // configured user for auth
	password     string        // that user's password
	token        string        // a JWT instead of user and password
	to           string        // number prefix; call i dials to + four digits of i
	codec        string        // codecOpus or codecPCMU
	calls        int           // concurrent calls
	rate         float64       // new calls per second during the ramp
	duration     time.Duration // length of the measured steady state
	settle       time.Duration // pause between the last call up and the measurement
	setupTimeout time.Duration // bound of each call's set-up
	gatewayPID   int           // gateway process; 0: find it by gatewayName
	gatewayName  string        // command name to look for
	jsonPath     string        // where to write the JSON report; "" none
	maxBad       float64       // pass threshold for lost and for late packets, in percent
	summary      bool          // summarize JSON reports instead of running
	files        []string      // the reports to summarize
}

// Usage errors.
var (
	errUsage    = errors.New("loadgen: usage")
	errLoopback = errors.New("loadgen: only loopback addresses are allowed")
)

// parseOptions reads the command line; flag errors are printed on stderr.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "signaling WebSocket `URL` of the gateway (loopback only)")
	fs.StringVar(&o.metricsURL, "metrics-url", "http://127.0.0.1:9090/metrics", "gateway's Prometheus `URL` on its admin listener (loopback only; the bearer token from $WEBTRUNK_ADMIN_TOKEN when set); empty: not read")
	fs.StringVar(&o.user, "user", "load", "configured `user` to authenticate as")
	fs.StringVar(&o.password, "password", "", "the user's `password`")
	fs.StringVar(&o.token, "token", "", "HS256 `JWT` to authenticate with instead of -user and -password")
	fs.StringVar(&o.to, "to", "+1555200", "number `prefix`: call i dials the prefix followed by i in four digits")
	fs.StringVar(&o.codec, "codec", codecOpus, "browser `codec`: opus (the gateway transcodes) or pcmu (passthrough)")
	fs.IntVar(&o.calls, "calls", 10, "concurrent calls `N`")
	fs.Float64Var(&o.rate, "rate", 10, "calls started per `second` during the ramp")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of the measured steady state")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait after the last call is up before measuring")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 20*time.Second, "bound of one call's set-up")
	fs.IntVar(&o.gatewayPID, "gateway-pid", 0, "`pid` of the gateway process; 0: the one process named -gateway-name")
	fs.StringVar(&o.gatewayName, "gateway-name", "gateway", "command `name` of the gateway process")
	fs.StringVar(&o.jsonPath, "json", "", "write the report as JSON to `file`")
	fs.Float64Var(&o.maxBad, "max-bad", 0.5, "largest `percent` of lost, and of late, packets of a passing run")
	fs.BoolVar(&o.summary, "summary", false, "print a Markdown table of the JSON reports named as arguments, and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.summary {
		if fs.NArg() == 0 {
			return nil, fmt.Errorf("%w: -summary needs JSON report files", errUsage)
		}
		o.files = fs.Args()

		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}

	return o, o.validate()
}

// validate checks the values together.
func (o *options) validate() error {
	var errs []error
	if err := loopbackURL(o.url, "ws"); err != nil {
		errs = append(errs, fmt.Errorf("-url: %w", err))
	}
	if o.metricsURL != "" {
		if err := loopbackURL(o.metricsURL, "http"); err != nil {
			errs = append(errs, fmt.Errorf("-metrics-url: %w", err))
		}
	}
	if o.codec != codecOpus && o.codec != codecPCMU {
		errs = append(errs, fmt.Errorf("-codec: %w %q", errCodec, o.codec))
	}
	if o.token == "" && (o.user == "" || o.password == "") {
		errs = append(errs, fmt.Errorf("%w: -password (with -user) or -token is required", errUsage))
	}
	if o.calls < 1 || o.calls > 10000 {
		errs = append(errs, fmt.Errorf("%w: -calls must be 1 to 10000", errUsage))
	}
	if o.rate <= 0 {
		errs = append(errs, fmt.Errorf("%w: -rate must be positive", errUsage))
	}
	if o.duration <= 0 || o.setupTimeout <= 0 || o.settle < 0 {
		errs = append(errs, fmt.Errorf("%w: -duration and -setup-timeout must be positive, -settle not negative", errUsage))
	}
	if o.maxBad < 0 || o.maxBad > 100 {
		errs = append(errs, fmt.Errorf("%w: -max-bad must be 0 to 100", errUsage))
	}

	return errors.Join(errs...)
}

// loopbackURL checks that raw is a URL of scheme (or its TLS variant)
// whose host is a loopback IP literal or "localhost".
func loopbackURL(raw, scheme string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if u.Scheme != scheme && u.Scheme != scheme+"s" {
		return fmt.Errorf("%w: scheme %q, want %s or %ss", errUsage, u.Scheme, scheme, scheme)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: host %q", errLoopback, host)
	}

	return nil
}

// deadline is the longest a run with o can take: ramp, set-up, settle,
// measurement, hang-up, and slack for the scrapes.
func (o *options) deadline() time.Duration {
	ramp := time.Duration(float64(o.calls) / o.rate * float64(time.Second))

	return ramp + o.setupTimeout + o.settle + o.duration + 2*hangupTimeout + 30*time.Second
}
