package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// rssInterval is how often the gateway's memory is sampled during the
// steady state.
const rssInterval = time.Second

// runner carries out one measurement.
type runner struct {
	o     *options
	log   *slog.Logger
	procs string // /proc root
	gw    proc   // the gateway; pid 0 when not found
	self  proc
}

// run ramps the calls up, lets them settle, measures the steady state for
// the configured duration, hangs every call up and builds the report. It
// returns an error only when the run could not take place at all.
func (r *runner) run(ctx context.Context) (*report, error) {
	o := r.o
	rep := &report{Started: time.Now().UTC(), Codec: o.codec, Calls: o.calls, Rate: o.rate}
	if cpus, err := r.self.cpus(); err == nil {
		rep.Host.NProc = len(cpus) // the machine's, not this process's affinity (runtime.NumCPU)
	}
	rep.Host.CPUModel = cpuModel(r.procs)
	if la, err := loadAverage(r.procs); err == nil {
		rep.Host.LoadAvg = la
		if la[0] > 0.5*float64(rep.Host.NProc) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("load average %.2f at start: other work competes for the CPUs", la[0]))
		}
	}
	api, capab, err := newAPI(o.codec)
	if err != nil {
		return nil, err
	}

	var before gatewayCounters
	haveMetrics := false
	if o.metricsURL != "" {
		if before, err = scrape(ctx, o.metricsURL); err != nil {
			rep.Warnings = append(rep.Warnings, "gateway metrics not read: "+err.Error())
		} else {
			haveMetrics = true
		}
	}
	if r.gw.pid != 0 {
		rep.Gateway.PID = r.gw.pid
		if rss, err := r.gw.rss(); err == nil {
			rep.Gateway.RSSIdleKiB = rss
		}
	}

	// Ramp: call i starts at i/rate seconds.
	var snd sender
	sctx, stopSender := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { snd.run(sctx) })
	defer func() {
		stopSender()
		bg.Wait()
	}()

	var counting atomic.Bool
	calls := make([]*call, o.calls)
	up := make(chan *call, o.calls)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range calls {
		c := newCall(i, o, &counting)
		calls[i] = c
		at := start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))
		wait := time.NewTimer(time.Until(at))
		select {
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			close(stop)
			wg.Wait()

			return nil, fmt.Errorf("loadgen: ramp: %w", ctx.Err())
		}
		wg.Go(func() { c.run(ctx, api, capab, &snd, up, stop) })
	}
	connected := 0
	for range calls {
		c := <-up // every call reports once, bounded by its set-up timeout
		if c.err == nil {
			connected++
		}
	}
	r.log.Info("calls set up", "connected", connected, "of", o.calls, "ramp", time.Since(start).Round(time.Millisecond))

	// Steady state.
	if err := sleep(ctx, o.settle); err != nil {
		close(stop)
		wg.Wait()

		return nil, err
	}
	counting.Store(true)
	w0 := r.sample(calls)
	for _, c := range calls {
		c.rx.maxGapNs.Store(0) // from here on, the steady state's largest gap
	}
	var rssSum, rssN uint64
	tick := time.NewTicker(rssInterval)
	end := time.NewTimer(o.duration)
measure:
	for {
		select {
		case <-tick.C:
			if r.gw.pid != 0 {
				if v, err := r.gw.rss(); err == nil {
					rssSum += v
					rssN++
				}
			}
		case <-end.C:
			break measure
		case <-ctx.Done():
			break measure
		}
	}
	tick.Stop()
	end.Stop()
	w1 := r.sample(calls)
	counting.Store(false)
	if rssN > 0 {
		rep.Gateway.RSSKiB = rssSum / rssN
	}

	r.log.Info("hanging up")
	close(stop)
	wg.Wait()
	stopSender()
	bg.Wait()

	if haveMetrics {
		after, err := scrape(context.WithoutCancel(ctx), o.metricsURL)
		if err != nil {
			rep.Warnings = append(rep.Warnings, "gateway metrics not read after the run: "+err.Error())
		} else {
			d := after.sub(before)
			rep.Media.Gateway = &d
			rep.Media.UplinkLostPct = pct(d.UplinkLost, d.UplinkPackets+d.UplinkLost)
		}
	}
	r.fill(rep, calls, w0, w1, &snd)

	return rep, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("loadgen: %w", ctx.Err())
	}
}

