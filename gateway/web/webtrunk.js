// webtrunk.js: browser client of the Webtrunk gateway, signaling protocol
// version 1 (docs/protocol.md). A dependency-free ES module: import it with
//
//   import { Device } from "/webtrunk.js";
//
// A Device holds one authenticated WebSocket to the gateway; every call is a
// Call with its own RTCPeerConnection. The browser is always the WebRTC
// offerer (RFC 3264); local ICE candidates are trickled (RFC 8838). The API
// reference is docs/client.md. The library is three files served side by
// side: this entry module, webtrunk-call.js and webtrunk-core.js.

import { Call } from "./webtrunk-call.js";
import { Emitter, ErrorCode, PROTOCOL_VERSION, WebtrunkError, checkWebRTC, normalizeNumber } from "./webtrunk-core.js";
import { checkGathering, checkMicrophone, listAudioDevices } from "./webtrunk-media.js";

export { Call } from "./webtrunk-call.js";
export {
  ErrorCode,
  PROTOCOL_VERSION,
  WebtrunkError,
  describeError,
  describeHangup,
  normalizeNumber,
} from "./webtrunk-core.js";
export { DEFAULT_QUALITY, DEFAULT_RINGBACK, listAudioDevices, mosEstimate } from "./webtrunk-media.js";

/**
 * MAX_BUSY_RETRIES is how many times connect sends its credentials again
 * when the gateway answers try_later (busy checking other logins), waiting
 * a little longer each time, before it gives up with that error.
 */
const MAX_BUSY_RETRIES = 8;

/**
 * @typedef {object} DeviceOptions
 * @property {string} [url] WebSocket URL; default ws(s)://<page host>/ws
 * @property {string} [token] JWT issued by your backend (HS256, sub = user id)
 * @property {string} [user] configured user id (with password)
 * @property {string} [password] configured user's password
 * @property {MediaTrackConstraints|boolean} [audio] getUserMedia audio
 *   constraints; default echo cancellation, noise suppression and auto gain on
 * @property {RTCConfiguration} [rtcConfiguration] merged into every
 *   RTCPeerConnection's configuration; iceServers default to the gateway's
 * @property {HTMLAudioElement|((call: Call) => HTMLAudioElement)} [audioElement]
 *   where remote audio plays; default a new detached Audio element per call
 * @property {boolean} [reconnect] reconnect after a lost connection (with
 *   back-off from 1 s to 30 s); default true
 * @property {number} [answerTimeoutMs] how long to wait for the gateway's
 *   SDP answer; default 20000 ms
 * @property {number} [pingIntervalMs] keep-alive period; default 20000 ms
 * @property {string[]} [preferredCodecs] audio codecs to offer first, in
 *   order, e.g. ["PCMU"] for G.711 passthrough to a PCMU trunk; default the
 *   browser's order (Opus first)
 * @property {boolean|{frequencies?: number[], onMs?: number, offMs?: number, volume?: number}} [ringback]
 *   the local ringback tone an outbound call plays while the far end rings
 *   without early media; false turns it off; default 440 + 480 Hz, 2 s on,
 *   4 s off
 * @property {string} [inputDeviceId] the microphone of new calls (from
 *   listAudioDevices); default the browser's
 * @property {string} [outputDeviceId] the speaker of new calls; default the
 *   browser's
 * @property {boolean|object} [qualityWarnings] thresholds of the calls'
 *   "warning" events (see DEFAULT_QUALITY); false turns them off
 * @property {boolean} [resume] keep calls up across a lost connection by
 *   resuming with the gateway's resume token; default true
 */

/**
 * @typedef {object} PreflightReport
 * @property {{ok: boolean, label: string, levelDb: number, error?: WebtrunkError}} microphone
 * @property {{ok: boolean, candidateTypes: string[], error?: string}} ice
 * @property {number|null} signalingRttMs
 */

