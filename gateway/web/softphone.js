// softphone.js: the softphone page served by the gateway at "/", built on
// webtrunk.js. Plain ES module, no build step.
//
// URL parameters: ?token=JWT signs in with a token (the parameter is then
// removed from the address bar); ?processing=off starts with the
// microphone's voice processing switched off.
//
// The <main> element's data-call-state attribute mirrors the page's state
// ("signed-out", "idle", "dialing", "ringing", "progress", "incoming",
// "connected") for styling and for automated tests.

import { Device, describeError, describeHangup, normalizeNumber } from "/webtrunk.js";

const $ = (id) => document.getElementById(id);
const ui = {
  main: document.querySelector("main"),
  connection: $("connection"),
  login: $("login"),
  loginForm: $("login-form"),
  loginButton: $("login-button"),
  user: $("user"),
  password: $("password"),
  token: $("token"),
  tokenBox: $("token-box"),
  phone: $("phone"),
  whoami: $("whoami"),
  incoming: $("incoming"),
  incomingFrom: $("incoming-from"),
  incomingTo: $("incoming-to"),
  accept: $("accept"),
  decline: $("decline"),
  dialForm: $("dial-form"),
  number: $("number"),
  backspace: $("backspace"),
  callInfo: $("call-info"),
  peer: $("peer"),
  timer: $("timer"),
  keypad: $("keypad"),
  sentDigits: $("sent-digits"),
  call: $("call"),
  hangup: $("hangup"),
  inCall: $("in-call"),
  mute: $("mute"),
  hold: $("hold"),
  micLevel: $("mic-level"),
  processing: $("processing"),
  logout: $("logout"),
  status: $("status"),
  error: $("error"),
  audio: $("remote-audio"),
};

/** @type {Device|null} */
let device = null;
/** @type {import("/webtrunk.js").Call|null} the call shown in the main area */
let active = null;
/** @type {import("/webtrunk.js").Call|null} the inbound call offered */
let offered = null;
let timerHandle = 0;
let reconnecting = false; // the device lost its connection and retries
const tones = new Tones();
const meter = new LevelMeter(ui.micLevel);

init();

function init() {
  const params = new URLSearchParams(location.search);
  if (params.get("processing") === "off") {
    ui.processing.checked = false;
  } else if (localStorage.getItem("webtrunk.processing") === "off") {
    ui.processing.checked = false;
  }
  ui.user.value = localStorage.getItem("webtrunk.user") || "";
  const token = params.get("token");
  if (token) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
    signIn({ token });
  }

  ui.loginForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const tokenText = ui.token.value.trim();
    if (tokenText) {
      signIn({ token: tokenText });
    } else {
      localStorage.setItem("webtrunk.user", ui.user.value);
      signIn({ user: ui.user.value, password: ui.password.value });
    }
  });
  ui.tokenBox.addEventListener("toggle", () => {
    ui.user.required = ui.password.required = !ui.tokenBox.open;
  });
  ui.dialForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    placeCall();
  });
  ui.call.addEventListener("click", placeCall);
  ui.hangup.addEventListener("click", () => active?.hangup());
  ui.accept.addEventListener("click", acceptOffered);
  ui.decline.addEventListener("click", () => offered?.reject());
  ui.mute.addEventListener("click", () => active?.mute(!active.isMuted));
  ui.hold.addEventListener("click", () => active?.hold(!active.isOnHold));
  ui.backspace.addEventListener("click", () => {
    ui.number.value = ui.number.value.slice(0, -1);
  });
  ui.keypad.addEventListener("click", (ev) => {
    const key = ev.target.closest("button[data-key]")?.dataset.key;
    if (key) {
      pressKey(key);
    }
  });
  document.addEventListener("keydown", (ev) => {
    // During a call, typed digits go out as DTMF unless a field has focus.
    if (active?.state === "connected" && /^[0-9*#]$/.test(ev.key) && !(ev.target instanceof HTMLInputElement)) {
      pressKey(ev.key);
    }
  });
  ui.processing.addEventListener("change", () => {
    localStorage.setItem("webtrunk.processing", ui.processing.checked ? "on" : "off");
  });
  ui.logout.addEventListener("click", signOut);
  render();
}

function audioConstraints() {
  const on = ui.processing.checked;
  return { echoCancellation: on, noiseSuppression: on, autoGainControl: on };
}