// sample is the state of everything measured at one instant.
type sample struct {
	at      time.Time
	gwCPU   time.Duration
	selfCPU time.Duration
	cpus    map[int]cpuTimes
	rx      []rxSnapshot
	sent    []uint64
	tone    [][2]uint64 // blocks, blocks with the tone
}

// sample reads the clocks and every call's counters, resetting the
// largest inter-arrival gap so that the next sample's covers only its own
// stretch.
func (r *runner) sample(calls []*call) sample {
	s := sample{at: time.Now()}
	if r.gw.pid != 0 {
		s.gwCPU, _ = r.gw.cpu()
	}
	s.selfCPU, _ = r.self.cpu()
	s.cpus, _ = r.self.cpus()
	s.rx = make([]rxSnapshot, len(calls))
	s.sent = make([]uint64, len(calls))
	s.tone = make([][2]uint64, len(calls))
	for i, c := range calls {
		s.rx[i] = c.rx.snapshot()
		s.sent[i] = c.tx.sent.Load()
		s.tone[i] = [2]uint64{c.tone.blocks.Load(), c.tone.withTone.Load()}
	}

	return s
}

// fill computes the report's figures from the calls and the two samples
// around the steady state w0 and w1.
func (r *runner) fill(rep *report, calls []*call, w0, w1 sample, snd *sender) {
	o := r.o
	window := w1.at.Sub(w0.at)
	rep.WindowS = window.Seconds()
	var setups []time.Duration
	var callSeconds float64
	var maxGap time.Duration
	for i, c := range calls {
		row := callRow{ID: c.id, ToneHz: c.freq}
		if c.connected.IsZero() {
			rep.Setup.Failed++
			if rep.Setup.Errors == nil {
				rep.Setup.Errors = make(map[string]int)
			}
			msg := "unknown"
			if c.err != nil {
				msg = c.err.Error()
			}
			rep.Setup.Errors[msg]++
			row.Error = msg
			rep.PerCall = append(rep.PerCall, row)

			continue
		}
		rep.Setup.Connected++
		setups = append(setups, c.setup)
		row.SetupMs = ms(c.setup)
		callSeconds += c.ended.Sub(c.connected).Seconds()
		rx := w1.rx[i].sub(w0.rx[i])
		row.Sent = w1.sent[i] - w0.sent[i]
		row.Received, row.Lost, row.Late = rx.Received, rx.Lost(), rx.Late
		blocks, withTone := w1.tone[i][0]-w0.tone[i][0], w1.tone[i][1]-w0.tone[i][1]
		row.TonePct = pct(float64(withTone), float64(blocks))
		row.ToneOK = blocks > 0 && row.TonePct >= 100*tonePresent
		if c.dropped.Load() {
			row.Dropped = true
			row.Error = fmt.Sprint(c.err)
			rep.Media.CallsDropped++
		}
		if row.ToneOK {
			rep.Media.CallsWithTone++
		}
		rep.Media.UplinkSent += row.Sent
		rep.Media.DownlinkReceived += rx.Received
		rep.Media.DownlinkExpected += rx.Expected
		rep.Media.Lost += row.Lost
		rep.Media.Late += row.Late
		maxGap = max(maxGap, time.Duration(c.rx.maxGapNs.Load()))
		rep.Loadgen.Skipped += c.tx.skipped.Load()
		rep.Loadgen.SendErrors += c.tx.errors.Load()
		rep.Loadgen.BehindTicks += c.tx.behind.Load()
		rep.PerCall = append(rep.PerCall, row)
	}
	rep.Loadgen.LateTicks = snd.late.Load()
	rep.Setup.P50Ms = ms(percentile(setups, 50))
	rep.Setup.P90Ms = ms(percentile(setups, 90))
	rep.Setup.P99Ms = ms(percentile(setups, 99))
	rep.Setup.MaxMs = ms(percentile(setups, 100))
	rep.Media.LostPct = pct(float64(rep.Media.Lost), float64(rep.Media.DownlinkExpected))
	rep.Media.LatePct = pct(float64(rep.Media.Late), float64(rep.Media.DownlinkReceived))
	rep.Media.MaxGapMs = ms(maxGap)

	if r.gw.pid != 0 && window > 0 {
		rep.Gateway.CPUPct = pct(float64(w1.gwCPU-w0.gwCPU), float64(window))
		if rep.Setup.Connected > 0 {
			n := float64(rep.Setup.Connected)
			rep.Gateway.CPUPerCall = rep.Gateway.CPUPct / n
			if rep.Gateway.RSSKiB > rep.Gateway.RSSIdleKiB {
				rep.Gateway.RSSPerCall = float64(rep.Gateway.RSSKiB-rep.Gateway.RSSIdleKiB) / n
			}
			if g := rep.Media.Gateway; g != nil && callSeconds > 0 {
				rep.Gateway.TranscodeWallPerCall = 100 * (g.UplinkTranscodeS + g.DownlinkTranscodeS) / callSeconds
			}
		}
	}
	if window > 0 {
		rep.Loadgen.CPUPct = pct(float64(w1.selfCPU-w0.selfCPU), float64(window))
	}
	for n := range len(w1.cpus) {
		a, b := w0.cpus[n], w1.cpus[n]
		rep.CPUs = append(rep.CPUs, cpuBusy{CPU: n, BusyPct: pct(float64(b.Busy-a.Busy), float64(b.Total-a.Total))})
	}
	rep.Pass, rep.Verdict = verdict(rep, o.maxBad)
}

