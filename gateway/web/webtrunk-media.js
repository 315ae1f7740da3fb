// webtrunk-media.js: the audio helpers of the Webtrunk browser client that
// are not signaling: the local ringback tone a call plays while the far end
// rings without early media, the list of audio devices, and the quality
// monitor behind a call's warnings, and the checks of Device.preflight.
// Import the public API from webtrunk.js.

import { WebtrunkError, errorText } from "./webtrunk-core.js";

/**
 * DEFAULT_RINGBACK is the ringback tone of the North American numbering
 * plan (440 + 480 Hz, 2 s on, 4 s off; ITU-T E.180 supplement 2), at a
 * tenth of full scale.
 */
export const DEFAULT_RINGBACK = Object.freeze({ frequencies: Object.freeze([440, 480]), onMs: 2000, offMs: 4000, volume: 0.1 });

/**
 * Ringback generates a ringback tone with WebAudio as a MediaStream, so
 * that it plays on the same audio element (and output device) as the far
 * end.
 */
export class Ringback {
  #opts;
  /** @type {AudioContext|null} */
  #ctx = null;
  /** @type {OscillatorNode[]} */
  #oscs = [];

  /**
   * @param {{frequencies?: number[], onMs?: number, offMs?: number, volume?: number}} [options]
   *   the tone; unset members are those of DEFAULT_RINGBACK
   */
  constructor(options = {}) {
    this.#opts = { ...DEFAULT_RINGBACK, ...options };
  }

  /**
   * start starts the tone and returns its stream; it returns null when the
   * browser has no WebAudio.
   * @returns {MediaStream|null}
   */
  start() {
    this.stop();
    if (typeof AudioContext === "undefined") {
      return null;
    }
    const { frequencies, onMs, offMs, volume } = this.#opts;
    const ctx = new AudioContext();
    this.#ctx = ctx;
    ctx.resume().catch(() => {});
    const dest = ctx.createMediaStreamDestination();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(dest);
    // The cadence is scheduled ahead for 100 periods (10 minutes with the
    // default), longer than any ring timeout.
    const period = (onMs + offMs) / 1000;
    const t0 = ctx.currentTime;
    for (let i = 0; i < 100; i++) {
      gain.gain.setValueAtTime(volume / Math.max(1, frequencies.length), t0 + i * period);
      gain.gain.setValueAtTime(0, t0 + i * period + onMs / 1000);
    }
    this.#oscs = frequencies.map((f) => {
      const o = ctx.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      return o;
    });
    return dest.stream;
  }

  /** stop stops the tone and releases its audio context. */
  stop() {
    for (const o of this.#oscs) {
      o.stop();
    }
    this.#oscs = [];
    this.#ctx?.close().catch(() => {});
    this.#ctx = null;
  }
}

/**
 * listAudioDevices lists the browser's microphones and speakers
 * (MediaDevices.enumerateDevices). Labels are empty until the page has
 * been granted the microphone once.
 * @returns {Promise<{inputs: MediaDeviceInfo[], outputs: MediaDeviceInfo[]}>}
 */
export async function listAudioDevices() {
  const md = globalThis.navigator?.mediaDevices;
  if (!md?.enumerateDevices) {
    return { inputs: [], outputs: [] };
  }
  const all = await md.enumerateDevices();
  return {
    inputs: all.filter((d) => d.kind === "audioinput"),
    outputs: all.filter((d) => d.kind === "audiooutput"),
  };
}

/**
 * DEFAULT_QUALITY holds the thresholds of the quality warnings: packet loss
 * of the far end's audio (fraction), its jitter and the round-trip time (ms),
 * the estimated MOS (1 to 5), and how long the microphone may stay at zero
 * level before "microphone_silent" (ms). Figures are sampled every
 * intervalMs; a warning is raised after two samples past its threshold and
 * cleared after two within it.
 */
export const DEFAULT_QUALITY = Object.freeze({
  intervalMs: 2000,
  maxLoss: 0.05,
  maxJitterMs: 30,
  maxRttMs: 400,
  minMos: 3.5,
  silentMs: 5000,
});

/**
 * mosEstimate estimates the mean opinion score (1 to 5) of a G.711-like
 * call from its round-trip time and jitter (ms) and loss (fraction), with
 * the simplified E-model (ITU-T G.107): the one-way delay and twice the
 * jitter lower R, as does each percent of loss.
 * @param {number} rttMs
 * @param {number} jitterMs
 * @param {number} loss
 * @returns {number}
 */
