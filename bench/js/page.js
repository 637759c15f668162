// The ways the browser benchmark sends the file chosen in <input id=file>.
// Each function resolves to {seconds, bytes, ...} measured with performance.now() in the page,
// and rejects on any failure (no retries: a benchmark run either works cleanly or fails).
"use strict";

const MiB = 1024 * 1024;

function chosenFile() {
  const file = document.getElementById("file").files[0];
  if (!file) throw new Error("no file set on #file");
  return file;
}

// Resolves after the event loop has run once more (setTimeout(0) is clamped to 4 ms when
// nested; a MessageChannel round trip is not).
function yieldToEventLoop() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

// (a) A bare WebSocket to a sink that discards: 1 MiB binary messages, each a Blob slice of the
// file (the browser reads it without passing through the JS heap), never more than
// `ahead` bytes waiting in bufferedAmount. The clock stops when the sink confirms it has
// received every byte. ("bare-ab": the same with each slice read into an ArrayBuffer first.)
async function benchBareWebSocket(url, chunkSize = MiB, ahead = 8 * MiB, asArrayBuffers = false) {
  const file = chosenFile();
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("bare WebSocket failed to open"));
  });
  const confirmed = new Promise((resolve, reject) => {
    ws.onmessage = (event) => resolve(JSON.parse(event.data));
    ws.onclose = (event) => reject(new Error(`sink closed: ${event.code}`));
  });
  const slice = (offset) => file.slice(offset, Math.min(offset + chunkSize, file.size));
  const started = performance.now();
  // With asArrayBuffers each slice is read into the JS heap first (as a library that must
  // know its bytes before sending does), the next read already running while one is sent.
  let nextRead = asArrayBuffers ? slice(0).arrayBuffer() : null;
  for (let offset = 0; offset < file.size; offset += chunkSize) {
    let message = slice(offset);
    if (asArrayBuffers) {
      message = await nextRead;
      if (offset + chunkSize < file.size) nextRead = slice(offset + chunkSize).arrayBuffer();
    }
    while (ws.bufferedAmount > ahead - chunkSize) await yieldToEventLoop();
    ws.send(message);
  }
  ws.send("done?");
  const reply = await confirmed;
  const seconds = (performance.now() - started) / 1000;
  ws.close();
  if (reply.received !== file.size) throw new Error(`sink got ${reply.received} of ${file.size}`);
  return { seconds, bytes: file.size };
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(script);
  });
}

// (b) The Incoming!! library, loaded from the server as a web app would load it, to the real
// server. Timed from start() to the moment every byte is acknowledged (the server acks only
// stored bytes; "stored" follows at once) and to onfinished (after the handover, which the
// benchmark's backend answers at once).
// `options` go to the Uploader: {integrity: false} skips its SHA-256 of the file (the
// end-to-end check), so the difference is what hashing costs in this engine; {transport}
// forces a data path ("http": tus PATCH requests with Blob bodies; "websocket").
async function benchIncoming(host, ticket, options = {}) {
  if (!window.incoming) await loadScript(`http://${host}/incoming/0.1/frontend/incoming.js`);
  const file = chosenFile();
  incoming.set_server_hostname(host);
  const uploader = new incoming.Uploader(ticket, file, { remember: false, ...options });
  let ackedAll = null;
  const started = performance.now();
  const finished = new Promise((resolve, reject) => {
    uploader.onprogress = (u) => {
      if (ackedAll === null && u.bytes_acked >= file.size) ackedAll = performance.now();
    };
    uploader.onfinished = () => resolve();
    uploader.oncancelled = (u) => reject(new Error(`cancelled: ${u.cancel_msg}`));
    uploader.onerror = (u) => reject(new Error(`error ${u.error_code}: ${u.error_msg}`));
  });
  uploader.start();
  await finished;
  const done = performance.now();
  return {
    seconds: (done - started) / 1000,
    secondsAcked: ackedAll === null ? null : (ackedAll - started) / 1000,
    bytes: file.size,
    transport: uploader.transport,
  };
}

// (c) tus-js-client (its browser build, from node_modules) to @tus/server, with its default
// chunk size (the whole file in one PATCH whose body is the File).
async function benchTus(endpoint) {
  const file = chosenFile();
  const started = performance.now();
  await new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      endpoint,
      retryDelays: null,
      storeFingerprintForResuming: false,
      metadata: { filename: file.name },
      onSuccess: resolve,
      onError: reject,
    });
    upload.start();
  });
  return { seconds: (performance.now() - started) / 1000, bytes: file.size };
}
