// Drives one headless browser through the browser benchmark's page (bench/browser runs it).
//
//   node js/browser_run.mjs CONFIG.json
//
// CONFIG: {engine: "chromium"|"firefox"|"webkit", pageUrl, file, sinkUrl, incomingHost,
//          tickets: {way: [one per round]}, tusEndpoint, repeat, ways: ["bare", "incoming", ...],
//          warmUp: [argv...], timeoutSeconds}
// For each of `repeat` rounds it runs every way once (alternating), with a sync and a memory
// warm-up before each, and prints one JSON line per run: {engine, way, round, seconds, bytes, ...}
// or {engine, way, round, error}.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

// WebKitGTK's MiniBrowser via WebKitWebDriver on its own Xvfb: the browser tests' module (no
// npm dependency), shared rather than copied.
import { launchWebKit } from "../../test/browser/webkit.mjs";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync"];

// The page's console and errors go to our stderr (the benchmark's log), never to stdout.
function forwardConsole(page) {
  page.on("console", (msg) => process.stderr.write(`[${config.engine} console] ${msg.text()}\n`));
  page.on("pageerror", (err) => process.stderr.write(`[${config.engine} page error] ${err}\n`));
}

// Each engine as {page, setFile(path), evaluate(fn, ...args), close()}: Chromium via
// playwright-core, Firefox via puppeteer-core over WebDriver BiDi, WebKit (MiniBrowser) via
// WebKitWebDriver over classic WebDriver. All use the Debian browsers, with fresh profiles.
async function openChromium() {
  const { chromium } = await import("playwright-core");
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const page = context.pages()[0] || (await context.newPage());
  forwardConsole(page);
  return {
    page,
    version: context.browser()?.version() ?? "",
    setFile: (file) => page.setInputFiles("#file", file),
    evaluate: (fn, ...args) => page.evaluate(fn, args),
    close: async () => {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

async function openFirefox() {
  const puppeteer = (await import("puppeteer-core")).default;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-firefox-"));
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: "/usr/bin/firefox-esr",
    headless: true,
    userDataDir,
  });
  const page = (await browser.pages())[0] || (await browser.newPage());
  forwardConsole(page);
  return {
    page,
    version: await browser.version(),
    setFile: async (file) => {
      const input = await page.$("#file");
      await input.uploadFile(file);
    },
    evaluate: (fn, ...args) => page.evaluate(fn, args),
    close: async () => {
      await browser.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

async function openWebKit() {
  const browser = await launchWebKit({
    onConsole: (text) => process.stderr.write(`[${config.engine} console] ${text}\n`),
  });
  return {
    page: { goto: (url) => browser.goto(url) },
    version: browser.version,
    setFile: (file) => browser.pickFiles("#file", [file]),
    // No WebDriver timeout applies to a run: the page's promise is polled for, and
    // withTimeout (below) bounds it.
    evaluate: (fn, ...args) => browser.evaluate(fn, args),
    close: () => browser.close(),
  };
}

const OPEN = { chromium: openChromium, firefox: openFirefox, webkit: openWebKit };

// The library's options for each of its ways (see bench/browser).
const LIBRARY_OPTIONS = {
  incoming: {},
  "incoming-nohash": { integrity: false },
  "incoming-http": { transport: "http" },
  "incoming-ws": { transport: "websocket" },
};

// The in-page call for each way; `args` arrive as one array (the drivers differ there).
const WAYS = {
  bare: (browser, _round) => browser.evaluate(([url]) => benchBareWebSocket(url), config.sinkUrl),
  "bare-ab": (browser, _round) => browser.evaluate(
    ([url]) => benchBareWebSocket(url, 1024 * 1024, 8 * 1024 * 1024, true), config.sinkUrl),
  tus: (browser, _round) => browser.evaluate(([url]) => benchTus(url), config.tusEndpoint),
};
for (const [way, options] of Object.entries(LIBRARY_OPTIONS)) {
  WAYS[way] = (browser, round) => browser.evaluate(
    ([host, ticket, opts]) => benchIncoming(host, ticket, opts), config.incomingHost,
    config.tickets[way][round], options);
}

function withTimeout(promise, seconds, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${seconds}s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const browser = await OPEN[config.engine]();
  try {
    console.log(JSON.stringify({ engine: config.engine, version: browser.version }));
    for (let round = 0; round < config.repeat; round++) {
      for (const way of config.ways) {
        // A fresh page load per run: no state of one way leaks into the next.
        await browser.page.goto(config.pageUrl);
        await browser.setFile(config.file);
        // What the last run left in the page cache is written out first: tus never syncs, and
        // the kernel's write-back of its file would otherwise fall into the next run (measured:
        // the library run after tus at 0.5-0.6 of the same run later in the round).
        execFileSync("sync");
        execFileSync(config.warmUp[0], config.warmUp.slice(1));
        const record = { engine: config.engine, way, round };
        try {
          const result = await withTimeout(WAYS[way](browser, round), config.timeoutSeconds,
            `${config.engine} ${way}`);
          Object.assign(record, result);
        } catch (error) {
          record.error = String(error?.message ?? error);
        }
        console.log(JSON.stringify(record));
      }
    }
  } finally {
    await withTimeout(browser.close(), 30, "closing the browser").catch(() => {});
  }
}

await main();
process.exit(0);
