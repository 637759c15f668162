// WebKit for the browser tests and the browser benchmark: Debian's WebKitGTK MiniBrowser,
// driven by WebKitWebDriver (package webkit2gtk-driver) with classic WebDriver over HTTP, on a
// virtual X display (Xvfb). No npm package: Node's fetch speaks the protocol.
//
//   const browser = await launchWebKit({ onConsole });
//   await browser.goto(url); await browser.pickFiles("input[type=file]", [path]);
//   const value = await browser.evaluate((arg) => ..., arg);  // a promise is awaited
//   await browser.close();
//
// Each launch starts its own Xvfb (a free display, chosen by Xvfb itself: -displayfd) and its
// own WebKitWebDriver (a free port) with one session, and a fresh HOME/XDG folder. close() stops
// all of it, and so does exiting (normally, by an exception, on SIGTERM/SIGINT/SIGHUP, even on
// SIGKILL: see startGroup): no Xvfb, driver or MiniBrowser outlives this process. Every HTTP call has a bounded timeout.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const HTTP_TIMEOUT_MS = 30_000;
const START_TIMEOUT_MS = 20_000;
const POLL_MS = 100;

/** MiniBrowser's path from the package that ships it (its folder names the architecture). */
export function miniBrowserPath() {
  if (process.env.WEBKIT_MINIBROWSER) return process.env.WEBKIT_MINIBROWSER;
  const owners = execFileSync("dpkg-query", ["-S", "*/webkit2gtk-4.*/MiniBrowser"],
    { encoding: "utf8" });
  const packages = owners.split("\n").filter(Boolean).map((line) => line.split(":")[0]);
  for (const pkg of new Set(packages)) {
    const found = execFileSync("dpkg", ["-L", pkg], { encoding: "utf8" }).split("\n")
      .find((file) => file.endsWith("/MiniBrowser") && fs.existsSync(file));
    if (found) return found;
  }
  throw new Error("MiniBrowser not found: apt-get install webkit2gtk-driver");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// Processes we started, each in a process group of its own (WebKitWebDriver's MiniBrowser and
// its web and network processes are in the driver's group): stopped by group id, at close()
// or, as a last resort, synchronously when this process exits.
const started = new Set();

// setpriv (util-linux, essential in Debian) gives each a parent-death signal: killed even if
// this process is SIGKILLed. MiniBrowser then dies with the X display it is on.
function startGroup(command, args, options) {
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", command, ...args],
    { ...options, detached: true });
  child.exited = new Promise((resolve) => child.once("exit", resolve));
  child.once("error", () => {});  // reported through `exited` (and the pid is undefined)
  if (child.pid) started.add(child);
  return child;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stopGroup(child) {
  if (!started.has(child)) return;
  signalGroup(child, "SIGTERM");
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (!exited) await Promise.race([child.exited, sleep(3000)]);
  signalGroup(child, "SIGKILL");  // and whatever of its group still runs
  started.delete(child);
}

const homes = new Set();  // fresh HOME folders, removed at close() or exit

process.once("exit", () => {
  for (const child of started) signalGroup(child, "SIGKILL");
  for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
});
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.once(signal, () => process.exit(128 + os.constants.signals[signal]));
}

/** Xvfb on a display it picks itself; resolves to the display number. */
async function startXvfb(env) {
  const xvfb = startGroup("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x1024x24",
    "-nolisten", "tcp", "-noreset"], { env, stdio: ["ignore", "ignore", "pipe", "pipe"] });
  let stderr = "";
  xvfb.stderr?.on("data", (chunk) => { stderr += chunk; });
  const display = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display in time: ${stderr}`)),
      START_TIMEOUT_MS);
    xvfb.stdio[3].on("data", (chunk) => {
      out += chunk;
      if (out.includes("\n")) {
        clearTimeout(timer);
        resolve(Number(out.trim()));
      }
    });
    xvfb.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}): ${stderr}`));
    });
  });
  xvfb.stdio[3].destroy();
  return { xvfb, display };
}

class WebDriverError extends Error {}

async function http(base, method, route, body, timeoutMs = HTTP_TIMEOUT_MS) {
  let response;
  try {
    response = await fetch(base + route, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new WebDriverError(`${method} ${route}: ${error.name === "TimeoutError"
      ? `no answer within ${timeoutMs / 1000}s` : error.message}`);
  }
  const text = await response.text();
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new WebDriverError(`${method} ${route}: HTTP ${response.status}, not JSON: ${text}`);
  }
  if (!response.ok || answer.value?.error) {
    throw new WebDriverError(`${method} ${route}: ${answer.value?.error}: ${answer.value?.message}`);
  }
  return answer.value;
}

/** WebKitWebDriver on a free port, ready for a session. */
async function startDriver(env, log) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const driver = startGroup("WebKitWebDriver", [`--port=${port}`, "--host=127.0.0.1"],
      { env, stdio: ["ignore", "pipe", "pipe"] });
    driver.stdout.on("data", (chunk) => log(`[webkit driver] ${String(chunk).trimEnd()}`));
    driver.stderr.on("data", (chunk) => log(`[webkit driver] ${String(chunk).trimEnd()}`));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + START_TIMEOUT_MS;
    let gone = false;
    driver.exited.then(() => { gone = true; });
    while (!gone && Date.now() < deadline) {
      try {
        if ((await http(base, "GET", "/status", undefined, 2000)).ready) return { driver, base };
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    await stopGroup(driver);
    if (attempt === 3) throw new Error("WebKitWebDriver did not start (three ports tried)");
  }
}

