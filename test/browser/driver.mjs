// Runs one scenario of pages/scenario.js in a real headless browser; the browser tests call it.
//
//   node driver.mjs chromium|firefox PAGE_URL 'PARAMS_JSON'
//
// Prints the scenario's result as one JSON line on stdout; the page's console and errors go to
// stderr. Chromium is Debian's, driven by playwright-core; Firefox is Debian's firefox-esr,
// driven by puppeteer-core over WebDriver BiDi. Each run gets a fresh profile.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [engine, pageUrl, paramsJson] = process.argv.slice(2);
const params = JSON.parse(paramsJson);

const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync"];

function report(page) {
  page.on("console", (message) => process.stderr.write(`[${engine}] ${message.text()}\n`));
  page.on("pageerror", (error) => process.stderr.write(`[${engine} page error] ${error}\n`));
}

async function chromium(profile) {
  const { chromium } = await import("playwright-core");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { page, close: () => context.close() };
}

async function firefox(profile) {
  const puppeteer = (await import("puppeteer-core")).default;
  const browser = await puppeteer.launch({
    browser: "firefox", executablePath: "/usr/bin/firefox-esr", headless: true,
    userDataDir: profile,
  });
  const page = (await browser.pages())[0] ?? (await browser.newPage());
  return { page, close: () => browser.close() };
}

const profile = fs.mkdtempSync(path.join(os.tmpdir(), `incoming-${engine}-`));
const browser = await (engine === "firefox" ? firefox : chromium)(profile);
try {
  report(browser.page);
  await browser.page.goto(pageUrl);
  // Both drivers pass one serialisable argument to the page function.
  const result = await browser.page.evaluate((p) => window.runScenario(p), params);
  process.stdout.write(JSON.stringify(result) + "\n");
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
