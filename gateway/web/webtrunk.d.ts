// Type declarations of webtrunk.js, the browser client of the Webtrunk
// gateway (signaling protocol version 1). docs/client.md is the reference;
// these declarations follow it member by member.

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION: 1;

/** The stable codes of WebtrunkError: the gateway's protocol codes and the client's own. */
export declare const ErrorCode: Readonly<{
  UNAUTHORIZED: "unauthorized";
  UNSUPPORTED_VERSION: "unsupported_version";
  BAD_REQUEST: "bad_request";
  UNKNOWN_TYPE: "unknown_type";
  OUT_OF_ORDER: "out_of_order";
  FORBIDDEN_NUMBER: "forbidden_number";
  INVALID_NUMBER: "invalid_number";
  TOO_MANY_CALLS: "too_many_calls";
  BUSY: "busy";
  NO_ANSWER: "no_answer";
  TRUNK_UNAVAILABLE: "trunk_unavailable";
  ICE_FAILED: "ice_failed";
  NO_COMMON_CODEC: "no_common_codec";
  NOT_FOUND: "not_found";
  SHUTTING_DOWN: "shutting_down";
  OVER_CAPACITY: "over_capacity";
  INTERNAL: "internal";
  TRY_LATER: "try_later";
  TOO_MANY_CONNECTIONS: "too_many_connections";
  RESUME_FAILED: "resume_failed";
  USER_LOCKED: "user_locked";
  LIMIT_CALLS_PER_MINUTE: "limit_calls_per_minute";
  LIMIT_CONCURRENT_CALLS: "limit_concurrent_calls";
  LIMIT_DAILY_MINUTES: "limit_daily_minutes";
  LIMIT_PREFIX: "limit_prefix";
  DIAL_DENIED: "dial_denied";
  LIMITS_UNAVAILABLE: "limits_unavailable";
  TRANSFER_NOT_ALLOWED: "transfer_not_allowed";
  TRANSFER_FAILED: "transfer_failed";
  MICROPHONE_DENIED: "microphone_denied";
  MICROPHONE_NOT_FOUND: "microphone_not_found";
  MICROPHONE_UNAVAILABLE: "microphone_unavailable";
  WEBRTC_UNSUPPORTED: "webrtc_unsupported";
  CONNECTION_FAILED: "connection_failed";
  ORIGIN_NOT_ALLOWED: "origin_not_allowed";
  NOT_SUPPORTED: "not_supported";
  CONNECTION_LOST: "connection_lost";
  NOT_CONNECTED: "not_connected";
  TIMEOUT: "timeout";
  MEDIA_FAILED: "media_failed";
}>;

/** One of the codes of ErrorCode; newer gateways may send codes not listed yet. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Every failure the library reports. Branch on code, never on message. */
export declare class WebtrunkError extends Error {
  constructor(code: string, message?: string, extra?: { callId?: string; cause?: unknown });
  readonly name: "WebtrunkError";
  /** A value of ErrorCode, or a newer protocol code. */
  code: ErrorCodeValue | (string & {});
  /** The call the error concerns, when it concerns one. */
  callId: string | undefined;
}

/** A sentence for people explaining any error. */
export declare function describeError(err: unknown): string;

/** A sentence for people explaining why a call ended. */
export declare function describeHangup(info: DisconnectInfo): string;

/**
 * Strips the formatting people type and validates the number as call() does:
 * an optional "+" and 1 to 31 of "0123456789*#".
 * @throws WebtrunkError invalid_number
 */
export declare function normalizeNumber(input: string): string;

/** The protocol's hang-up reasons. */
export type HangupReason =
  | "local_hangup"
  | "remote_hangup"
  | "answered_elsewhere"
  | "rejected"
  | "busy"
  | "no_answer"
  | "cancelled"
  | "ice_failed"
  | "media_timeout"
  | "max_duration"
  | "ring_timeout"
  | "shutdown"
  | "failed"
  | "signaling_lost"
  | "admin_hangup"
  | "transferred";

/** Why a call ended: the payload of its "disconnected" event. */
export interface DisconnectInfo {
  reason: HangupReason | (string & {});
  /** The trunk's final SIP status, when there is one. */
  sipCode?: number;
  sipReason?: string;
  /** Set when the call failed in the browser or the gateway refused it. */
  error?: WebtrunkError;
}