export function mosEstimate(rttMs, jitterMs, loss) {
  const latency = rttMs / 2 + 2 * jitterMs + 10;
  let r = 93.2 - (latency < 160 ? latency / 40 : (latency - 120) / 10) - 2.5 * loss * 100;
  r = Math.max(0, Math.min(100, r));
  return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r);
}

/**
 * QualityMonitor samples a call's own WebRTC statistics (W3C webrtc-stats:
 * inbound-rtp packetsLost, packetsReceived and jitter; the selected
 * candidate pair's currentRoundTripTime, else remote-inbound-rtp
 * roundTripTime) and its microphone level, and reports each warning as it
 * is raised and cleared: "high_loss", "high_jitter", "high_rtt", "low_mos",
 * "microphone_silent".
 */
export class QualityMonitor {
  #opts;
  #getStats;
  #report;
  #timer = 0;
  #last = null;
  /** @type {Map<string, {raised: boolean, bad: number, good: number}>} */
  #state = new Map();
  /** @type {AudioContext|null} */
  #ctx = null;
  /** @type {AnalyserNode|null} */
  #analyser = null;
  #silentSince = 0;
  #muted = () => false;
  /** figures is the last sample: {loss, jitterMs, rttMs, mos, micLevel}. */
  figures = { loss: 0, jitterMs: 0, rttMs: 0, mos: 0, micLevel: 0 };

  /**
   * @param {() => Promise<RTCStatsReport|null>} getStats the call's getStats
   * @param {(name: string, raised: boolean, value: number, threshold: number) => void} report
   * @param {object} [options] thresholds; unset members are DEFAULT_QUALITY's
   */
  constructor(getStats, report, options = {}) {
    this.#getStats = getStats;
    this.#report = report;
    this.#opts = { ...DEFAULT_QUALITY, ...options };
  }

  /**
   * start samples every intervalMs, the microphone from stream (muted
   * says when silence is expected).
   * @param {MediaStream|null} stream
   * @param {() => boolean} muted
   */
  start(stream, muted) {
    this.#muted = muted;
    this.setStream(stream);
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#sample(), this.#opts.intervalMs);
  }

  /**
   * setStream follows a new microphone stream (after an input change).
   * @param {MediaStream|null} stream
   */
  setStream(stream) {
    this.#ctx?.close().catch(() => {});
    this.#ctx = null;
    this.#analyser = null;
    this.#silentSince = 0;
    if (!stream || typeof AudioContext === "undefined") {
      return;
    }
    this.#ctx = new AudioContext();
    this.#ctx.resume().catch(() => {});
    this.#analyser = this.#ctx.createAnalyser();
    this.#analyser.fftSize = 2048;
    this.#ctx.createMediaStreamSource(stream).connect(this.#analyser);
  }

  /** stop ends the sampling and clears every raised warning silently. */
  stop() {
    clearInterval(this.#timer);
    this.#timer = 0;
    this.#ctx?.close().catch(() => {});
    this.#ctx = null;
    this.#analyser = null;
  }

  async #sample() {
    let report;
    try {
      report = await this.#getStats();
    } catch {
      return;
    }
    if (!report || !this.#timer) {
      return;
    }
    let lost = 0;
    let received = 0;
    let jitter = 0;
    let rtt = -1;
    let remoteRtt = -1;
    let pairId = "";
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        jitter = Math.max(jitter, s.jitter || 0);
      } else if (s.type === "transport" && s.selectedCandidatePairId) {
        pairId = s.selectedCandidatePairId;
      } else if (s.type === "remote-inbound-rtp" && typeof s.roundTripTime === "number") {
        remoteRtt = s.roundTripTime;
      }
    });
    report.forEach((s) => {
      if (s.type === "candidate-pair" && typeof s.currentRoundTripTime === "number" && (s.id === pairId || (!pairId && s.nominated && s.state === "succeeded"))) {
        rtt = s.currentRoundTripTime;
      }
    });
    if (rtt < 0) {
      rtt = Math.max(0, remoteRtt);
    }
    const f = this.figures;
    if (this.#last) {
      const dl = lost - this.#last.lost;
      const dr = received - this.#last.received;
      // No packet at all (on hold) tells nothing about loss.
      f.loss = dl + dr > 0 ? Math.max(0, dl) / (Math.max(0, dl) + Math.max(0, dr)) : 0;
    }
    this.#last = { lost, received };
    f.jitterMs = jitter * 1000;
    f.rttMs = rtt * 1000;
    f.mos = mosEstimate(f.rttMs, f.jitterMs, f.loss);
    f.micLevel = this.#micLevel();
    const o = this.#opts;
    this.#judge("high_loss", f.loss > o.maxLoss, f.loss, o.maxLoss);
    this.#judge("high_jitter", f.jitterMs > o.maxJitterMs, f.jitterMs, o.maxJitterMs);
    this.#judge("high_rtt", f.rttMs > o.maxRttMs, f.rttMs, o.maxRttMs);
    this.#judge("low_mos", f.mos < o.minMos, f.mos, o.minMos);
    if (this.#analyser) {
      const now = Date.now();
      const silent = f.micLevel < 1e-4 && !this.#muted();
      this.#silentSince = silent ? this.#silentSince || now : 0;
      const long = silent && now - this.#silentSince >= o.silentMs;
      this.#judge("microphone_silent", long, f.micLevel, 0, true);
    }
  }

  /** #micLevel is the RMS of the microphone's last 2048 samples (0 to 1). */
  #micLevel() {
    if (!this.#analyser) {
      return 0;
    }
    const buf = new Float32Array(this.#analyser.fftSize);
    this.#analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) {
      sum += v * v;
    }
    return Math.sqrt(sum / buf.length);
  }

  #judge(name, bad, value, threshold, immediate = false) {
    let st = this.#state.get(name);
    if (!st) {
      st = { raised: false, bad: 0, good: 0 };
      this.#state.set(name, st);
    }
    if (bad) {
      st.bad++;
      st.good = 0;
    } else {
      st.good++;
      st.bad = 0;
    }
    const need = immediate ? 1 : 2;
    if (!st.raised && st.bad >= need) {
      st.raised = true;
      this.#report(name, true, value, threshold);
    } else if (st.raised && st.good >= need) {
      st.raised = false;
      this.#report(name, false, value, threshold);
    }
  }
}

