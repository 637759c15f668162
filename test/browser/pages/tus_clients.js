// The browser side of test_tus_clients_in_browser.py: unmodified tus clients in a real page.
// tus-js-client's browser build (global `tus`) and Uppy's bundle (global `Uppy`, its Tus
// plugin) upload to Incoming!!'s tus endpoint from a page of another origin; beside them the
// Incoming!! library can upload the same file, for comparing what the backend hears.
//
// params: {libraryUrl, file: {size, name}, uploads: [{client: "tus-js-client" | "uppy" |
//          "incoming", ticket, endpoint, chunkSize?, terminateAfterBytes?}], timeoutMs}
// Each upload resolves to {client, outcome: "success" | "terminated" | "error", url,
// acknowledged: [...], status?, body?, message?}; the result also has the file's SHA-256.
"use strict";
// loadScript, makeFile, sha256Hex and sleep come from page_tools.js.

// Quick retries: the cut test must not wait for the clients' default backoff of seconds.
const RETRY_DELAYS = [100, 300, 500, 1000, 1000, 2000];

// tus-js-client, as its README shows it; the ticket and the file name go in the metadata.
function withTusJsClient(spec, file) {
  return new Promise((resolve) => {
    const acknowledged = [];
    let stopping = false;
    const upload = new tus.Upload(file, {
      endpoint: spec.endpoint,
      metadata: { ticket: spec.ticket, filename: file.name },
      chunkSize: spec.chunkSize ?? Infinity,
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false,
      onChunkComplete(chunk, accepted, total) {
        acknowledged.push(accepted);
        if (spec.terminateAfterBytes !== undefined && accepted >= spec.terminateAfterBytes
            && accepted < total && !stopping) {
          stopping = true; // abort(true): stop, then DELETE the upload (tus termination)
          upload.abort(true).then(
            () => resolve({ outcome: "terminated", url: upload.url, acknowledged }),
            (error) => resolve({ outcome: "error", message: String(error), url: upload.url }));
        }
      },
      onSuccess: () => resolve({ outcome: "success", url: upload.url, acknowledged }),
      onError(error) {
        const response = error.originalResponse;
        resolve({
          outcome: "error", url: upload.url, acknowledged,
          message: String(error).split("\n")[0],
          status: response ? response.getStatus() : null,
          body: response ? response.getBody() : null,
        });
      },
    });
    upload.start();
  });
}

// Uppy with its Tus plugin: the ticket is a file's meta field, which the plugin sends as tus
// metadata (with Uppy's own `name` and `type`). Termination is Uppy's cancelAll().
async function withUppy(spec, file) {
  const uppy = new Uppy.Uppy({ autoProceed: false });
  uppy.use(Uppy.Tus, { endpoint: spec.endpoint, retryDelays: RETRY_DELAYS,
                       chunkSize: spec.chunkSize ?? Infinity });
  const id = uppy.addFile({ name: file.name, type: file.type, data: file,
                            meta: { ticket: spec.ticket } });
  const acknowledged = [];
  let error = null;
  let stopping = false;
  let terminated;
  const termination = new Promise((resolve) => { terminated = resolve; });
  uppy.on("upload-error", (_file, cause, response) => {
    error = { message: String(cause?.message ?? cause).split("\n")[0],
              status: response?.status ?? null, body: response?.body?.xhr?.responseText ?? null };
  });
  uppy.on("upload-progress", (_file, progress) => {
    acknowledged.push(progress.bytesUploaded);
    if (spec.terminateAfterBytes !== undefined && !stopping
        && progress.bytesUploaded >= spec.terminateAfterBytes) {
      stopping = true;
      const url = uppy.getFile(id)?.tus?.uploadUrl ?? null;
      uppy.cancelAll();
      // Uppy does not wait for its DELETE: give it the time to arrive.
      sleep(500).then(() => terminated({ outcome: "terminated", url, acknowledged }));
    }
  });
  const result = await Promise.race([uppy.upload(), termination]);
  if (stopping) return termination; // upload() may resolve first, with nothing uploaded
  const uploaded = result?.successful?.[0];
  if (uploaded) return { outcome: "success", url: uploaded.uploadURL, acknowledged };
  return { outcome: "error", url: null, acknowledged, ...error };
}

// The Incoming!! library, for comparison: what the backend hears from it is the reference.
function withIncoming(spec, file) {
  return new Promise((resolve) => {
    const uploader = new incoming.Uploader(spec.ticket, file, { remember: false });
    uploader.onfinished = () => resolve({ outcome: "success" });
    uploader.onerror = () => resolve({ outcome: "error", status: uploader.error_code,
                                       message: uploader.error_msg });
    uploader.start();
  });
}

const CLIENTS = { "tus-js-client": withTusJsClient, uppy: withUppy, incoming: withIncoming };

window.runScenario = async (params) => {
  if (params.uploads.some((spec) => spec.client === "incoming")) await loadScript(params.libraryUrl);
  const file = makeFile(params.file.size, params.file.name);
  const timeout = sleep(params.timeoutMs).then(() => ({ outcome: "timeout" }));
  const uploads = await Promise.all(params.uploads.map(async (spec) => ({
    client: spec.client,
    ...(await Promise.race([CLIENTS[spec.client](spec, file), timeout])),
  })));
  return { sha256: await sha256Hex(file), uploads };
};
