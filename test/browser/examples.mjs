// Uses an example web app of examples/ in Chromium as a person would, through its nginx.
//
//   node examples.mjs flask URL '{"file": PATH, "timeoutMs": N}'
//     picks the file on the upload page and waits until the page links the stored file.
//   node examples.mjs express URL '{"files": [PATH, …], "pause": {"index", "atFraction",
//                                   "forMs"}, "cancel": {"index"}, "timeoutMs": N}'
//     picks the files at once; cancels one with its Cancel button once its bytes flow; pauses
//     another with its Pause button, holds, resumes it with the same button; waits for the end.
// Prints what the page shows as one JSON line; the page's console goes to stderr.
import { chromium } from "playwright-core";

const [app, url, paramsJson] = process.argv.slice(2);
const params = JSON.parse(paramsJson);
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function flask(page, { file, timeoutMs }) {
  const started = Date.now();
  await page.setInputFiles("#file", file);
  await page.waitForFunction(() => !document.getElementById("done").hidden
    || ["error", "cancelled"].includes(document.body.dataset.state), null, { timeout: timeoutMs });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    link: document.getElementById("link").getAttribute("href"),
    shown: document.body.innerText,
    transport: window.uploader.transport,
    sha256: window.uploader.sha256,
    result: window.uploader.result,
  })).then((shown) => ({ ...shown, seconds: (Date.now() - started) / 1000 }));
}

async function express(page, { files, pause, cancel, timeoutMs }) {
  const options = { timeout: timeoutMs };
  await page.setInputFiles("#files", files);
  await page.waitForFunction((n) => window.uploads.length === n
    && window.uploads.every((u) => u.uploader), files.length, options);
  const acked = (i) => page.evaluate((j) => window.uploads[j].uploader.bytes_acked, i);

  await page.waitForFunction((i) => window.uploads[i].uploader.bytes_acked > 0, cancel.index,
    options);
  await page.click(`#upload-${cancel.index} .cancel`);

  await page.waitForFunction(([i, fraction]) => window.uploads[i].uploader.frac_complete
    >= fraction, [pause.index, pause.atFraction], options);
  await page.click(`#upload-${pause.index} .pause`);
  await page.waitForFunction((i) => window.uploads[i].uploader.paused, pause.index, options);
  const pausedAt = await acked(pause.index);
  await page.waitForTimeout(pause.forMs);
  const pausedLabel = await page.textContent(`#upload-${pause.index} .pause`);
  const afterHold = await acked(pause.index);
  await page.click(`#upload-${pause.index} .pause`);

  await page.waitForFunction(() => window.uploads.every(({ uploader: u }) => u.finished
    || u.cancelled || u.state_msg === "error"), null, options);
  // The stored list refreshes after the last finish.
  await page.waitForFunction((n) => document.querySelectorAll("#stored a").length >= n,
    files.length - 1, options);
  const uploads = await page.evaluate(() => window.uploads.map(({ name, ticket, uploader: u, row }) => ({
    name, ticket, finished: u.finished, cancelled: u.cancelled, cancel_msg: u.cancel_msg,
    state_msg: u.state_msg, error_code: u.error_code, error_msg: u.error_msg,
    result: u.result, sha256: u.sha256, transport: u.transport, shown: row.innerText,
  })));
  return { uploads, pausedAt, afterHold, pausedLabel,
           stored: await page.textContent("#stored") };
}

const SCENARIOS = { flask, express };
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
                                        args: FLAGS });
try {
  const page = await browser.newPage();
  page.on("console", (message) => process.stderr.write(`[page] ${message.text()}\n`));
  page.on("pageerror", (error) => process.stderr.write(`[page error] ${error}\n`));
  await page.goto(url);
  process.stdout.write(JSON.stringify(await SCENARIOS[app](page, params)) + "\n");
} finally {
  await browser.close();
}