/**
 * Device is one signed-in connection to the gateway: it places calls with
 * call() and emits "incoming" for calls to the user's numbers.
 *
 * Events: "registered" ({user, maxCalls}), "unregistered" ({error?}),
 * "reconnecting" ({attempt, delayMs}), "incoming" (Call), "devicechange"
 * ({inputs, outputs}: a microphone or speaker was plugged in or out),
 * "error" (WebtrunkError), "suspended" ({calls, windowMs}: the connection
 * was lost and calls wait for a resume), "resumed" ({calls}: the calls went
 * on).
 */
export class Device extends Emitter {
  /** @type {DeviceOptions} */
  #opts;
  /** @type {WebSocket|null} */
  #ws = null;
  #state = "disconnected";
  #user = "";
  #maxCalls = 0;
  /** @type {RTCIceServer[]} */
  #iceServers = [];
  /** @type {Map<string, Call>} */
  #calls = new Map();
  /** @type {string[]} ids of the last calls that ended (late replies about them are dropped) */
  #ended = [];
  #wanted = false;
  #attempt = 0;
  #reconnectTimer = 0;
  #pingTimer = 0;
  #pongMissing = 0;
  #seq = 0;
  /** @type {Map<string, () => void>} preflight pings waiting for their pong */
  #pongWaiters = new Map();
  #networkWatched = false;
  /** Resuming after a lost connection (docs/protocol.md). */
  #resume = { token: "", windowMs: 0, deadline: 0, pending: false, timer: 0 };

  /**
   * @param {DeviceOptions} [options]
   */
  constructor(options = {}) {
    super();
    this.#opts = { reconnect: true, resume: true, answerTimeoutMs: 20000, pingIntervalMs: 20000, ...options };
    globalThis.navigator?.mediaDevices?.addEventListener?.("devicechange", () => {
      listAudioDevices().then((d) => this.emit("devicechange", d), () => {});
    });
  }

  /**
   * getAudioDevices lists the microphones and speakers (see
   * listAudioDevices).
   * @returns {Promise<{inputs: MediaDeviceInfo[], outputs: MediaDeviceInfo[]}>}
   */
  getAudioDevices() {
    return listAudioDevices();
  }

  /**
   * setInputDevice makes deviceId the microphone of new calls and switches
   * every call in progress to it (Call.setInputDevice).
   * @param {string} deviceId
   * @returns {Promise<void>}
   */
  async setInputDevice(deviceId) {
    this.#opts.inputDeviceId = deviceId;
    await Promise.all(this.calls.filter((c) => c.localStream).map((c) => c.setInputDevice(deviceId)));
  }