// Installed in the page after each navigation: keeps what the page logs and its uncaught
// errors for us to collect (classic WebDriver has no console events). Messages from before
// the page finished loading are not seen.
const CONSOLE_HOOK = `
  if (!window.__webdriverLog) {
    const log = window.__webdriverLog = [];
    const text = (value) => {
      if (value instanceof Error) return value + (value.stack ? "\\n" + value.stack : "");
      if (typeof value === "object" && value !== null) {
        try { return JSON.stringify(value); } catch { return String(value); }
      }
      return String(value);
    };
    for (const level of ["log", "info", "warn", "error", "debug"]) {
      const original = console[level].bind(console);
      console[level] = (...args) => { log.push(args.map(text).join(" ")); original(...args); };
    }
    addEventListener("error", (e) => log.push("page error: " + (e.error ? text(e.error) : e.message)));
    addEventListener("unhandledrejection", (e) => log.push("page error: unhandled rejection: " + text(e.reason)));
  }`;

/**
 * Starts Xvfb, WebKitWebDriver and a MiniBrowser session. `onConsole(text)` gets the page's
 * console messages and errors (and the driver's own output).
 */
export async function launchWebKit({ onConsole = () => {} } = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "incoming-webkit-"));
  homes.add(home);
  for (const sub of ["config", "cache", "data", "runtime"]) fs.mkdirSync(path.join(home, sub));
  fs.chmodSync(path.join(home, "runtime"), 0o700);
  const env = {
    ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, "config"),
    XDG_CACHE_HOME: path.join(home, "cache"), XDG_DATA_HOME: path.join(home, "data"),
    XDG_RUNTIME_DIR: path.join(home, "runtime"), GDK_BACKEND: "x11",
  };
  delete env.WAYLAND_DISPLAY;
  let xvfb, driver, base, session;
  const close = async () => {
    if (session) {
      await http(base, "DELETE", `/session/${session}`, undefined, 10_000).catch(() => {});
      session = null;
    }
    if (driver) await stopGroup(driver);
    if (xvfb) await stopGroup(xvfb);
    fs.rmSync(home, { recursive: true, force: true });
    homes.delete(home);
  };
  try {
    let display;
    ({ xvfb, display } = await startXvfb(env));
    env.DISPLAY = `:${display}`;
    ({ driver, base } = await startDriver(env, onConsole));
    const created = await http(base, "POST", "/session", {
      capabilities: {
        alwaysMatch: {
          "webkitgtk:browserOptions": { binary: miniBrowserPath(), args: ["--automation"] },
          timeouts: { script: HTTP_TIMEOUT_MS, pageLoad: 60_000, implicit: 0 },
        },
      },
    }, 60_000);
    session = created.sessionId;
    const version = `${created.capabilities.browserName} ${created.capabilities.browserVersion}`;
    return new WebKitBrowser({ base, session, version, onConsole, close });
  } catch (error) {
    await close();
    throw error;
  }
}

class WebKitBrowser {
  constructor({ base, session, version, onConsole, close }) {
    this.base = base;
    this.route = `/session/${session}`;
    this.version = version;
    this.onConsole = onConsole;
    this.close = close;
    this.calls = 0;
  }

  command(method, route, body, timeoutMs) {
    return http(this.base, method, this.route + route, body, timeoutMs);
  }

  async execute(script, args = []) {
    return this.command("POST", "/execute/sync", { script, args });
  }

  async goto(url) {
    await this.command("POST", "/url", { url }, 70_000);
    await this.execute(CONSOLE_HOOK);
  }

  async reload() {
    await this.command("POST", "/refresh", {}, 70_000);
    await this.execute(CONSOLE_HOOK);
  }

  async pickFiles(selector, files) {
    const element = await this.command("POST", "/element", { using: "css selector",
      value: selector });
    const id = element["element-6066-11e4-a52e-4f735466cecf"];
    await this.command("POST", `/element/${id}/value`, { text: files.join("\n") });
  }

  async drainConsole() {
    const lines = await this.execute(
      "const log = window.__webdriverLog || []; return log.splice(0, log.length);");
    for (const line of lines ?? []) this.onConsole(line);
  }

  /**
   * Runs `fn(arg)` in the page and resolves to its value (JSON round trip), as puppeteer's and
   * playwright's page.evaluate do. A promise is awaited by polling a global the page sets, with
   * short execute calls, so no WebDriver script timeout limits a long run; `timeoutMs` does.
   */
  async evaluate(fn, arg, { timeoutMs = 30 * 60_000 } = {}) {
    const id = `call${++this.calls}`;
    await this.execute(`
      const [arg, id] = arguments;
      const calls = window.__webdriverCalls = window.__webdriverCalls || {};
      calls[id] = { done: false };
      Promise.resolve().then(() => (${fn})(arg)).then(
        (value) => { calls[id] = { done: true, json: JSON.stringify(value === undefined ? null : value) }; },
        (error) => { calls[id] = { done: true,
          error: String(error) + (error && error.stack ? "\\n" + error.stack : "") }; });
      return true;`, [arg ?? null, id]);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.execute(`
        const calls = window.__webdriverCalls || {};
        const state = calls[arguments[0]];
        if (state && state.done) delete calls[arguments[0]];
        const log = window.__webdriverLog || [];
        return { state: state || null, log: log.splice(0, log.length) };`, [id]);
      for (const line of state.log) this.onConsole(line);
      if (!state.state) throw new Error("the page navigated away while evaluating");
      if (state.state.done) {
        if (state.state.error !== undefined) throw new Error(`in the page: ${state.state.error}`);
        return JSON.parse(state.state.json);
      }
      if (Date.now() > deadline) throw new Error(`evaluate timed out after ${timeoutMs / 1000}s`);
      await sleep(POLL_MS);
    }
  }
}
