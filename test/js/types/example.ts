// example.ts uses every part of the public API of webtrunk.js as an
// integrator would, so that `tsc --noEmit` checks webtrunk.d.ts against
// real use (and would fail on a misspelt member or a wrong payload type).
import {
  Call,
  DEFAULT_QUALITY,
  DEFAULT_RINGBACK,
  Device,
  ErrorCode,
  PROTOCOL_VERSION,
  WebtrunkError,
  describeError,
  describeHangup,
  listAudioDevices,
  mosEstimate,
  normalizeNumber,
  type CallState,
  type DisconnectInfo,
  type QualityWarningEvent,
} from "webtrunk";

const farEnd = document.createElement("audio");
const device = new Device({
  url: "wss://gateway.example.com/ws",
  token: "a.jwt.token",
  audio: { echoCancellation: true },
  audioElement: farEnd,
  preferredCodecs: ["PCMU"],
  ringback: { frequencies: [425], onMs: 1000, offMs: 4000 },
  qualityWarnings: { ...DEFAULT_QUALITY, maxLoss: 0.1 },
  reconnect: true,
});

const version: 1 = PROTOCOL_VERSION;
const ring: number[] = DEFAULT_RINGBACK.frequencies;
console.log(version, ring, mosEstimate(100, 10, 0.01).toFixed(2));

device.on("registered", ({ user, maxCalls }) => console.log(user.toUpperCase(), maxCalls + 1));
device.on("unregistered", ({ error }) => console.log(error?.code));
device.on("reconnecting", ({ attempt, delayMs }) => console.log(attempt, delayMs));
device.on("devicechange", ({ inputs, outputs }) => console.log(inputs.length, outputs[0]?.label));
device.on("error", (err) => console.warn(describeError(err)));
device.on("incoming", (call) => {
  console.log(call.from, call.fromName, call.to);
  watch(call);
  call.accept({ audio: true, preferredCodecs: ["opus"] });
});

function watch(call: Call): void {
  const state: CallState = call.state;
  console.log(state, call.direction, call.remoteNumber, call.isMuted, call.isOnHold, call.duration);
  call.on("ringing", () => console.log("ringing"));
  call.on("progress", () => console.log("early media"));
  call.on("connected", () => {
    call.sendDigits("1234#");
    call.mute(true);
    call.mute(false);
    call.hold();
    call.hold(false);
    call.transfer("+441632960002");
  });
  call.on("dtmf", (digit) => console.log(digit.length));
  call.on("mute", (muted) => console.log(muted === true));
  call.on("hold", (held) => console.log(held === true));
  call.on("remotestream", (stream) => console.log(stream.getAudioTracks().length));
  call.on("inputchange", (track) => console.log(track.label));
  call.on("warning", (w: QualityWarningEvent) => {
    console.log(w.name, w.source, w.raised, w.value > w.threshold, w.figures?.mos, call.warnings.length, call.quality?.loss);
  });
  call.on("error", (err) => console.log(err.code === ErrorCode.OUT_OF_ORDER, err.callId));
  call.once("disconnected", (info: DisconnectInfo) => {
    console.log(describeHangup(info), info.reason, info.sipCode ?? 0, info.sipReason, info.error?.message);
  });
}

async function main(): Promise<void> {
  try {
    const reg = await device.connect();
    console.log(reg.user, reg.maxCalls, device.state, device.user, device.maxCalls, device.calls.length);
  } catch (e) {
    if (e instanceof WebtrunkError && e.code === ErrorCode.ORIGIN_NOT_ALLOWED) {
      console.error("add this origin to http.allowed_origins");
    }
    return;
  }
  const report = await device.preflight({ sampleMs: 500 });
  if (!report.microphone.ok) {
    console.warn(report.microphone.error?.code, report.microphone.levelDb.toFixed(1), report.microphone.label);
  }
  console.log(report.ice.ok, report.ice.candidateTypes.includes("relay"), report.signalingRttMs ?? "unknown");
  const { inputs, outputs } = await listAudioDevices();
  const devices = await device.getAudioDevices();
  console.log(devices.inputs.length);
  if (inputs[1]) {
    await device.setInputDevice(inputs[1].deviceId);
  }
  if (outputs[1]) {
    await device.setOutputDevice(outputs[1].deviceId);
  }
  const call = device.call(normalizeNumber("+1 (555) 0123"), { audio: { deviceId: inputs[0]?.deviceId } });
  watch(call);
  const stats = await call.getStats();
  stats?.forEach((s) => console.log(s.type));
  console.log(call.localStream?.id, call.remoteStream?.id, call.peerConnection?.connectionState);
  if (inputs[0]) {
    await call.setInputDevice(inputs[0].deviceId);
  }
  if (outputs[0]) {
    await call.setOutputDevice(outputs[0].deviceId);
  }
  call.hangup();
  device.updateToken("a.new.token");
  device.disconnect();
}

void main();