/** A local ringback tone: frequencies in Hz, cadence in milliseconds, volume 0 to 1. */
export interface RingbackTone {
  frequencies?: number[];
  onMs?: number;
  offMs?: number;
  volume?: number;
}

/** The North American ringback (440 + 480 Hz, 2 s on, 4 s off). */
export declare const DEFAULT_RINGBACK: Readonly<Required<RingbackTone>>;

/** Thresholds of the quality warnings and their sampling period. */
export interface QualityThresholds {
  /** Sampling period, ms (default 2000). */
  intervalMs?: number;
  /** Packet loss of the far end's audio, fraction (default 0.05). */
  maxLoss?: number;
  /** Jitter of the far end's audio, ms (default 30). */
  maxJitterMs?: number;
  /** Round-trip time, ms (default 400). */
  maxRttMs?: number;
  /** Lowest estimated MOS, 1 to 5 (default 3.5). */
  minMos?: number;
  /** How long the microphone may stay at zero level, ms (default 5000). */
  silentMs?: number;
}

/** The default thresholds. */
export declare const DEFAULT_QUALITY: Readonly<Required<QualityThresholds>>;

/** The simplified E-model (ITU-T G.107) estimate of the MOS, 1 to 5. */
export declare function mosEstimate(rttMs: number, jitterMs: number, loss: number): number;

/** The microphones and speakers of the browser. */
export interface AudioDevices {
  inputs: MediaDeviceInfo[];
  outputs: MediaDeviceInfo[];
}

/** Lists the microphones and speakers (labels are empty before the microphone was granted once). */
export declare function listAudioDevices(): Promise<AudioDevices>;

/** A call's quality figures, sampled from its own getStats and microphone. */
export interface QualityFigures {
  /** Packet loss of the far end's audio over the last interval, fraction. */
  loss: number;
  jitterMs: number;
  rttMs: number;
  /** Estimated mean opinion score, 1 to 5. */
  mos: number;
  /** The microphone's RMS level, 0 to 1. */
  micLevel: number;
}

/** The names of the quality warnings. */
export type WarningName = "high_loss" | "high_jitter" | "high_rtt" | "low_mos" | "microphone_silent";

/** A raised quality warning. */
export interface QualityWarning {
  name: WarningName | (string & {});
  /** Who measured it: "browser" for the call's own statistics, "gateway" for the gateway's quality events; other sources may follow. */
  source: "browser" | "gateway" | (string & {});
  /** For the gateway's warnings, the direction of the audio: "uplink" (the browser's, towards the trunk) or "downlink". */
  direction?: "uplink" | "downlink";
  /** The figure that crossed the threshold, in the threshold's unit. */
  value: number;
  threshold: number;
}

/** The payload of a call's "warning" event: raised, or cleared. */
export interface QualityWarningEvent extends QualityWarning {
  raised: boolean;
  /** The figures of the sample that raised or cleared it (null when the source is not the browser's sampling). */
  figures: QualityFigures | null;
}

/** Options of one call: accept() and Device.call(). */
export interface CallOptions {
  /** getUserMedia audio constraints for this call. */
  audio?: MediaTrackConstraints | boolean;
  /** Audio codecs to offer first, in order, e.g. ["PCMU"] for passthrough to a PCMU trunk. */
  preferredCodecs?: string[];
  /** "id" withholds the caller's number on this outbound call (RFC 3323). */
  privacy?: "id";
}

