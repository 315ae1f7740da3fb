// webtrunk-call.js: the Call of the Webtrunk browser client, one call with
// its microphone, RTCPeerConnection, trickle ICE (RFC 8838), DTMF (RFC 4733
// through RTCDTMFSender) and remote audio. Calls are made by the Device of
// webtrunk.js, which re-exports this class.

import { Emitter, ErrorCode, WebtrunkError, checkWebRTC, errorText, normalizeNumber } from "./webtrunk-core.js";
import { QualityMonitor, Ringback } from "./webtrunk-media.js";

/**
 * Call is one call, outbound (from Device.call) or inbound (from the
 * Device's "incoming" event).
 *
 * States: "dialing" (outbound, before the far end rings), "ringing"
 * (outbound alerting without early media, or inbound waiting for accept),
 * "progress" (outbound, early media: the far end's own ringback or
 * announcement plays), "connecting" (inbound, accepted), "connected",
 * "ended".
 *
 * While an outbound call is "ringing", the call's audio element plays a
 * local ringback tone (DeviceOptions.ringback; false turns it off) until
 * early media, the answer or the end.
 *
 * Events: "ringing", "progress" (early media flows), "connected",
 * "disconnected" (DisconnectInfo), "dtmf" (digit received from the far end),
 * "mute" (boolean), "hold" (boolean), "held" and "resumed" (the far end put
 * the call on hold or took it off), "referred" (the far end transferred
 * the call: the number of the party now on the line), "remotestream" (MediaStream),
 * "warning" (QualityWarning, raised and cleared), "inputchange" (the new
 * microphone track), "error" (WebtrunkError that did not end the call),
 * "icerestart" ({reason}: the media path is being re-established after a
 * network change) and "icerestarted" (the gateway answered the restart).
 */

/** ICE_RESTART_DELAY_MS is how long ICE may stay "disconnected" before the call restarts it. */
const ICE_RESTART_DELAY_MS = 1500;
/** MAX_ICE_RESTARTS is how many restarts in a row may fail before the call ends. */
const MAX_ICE_RESTARTS = 3;
export class Call extends Emitter {
  #link;
  #state;
  #muted = false;
  #held = false;
  #heldByRemote = false;
  #referredTo = "";
  /** @type {RTCPeerConnection|null} */
  #pc = null;
  /** @type {MediaStream|null} */
  #local = null;
  /** @type {MediaStream|null} */
  #remote = null;
  /** @type {HTMLAudioElement|null} */
  #audio = null;
  #signaled = false; // the gateway knows this call (dial or accept sent)
  #answered = false; // the gateway's SDP answer was applied
  /** @type {RTCIceCandidateInit[]} */
  #remoteCandidates = [];
  /** @type {object[]} */
  #localCandidates = [];
  #answerTimer = 0;
  #connectedAt = 0;
  /** @type {MediaTrackConstraints|boolean|undefined} the microphone's constraints */
  #constraints = undefined;
  /** @type {string|undefined} the output device chosen for this call */
  #sinkId = undefined;
  /** @type {Ringback|null} */
  #ringback = null;
  /** @type {QualityMonitor|null} */
  #monitor = null;
  /** @type {Map<string, object>} raised warnings by source and name */
  #warnings = new Map();
  /** ICE restart state (see restartIce). */
  #ice = { restarting: false, pending: false, attempts: 0, timer: 0 };

  /**
   * Calls are created by Device; do not construct them yourself.
   * @param {object} link the device's internals
   * @param {string} id call id
   * @param {"outbound"|"inbound"} direction
   * @param {{to?: string, from?: string, fromName?: string, anonymous?: boolean,
   *   diversion?: object[], history?: object[]}} info
   */
  constructor(link, id, direction, info) {
    super();
    this.#link = link;
    /** @type {string} call id used on the signaling channel */
    this.id = id;
    /** @type {"outbound"|"inbound"} */
    this.direction = direction;
    /** @type {string} the called number */
    this.to = info.to || "";
    /** @type {string} the caller's number (inbound; "" when withheld) */
    this.from = info.from || "";
    /** @type {string} the caller's display name (inbound, when sent) */
    this.fromName = info.fromName || "";
    /** @type {boolean} the caller withheld the number (inbound) */
    this.anonymous = !!info.anonymous;
    /** @type {{number: string, reason?: string}[]} diversions, most recent first (inbound) */
    this.diversion = info.diversion || [];
    /** @type {{number: string, index?: string, reason?: string}[]} History-Info entries (inbound) */
    this.history = info.history || [];
    this.#state = direction === "outbound" ? "dialing" : "ringing";
  }

