// firefox-driver.mjs: drives one headless Firefox ESR tab over WebDriver
// BiDi (puppeteer-core) for the Go integration tests. It reads one JSON
// command per line on stdin and answers one JSON line on stdout:
//   {"id":1,"op":"goto","url":"http://..."}       -> {"id":1,"ok":true}
//   {"id":2,"op":"eval","expr":"1+1"}             -> {"id":2,"ok":true,"value":2}
// A failed command answers {"id":N,"ok":false,"error":"..."}. The page's
// console and errors go to stderr. Firefox starts before the first line is
// read; "ready" is printed once it has. It exits when stdin closes.
//
// Usage: node firefox-driver.mjs FIREFOX_PATH PROFILE_DIR [TONE_HZ]
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const [executablePath, userDataDir, toneHz] = process.argv.slice(2);
if (!executablePath || !userDataDir) {
  process.stderr.write("usage: node firefox-driver.mjs FIREFOX_PATH PROFILE_DIR [TONE_HZ]\n");
  process.exit(2);
}

const prefs = {
  // A fake microphone and camera without a prompt.
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  "permissions.default.microphone": 1,
  // Loopback ICE candidates (the tests run on 127.0.0.1 only).
  "media.peerconnection.ice.loopback": true,
  // An audio context without a sound server, so analysers hear the far end.
  "media.cubeb.force_mock_context": true,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  // Quiet, and nothing off the machine.
  "browser.shell.checkDefaultBrowser": false,
  "app.update.enabled": false,
  "toolkit.telemetry.enabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
};
if (toneHz) {
  prefs["media.navigator.audio.fake_frequency"] = Number(toneHz);
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath,
  userDataDir,
  headless: true,
  extraPrefsFirefox: prefs,
  protocol: "webDriverBiDi",
});
const page = (await browser.pages())[0] ?? (await browser.newPage());
page.on("console", (m) => process.stderr.write(`console.${m.type()}: ${m.text()}\n`));
page.on("pageerror", (e) => process.stderr.write(`exception: ${e?.message ?? e}\n`));

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
out({ ready: true, version: await browser.version() });

const ops = {
  goto: async (c) => {
    await page.goto(c.url, { waitUntil: "load" });
  },
  eval: async (c) => page.evaluate(c.expr),
};

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let c;
    try {
      c = JSON.parse(line);
      const op = ops[c.op];
      if (!op) {
        throw new Error(`unknown op ${c.op}`);
      }
      const value = await op(c);
      out({ id: c.id, ok: true, value: value === undefined ? null : value });
    } catch (e) {
      out({ id: c?.id ?? 0, ok: false, error: String(e?.message ?? e) });
    }
  });
});
lines.on("close", async () => {
  await queue;
  await browser.close();
  process.exit(0);
});