async function signIn(credentials) {
  clearError();
  device?.disconnect();
  ui.loginButton.disabled = true;
  setStatus("Signing in…");
  const d = new Device({ ...credentials, audioElement: ui.audio });
  device = d;
  d.on("registered", ({ user }) => {
    reconnecting = false;
    ui.whoami.textContent = user;
    setStatus("Ready. Enter a number to call.");
    render();
  });
  d.on("unregistered", ({ error }) => {
    if (error) {
      showError(error);
    }
    render();
  });
  d.on("reconnecting", ({ delayMs }) => {
    reconnecting = true;
    setStatus("Connection lost. Reconnecting in " + Math.ceil(delayMs / 1000) + " s…");
    render();
  });
  d.on("suspended", () => {
    setStatus("Connection lost. Your call goes on while it reconnects…");
    render();
  });
  d.on("resumed", () => {
    reconnecting = false;
    clearError();
    setStatus("Connection restored.");
    render();
  });
  d.on("incoming", onIncoming);
  d.on("error", (err) => {
    reconnecting = false; // a refused reconnection ends the retries
    showError(err);
    render();
  });
  try {
    await d.connect();
    ui.password.value = "";
  } catch (err) {
    if (device === d) {
      device = null;
      showError(err);
      setStatus("Sign in to make and take calls.");
    }
  } finally {
    ui.loginButton.disabled = false;
    render();
  }
}

function signOut() {
  reconnecting = false;
  device?.disconnect();
  device = null;
  active = offered = null;
  setStatus("Signed out.");
  render();
}

function placeCall() {
  if (!device || active) {
    return;
  }
  clearError();
  let number;
  try {
    number = normalizeNumber(ui.number.value);
  } catch (err) {
    showError(err);
    return;
  }
  try {
    const call = device.call(number, { audio: audioConstraints() });
    track(call);
    setStatus("Calling " + number + "…");
  } catch (err) {
    showError(err);
  }
  render();
}

function onIncoming(call) {
  if (offered) {
    call.reject(); // one offered call at a time: the caller hears 603
    return;
  }
  offered = call;
  tones.ring();
  call.on("disconnected", (info) => {
    if (offered === call) {
      offered = null;
      tones.stop();
      setStatus(describeHangup(info));
      render();
    }
  });
  setStatus("Incoming call from " + (call.from || "an unknown number") + ".");
  render();
}

function acceptOffered() {
  const call = offered;
  if (!call) {
    return;
  }
  clearError();
  tones.stop();
  active?.hangup();
  offered = null;
  track(call);
  call.accept({ audio: audioConstraints() });
  setStatus("Connecting…");
  render();
}

/** track shows call as the active call until it ends. */
function track(call) {
  active = call;
  ui.sentDigits.textContent = "";
  call.on("ringing", () => {
    setStatus("Ringing…"); // the library plays the ringback tone
    render();
  });
  call.on("progress", () => {
    tones.stop(); // the far end's own audio (ringback, announcement) plays
    setStatus("Call in progress…");
    render();
  });
  call.on("connected", () => {
    tones.stop();
    setStatus("Connected.");
    clearInterval(timerHandle);
    timerHandle = setInterval(renderTimer, 1000);
    render();
  });
  call.on("remotestream", () => {
    if (call.localStream) {
      meter.start(call.localStream);
    }
  });
  call.on("mute", (muted) => {
    setStatus(muted ? "Microphone muted." : "Connected.");
    render();
  });
  call.on("hold", (held) => {
    setStatus(held ? "On hold." : "Connected.");
    render();
  });
  call.on("referred", (number) => {
    setStatus("Transferred to " + number + ".");
    render();
  });
  call.on("dtmf", (digit) => {
    setStatus("The other party pressed " + digit + ".");
  });
  call.on("error", showError);
  call.on("disconnected", (info) => {
    tones.stop();
    meter.stop();
    clearInterval(timerHandle);
    if (active === call) {
      active = null;
    }
    if (info.error) {
      showError(info.error);
    }
    setStatus(describeHangup(info));
    render();
  });
}

function pressKey(key) {
  if (active?.state === "connected") {
    active.sendDigits(key);
    ui.sentDigits.textContent += key;
    tones.key();
    return;
  }
  if (!active) {
    ui.number.value += key;
  }
}

function renderTimer() {
  const s = Math.floor(active?.duration || 0);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  ui.timer.textContent = (h ? h + ":" : "") + mm + ":" + ss;
}