  /** state is the call's state (see the class comment). */
  get state() {
    return this.#state;
  }

  /** remoteNumber is the other party's number: the party the far end transferred the call to, if it did. */
  get remoteNumber() {
    if (this.#referredTo) {
      return this.#referredTo;
    }
    return this.direction === "outbound" ? this.to : this.from;
  }

  /** isMuted reports whether the microphone is muted. */
  get isMuted() {
    return this.#muted;
  }

  /** isOnHold reports whether the call is on hold. */
  get isOnHold() {
    return this.#held;
  }

  /** isHeldByRemote reports whether the far end has put the call on hold. */
  get isHeldByRemote() {
    return this.#heldByRemote;
  }

  /** localStream is the microphone stream, null before the call has one. */
  get localStream() {
    return this.#local;
  }

  /** remoteStream is the far end's audio, null until it arrives. */
  get remoteStream() {
    return this.#remote;
  }

  /**
   * warnings lists the quality warnings raised and not yet cleared, each
   * {name, source, value, threshold}.
   * @returns {object[]}
   */
  get warnings() {
    return [...this.#warnings.values()];
  }

  /**
   * quality is the last sample of the call's quality figures: {loss
   * (fraction), jitterMs, rttMs, mos, micLevel (RMS, 0 to 1)}, or null
   * before the call connected or with qualityWarnings off.
   */
  get quality() {
    return this.#monitor ? { ...this.#monitor.figures } : null;
  }

  /**
   * setInputDevice switches the call's microphone to the input deviceId
   * (from listAudioDevices) without renegotiation (RTCRtpSender.replaceTrack):
   * the far end hears the new microphone at once; mute and hold carry over.
   * @param {string} deviceId
   * @returns {Promise<void>}
   * @throws {WebtrunkError} microphone_denied, microphone_not_found,
   *   microphone_unavailable
   */
  async setInputDevice(deviceId) {
    if (this.#state === "ended") {
      return;
    }
    let constraints = this.#constraints ?? true;
    constraints = { ...(typeof constraints === "object" ? constraints : {}), deviceId: { exact: deviceId } };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: constraints, video: false });
    } catch (e) {
      throw microphoneError(e, this.id);
    }
    if (this.#state === "ended") {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    const track = stream.getAudioTracks()[0];
    const sender = this.#pc?.getSenders().find((s) => s.track?.kind === "audio");
    if (sender) {
      await sender.replaceTrack(track);
    }
    const old = this.#local;
    this.#local = stream;
    this.#constraints = constraints;
    this.#applyTrackState();
    old?.getTracks().forEach((t) => t.stop());
    this.#monitor?.setStream(stream);
    this.emit("inputchange", track);
  }

  /**
   * setOutputDevice plays the call (far end and ringback) on the output
   * deviceId (HTMLMediaElement.setSinkId).
   * @param {string} deviceId
   * @returns {Promise<void>}
   * @throws {WebtrunkError} not_supported when the browser cannot choose
   *   the output device
   */
  async setOutputDevice(deviceId) {
    this.#sinkId = deviceId;
    const el = this.#element();
    if (typeof el.setSinkId !== "function") {
      throw new WebtrunkError(ErrorCode.NOT_SUPPORTED, "this browser cannot choose the audio output device", { callId: this.id });
    }
    await el.setSinkId(deviceId);
  }

  /**
   * _quality raises or clears the warning name reported by source
   * ("browser" for the call's own statistics, "gateway" for the gateway's
   * quality events, which also name the direction). @internal
   * @param {string} source
   * @param {string} name
   * @param {boolean} raised
   * @param {number} value
   * @param {number} threshold
   * @param {string} [direction]
   */
  _quality(source, name, raised, value, threshold, direction) {
    const key = source + ":" + name + (direction ? ":" + direction : "");
    if (raised === this.#warnings.has(key) || this.#state === "ended") {
      return;
    }
    const w = direction ? { name, source, direction, value, threshold } : { name, source, value, threshold };
    if (raised) {
      this.#warnings.set(key, w);
    } else {
      this.#warnings.delete(key);
    }
    this.emit("warning", { ...w, raised, figures: source === "browser" ? this.quality : null });
  }

  /** peerConnection is the call's RTCPeerConnection (for getStats). */
  get peerConnection() {
    return this.#pc;
  }

  /** duration is the time since the call connected, in seconds (0 before). */
  get duration() {
    return this.#connectedAt ? (Date.now() - this.#connectedAt) / 1000 : 0;
  }

  /**
   * accept answers a ringing inbound call: the microphone is opened and the
   * browser's offer sent. "connected" follows.
   * @param {{audio?: MediaTrackConstraints|boolean, preferredCodecs?: string[]}} [options]
   */
  accept(options = {}) {
    if (this.direction !== "inbound" || this.#state !== "ringing") {
      return;
    }
    this.#state = "connecting";
    this.#negotiate(options, (sdp) => ({ type: "accept", call_id: this.id, sdp }));
  }

  /**
   * reject declines a ringing inbound call (the caller hears 603 Decline
   * unless another of the user's devices answers).
   */
  reject() {
    if (this.direction !== "inbound" || this.#state !== "ringing") {
      return;
    }
    this.#link.send({ type: "reject", call_id: this.id });
    this.#end({ reason: "rejected" });
  }

  /**
   * hangup ends the call in any state (a ringing inbound call is rejected).
   */
  hangup() {
    if (this.#state === "ended") {
      return;
    }
    if (this.direction === "inbound" && this.#state === "ringing") {
      this.reject();
      return;
    }
    if (this.#signaled) {
      this.#link.send({ type: "hangup", call_id: this.id });
    }
    this.#end({ reason: "local_hangup" });
  }

  /**
   * mute stops (true) or restarts (false) sending the microphone; the
   * far end hears silence.
   * @param {boolean} [muted=true]
   */
  mute(muted = true) {
    this.#muted = Boolean(muted);
    this.#applyTrackState();
    this.emit("mute", this.#muted);
  }

  /**
   * hold puts the call on hold (true) or resumes it (false): the gateway
   * sends a re-INVITE to the trunk (RFC 3264 section 8.4) and audio stops
   * in both directions.
   * @param {boolean} [held=true]
   */
  hold(held = true) {
    held = Boolean(held);
    if (this.#state !== "connected" || held === this.#held) {
      return;
    }
    this.#held = held;
    this.#link.send({ type: held ? "hold" : "resume", call_id: this.id });
    this.#applyTrackState();
    if (this.#audio) {
      this.#audio.muted = held;
    }
    this.emit("hold", held);
  }

  /**
   * transfer hands the far end of a connected call over to number (a blind
   * transfer): the gateway checks the number as it checks a dial, then asks
   * the trunk with a REFER (RFC 3515). When the trunk reports success the
   * call ends with reason "transferred"; a refusal or a failed transfer
   * arrives as an "error" event (forbidden_number, transfer_not_allowed,
   * transfer_failed, ...) and the call goes on.
   * @param {string} number the number as typed (formatting is stripped)
   * @throws {WebtrunkError} invalid_number, out_of_order when the call is not connected
   */
  transfer(number) {
    const to = normalizeNumber(number);
    if (this.#state !== "connected") {
      throw new WebtrunkError(ErrorCode.OUT_OF_ORDER, "only a connected call can be transferred", { callId: this.id });
    }
    this.#link.send({ type: "transfer", call_id: this.id, to });
  }

  /**
   * sendDigits sends DTMF digits to the far end as RFC 4733 telephone-events
   * through the browser's RTCDTMFSender (100 ms tones, 70 ms gaps; "," pauses
   * 2 s). When the browser cannot insert DTMF, the gateway is asked to send
   * them instead.
   * @param {string} digits characters of "0123456789*#ABCD,"
   * @throws {WebtrunkError} bad_request for other characters
   */
  sendDigits(digits) {
    const d = String(digits).toUpperCase();
    if (!/^[0-9*#A-D,]+$/.test(d)) {
      throw new WebtrunkError(ErrorCode.BAD_REQUEST, "DTMF digits must be 0-9, *, #, A-D or ','", { callId: this.id });
    }
    if (this.#state !== "connected") {
      return;
    }
    const sender = this.#pc?.getSenders().find((s) => s.track?.kind === "audio" || s.dtmf);
    const dtmf = sender?.dtmf;
    if (dtmf && dtmf.canInsertDTMF) {
      dtmf.insertDTMF(dtmf.toneBuffer + d, 100, 70);
      return;
    }
    const plain = d.replace(/,/g, "");
    if (plain) {
      this.#link.send({ type: "dtmf", call_id: this.id, digits: plain });
    }
  }

  /**
   * getStats returns the RTCPeerConnection's statistics (W3C webrtc-stats).
   * @returns {Promise<RTCStatsReport|null>}
   */
  async getStats() {
    return this.#pc ? this.#pc.getStats() : null;
  }

  /** @param {object} options @internal */
  _dial(options) {
    this.#negotiate(options, (sdp) => {
      const msg = { type: "dial", id: this.id, to: this.to, sdp };
      if (options.privacy === "id") {
        msg.privacy = "id";
      }
      return msg;
    });
  }

  /** @param {WebtrunkError} err @param {boolean} notify @internal */
  _fail(err, notify = true) {
    if (this.#state === "ended") {
      return;
    }
    if (notify && this.#signaled) {
      this.#link.send({ type: "hangup", call_id: this.id });
    }
    this.#end({ reason: "failed", error: err });
  }

  /** @param {WebtrunkError} err @internal */
  _error(err) {
    // The gateway refused the dial or accept itself: the call never started.
    if (!this.#answered && this.#state !== "ended") {
      this.#end({ reason: "failed", error: err });
      return;
    }
    if (this.#ice.restarting) {
      this.#restartRefused();
    }
    this.emit("error", err);
  }

  /** @param {any} msg @internal */
  _message(msg) {
    if (this.#state === "ended") {
      return;
    }
    switch (msg.type) {
      case "answer":
        this.#applyAnswer(msg.sdp);
        break;
      case "candidate":
        this.#addRemoteCandidate(msg.candidate);
        break;
      case "ice_restarted":
        this.#applyRestartAnswer(msg.sdp);
        break;
      case "ringing":
        if (this.#state === "dialing") {
          this.#state = "ringing";
          this.#startRingback();
        }
        this.emit("ringing");
        break;
      case "progress":
        if (this.#state === "dialing" || this.#state === "ringing") {
          this.#state = "progress";
          this.#stopRingback();
        }
        this.emit("progress");
        break;
      case "connected":
        if (this.#state !== "connected") {
          this.#stopRingback();
          this.#state = "connected";
          this.#connectedAt = Date.now();
          this.#startMonitor();
          this.emit("connected");
        }
        break;
      case "dtmf":
        this.emit("dtmf", msg.digit);
        break;
      case "held":
      case "resumed":
        this.#heldByRemote = msg.type === "held";
        this.emit(msg.type);
        break;
      case "referred":
        this.#referredTo = String(msg.to || "");
        this.#heldByRemote = false;
        this.emit("referred", this.#referredTo);
        break;
      case "quality":
        this._quality("gateway", msg.name, !!msg.raised, Number(msg.value), Number(msg.threshold), msg.direction);
        break;
      case "hangup":
        this.#end({
          reason: msg.reason || "failed",
          sipCode: msg.sip_code || undefined,
          sipReason: msg.sip_reason || undefined,
        });
        break;
    }
  }

  async #negotiate(options, build) {
    const opts = this.#link.opts;
    let constraints = options.audio ?? opts.audio;
    if (constraints === undefined) {
      constraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    }
    if (opts.inputDeviceId) {
      constraints = { ...(typeof constraints === "object" ? constraints : {}), deviceId: { exact: opts.inputDeviceId } };
    }
    this.#constraints = constraints;
    try {
      checkWebRTC();
      const stream = await navigator.mediaDevices.getUserMedia({ audio: constraints, video: false });
      if (this.#state === "ended") {
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
      this.#local = stream;
      this.#applyTrackState();
    } catch (e) {
      this._fail(microphoneError(e, this.id));
      return;
    }
    try {
      const pc = new RTCPeerConnection({
        iceServers: this.#link.iceServers(),
        bundlePolicy: "max-bundle",
        rtcpMuxPolicy: "require",
        ...opts.rtcConfiguration,
      });
      this.#pc = pc;
      for (const track of this.#local.getAudioTracks()) {
        pc.addTrack(track, this.#local);
      }
      preferCodecs(pc, options.preferredCodecs ?? opts.preferredCodecs);
      pc.ontrack = (ev) => this.#onTrack(ev);
      pc.onicecandidate = (ev) => this.#onLocalCandidate(ev.candidate);
      pc.oniceconnectionstatechange = () => this.#onIceState(pc);
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "failed" && !this.#iceRecoverable()) {
          this._fail(new WebtrunkError(ErrorCode.ICE_FAILED, "DTLS or ICE failed", { callId: this.id }));
        }
      };
      const offer = await pc.createOffer({ offerToReceiveAudio: true });
      await pc.setLocalDescription(offer);
      if (this.#state === "ended") {
        return;
      }
      if (!this.#link.send(build(pc.localDescription.sdp))) {
        this._fail(new WebtrunkError(ErrorCode.CONNECTION_LOST, "not connected", { callId: this.id }), false);
        return;
      }
      this.#signaled = true;
      for (const c of this.#localCandidates.splice(0)) {
        this.#link.send({ type: "candidate", call_id: this.id, candidate: c });
      }
      this.#answerTimer = setTimeout(() => {
        if (!this.#answered) {
          this._fail(new WebtrunkError(ErrorCode.TIMEOUT, "no answer from the gateway", { callId: this.id }));
        }
      }, opts.answerTimeoutMs);
    } catch (e) {
      this._fail(new WebtrunkError(ErrorCode.MEDIA_FAILED, "WebRTC set-up failed: " + errorText(e), { callId: this.id, cause: e }));
    }
  }

  async #applyAnswer(sdp) {
    if (this.#answered || !this.#pc) {
      return;
    }
    this.#answered = true;
    clearTimeout(this.#answerTimer);
    try {
      await this.#pc.setRemoteDescription({ type: "answer", sdp });
      for (const c of this.#remoteCandidates.splice(0)) {
        await this.#pc.addIceCandidate(c);
      }
    } catch (e) {
      this._fail(new WebtrunkError(ErrorCode.MEDIA_FAILED, "gateway answer rejected: " + errorText(e), { callId: this.id, cause: e }));
    }
  }

  async #addRemoteCandidate(c) {
    if (!c || !this.#pc) {
      return;
    }
    const init = { candidate: c.candidate || "", sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null };
    if (c.usernameFragment) {
      init.usernameFragment = c.usernameFragment;
    }
    if (!this.#pc.remoteDescription) {
      this.#remoteCandidates.push(init);
      return;
    }
    try {
      await this.#pc.addIceCandidate(init);
    } catch (e) {
      this.emit("error", new WebtrunkError(ErrorCode.BAD_REQUEST, "bad ICE candidate from the gateway: " + errorText(e), { callId: this.id }));
    }
  }

  #onLocalCandidate(cand) {
    // null marks the end of gathering: sent as an empty candidate (RFC 8838 section 8.2).
    const c = cand ? cand.toJSON() : { candidate: "" };
    const wire = { candidate: c.candidate || "" };
    if (c.candidate) {
      if (c.sdpMid != null) wire.sdpMid = c.sdpMid;
      if (c.sdpMLineIndex != null) wire.sdpMLineIndex = c.sdpMLineIndex;
      if (c.usernameFragment) wire.usernameFragment = c.usernameFragment;
    }
    if (!this.#signaled) {
      this.#localCandidates.push(wire);
      return;
    }
    this.#link.send({ type: "candidate", call_id: this.id, candidate: wire });
  }

  #onTrack(ev) {
    const stream = ev.streams[0] || new MediaStream([ev.track]);
    this.#remote = stream;
    if (!this.#ringback) {
      this.#play(stream);
    }
    this.emit("remotestream", stream);
  }

  /** #element returns the call's audio element, made on first use. */
  #element() {
    if (!this.#audio) {
      const opt = this.#link.opts.audioElement;
      this.#audio = (typeof opt === "function" ? opt(this) : opt) || new Audio();
      this.#audio.autoplay = true;
      const sink = this.#sinkId ?? this.#link.opts.outputDeviceId;
      if (sink && typeof this.#audio.setSinkId === "function") {
        this.#audio.setSinkId(sink).catch((e) => {
          this.emit("error", new WebtrunkError(ErrorCode.NOT_SUPPORTED, "cannot play on output device: " + errorText(e), { callId: this.id }));
        });
      }
    }
    return this.#audio;
  }

  /** #startMonitor starts the quality warnings unless turned off. */
  #startMonitor() {
    const opt = this.#link.opts.qualityWarnings;
    if (opt === false || this.#monitor) {
      return;
    }
    this.#monitor = new QualityMonitor(
      () => this.getStats(),
      (name, raised, value, threshold) => this._quality("browser", name, raised, value, threshold),
      typeof opt === "object" ? opt : {},
    );
    this.#monitor.start(this.#local, () => this.#muted || this.#held);
  }

  /** #play plays stream on the call's audio element. */
  #play(stream) {
    const el = this.#element();
    el.srcObject = stream;
    el.muted = this.#held;
    const played = el.play();
    if (played && played.catch) {
      played.catch((e) => {
        if (el.srcObject === stream) {
          this.emit("error", new WebtrunkError(ErrorCode.MEDIA_FAILED, "cannot play remote audio: " + errorText(e), { callId: this.id }));
        }
      });
    }
  }

  /** #startRingback plays the local ringback tone unless turned off. */
  #startRingback() {
    const opt = this.#link.opts.ringback;
    if (opt === false || this.direction !== "outbound") {
      return;
    }
    const rb = new Ringback(typeof opt === "object" ? opt : {});
    const stream = rb.start();
    if (!stream) {
      return;
    }
    this.#ringback = rb;
    this.#play(stream);
  }

  /** #stopRingback stops the ringback tone and plays the far end again. */
  #stopRingback() {
    if (!this.#ringback) {
      return;
    }
    this.#ringback.stop();
    this.#ringback = null;
    if (this.#remote) {
      this.#play(this.#remote);
    } else if (this.#audio) {
      this.#audio.srcObject = null;
    }
  }

  #applyTrackState() {
    for (const t of this.#local?.getAudioTracks() || []) {
      t.enabled = !this.#muted && !this.#held;
    }
  }

  // ICE restart (RFC 8445 section 2.4): when the network path breaks, the
  // call makes a new offer with new ICE credentials and sends it as
  // ice_restart; the gateway answers ice_restarted on the same call.

  /**
   * restartIce re-establishes the call's media path, for example after the
   * application learnt that the network changed. The library does it by
   * itself when ICE goes "disconnected" (for ICE_RESTART_DELAY_MS) or
   * "failed", and when the browser reports a network change.
   */
  restartIce() {
    this.#startRestart("requested");
  }

  /** @param {RTCPeerConnection} pc */
  #onIceState(pc) {
    const st = pc.iceConnectionState;
    if (st === "connected" || st === "completed") {
      clearTimeout(this.#ice.timer);
      if (!this.#ice.restarting) {
        this.#ice.attempts = 0;
      }
      return;
    }
    if (st === "disconnected") {
      clearTimeout(this.#ice.timer);
      this.#ice.timer = setTimeout(() => {
        if (pc.iceConnectionState === "disconnected") {
          this.#startRestart("disconnected");
        }
      }, ICE_RESTART_DELAY_MS);
      return;
    }
    if (st === "failed") {
      if (this.#iceRecoverable()) {
        this.#startRestart("failed");
      } else {
        this._fail(new WebtrunkError(ErrorCode.ICE_FAILED, "ICE failed", { callId: this.id }));
      }
    }
  }

  /** #iceRecoverable reports whether a restart may still save the call. */
  #iceRecoverable() {
    return this.#answered && this.#ice.attempts < MAX_ICE_RESTARTS;
  }

  /** @param {string} reason */
  async #startRestart(reason) {
    const pc = this.#pc;
    if (!pc || !this.#answered || this.#state === "ended" || this.#ice.restarting || !this.#iceRecoverable()) {
      return;
    }
    this.#ice.restarting = true;
    this.#ice.attempts++;
    this.emit("icerestart", { reason });
    try {
      const offer = await pc.createOffer({ iceRestart: true });
      await pc.setLocalDescription(offer);
    } catch (e) {
      this.#ice.restarting = false;
      this.emit("error", new WebtrunkError(ErrorCode.MEDIA_FAILED, "ICE restart failed: " + errorText(e), { callId: this.id, cause: e }));
      return;
    }
    this.#sendRestart();
  }

  /** #sendRestart sends the pending restart offer, or keeps it for the resumed connection. */
  #sendRestart() {
    const sdp = this.#pc?.localDescription?.sdp;
    if (!sdp || this.#state === "ended") {
      return;
    }
    this.#ice.pending = !this.#link.send({ type: "ice_restart", call_id: this.id, sdp });
  }

  /** @param {RTCIceServer[]} servers new ICE servers for later restarts @internal */
  _setIceServers(servers) {
    if (!this.#pc || this.#state === "ended") {
      return;
    }
    try {
      this.#pc.setConfiguration({ ...this.#pc.getConfiguration(), iceServers: servers });
    } catch {
      // The browser refused to change them: the call keeps the old ones.
    }
  }

  /** _resumed sends what the call could not send while the connection was lost. @internal */
  _resumed() {
    if (this.#ice.restarting && this.#ice.pending) {
      this.#sendRestart();
    } else if (this.#pc && ["disconnected", "failed"].includes(this.#pc.iceConnectionState)) {
      this.#startRestart("resumed");
    }
  }

  /** @param {string} sdp */
  async #applyRestartAnswer(sdp) {
    const pc = this.#pc;
    if (!pc || !this.#ice.restarting) {
      return;
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
      this.#ice.restarting = false;
      this.emit("icerestarted");
    } catch (e) {
      this.#restartRefused();
      this.emit("error", new WebtrunkError(ErrorCode.MEDIA_FAILED, "ICE restart answer rejected: " + errorText(e), { callId: this.id, cause: e }));
    }
  }

  /** #restartRefused returns to the last agreed description after a refused restart. */
  async #restartRefused() {
    this.#ice.restarting = false;
    try {
      if (this.#pc?.signalingState === "have-local-offer") {
        await this.#pc.setLocalDescription({ type: "rollback" });
      }
    } catch {
      // The call goes on with whatever the browser kept.
    }
  }

  #end(info) {
    if (this.#state === "ended") {
      return;
    }
    this.#state = "ended";
    clearTimeout(this.#answerTimer);
    this.#ringback?.stop();
    this.#ringback = null;
    this.#monitor?.stop();
    clearTimeout(this.#ice.timer);
    this.#link.remove(this.id);
    if (this.#pc) {
      this.#pc.ontrack = this.#pc.onicecandidate = null;
      this.#pc.oniceconnectionstatechange = this.#pc.onconnectionstatechange = null;
      this.#pc.close();
    }
    this.#local?.getTracks().forEach((t) => t.stop());
    if (this.#audio) {
      this.#audio.pause();
      this.#audio.srcObject = null;
    }
    this.emit("disconnected", info);
  }
}

