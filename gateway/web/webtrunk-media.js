// webtrunk-media.js: the audio helpers of the Webtrunk browser client that
// are not signaling: the local ringback tone a call plays while the far end
// rings without early media. Import the public API from webtrunk.js.

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