/** Options of a Device. */
export interface DeviceOptions {
  /** The gateway's WebSocket URL; default ws(s)://<page host>/ws. */
  url?: string;
  /** A JWT (HS256) signed by your backend; its sub claim is the user id. */
  token?: string;
  /** A user configured on the gateway, with password, instead of a token. */
  user?: string;
  password?: string;
  /** getUserMedia audio constraints; default echo cancellation, noise suppression and auto gain on. */
  audio?: MediaTrackConstraints | boolean;
  /** Merged into every peer connection's configuration. */
  rtcConfiguration?: RTCConfiguration;
  /** Where the far end (and the ringback) plays; default a new detached Audio per call. */
  audioElement?: HTMLAudioElement | ((call: Call) => HTMLAudioElement);
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Keep calls up across a lost connection by resuming with the gateway's resume token (default true). */
  resume?: boolean;
  /** How long a call waits for the gateway's SDP answer, ms (default 20000). */
  answerTimeoutMs?: number;
  /** Keep-alive period, ms (default 20000). */
  pingIntervalMs?: number;
  /** Audio codecs to offer first, in order; default the browser's order (Opus first). */
  preferredCodecs?: string[];
  /** The local ringback of outbound calls ringing without early media; false turns it off. */
  ringback?: boolean | RingbackTone;
  /** The microphone of new calls (a deviceId of listAudioDevices). */
  inputDeviceId?: string;
  /** The speaker of new calls (a deviceId of listAudioDevices). */
  outputDeviceId?: string;
  /** Thresholds of the calls' "warning" events; false turns them off. */
  qualityWarnings?: boolean | QualityThresholds;
}

/** What Device.preflight found. */
export interface PreflightReport {
  /** The microphone: its label and peak RMS level over the sample, dBFS; ok above -70 dBFS. */
  microphone: { ok: boolean; label: string; levelDb: number; error?: WebtrunkError };
  /** ICE gathering with the gateway's STUN/TURN servers: the candidate types found ("host", "srflx", "relay"). */
  ice: { ok: boolean; candidateTypes: string[]; error?: string };
  /** The median signaling round trip to the gateway, ms; null when not registered or on timeout. */
  signalingRttMs: number | null;
}

/** The state of a Device's connection. */
export type DeviceState = "disconnected" | "connecting" | "registered";

/** What a successful connect() resolves with, and the "registered" event's payload. */
export interface Registration {
  user: string;
  /** How many calls the user may have at once (0: no limit). */
  maxCalls: number;
}

/** The events of a Device and their payloads. */
export interface DeviceEvents {
  registered: [Registration];
  unregistered: [{ error?: WebtrunkError }];
  reconnecting: [{ attempt: number; delayMs: number }];
  incoming: [Call];
  devicechange: [AudioDevices];
  error: [WebtrunkError];
  /** The connection was lost; the calls wait for a resume within windowMs. */
  suspended: [{ calls: Call[]; windowMs: number }];
  /** The connection came back and these calls went on. */
  resumed: [{ calls: Call[] }];
  /** The state of the user's extension on a SIP registrar changed. */
  extension: [ExtensionState];
}

/** The state of the user's extension on a SIP registrar (protocol message "extension"). */
export interface ExtensionState {
  extension: string;
  status: "registered" | "failed" | "forbidden" | "unregistered";
  /** The registrar's last final status code; 0 when none came. */
  sipCode: number;
}

/** The events of a Call and their payloads. */
export interface CallEvents {
  ringing: [];
  progress: [];
  connected: [];
  remotestream: [MediaStream];
  dtmf: [string];
  mute: [boolean];
  hold: [boolean];
  held: [];
  resumed: [];
  /** The far end transferred the call: the number of the party now on the line (also remoteNumber). */
  referred: [string];
  warning: [QualityWarningEvent];
  inputchange: [MediaStreamTrack];
  /** The media path is being re-established (ICE restart) after a network change. */
  icerestart: [{ reason: string }];
  /** The gateway answered the ICE restart. */
  icerestarted: [];
  error: [WebtrunkError];
  disconnected: [DisconnectInfo];
}

/** The small event interface of Device and Call. */
declare class Emitter<E extends { [K in keyof E]: unknown[] }> {
  on<K extends keyof E & string>(type: K, fn: (...args: E[K]) => void): this;
  once<K extends keyof E & string>(type: K, fn: (...args: E[K]) => void): this;
  off<K extends keyof E & string>(type: K, fn: (...args: E[K]) => void): this;
}