/**
 * microphoneError classifies a getUserMedia failure (W3C Media Capture and
 * Streams, section 10): refused, missing, or unusable microphone.
 * @param {unknown} e the rejection
 * @param {string} callId
 * @returns {WebtrunkError}
 */
function microphoneError(e, callId) {
  const name = e && e.name;
  let code = ErrorCode.MICROPHONE_UNAVAILABLE;
  if (name === "NotAllowedError" || name === "SecurityError") {
    code = ErrorCode.MICROPHONE_DENIED;
  } else if (name === "NotFoundError" || name === "OverconstrainedError") {
    code = ErrorCode.MICROPHONE_NOT_FOUND;
  } else if (e instanceof WebtrunkError) {
    return e;
  }
  return new WebtrunkError(code, "getUserMedia: " + errorText(e), { callId, cause: e });
}

/**
 * preferCodecs puts the audio codecs named in names (for example ["PCMU"])
 * first in the offer, in that order, keeping every other codec the browser
 * has after them (RTCRtpTransceiver.setCodecPreferences, W3C WebRTC section
 * 5.4). The gateway answers with the offer's first codec it speaks, so
 * ["PCMU"] makes a call to a PCMU trunk pass the audio through without
 * transcoding. Browsers without setCodecPreferences keep their own order.
 * @param {RTCPeerConnection} pc
 * @param {string[]|undefined} names codec names, case-insensitive
 */
function preferCodecs(pc, names) {
  if (!names || names.length === 0 || typeof RTCRtpReceiver?.getCapabilities !== "function") {
    return;
  }
  const tr = pc.getTransceivers().find((t) => t.sender.track?.kind === "audio");
  const caps = RTCRtpReceiver.getCapabilities("audio");
  if (!tr || typeof tr.setCodecPreferences !== "function" || !caps) {
    return;
  }
  const rank = (c) => {
    const i = names.findIndex((n) => c.mimeType.toLowerCase() === "audio/" + String(n).toLowerCase());
    return i < 0 ? names.length : i;
  };
  const ordered = caps.codecs.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
  tr.setCodecPreferences(ordered);
}