/**
 * checkMicrophone opens the microphone (constraints as a call would, on
 * deviceId when set) for sampleMs and reports its label and peak RMS level
 * in dBFS; ok when the level is above -70 dBFS (a muted or dead microphone
 * gives silence). Failures to open it come back as error (a WebtrunkError
 * of the microphone codes), never as a rejection.
 * @param {MediaTrackConstraints|boolean|undefined} audio
 * @param {string|undefined} deviceId
 * @param {number} sampleMs
 */
export async function checkMicrophone(audio, deviceId, sampleMs) {
  let constraints = audio ?? true;
  if (deviceId) {
    constraints = { ...(typeof constraints === "object" ? constraints : {}), deviceId: { exact: deviceId } };
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: constraints, video: false });
  } catch (e) {
    const code = e?.name === "NotAllowedError" || e?.name === "SecurityError" ? "microphone_denied"
      : e?.name === "NotFoundError" || e?.name === "OverconstrainedError" ? "microphone_not_found" : "microphone_unavailable";
    return { ok: false, label: "", levelDb: -Infinity, error: new WebtrunkError(code, "getUserMedia: " + errorText(e), { cause: e }) };
  }
  const track = stream.getAudioTracks()[0];
  let peak = 0;
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(an);
    const buf = new Float32Array(an.fftSize);
    const end = performance.now() + sampleMs;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) {
        sum += v * v;
      }
      peak = Math.max(peak, Math.sqrt(sum / buf.length));
    }
  } finally {
    ctx.close().catch(() => {});
    stream.getTracks().forEach((t) => t.stop());
  }
  const levelDb = peak > 0 ? 20 * Math.log10(peak) : -Infinity;
  return { ok: levelDb > -70, label: track?.label || "", levelDb };
}

/**
 * checkGathering gathers ICE candidates with iceServers (RFC 8445 section
 * 5.1.1) for at most timeoutMs and reports the candidate types found
 * ("host", "srflx" with a reachable STUN server, "relay" with a reachable
 * TURN server); ok when at least one was found.
 * @param {RTCIceServer[]} iceServers
 * @param {number} timeoutMs
 */
export async function checkGathering(iceServers, timeoutMs) {
  if (typeof RTCPeerConnection === "undefined") {
    return { ok: false, candidateTypes: [], error: "no WebRTC" };
  }
  const pc = new RTCPeerConnection({ iceServers });
  const types = new Set();
  try {
    pc.addTransceiver("audio", { direction: "recvonly" });
    const done = new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      pc.onicecandidate = (ev) => {
        if (!ev.candidate) {
          clearTimeout(timer);
          resolve();
        } else if (ev.candidate.type) {
          types.add(ev.candidate.type);
        }
      };
    });
    await pc.setLocalDescription(await pc.createOffer());
    await done;
  } catch (e) {
    return { ok: false, candidateTypes: [...types], error: errorText(e) };
  } finally {
    pc.close();
  }
  return { ok: types.size > 0, candidateTypes: [...types] };
}