  /**
   * preflight checks what a first call needs, before it is placed: the
   * microphone (opened for sampleMs, its label and peak RMS level in dBFS;
   * ok when above -70 dBFS), the signaling round trip to the gateway (the
   * median of three pings, ms; needs a registered device), and ICE
   * candidate gathering with the gateway's STUN/TURN servers (the candidate
   * types found, "relay" proving TURN reachable). It does not check ICE to
   * the gateway's media port itself, which only a call does.
   * @param {{sampleMs?: number, timeoutMs?: number}} [options]
   * @returns {Promise<PreflightReport>}
   */
  async preflight(options = {}) {
    const sampleMs = options.sampleMs ?? 1000;
    const timeoutMs = options.timeoutMs ?? 5000;
    const [microphone, ice, rttMs] = await Promise.all([
      checkMicrophone(this.#opts.audio, this.#opts.inputDeviceId, sampleMs),
      checkGathering(this.#iceServers, timeoutMs),
      this.#signalingRTT(timeoutMs),
    ]);
    return { microphone, ice, signalingRttMs: rttMs };
  }

  /** #signalingRTT is the median of three ping round trips, ms (null unregistered or on timeout). */
  async #signalingRTT(timeoutMs) {
    if (this.#state !== "registered") {
      return null;
    }
    const times = [];
    for (let i = 0; i < 3; i++) {
      const ref = "pf" + ++this.#seq;
      const start = performance.now();
      const ok = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.#pongWaiters.set(ref, () => {
          clearTimeout(timer);
          resolve(true);
        });
        if (!this.#send({ type: "ping", ref })) {
          clearTimeout(timer);
          resolve(false);
        }
      });
      this.#pongWaiters.delete(ref);
      if (!ok) {
        return null;
      }
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return Math.round(times[1]);
  }

  /**
   * setOutputDevice makes deviceId the speaker of new calls and of every
   * call in progress (Call.setOutputDevice).
   * @param {string} deviceId
   * @returns {Promise<void>}
   */
  async setOutputDevice(deviceId) {
    this.#opts.outputDeviceId = deviceId;
    await Promise.all(this.calls.map((c) => c.setOutputDevice(deviceId)));
  }

  /** state is "disconnected", "connecting" or "registered". */
  get state() {
    return this.#state;
  }

  /** user is the signed-in user id ("" before registration). */
  get user() {
    return this.#user;
  }

  /** maxCalls is how many calls the user may have at once (0: unlimited). */
  get maxCalls() {
    return this.#maxCalls;
  }

  /** calls lists the calls that have not ended. @returns {Call[]} */
  get calls() {
    return [...this.#calls.values()];
  }

  /**
   * updateToken replaces the JWT used by the next (re)connection.
   * @param {string} token
   */
  updateToken(token) {
    this.#opts.token = token;
  }

  /**
   * connect opens the WebSocket and authenticates. It resolves with the
   * registration once the gateway accepted the credentials.
   * @returns {Promise<{user: string, maxCalls: number}>}
   * @throws {WebtrunkError} unauthorized, unsupported_version,
   *   connection_failed, origin_not_allowed
   */
  connect() {
    this.#wanted = true;
    clearTimeout(this.#reconnectTimer);
    return this.#open();
  }

  /**
   * disconnect hangs up every call and closes the connection; no reconnection follows.
   */
  disconnect() {
    this.#wanted = false;
    clearTimeout(this.#reconnectTimer);
    this.#forgetResume();
    for (const call of this.#calls.values()) {
      call.hangup();
    }
    this.#closeSocket();
    this.#setUnregistered(undefined);
  }

  /**
   * call places an outbound call to number. It returns the Call at once;
   * failures after that (microphone, refusal by the gateway, ICE) end the call
   * with a "disconnected" event whose error says why.
   * @param {string} number the number as typed (formatting is stripped)
   * @param {{audio?: MediaTrackConstraints|boolean, preferredCodecs?: string[], privacy?: "id"}} [options]
   *   privacy "id" withholds the caller's number on this call
   * @returns {Call}
   * @throws {WebtrunkError} not_connected, invalid_number, too_many_calls,
   *   webrtc_unsupported
   */
  call(number, options = {}) {
    if (this.#state !== "registered") {
      throw new WebtrunkError(ErrorCode.NOT_CONNECTED, "device is not registered");
    }
    const to = normalizeNumber(number);
    if (this.#maxCalls > 0 && this.#calls.size >= this.#maxCalls) {
      throw new WebtrunkError(ErrorCode.TOO_MANY_CALLS, "at most " + this.#maxCalls + " calls");
    }
    checkWebRTC();
    const call = new Call(this.#link(), newCallId(), "outbound", { to });
    this.#calls.set(call.id, call);
    call._dial(options);
    return call;
  }

  #link() {
    return {
      send: (msg) => this.#send(msg),
      remove: (id) => {
        this.#calls.delete(id);
        this.#ended.push(id);
        if (this.#ended.length > 32) {
          this.#ended.shift();
        }
      },
      opts: this.#opts,
      iceServers: () => this.#iceServers,
    };
  }

  #open() {
    if (typeof WebSocket === "undefined") {
      return Promise.reject(new WebtrunkError(ErrorCode.WEBRTC_UNSUPPORTED, "no WebSocket"));
    }
    this.#closeSocket();
    this.#state = "connecting";
    const url = this.#opts.url || defaultURL();
    return new Promise((resolve, reject) => {
      let settled = false;
      let busyRetries = 0;
      const ws = new WebSocket(url);
      this.#ws = ws;
      const fail = (err) => {
        if (!settled) {
          settled = true;
          reject(err);
        }
      };
      const sendAuth = () => {
        const auth = { type: "auth", version: PROTOCOL_VERSION };
        if (this.#resume.pending) {
          auth.resume_token = this.#resume.token;
          if (this.#user) {
            auth.user = this.#user;
          }
        } else if (this.#opts.token) {
          auth.token = this.#opts.token;
        } else {
          auth.user = this.#opts.user || "";
          auth.password = this.#opts.password || "";
        }
        ws.send(JSON.stringify(auth));
      };
      let opened = false;
      ws.onopen = () => {
        opened = true;
        sendAuth();
      };
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          this.emit("error", new WebtrunkError(ErrorCode.BAD_REQUEST, "gateway sent invalid JSON"));
          return;
        }
        if (!settled && msg.type === "error" && msg.code === ErrorCode.RESUME_FAILED) {
          // The calls cannot be taken back: they end here as they ended
          // (or will end) at the gateway, and this connection logs in anew.
          this.#resumeFailed(new WebtrunkError(msg.code, msg.message));
          sendAuth();
          return;
        }
        if (!settled && msg.type === "authenticated") {
          settled = true;
          const resumed = this.#resume.pending;
          this.#registered(msg);
          if (resumed) {
            this.#resumed(msg);
          }
          resolve({ user: this.#user, maxCalls: this.#maxCalls });
          return;
        }
        if (!settled && msg.type === "error" && msg.code === ErrorCode.TRY_LATER && busyRetries < MAX_BUSY_RETRIES) {
          // The gateway is busy checking other logins: nothing was counted
          // against us, so ask again on the same connection shortly.
          busyRetries++;
          setTimeout(() => {
            if (this.#ws === ws && ws.readyState === WebSocket.OPEN) {
              sendAuth();
            }
          }, 250 * busyRetries * (0.5 + Math.random()));
          return;
        }
        if (!settled && msg.type === "error") {
          const err = new WebtrunkError(msg.code, msg.message);
          if (
            msg.code === ErrorCode.UNAUTHORIZED ||
            msg.code === ErrorCode.UNSUPPORTED_VERSION ||
            msg.code === ErrorCode.TOO_MANY_CONNECTIONS
          ) {
            this.#wanted = false; // retrying cannot help
          }
          fail(err);
          ws.close(1000);
          return;
        }
        this.#dispatch(msg);
      };
      ws.onclose = (ev) => {
        if (this.#ws !== ws) {
          return;
        }
        this.#ws = null;
        clearInterval(this.#pingTimer);
        const err = new WebtrunkError(
          settled ? ErrorCode.CONNECTION_LOST : ErrorCode.CONNECTION_FAILED,
          "WebSocket closed (" + ev.code + (ev.reason ? " " + ev.reason : "") + ")",
        );
        if (!opened && !settled) {
          // The handshake failed, and browsers hide why: ask the gateway
          // whether it refuses this page's origin.
          originRefused(url).then((refused) => {
            if (refused) {
              this.#wanted = false; // retrying cannot help
              fail(new WebtrunkError(ErrorCode.ORIGIN_NOT_ALLOWED, "the gateway does not accept WebSockets from " + globalThis.location?.origin));
            } else {
              fail(err);
            }
          });
        } else {
          fail(err);
        }
        if (this.#suspend(settled, ev)) {
          return;
        }
        for (const call of this.#calls.values()) {
          call._fail(new WebtrunkError(ErrorCode.CONNECTION_LOST, "connection to the gateway lost", { callId: call.id }), false);
        }
        const wasRegistered = this.#state === "registered";
        this.#setUnregistered(wasRegistered ? err : undefined);
        if (this.#wanted && this.#opts.reconnect && (wasRegistered || this.#attempt > 0)) {
          this.#scheduleReconnect();
        }
      };
    });
  }

  #scheduleReconnect() {
    this.#attempt++;
    const delayMs = Math.min(30000, 1000 * 2 ** (this.#attempt - 1)) * (0.8 + Math.random() * 0.4);
    this.emit("reconnecting", { attempt: this.#attempt, delayMs: Math.round(delayMs) });
    this.#reconnectTimer = setTimeout(() => {
      this.#open().catch((err) => {
        if (!this.#wanted) {
          this.emit("error", err);
        }
      });
    }, delayMs);
  }

  #registered(msg) {
    this.#attempt = 0;
    this.#state = "registered";
    this.#user = msg.user;
    this.#maxCalls = msg.max_calls || 0;
    this.#iceServers = Array.isArray(msg.ice_servers) ? msg.ice_servers : [];
    this.#resume.token = this.#opts.resume && msg.resume_token ? msg.resume_token : "";
    this.#resume.windowMs = msg.resume_window || 0;
    this.#watchNetwork();
    this.#pongMissing = 0;
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => this.#ping(), this.#opts.pingIntervalMs);
    this.emit("registered", { user: this.#user, maxCalls: this.#maxCalls });
  }

  #ping() {
    if (this.#pongMissing >= 2) {
      // Two keep-alives unanswered: the connection is dead even if the
      // browser has not noticed yet.
      this.#ws?.close(4000, "keep-alive timeout");
      return;
    }
    this.#pongMissing++;
    this.#send({ type: "ping", ref: "ka" + ++this.#seq });
  }

  #setUnregistered(err) {
    const was = this.#state;
    this.#state = "disconnected";
    clearInterval(this.#pingTimer);
    if (was === "registered") {
      this.emit("unregistered", { error: err });
    }
  }

  #closeSocket() {
    const ws = this.#ws;
    this.#ws = null;
    clearInterval(this.#pingTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1000);
    }
  }

  #send(msg) {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) {
      return false;
    }
    this.#ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * #suspend keeps the calls of a connection that dropped while registered,
   * when the gateway gave a resume token: it reports true and reconnects
   * at once, then with short back-off, until the resume window is over.
   * @param {boolean} settled whether the connection had authenticated
   * @param {CloseEvent} ev
   */
  #suspend(settled, ev) {
    const r = this.#resume;
    if (!this.#wanted || !this.#opts.reconnect || !r.token || this.#calls.size === 0) {
      return false;
    }
    if (!r.pending) {
      if (!settled || this.#state !== "registered" || ev.code === 1000) {
        return false;
      }
      r.pending = true;
      // A little less than the gateway's window: its clock started first.
      r.deadline = Date.now() + Math.max(0, r.windowMs - 500);
      clearTimeout(r.timer);
      r.timer = setTimeout(
        () => this.#resumeFailed(new WebtrunkError(ErrorCode.CONNECTION_LOST, "connection to the gateway lost")),
        Math.max(0, r.deadline - Date.now()),
      );
      this.#setUnregistered(new WebtrunkError(ErrorCode.CONNECTION_LOST, "connection lost, resuming"));
      this.emit("suspended", { calls: this.calls, windowMs: r.windowMs });
    }
    if (Date.now() >= r.deadline) {
      this.#forgetResume();
      return false;
    }
    this.#attempt++;
    const delayMs = Math.min(2000, 250 * 2 ** (this.#attempt - 1));
    this.emit("reconnecting", { attempt: this.#attempt, delayMs });
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      this.#open().catch(() => {});
    }, this.#attempt === 1 ? 0 : delayMs);
    return true;
  }

  /**
   * #resumed finishes a resume: calls the gateway re-attached go on; a
   * call it did not list either gets its hangup among the messages that
   * follow or, if none came, ends as lost.
   * @param {{calls?: {call_id: string, state: string}[]}} msg
   */
  #resumed(msg) {
    const r = this.#resume;
    r.pending = false;
    clearTimeout(r.timer);
    const listed = new Set((msg.calls || []).map((c) => c.call_id));
    const unlisted = this.calls.filter((c) => !listed.has(c.id));
    if (unlisted.length > 0) {
      setTimeout(() => {
        for (const call of unlisted) {
          if (this.#calls.get(call.id) === call) {
            call._fail(new WebtrunkError(ErrorCode.CONNECTION_LOST, "call lost while disconnected", { callId: call.id }), false);
          }
        }
      }, 2000);
    }
    const resumed = this.calls.filter((c) => listed.has(c.id));
    for (const call of resumed) {
      call._resumed();
    }
    this.emit("resumed", { calls: resumed });
  }

  /**
   * #watchNetwork restarts ICE on every call when the browser reports a
   * network change (Network Information API "change", or "online").
   */
  #watchNetwork() {
    if (this.#networkWatched || typeof window === "undefined") {
      return;
    }
    this.#networkWatched = true;
    const restart = () => {
      for (const call of this.#calls.values()) {
        if (call.state === "connected") {
          call.restartIce();
        }
      }
    };
    navigator.connection?.addEventListener?.("change", restart);
    window.addEventListener("online", restart);
  }

  /**
   * #resumeFailed gives up resuming: the kept calls end with err.
   * @param {WebtrunkError} err
   */
  #resumeFailed(err) {
    const r = this.#resume;
    if (!r.pending) {
      return;
    }
    this.#forgetResume();
    for (const call of this.#calls.values()) {
      call._fail(new WebtrunkError(ErrorCode.CONNECTION_LOST, err.message, { callId: call.id }), false);
    }
  }

  /**
   * #refreshIceServers takes the gateway's new ICE servers (fresh TURN
   * credentials) for the next calls and the ICE restarts of current ones.
   * @param {RTCIceServer[]} servers
   */
  #refreshIceServers(servers) {
    if (!Array.isArray(servers)) {
      return;
    }
    this.#iceServers = servers;
    for (const call of this.#calls.values()) {
      call._setIceServers(servers);
    }
  }

  /** #forgetResume drops the resume state. */
  #forgetResume() {
    const r = this.#resume;
    clearTimeout(r.timer);
    r.pending = false;
    r.token = "";
  }

  #dispatch(msg) {
    switch (msg.type) {
      case "pong":
        this.#pongMissing = 0;
        this.#pongWaiters.get(msg.ref)?.();
        return;
      case "ice_servers":
        this.#refreshIceServers(msg.ice_servers);
        return;
      case "extension":
        this.emit("extension", { extension: msg.extension, status: msg.status, sipCode: msg.sip_code || 0 });
        return;
      case "incoming": {
        if (this.#calls.has(msg.call_id)) {
          return;
        }
        const call = new Call(this.#link(), msg.call_id, "inbound", {
          from: msg.from || "",
          fromName: msg.from_name || "",
          to: msg.to || "",
          anonymous: !!msg.anonymous,
          diversion: msg.diversion || [],
          history: msg.history || [],
        });
        this.#calls.set(call.id, call);
        this.emit("incoming", call);
        return;
      }
      case "error": {
        const err = new WebtrunkError(msg.code, msg.message, { callId: msg.call_id });
        const call = msg.call_id ? this.#calls.get(msg.call_id) : undefined;
        if (call) {
          call._error(err);
        } else if (!this.#ended.includes(msg.call_id)) {
          // Errors about a call that already ended (a candidate that
          // crossed the hang-up) are expected and not reported.
          this.emit("error", err);
        }
        return;
      }
      default: {
        const call = msg.call_id ? this.#calls.get(msg.call_id) : undefined;
        if (call) {
          call._message(msg);
        }
      }
    }
  }
}

function newCallId() {
  if (globalThis.crypto?.randomUUID) {
    return crypto.randomUUID();
  }
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * originRefused asks the gateway of the WebSocket URL wsURL, on its origin
 * check endpoint (POST /ws/origin, readable from any origin), whether it
 * refuses this page's origin. It resolves false when it cannot tell.
 * @param {string} wsURL
 * @returns {Promise<boolean>}
 */
async function originRefused(wsURL) {
  try {
    const u = new URL(wsURL);
    u.protocol = u.protocol === "wss:" ? "https:" : "http:";
    u.pathname = "/ws/origin";
    u.search = "";
    const res = await fetch(u, { method: "POST", mode: "cors", credentials: "omit", cache: "no-store", signal: AbortSignal.timeout(5000) });
    if (!res.ok) {
      return false;
    }
    const body = await res.json();
    return body.allowed === false;
  } catch {
    return false;
  }
}

function defaultURL() {
  const l = globalThis.location;
  return (l.protocol === "https:" ? "wss://" : "ws://") + l.host + "/ws";
}