function render() {
  const state = device?.state || "disconnected";
  const signedIn = state === "registered" || Boolean(device && reconnecting);
  ui.login.hidden = Boolean(signedIn);
  ui.phone.hidden = !signedIn;
  ui.connection.dataset.state = state;
  ui.connection.textContent = { registered: "Online", connecting: "Connecting…", disconnected: "Offline" }[state];
  if (!device) {
    ui.connection.textContent = "Signed out";
  }

  let callState = signedIn ? "idle" : "signed-out";
  if (offered) {
    callState = "incoming";
  }
  if (active) {
    callState = active.state === "connecting" ? "dialing" : active.state;
  }
  ui.main.dataset.callState = callState;

  ui.incoming.hidden = !offered;
  if (offered) {
    ui.incomingFrom.textContent = offered.fromName
      ? offered.fromName + " (" + (offered.from || "unknown") + ")"
      : offered.from || "Unknown number";
    ui.incomingTo.textContent = offered.to ? "to " + offered.to : "";
    ui.accept.textContent = active ? "End call and accept" : "Accept";
  }

  const inCall = Boolean(active);
  const connected = active?.state === "connected";
  ui.call.hidden = inCall;
  ui.call.disabled = state !== "registered";
  ui.hangup.hidden = !inCall;
  ui.inCall.hidden = !connected;
  ui.dialForm.hidden = inCall;
  ui.callInfo.hidden = !inCall;
  ui.keypad.classList.toggle("dtmf", connected);
  if (active) {
    ui.peer.textContent = active.remoteNumber || "Unknown number";
    ui.mute.setAttribute("aria-pressed", String(active.isMuted));
    ui.mute.textContent = active.isMuted ? "Unmute" : "Mute";
    ui.hold.setAttribute("aria-pressed", String(active.isOnHold));
    ui.hold.textContent = active.isOnHold ? "Resume" : "Hold";
    if (!connected) {
      ui.timer.textContent = "00:00";
    }
  }
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(err) {
  ui.error.textContent = describeError(err);
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = "";
}

/**
 * LevelMeter shows the microphone's level on a <meter> element: the RMS of
 * the last 2048 samples on a decibel scale, -60 dBFS (empty) to 0 dBFS
 * (full), so that quiet speech moves it too.
 */
function LevelMeter(el) {
  let ctx = null;
  let frame = 0;
  this.start = (stream) => {
    this.stop();
    ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const draw = () => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) {
        sum += v * v;
      }
      const db = 10 * Math.log10(sum / buf.length + 1e-12);
      el.value = Math.max(0, Math.min(1, (db + 60) / 60));
      frame = requestAnimationFrame(draw);
    };
    draw();
  };
  this.stop = () => {
    cancelAnimationFrame(frame);
    ctx?.close();
    ctx = null;
    el.value = 0;
  };
}

/**
 * Tones plays the page's own tones with WebAudio: an incoming-call ring
 * and a short key click (the library plays the ringback of outbound calls).
 */
function Tones() {
  let ctx = null;
  let stopCurrent = null;
  const context = () => (ctx ||= new AudioContext());
  const play = (freqs, onMs, offMs, level) => {
    this.stop();
    const c = context();
    const gain = c.createGain();
    gain.gain.value = 0;
    gain.connect(c.destination);
    const oscs = freqs.map((f) => {
      const o = c.createOscillator();
      o.frequency.value = f;
      o.connect(gain);
      o.start();
      return o;
    });
    const period = (onMs + offMs) / 1000;
    const t0 = c.currentTime;
    for (let i = 0; i < 100; i++) {
      gain.gain.setValueAtTime(level, t0 + i * period);
      gain.gain.setValueAtTime(0, t0 + i * period + onMs / 1000);
    }
    stopCurrent = () => {
      oscs.forEach((o) => o.stop());
      gain.disconnect();
    };
  };
  this.ring = () => play([480, 620], 1000, 2000, 0.1);
  this.key = () => {
    const c = context();
    const o = c.createOscillator();
    const g = c.createGain();
    g.gain.value = 0.05;
    o.frequency.value = 1200;
    o.connect(g).connect(c.destination);
    o.start();
    o.stop(c.currentTime + 0.05);
  };
  this.stop = () => {
    stopCurrent?.();
    stopCurrent = null;
  };
}
