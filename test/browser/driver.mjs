// Runs one scenario of pages/scenario.js in a real headless browser; the browser tests call it.
//
//   node driver.mjs chromium|firefox|webkit PAGE_URL 'PARAMS_JSON'
//
// With PARAMS {"demo": {"files": [paths], "timeoutMs": N}} it uses the demo app instead, as a
// person would: picks the files with its file input and waits for them in its "Arrived" list.
// Prints the scenario's result as one JSON line on stdout; the page's console and errors go to
// stderr. Chromium is Debian's, driven by playwright-core; Firefox is Debian's firefox-esr,
// driven by puppeteer-core over WebDriver BiDi; WebKit is Debian's WebKitGTK MiniBrowser, driven
// by WebKitWebDriver over classic WebDriver on its own Xvfb (webkit.mjs). Each run gets a fresh
// profile. Every engine is {goto, reload, evaluate(fn, arg), pickFiles(paths), close}.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { launchWebKit } from "./webkit.mjs";

const [engine, pageUrl, paramsJson] = process.argv.slice(2);
const params = JSON.parse(paramsJson);

const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync"];

function report(page) {
  page.on("console", (message) => process.stderr.write(`[${engine}] ${message.text()}\n`));
  page.on("pageerror", (error) => process.stderr.write(`[${engine} page error] ${error}\n`));
}

// Both drivers pass one serialisable argument to the page function.
function pageMethods(page) {
  return {
    goto: (url) => page.goto(url),
    reload: () => page.reload(),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
  };
}

async function webkit() {
  const browser = await launchWebKit({
    onConsole: (text) => process.stderr.write(`[${engine}] ${text}\n`),
  });
  return {
    goto: (url) => browser.goto(url),
    reload: () => browser.reload(),
    evaluate: (fn, arg) => browser.evaluate(fn, arg),
    pickFiles: (files) => browser.pickFiles("input[type=file]", files),
    close: () => browser.close(),
  };
}

async function chromium(profile) {
  const { chromium } = await import("playwright-core");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  report(page);
  return {
    ...pageMethods(page),
    pickFiles: (files) => page.setInputFiles("input[type=file]", files),
    close: () => context.close(),
  };
}

async function firefox(profile) {
  const puppeteer = (await import("puppeteer-core")).default;
  const browser = await puppeteer.launch({
    browser: "firefox", executablePath: "/usr/bin/firefox-esr", headless: true,
    userDataDir: profile,
  });
  const page = (await browser.pages())[0] ?? (await browser.newPage());
  report(page);
  return {
    ...pageMethods(page),
    pickFiles: async (files) => (await page.$("input[type=file]")).uploadFile(...files),
    close: () => browser.close(),
  };
}

// The demo page polls /demo/api/arrived itself; so do we, from inside the page.
async function useDemo(browser, { files, timeoutMs }) {
  await browser.pickFiles(files);
  const names = files.map((file) => path.basename(file));
  return browser.evaluate(async ([wanted, timeout]) => {
    const deadline = Date.now() + timeout;
    let arrived = [];
    while (Date.now() < deadline) {
      arrived = (await (await fetch("/demo/api/arrived")).json()).files
        .filter((file) => wanted.includes(file.filename));
      if (arrived.length >= wanted.length) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Shown once the page's own poll caught up (it polls every 2 s).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    return { arrived, shown: document.body.innerText };
  }, [names, timeoutMs]);
}

// Uploads a file from disk, reloads the page mid-upload, picks the same file again and resumes.
async function reloadMidUpload(browser, params) {
  await browser.pickFiles([params.reload.path]);
  const before = await browser.evaluate((p) => window.startPicked(p), { ...params, ...params.reload });
  await browser.reload();
  await browser.pickFiles([params.reload.path]);
  const after = await browser.evaluate((p) => window.resumePicked(p), { ...params, ...params.reload });
  return { before, after };
}

const ENGINES = { chromium, firefox, webkit };
if (!ENGINES[engine]) throw new Error(`unknown engine ${engine}`);
// WebKit's fresh HOME is webkit.mjs's own.
const profile = engine === "webkit" ? null
  : fs.mkdtempSync(path.join(os.tmpdir(), `incoming-${engine}-`));
let browser;
try {
  browser = await ENGINES[engine](profile);
  await browser.goto(pageUrl);
  const result = params.demo
    ? await useDemo(browser, params.demo)
    : params.reload
      ? await reloadMidUpload(browser, params)
      : await browser.evaluate((p) => window.runScenario(p), params);
  process.stdout.write(JSON.stringify(result) + "\n");
} finally {
  await browser?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
}
