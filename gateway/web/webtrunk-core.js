// webtrunk-core.js: error codes, error texts, number handling and the event
// emitter shared by the modules of the Webtrunk browser client. Import the
// public API from webtrunk.js, which re-exports what applications need.

/** Protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * Error codes of {@link WebtrunkError}: the gateway's protocol codes plus the
 * ones this library detects in the browser.
 * @readonly
 * @enum {string}
 */
export const ErrorCode = Object.freeze({
  // Protocol codes sent by the gateway.
  UNAUTHORIZED: "unauthorized",
  UNSUPPORTED_VERSION: "unsupported_version",
  BAD_REQUEST: "bad_request",
  UNKNOWN_TYPE: "unknown_type",
  OUT_OF_ORDER: "out_of_order",
  FORBIDDEN_NUMBER: "forbidden_number",
  INVALID_NUMBER: "invalid_number",
  TOO_MANY_CALLS: "too_many_calls",
  BUSY: "busy",
  NO_ANSWER: "no_answer",
  TRUNK_UNAVAILABLE: "trunk_unavailable",
  ICE_FAILED: "ice_failed",
  NO_COMMON_CODEC: "no_common_codec",
  NOT_FOUND: "not_found",
  SHUTTING_DOWN: "shutting_down",
  OVER_CAPACITY: "over_capacity",
  INTERNAL: "internal",
  TRY_LATER: "try_later",
  TOO_MANY_CONNECTIONS: "too_many_connections",
  RESUME_FAILED: "resume_failed",
  USER_LOCKED: "user_locked",
  LIMIT_CALLS_PER_MINUTE: "limit_calls_per_minute",
  LIMIT_CONCURRENT_CALLS: "limit_concurrent_calls",
  LIMIT_DAILY_MINUTES: "limit_daily_minutes",
  LIMIT_PREFIX: "limit_prefix",
  DIAL_DENIED: "dial_denied",
  LIMITS_UNAVAILABLE: "limits_unavailable",
  TRANSFER_NOT_ALLOWED: "transfer_not_allowed",
  TRANSFER_FAILED: "transfer_failed",
  // Codes detected by the client.
  MICROPHONE_DENIED: "microphone_denied",
  MICROPHONE_NOT_FOUND: "microphone_not_found",
  MICROPHONE_UNAVAILABLE: "microphone_unavailable",
  WEBRTC_UNSUPPORTED: "webrtc_unsupported",
  CONNECTION_FAILED: "connection_failed",
  ORIGIN_NOT_ALLOWED: "origin_not_allowed",
  NOT_SUPPORTED: "not_supported",
  CONNECTION_LOST: "connection_lost",
  NOT_CONNECTED: "not_connected",
  TIMEOUT: "timeout",
  MEDIA_FAILED: "media_failed",
});

const ERROR_TEXT = {
  unauthorized: "Sign-in failed: check the user name and password, or the token.",
  unsupported_version: "This page is too old or too new for the gateway. Reload it.",
  bad_request: "The gateway did not understand the request.",
  unknown_type: "The gateway did not understand the request.",
  out_of_order: "That is not possible right now.",
  forbidden_number: "You are not allowed to call this number.",
  invalid_number: "That is not a valid phone number.",
  too_many_calls: "You already have as many calls as you are allowed.",
  busy: "The number is busy.",
  no_answer: "Nobody answered.",
  trunk_unavailable: "The phone network cannot be reached right now. Try again later.",
  ice_failed: "The audio connection could not be set up (network or firewall problem).",
  no_common_codec: "The audio formats of the browser and the phone network do not match.",
  not_found: "That call no longer exists.",
  shutting_down: "The gateway is restarting. Try again in a minute.",
  over_capacity: "The service is busy. Try again in a few seconds.",
  internal: "The gateway had an internal problem.",
  try_later: "The gateway is busy signing in others. Try again in a moment.",
  too_many_connections: "You are signed in on too many tabs or devices. Close one and try again.",
  resume_failed: "The connection came back too late to keep the call.",
  user_locked: "Your account is locked. Contact your administrator.",
  limit_calls_per_minute: "You are calling too often. Wait a minute and try again.",
  limit_concurrent_calls: "You already have as many calls as your limits allow.",
  limit_daily_minutes: "You have used today's call minutes.",
  limit_prefix: "Calls to this kind of number are limited right now. Try again later.",
  dial_denied: "This call is not allowed.",
  limits_unavailable: "Calls cannot be checked against your limits right now. Try again in a moment.",
  transfer_not_allowed: "Calls on this line cannot be transferred.",
  transfer_failed: "The transfer did not go through; the call continues.",
  microphone_denied: "Microphone access was denied. Allow it in the browser's site settings.",
  microphone_not_found: "No microphone was found. Plug one in and try again.",
  microphone_unavailable: "The microphone is in use by another application or cannot be opened.",
  webrtc_unsupported: "This browser cannot make calls (WebRTC is missing or the page is not served over HTTPS).",
  connection_failed: "Cannot reach the gateway.",
  not_supported: "This browser cannot do that.",
  origin_not_allowed: "This page's origin is not allowed by the gateway (its http.allowed_origins setting).",
  connection_lost: "The connection to the gateway was lost.",
  not_connected: "Not signed in.",
  timeout: "The gateway did not answer in time.",
  media_failed: "The audio connection could not be set up.",
};

