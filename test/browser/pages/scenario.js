// The browser side of the browser tests: load incoming.js like a web app would, upload files
// made in the page, do what the scenario asks on the way, and report what the page saw.
//
// params: {libraryUrl, uploadHost?, uploads: [{ticket, size, name, pauseAfterMs?, pauseForMs?,
//          cancelAfterMs?, cancelReason?, integrity?, remember?, transport?}], timeoutMs}
// startPicked/resumePicked upload the file picked in the page's file input, across a reload.
"use strict";
// loadScript, makeFile, sha256Hex and sleep come from page_tools.js.

function runOne(spec, timeoutMs) {
  const file = spec.file ?? makeFile(spec.size, spec.name);
  const options = {};
  if (spec.integrity !== undefined) options.integrity = spec.integrity;
  if (spec.remember !== undefined) options.remember = spec.remember;
  if (spec.transport !== undefined) options.transport = spec.transport;
  const uploader = new incoming.Uploader(spec.ticket, file, options);
  return follow(uploader, file, spec, timeoutMs);
}

function follow(uploader, file, spec, timeoutMs) {
  const seen = { states: [], progressCalls: 0, pausedAcked: null, resumedAcked: null,
                 reconnects: 0, retryErrors: [], firstAcked: null };
  uploader.addEventListener("statechange", () => {
    const last = seen.states[seen.states.length - 1];
    if (uploader.state_msg !== last) seen.states.push(uploader.state_msg);
    if (uploader.state_msg.startsWith("reconnecting")) seen.reconnects += 1;
  });
  uploader.onprogress = () => {
    seen.progressCalls += 1;
    if (seen.firstAcked === null && uploader.bytes_acked > 0) seen.firstAcked = uploader.bytes_acked;
    // A retryable error shows while the uploader retries.
    const last = seen.retryErrors[seen.retryErrors.length - 1];
    if (uploader.error_code !== null && uploader.error_code !== last) seen.retryErrors.push(uploader.error_code);
  };
  const started = performance.now();

  if (spec.pauseAfterMs !== undefined) {
    setTimeout(async () => {
      seen.ackedAtPause = uploader.bytes_acked;
      seen.rateAtPause = uploader.bytes_per_second;
      seen.aheadAtPause = uploader.bytes_ahead;
      uploader.pause("pause");
      seen.pausedFlag = uploader.paused;
      // Bytes already handed to the socket still land; for the last second nothing may.
      await sleep(spec.pauseForMs - 1000);
      seen.pausedAcked = uploader.bytes_acked;
      await sleep(1000);
      seen.resumedAcked = uploader.bytes_acked;
      uploader.pause("unpause");
    }, spec.pauseAfterMs);
  }
  if (spec.cancelAfterMs !== undefined) {
    setTimeout(() => uploader.cancel(spec.cancelReason), spec.cancelAfterMs);
  }

  return new Promise((resolve) => {
    const finish = async (outcome) => {
      clearTimeout(timer);
      resolve({
        outcome,
        seconds: (performance.now() - started) / 1000,
        sha256: await sha256Hex(file),
        filename: uploader.filename,
        bytes_total: uploader.bytes_total,
        bytes_acked: uploader.bytes_acked,
        frac_complete: uploader.frac_complete,
        finished: uploader.finished,
        cancelled: uploader.cancelled,
        cancel_msg: uploader.cancel_msg,
        error_code: uploader.error_code,
        error_msg: uploader.error_msg,
        backendResult: uploader.result,
        librarySha256: uploader.sha256,
        bytes_per_second: uploader.bytes_per_second,
        transport: uploader.transport,
        ...seen,
      });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    uploader.onfinished = () => finish("finished");
    uploader.oncancelled = () => finish("cancelled");
    uploader.onerror = () => finish("error");
    uploader.start();
  });
}

window.runScenario = async (params) => {
  await loadScript(params.libraryUrl);
  if (params.uploadHost) incoming.set_server_hostname(params.uploadHost);
  return Promise.all(params.uploads.map((spec) => runOne(spec, params.timeoutMs)));
};

function pickedFile() {
  return document.querySelector("input[type=file]").files[0];
}

// Before the reload: upload the picked file until `stopAtBytes` are acknowledged, then return
// (the driver reloads the page under the running upload).
window.startPicked = async (params) => {
  await loadScript(params.libraryUrl);
  if (params.uploadHost) incoming.set_server_hostname(params.uploadHost);
  const uploader = new incoming.Uploader(params.ticket, pickedFile(), { transport: params.transport });
  uploader.start();
  const deadline = performance.now() + params.timeoutMs;
  while (uploader.bytes_acked < params.stopAtBytes && performance.now() < deadline) await sleep(20);
  return { bytes_acked: uploader.bytes_acked, finished: uploader.finished,
           remembered: await incoming.findResumable(pickedFile()) };
};

// After the reload: find the unfinished upload of the picked file and continue it.
window.resumePicked = async (params) => {
  await loadScript(params.libraryUrl);
  if (params.uploadHost) incoming.set_server_hostname(params.uploadHost);
  const file = pickedFile();
  const found = await incoming.findResumable(file);
  if (!found) return { found };
  const uploader = new incoming.Uploader(found.ticket, file, { transport: params.transport });
  const result = await follow(uploader, file, {}, params.timeoutMs);
  return { found, ...result, rememberedAfter: await incoming.findResumable(file) };
};