/** One signed-in connection to the gateway. */
export declare class Device extends Emitter<DeviceEvents> {
  constructor(options?: DeviceOptions);
  readonly state: DeviceState;
  /** The signed-in user id ("" before registration). */
  readonly user: string;
  readonly maxCalls: number;
  /** The calls that have not ended. */
  readonly calls: Call[];
  /**
   * Opens the WebSocket and authenticates.
   * @throws WebtrunkError unauthorized, unsupported_version, connection_failed, origin_not_allowed
   */
  connect(): Promise<Registration>;
  /** Hangs up every call and closes the connection; no reconnection follows. */
  disconnect(): void;
  /**
   * Places an outbound call; later failures end it with "disconnected".
   * @throws WebtrunkError not_connected, invalid_number, too_many_calls, webrtc_unsupported
   */
  call(number: string, options?: CallOptions): Call;
  /** Replaces the JWT of the next (re)connection. */
  updateToken(token: string): void;
  /** Lists the microphones and speakers. */
  getAudioDevices(): Promise<AudioDevices>;
  /** Makes deviceId the microphone of new calls and switches the calls in progress to it. */
  setInputDevice(deviceId: string): Promise<void>;
  /** Makes deviceId the speaker of new calls and of the calls in progress. */
  setOutputDevice(deviceId: string): Promise<void>;
  /** Checks the microphone, ICE gathering with the gateway's servers and the signaling round trip before a first call. */
  preflight(options?: { sampleMs?: number; timeoutMs?: number }): Promise<PreflightReport>;
}

/** The states of a call. */
export type CallState = "dialing" | "ringing" | "progress" | "connecting" | "connected" | "ended";

/** One call, outbound or inbound. */
export declare class Call extends Emitter<CallEvents> {
  /** Calls are made by Device; do not construct them. */
  private constructor();
  readonly id: string;
  readonly direction: "outbound" | "inbound";
  /** The called number (inbound: the DID). */
  readonly to: string;
  /** Inbound: the caller's number ("" when withheld). */
  readonly from: string;
  readonly fromName: string;
  /** Inbound: the caller withheld the number. */
  readonly anonymous: boolean;
  /** Inbound: diversions (Diversion header), most recent first. */
  readonly diversion: { number: string; reason?: string }[];
  /** Inbound: History-Info entries. */
  readonly history: { number: string; index?: string; reason?: string }[];
  readonly state: CallState;
  readonly remoteNumber: string;
  readonly isMuted: boolean;
  readonly isOnHold: boolean;
  /** Whether the far end has put the call on hold ("held" / "resumed"). */
  readonly isHeldByRemote: boolean;
  /** Seconds since "connected" (0 before). */
  readonly duration: number;
  readonly localStream: MediaStream | null;
  readonly remoteStream: MediaStream | null;
  readonly peerConnection: RTCPeerConnection | null;
  /** The warnings raised and not yet cleared. */
  readonly warnings: QualityWarning[];
  /** The last quality sample, null before the call connected or with qualityWarnings off. */
  readonly quality: QualityFigures | null;
  /** Answers a ringing inbound call. */
  accept(options?: CallOptions): void;
  /** Declines a ringing inbound call (603 unless another device answers). */
  reject(): void;
  /** Ends the call in any state. */
  hangup(): void;
  /** Stops (or restarts) sending the microphone. */
  mute(muted?: boolean): void;
  /** Puts the call on hold (or resumes it). */
  hold(held?: boolean): void;
  /**
   * Blind transfer of a connected call to number (protocol message transfer,
   * a REFER to the trunk): on success the call ends with reason
   * "transferred"; a refusal (forbidden_number, transfer_not_allowed,
   * transfer_failed, ...) arrives as an "error" event and the call goes on.
   * @throws WebtrunkError invalid_number, out_of_order when not connected
   */
  transfer(number: string): void;
  /** Re-establishes the media path with an ICE restart (protocol message ice_restart). */
  restartIce(): void;
  /**
   * Sends DTMF: 0-9, *, #, A-D, and "," for a 2 s pause.
   * @throws WebtrunkError bad_request for other characters
   */
  sendDigits(digits: string): void;
  /** The peer connection's statistics (W3C webrtc-stats). */
  getStats(): Promise<RTCStatsReport | null>;
  /**
   * Switches the microphone without renegotiation.
   * @throws WebtrunkError microphone_denied, microphone_not_found, microphone_unavailable
   */
  setInputDevice(deviceId: string): Promise<void>;
  /**
   * Plays the call on another speaker.
   * @throws WebtrunkError not_supported when the browser cannot choose it
   */
  setOutputDevice(deviceId: string): Promise<void>;
}

export {};