const HANGUP_TEXT = {
  local_hangup: "Call ended.",
  remote_hangup: "The other party hung up.",
  answered_elsewhere: "Answered on another device.",
  rejected: "Call declined.",
  busy: "The number is busy.",
  no_answer: "Nobody answered.",
  cancelled: "The caller hung up.",
  ice_failed: "The audio connection failed.",
  media_timeout: "The call lost its audio and was ended.",
  max_duration: "The call reached its maximum duration.",
  ring_timeout: "Nobody answered in time.",
  shutdown: "The gateway restarted and ended the call.",
  failed: "The call failed.",
  signaling_lost: "The connection to the gateway was lost for too long and the call was ended.",
  admin_hangup: "An administrator ended the call.",
  transferred: "The call was transferred.",
};

/**
 * WebtrunkError is every failure this library reports: `code` is one of
 * {@link ErrorCode} (or a newer protocol code), `message` is for developers,
 * {@link describeError} gives words for people.
 */
export class WebtrunkError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message details
   * @param {{callId?: string, cause?: unknown}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "WebtrunkError";
    /** @type {string} */
    this.code = code;
    /** @type {string|undefined} the call the error concerns */
    this.callId = extra.callId;
  }
}

/**
 * describeError returns a sentence for people explaining err.
 * @param {unknown} err a WebtrunkError or any error
 * @returns {string}
 */
export function describeError(err) {
  if (err instanceof WebtrunkError && ERROR_TEXT[err.code]) {
    return ERROR_TEXT[err.code];
  }
  return "Something went wrong: " + (err instanceof Error ? err.message : String(err));
}

/**
 * describeHangup returns a sentence for people explaining why a call ended.
 * @param {DisconnectInfo} info the payload of a Call's "disconnected" event
 * @returns {string}
 */
export function describeHangup(info) {
  if (info.error) {
    return describeError(info.error);
  }
  let text = HANGUP_TEXT[info.reason] || "Call ended.";
  if (info.reason === "failed" && info.sipCode) {
    text = "The call failed (" + info.sipCode + (info.sipReason ? " " + info.sipReason : "") + ").";
  }
  return text;
}

/**
 * normalizeNumber strips the formatting people type (spaces, dashes, dots,
 * parentheses) and returns the number as the protocol carries it: an
 * optional leading "+" and 1 to 31 characters of "0123456789*#".
 * @param {string} input
 * @returns {string}
 * @throws {WebtrunkError} invalid_number
 */
export function normalizeNumber(input) {
  const n = String(input).replace(/[\s\-.()\/]/g, "");
  if (!/^\+?[0-9*#]{1,31}$/.test(n)) {
    throw new WebtrunkError(ErrorCode.INVALID_NUMBER, "not a phone number: " + JSON.stringify(String(input)));
  }
  return n;
}

/**
 * Emitter is the small event interface of Device and Call.
 */
export class Emitter {
  #handlers = new Map();

  /**
   * on adds a handler for the event type.
   * @param {string} type
   * @param {(...args: any[]) => void} fn
   * @returns {this}
   */
  on(type, fn) {
    if (!this.#handlers.has(type)) {
      this.#handlers.set(type, new Set());
    }
    this.#handlers.get(type).add(fn);
    return this;
  }

  /**
   * off removes a handler added with on or once.
   * @param {string} type
   * @param {(...args: any[]) => void} fn
   * @returns {this}
   */
  off(type, fn) {
    const set = this.#handlers.get(type);
    if (set) {
      for (const h of set) {
        if (h === fn || h.original === fn) {
          set.delete(h);
        }
      }
    }
    return this;
  }

  /**
   * once adds a handler called at most once.
   * @param {string} type
   * @param {(...args: any[]) => void} fn
   * @returns {this}
   */
  once(type, fn) {
    const wrapper = (...args) => {
      this.off(type, wrapper);
      fn(...args);
    };
    wrapper.original = fn;
    return this.on(type, wrapper);
  }

  /**
   * emit calls every handler of type; a throwing handler is reported
   * asynchronously and does not stop the others.
   * @param {string} type
   * @param {...any} args
   */
  emit(type, ...args) {
    const set = this.#handlers.get(type);
    if (!set) {
      return;
    }
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

/**
 * @typedef {object} DisconnectInfo
 * @property {string} reason hang-up reason of the protocol ("remote_hangup",
 *   "busy", ...), or "failed" with error set
 * @property {number} [sipCode] the trunk's SIP status code, when there is one
 * @property {string} [sipReason] the trunk's reason phrase
 * @property {WebtrunkError} [error] set when the call failed in the browser
 *   or the gateway refused it
 */

/**
 * checkWebRTC throws when the browser cannot place calls.
 * @throws {WebtrunkError} webrtc_unsupported
 */
export function checkWebRTC() {
  if (typeof RTCPeerConnection === "undefined" || !globalThis.navigator?.mediaDevices?.getUserMedia) {
    throw new WebtrunkError(ErrorCode.WEBRTC_UNSUPPORTED, "RTCPeerConnection or getUserMedia missing (insecure context?)");
  }
}

/**
 * errorText formats any thrown value for a WebtrunkError message.
 * @param {unknown} e
 * @returns {string}
 */
export function errorText(e) {
  return e instanceof Error ? e.name + ": " + e.message : String(e);
}