// verdict decides whether the run carried its calls cleanly: all set up,
// none dropped, every call's tone heard, lost and late packets each within
// maxBad percent, and a load generator that kept its pace.
func verdict(rep *report, maxBad float64) (bool, string) {
	var why []string
	if rep.Setup.Failed > 0 {
		why = append(why, fmt.Sprintf("%d calls failed to set up", rep.Setup.Failed))
	}
	if rep.Media.CallsDropped > 0 {
		why = append(why, fmt.Sprintf("%d calls dropped", rep.Media.CallsDropped))
	}
	if rep.Media.CallsWithTone < rep.Setup.Connected {
		why = append(why, fmt.Sprintf("%d calls without their tone", rep.Setup.Connected-rep.Media.CallsWithTone))
	}
	if rep.Media.DownlinkReceived == 0 {
		why = append(why, "no audio received")
	}
	if rep.Media.LostPct >= maxBad {
		why = append(why, fmt.Sprintf("%.3f %% lost", rep.Media.LostPct))
	}
	if rep.Media.UplinkLostPct >= maxBad {
		why = append(why, fmt.Sprintf("%.3f %% lost on the uplink", rep.Media.UplinkLostPct))
	}
	if rep.Media.LatePct >= maxBad {
		why = append(why, fmt.Sprintf("%.3f %% late", rep.Media.LatePct))
	}
	if rep.Loadgen.Skipped > 0 {
		why = append(why, fmt.Sprintf("the load generator fell behind (%d frames skipped)", rep.Loadgen.Skipped))
	}
	if len(why) == 0 {
		return true, fmt.Sprintf("PASS: %d calls, lost and late under %.2g %%", rep.Setup.Connected, maxBad)
	}
	msg := "FAIL:"
	for i, w := range why {
		if i > 0 {
			msg += ";"
		}
		msg += " " + w
	}

	return false, msg
}

// execute runs one measurement with o and writes its outputs; it returns
// the exit code.
func execute(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	// Pinned to one CPU, the runtime would run a single P, and the
	// sender's timer wake-ups would queue behind hundreds of receiving
	// goroutines: a second P lets the kernel schedule the sender as soon
	// as its tick fires.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	r := &runner{o: o, log: logger, procs: "/proc", self: proc{root: "/proc", pid: os.Getpid()}}
	pid := o.gatewayPID
	if pid == 0 {
		var err error
		if pid, err = findPID("/proc", o.gatewayName, os.Getpid()); err != nil {
			logger.Warn("gateway CPU and memory not measured", "error", err)
			pid = 0
		}
	}
	r.gw = proc{root: "/proc", pid: pid}
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	rep, err := r.run(ctx)
	if err != nil {
		logger.Error("run failed", "error", err)

		return 1
	}
	if err := rep.writeTable(stdout); err != nil {
		logger.Error("report", "error", err)

		return 1
	}
	if o.jsonPath != "" {
		if err := rep.writeJSON(o.jsonPath); err != nil {
			logger.Error("report", "error", err)

			return 1
		}
	}
	if !rep.Pass {
		return 3
	}

	return 0
}
