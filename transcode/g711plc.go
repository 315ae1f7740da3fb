package transcode

// Packet loss concealment for G.711 input, after the method of ITU-T G.711
// Appendix I (waveform substitution by pitch-period repetition). G.711 has
// no decoder state to conceal from, so the concealer keeps its own history
// of the decoded 8 kHz audio and, when packets are lost, synthesises the
// gap by repeating the last pitch period of that history:
//
//   - The pitch period is the lag of 40 to 120 samples (5 to 15 ms, a
//     fundamental of 200 down to 66.7 Hz, the range Appendix I searches)
//     at which the last 20 ms of history best matches the audio one lag
//     earlier, by normalised cross-correlation. The search runs at full
//     resolution over every lag, once per gap (about 26000
//     multiply-adds).
//   - The gap repeats the last period; each wrap from the end of the
//     repeated stretch back to its start is smoothed by a cross-fade of a
//     quarter period, so repetition adds no click.
//   - After 10 ms of gap the repeated stretch widens to the last two
//     periods, after 20 ms to three, which avoids the buzz of one period
//     repeated for long; each widening is cross-faded over a quarter
//     period.
//   - From 10 ms into the gap the synthetic signal is attenuated linearly
//     by 20% per 10 ms, reaching silence at 60 ms.
//   - The first real packet after the gap is cross-faded from the
//     continuing synthetic signal over a quarter period plus 4 ms per
//     10 ms of gap beyond the first 10 ms (at most 10 ms), so the return
//     is smooth too.
//
// The history includes the concealed audio, so a second gap shortly after
// a first continues from what the listener heard.

const (
	// plcHistory is the history kept: three of the longest periods plus a
	// quarter period for the cross-fade, 48.75 ms at 8 kHz.
	plcHistory = 3*plcPitchMax + plcPitchMax/4
	// plcPitchMin and plcPitchMax bound the pitch period in 8 kHz samples.
	plcPitchMin = 40
	plcPitchMax = 120
	// plcWindow is the stretch of most recent history matched against the
	// audio one period earlier: 20 ms.
	plcWindow = 160
	// plcMinHistory is the real audio needed before concealment is tried:
	// the window and one longest period, 35 ms. A gap after less audio
	// (at the start of a stream or after a restart) is filled with
	// silence.
	plcMinHistory = plcWindow + plcPitchMax
	// plcStep is the interval after which the repetition widens by one
	// period and the attenuation steps: 10 ms.
	plcStep = 80
	// plcFade is the length of the attenuation to silence: 20% per 10 ms,
	// reached 50 ms after it starts (60 ms into the gap).
	plcFade = 5 * plcStep
	// plcMaxPeriods is the widest repetition, in pitch periods.
	plcMaxPeriods = 3
	// plcMaxReturn is the longest cross-fade into the first real packet.
	plcMaxReturn = 80
)

// g711PLC conceals lost G.711 packets. All storage is fixed in the struct:
// nothing allocates.
type g711PLC struct {
	hist  [plcHistory]int16 // the last audio produced, oldest first
	valid int               // samples of hist that hold audio of this stream

	src     [plcHistory]float32 // hist as the current gap began
	active  bool                // a gap was synthesised; the next packet fades in
	period  int                 // pitch period in samples
	overlap int                 // cross-fade length, a quarter period
	maxP    int                 // widest repetition the history allows
	periods int                 // periods repeated now
	pos     int                 // position in the repeated stretch
	oldP    int                 // repetition being faded out after a widening
	oldPos  int                 // its position
	xfade   int                 // samples of that fade left
	n       int                 // samples synthesised in this gap
}

// reset forgets the history: the stream restarted.
func (c *g711PLC) reset() {
	c.valid = 0
	c.active = false
	clear(c.hist[:])
}

// record appends pcm to the history.
func (c *g711PLC) record(pcm []int16) {
	if n := len(pcm); n >= plcHistory {
		copy(c.hist[:], pcm[n-plcHistory:])
	} else {
		copy(c.hist[:], c.hist[n:])
		copy(c.hist[plcHistory-n:], pcm)
	}
	c.valid = min(c.valid+len(pcm), plcHistory)
}

// recordG711 appends G.711 bytes held as slots of a passthrough queue,
// decoded from A-law when pcma, else mu-law.
func (c *g711PLC) recordG711(slots []int16, pcma bool) {
	if len(slots) > plcHistory {
		slots = slots[len(slots)-plcHistory:]
	}
	n := len(slots)
	copy(c.hist[:], c.hist[n:])
	codesToPCM(c.hist[plcHistory-n:], slots, pcma)
	c.valid = min(c.valid+n, plcHistory)
}

// recordSilence appends n silent samples.
func (c *g711PLC) recordSilence(n int) {
	n = min(n, plcHistory)
	copy(c.hist[:], c.hist[n:])
	clear(c.hist[plcHistory-n:])
	c.valid = min(c.valid+n, plcHistory)
}

// ready reports whether enough audio is known to conceal a gap.
func (c *g711PLC) ready() bool { return c.valid >= plcMinHistory }

// begin starts a new gap: it takes a snapshot of the history and estimates
// its pitch period. The caller checked ready.
func (c *g711PLC) begin() {
	for i, v := range c.hist {
		c.src[i] = float32(v)
	}
	c.period = pitchPeriod(&c.src)
	c.overlap = c.period / 4
	c.maxP = min(plcMaxPeriods, max(1, (c.valid-c.overlap)/c.period))
	c.periods, c.pos, c.xfade, c.n = 1, 0, 0, 0
	c.active = true
}

// pitchPeriod returns the lag in plcPitchMin..plcPitchMax samples that
// maximises the normalised cross-correlation of the last plcWindow samples
// of h with the samples one lag earlier: sum x[i]x[i-T] / sqrt(sum
// x[i-T]^2). A history with no correlation at any lag (silence, noise)
// gives the longest lag.
func pitchPeriod(h *[plcHistory]float32) int {
	w := h[plcHistory-plcWindow:]
	best, bestScore := plcPitchMax, 0.0
	for lag := plcPitchMin; lag <= plcPitchMax; lag++ {
		past := h[plcHistory-plcWindow-lag : plcHistory-lag]
		var num, energy float64
		for i, v := range w {
			p := float64(past[i])
			num += float64(v) * p
			energy += p * p
		}
		if energy <= 0 || num <= 0 {
			continue
		}
		// Compare num/sqrt(energy) without the square root: both sides are
		// positive.
		if score := num * num / energy; score > bestScore {
			best, bestScore = lag, score
		}
	}
	return best
}

// at returns sample k of the stretch of the last periods pitch periods of
// the snapshot, repeated: its last quarter period is cross-faded into the
// audio just before the stretch, so that wrapping from its end to its
// start is continuous.
func (c *g711PLC) at(periods, k int) float32 {
	l := periods * c.period
	b := plcHistory - l + k
	v := c.src[b]
	if d := k - (l - c.overlap); d >= 0 {
		w := float32(d+1) / float32(c.overlap+1)
		v = (1-w)*v + w*c.src[b-l]
	}
	return v
}

// sample returns the next sample of the synthetic signal.
func (c *g711PLC) sample() float32 {
	if c.n >= plcStep+plcFade {
		c.n++
		return 0
	}
	v := c.at(c.periods, c.pos)
	c.pos = (c.pos + 1) % (c.periods * c.period)
	if c.xfade > 0 {
		w := float32(c.xfade) / float32(c.overlap+1)
		v = w*c.at(c.oldP, c.oldPos) + (1-w)*v
		c.oldPos = (c.oldPos + 1) % (c.oldP * c.period)
		c.xfade--
	}
	if c.n > plcStep {
		v *= 1 - float32(c.n-plcStep)/plcFade
	}
	c.n++
	if c.n%plcStep == 0 && c.periods < c.maxP && c.n <= plcStep*(plcMaxPeriods-1) {
		// Widen by one period. The new stretch ends with the old one, so
		// position pos+period plays the same sample: the cross-fade only
		// covers the old stretch's own wrap fade.
		c.oldP, c.oldPos, c.xfade = c.periods, c.pos, c.overlap
		c.periods++
		c.pos += c.period
	}
	return v
}

// synthesize fills out with the continuation of the synthetic signal and
// records it in the history.
func (c *g711PLC) synthesize(out []int16) {
	for i := range out {
		out[i] = clamp16(c.sample())
	}
	c.record(out)
}

// returnLength is the length of the cross-fade into the first packet after
// the gap: a quarter period plus 4 ms per 10 ms of gap beyond the first
// 10 ms, at most plcMaxReturn.
func (c *g711PLC) returnLength() int {
	extra := max(0, c.n/plcStep-1) * 32
	return min(plcMaxReturn, c.overlap+extra)
}

// finish cross-fades the start of pcm, the first real audio after a gap,
// from the continuing synthetic signal, and ends the gap. It does not
// record pcm.
func (c *g711PLC) finish(pcm []int16) {
	if !c.active {
		return
	}
	c.active = false
	l := min(c.returnLength(), len(pcm))
	for i := range l {
		w := float32(i+1) / float32(l+1)
		pcm[i] = clamp16((1-w)*c.sample() + w*float32(pcm[i]))
	}
}

// finishG711 is finish for G.711 bytes held as slots of a passthrough
// queue (A-law when pcma, else mu-law): the faded samples are re-encoded.
func (c *g711PLC) finishG711(slots []int16, pcma bool) {
	if !c.active {
		return
	}
	faded := slots[:min(c.returnLength(), len(slots))]
	codesToPCM(faded, faded, pcma)
	c.finish(faded)
	pcmToCodes(faded, pcma)
}

// clamp16 rounds v to the nearest 16-bit sample, saturating.
func clamp16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}
