/* Incoming!! browser library 0.1.0. Built from jslib/src with `npm run build`; do not edit. */

// src/protocol.js
var SOCKET_PATH = "/incoming/0.1/frontend/upload_ws";
var TICKET_CLOSED = 4;
var RETRYABLE_ERRORS = /* @__PURE__ */ new Set([
  10,
  // idle_timeout
  12,
  // storage_failed
  13
  // shutting_down
]);
var ERROR_CLOSE_BASE = 4e3;
var LOCAL_ERROR = 0;
var MAX_TEXT_LENGTH = 1024;
var STATES_AFTER_UPLOAD = /* @__PURE__ */ new Set([
  "stored",
  "handing_over",
  "waiting_for_backend",
  "finished"
]);

// src/server_address.js
var configuredHost = null;
var loaderUrl = null;
function set_server_hostname(host) {
  if (typeof host !== "string" || host === "") {
    throw new TypeError('incoming.set_server_hostname: host must be a non-empty string such as "uploads.example.com"');
  }
  configuredHost = host;
}
function rememberLoaderUrl(url) {
  loaderUrl = url || null;
}
function uploadSocketUrl() {
  return socketUrlFor({ configuredHost, loaderUrl, page: globalThis.location });
}
function socketUrlFor({ configuredHost: configuredHost2, loaderUrl: loaderUrl2, page }) {
  const loader = httpUrl(loaderUrl2);
  const host = configuredHost2 || loader?.host || page?.host;
  if (!host) {
    throw new Error("no upload server known: call incoming.set_server_hostname(host) first");
  }
  const secure = loader?.protocol === "https:" || page?.protocol === "https:";
  return `${secure ? "wss" : "ws"}://${host}${SOCKET_PATH}`;
}
function httpUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed : null;
  } catch {
    return null;
  }
}

// src/environment.js
function browserEnvironment() {
  return {
    WebSocket: globalThis.WebSocket,
    now: () => performance.now(),
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (timer) => globalThis.clearTimeout(
      /** @type {any} */
      timer
    ),
    random: Math.random
  };
}

// src/backoff.js
var FIRST_RETRY_MS = 1e3;
var MAX_RETRY_MS = 3e4;
function reconnectDelay(failures, random) {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** failures);
  return ceiling * (1 + random()) / 2;
}

// src/progress_throttle.js
var PROGRESS_INTERVAL_MS = 100;
var ProgressThrottle = class {
  /** @type {import('./environment.js').Environment} */
  #clock;
  /** @type {() => void} */
  #emit;
  #lastEmitAt = -Infinity;
  /** @type {unknown} */
  #trailingTimer = null;
  /**
   * @param {import('./environment.js').Environment} clock
   * @param {() => void} emit
   */
  constructor(clock, emit) {
    this.#clock = clock;
    this.#emit = emit;
  }
  /** Notify now if the interval has passed, otherwise once when it does. */
  request() {
    if (this.#trailingTimer !== null) return;
    const wait = this.#lastEmitAt + PROGRESS_INTERVAL_MS - this.#clock.now();
    if (wait <= 0) {
      this.#fire();
      return;
    }
    this.#trailingTimer = this.#clock.setTimeout(() => {
      this.#trailingTimer = null;
      this.#fire();
    }, wait);
  }
  /** Notify now regardless of the interval: for the moment the last byte is acknowledged. */
  flush() {
    this.cancel();
    this.#fire();
  }
  /** Drop a pending trailing notification: the upload is over. */
  cancel() {
    if (this.#trailingTimer === null) return;
    this.#clock.clearTimeout(this.#trailingTimer);
    this.#trailingTimer = null;
  }
  #fire() {
    this.#lastEmitAt = this.#clock.now();
    this.#emit();
  }
};

// src/upload_core.js
var SEND_BUFFER_LIMIT = 8 * 1024 * 1024;
var DRAIN_POLL_MS = 5;
var SERVER_STATE_TEXT = {
  stored: "stored",
  handing_over: "handing over",
  waiting_for_backend: "waiting for backend"
};
var UploadCore = class {
  /** @type {Phase} */
  phase = "idle";
  /** @type {string | null} the ticket state the server last reported */
  serverState = null;
  paused = false;
  cancelling = false;
  /** @type {string | null} the reason sent with our cancel, then the server's */
  cancelReason = null;
  /** @type {number | null} */
  errorCode = null;
  /** @type {string | null} */
  errorMessage = null;
  /** File offset up to which bytes have been handed to the socket. */
  sentOffset = 0;
  /** File offset up to which the server has stored the bytes. */
  ackedOffset = 0;
  /** Whether the server has acknowledged the whole file. */
  allAcked = false;
  /** Binary messages sent on the current connection. */
  messagesSent = 0;
  /** Binary messages of the current connection whose every byte is acknowledged. */
  messagesAcked = 0;
  /** When the scheduled reconnection happens (environment clock), while phase is 'waiting'. */
  reconnectAt = 0;
  /** @type {string} */
  #ticketId;
  /** @type {Blob & {name?: string}} */
  #file;
  /**
   * The file as it was when the uploader was made: every message and every
   * probe is a slice of this one slice, so a browser that tracks files (Chromium
   * does) fails to read it once the file on disk has changed, instead of
   * sending bytes of a different file.
   * @type {Blob}
   */
  #snapshot;
  /** @type {() => string} */
  #socketUrl;
  /** @type {import('./environment.js').Environment} */
  #env;
  /** @type {(event: UploadEvent) => void} */
  #notify;
  /** @type {ProgressThrottle} */
  #progress;
  /** @type {WebSocket | null} */
  #ws = null;
  #window = 0;
  /** Bytes per binary message: as many as the server allows, but never more than the window, which would stall. */
  #messageSize = 0;
  /** @type {number[]} end offsets of this connection's messages not yet wholly acknowledged, oldest first */
  #unackedMessageEnds = [];
  /** Reconnection attempts since the server last made progress for us; drives the backoff. */
  #failures = 0;
  /** @type {unknown} */
  #reconnectTimer = null;
  /** @type {unknown} */
  #drainTimer = null;
  /** @type {string | null} situation last reported with 'statechange' */
  #reportedSituation = null;
  /**
   * @param {object} options
   * @param {string} options.ticketId
   * @param {Blob & {name?: string}} options.file
   * @param {() => string} options.socketUrl  asked at each connection
   * @param {import('./environment.js').Environment} options.environment
   * @param {(event: UploadEvent) => void} options.notify
   */
  constructor({ ticketId, file, socketUrl, environment, notify }) {
    this.#ticketId = ticketId;
    this.#file = file;
    this.#snapshot = file.slice(0, file.size);
    this.#socketUrl = socketUrl;
    this.#env = environment;
    this.#notify = notify;
    this.#progress = new ProgressThrottle(environment, () => notify("progress"));
    this.#reportedSituation = this.#situation();
  }
  get filename() {
    return (this.#file.name ?? "").slice(0, MAX_TEXT_LENGTH);
  }
  get size() {
    return this.#snapshot.size;
  }
  get isOver() {
    return this.phase === "finished" || this.phase === "cancelled" || this.phase === "failed";
  }
  get canPause() {
    return !this.isOver && !this.cancelling && !this.allAcked;
  }
  /** Once the file is stored the server is handing it over; a cancel would come too late. */
  get canCancel() {
    return !this.isOver && !this.cancelling && !STATES_AFTER_UPLOAD.has(this.serverState ?? "");
  }
  start() {
    if (this.phase !== "idle") return;
    if (this.paused) this.phase = "held";
    else this.#connect();
    this.#noteSituation();
  }
  /** @param {boolean} wanted */
  setPaused(wanted) {
    if (wanted === this.paused || this.isOver || this.cancelling) return;
    if (wanted && this.allAcked) return;
    this.paused = wanted;
    if (this.phase === "connected") {
      this.#send({ type: wanted ? "pause" : "unpause" });
      if (!wanted) this.#pump();
    } else if (wanted && this.phase === "waiting") {
      this.#cancelReconnect();
      this.phase = "held";
    } else if (!wanted && this.phase === "held") {
      this.#connect();
    }
    this.#noteSituation();
  }
  /** @param {string | undefined} reason */
  cancel(reason) {
    if (!this.canCancel) return;
    this.cancelling = true;
    this.cancelReason = reason == null ? null : String(reason).slice(0, MAX_TEXT_LENGTH);
    if (this.phase === "connected") this.#sendCancel();
    else if (this.phase !== "connecting") this.#connect();
    this.#noteSituation();
  }
  /** @returns {string} a short text for people, e.g. "uploading" or "reconnecting in 2 s" */
  stateMessage() {
    const situation = this.#situation();
    if (situation !== "reconnecting") return situation;
    const seconds = Math.max(1, Math.ceil((this.reconnectAt - this.#env.now()) / 1e3));
    return `reconnecting in ${seconds} s`;
  }
  /** What stateMessage() says, without the countdown: a change here is a 'statechange'. */
  #situation() {
    switch (this.phase) {
      case "idle":
        return this.paused ? "paused" : "not started";
      case "finished":
      case "cancelled":
        return this.phase;
      case "failed":
        return "error";
    }
    if (this.cancelling) return "cancelling";
    switch (this.phase) {
      case "connecting":
        return "connecting";
      case "waiting":
        return "reconnecting";
      case "held":
        return "paused";
    }
    return SERVER_STATE_TEXT[this.serverState ?? ""] ?? (this.paused ? "paused" : "uploading");
  }
  #noteSituation() {
    const situation = this.#situation();
    if (situation === this.#reportedSituation) return;
    this.#reportedSituation = situation;
    this.#notify("statechange");
  }
  #connect() {
    this.#cancelReconnect();
    this.phase = "connecting";
    void this.#probeFile();
    let ws;
    try {
      ws = new this.#env.WebSocket(this.#socketUrl());
    } catch (error) {
      this.#fail(LOCAL_ERROR, `cannot open the upload connection: ${/** @type {Error} */
      error.message}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.#send({ type: "hello", ticket: this.#ticketId, size: this.size, filename: this.filename });
    };
    ws.onmessage = (event) => {
      this.#receive(event.data);
      this.#noteSituation();
    };
    ws.onclose = (event) => {
      this.#closed(event.code, event.reason);
      this.#noteSituation();
    };
    this.#ws = ws;
  }
  /** @param {object} message */
  #send(message) {
    this.#ws?.send(JSON.stringify(message));
  }
  /** @param {unknown} data */
  #receive(data) {
    if (typeof data !== "string") return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message?.type) {
      case "welcome":
        this.#welcomed(message);
        break;
      case "ack":
        this.#acknowledged(message.offset);
        break;
      case "state":
        this.#failures = 0;
        this.#serverStateChanged(message.state);
        break;
      case "cancelled":
        this.cancelReason = message.reason ?? this.cancelReason;
        this.#end("cancelled");
        break;
      case "error":
        this.#serverError(message.code, message.message, message.state);
        break;
    }
  }
  /** @param {{offset: number, chunkSize: number, window: number, state: string}} welcome */
  #welcomed({ offset, chunkSize, window, state }) {
    if (!(chunkSize > 0 && window > 0 && offset >= 0 && offset <= this.size)) {
      this.#fail(LOCAL_ERROR, "the server sent an unusable welcome");
      return;
    }
    this.phase = "connected";
    this.#window = window;
    this.#messageSize = Math.min(chunkSize, window);
    this.messagesSent = 0;
    this.messagesAcked = 0;
    this.#unackedMessageEnds = [];
    this.sentOffset = offset;
    this.#setAcked(offset);
    this.#serverStateChanged(state);
    if (this.isOver) return;
    if (this.cancelling) {
      this.#sendCancel();
    } else if (STATES_AFTER_UPLOAD.has(state)) {
    } else if (this.paused) {
      if (state !== "paused") this.#send({ type: "pause" });
    } else {
      if (state === "paused") this.#send({ type: "unpause" });
      this.#pump();
    }
  }
  /** @param {string} state */
  #serverStateChanged(state) {
    this.serverState = state;
    if (state === "finished") this.#finish();
  }
  /** @param {number} offset */
  #acknowledged(offset) {
    if (!(offset > this.ackedOffset)) return;
    this.#failures = 0;
    this.#setAcked(offset);
    this.#pump();
  }
  /** @param {number} offset */
  #setAcked(offset) {
    this.ackedOffset = offset;
    while (this.#unackedMessageEnds.length > 0 && this.#unackedMessageEnds[0] <= offset) {
      this.#unackedMessageEnds.shift();
      this.messagesAcked++;
    }
    const allAcked = offset === this.size;
    if (allAcked && !this.allAcked) {
      this.allAcked = true;
      this.#progress.flush();
    } else {
      this.allAcked = allAcked;
      this.#progress.request();
    }
  }
  /**
   * Hands the socket every message that fits the window and the send buffer.
   * A message is a slice of the file as a Blob: the browser reads it from disk
   * on its way to the network, and its bytes never pass through the page's
   * heap (which is what makes Chromium fast). Until it is sent, a queued Blob
   * counts in bufferedAmount like any other message.
   */
  #pump() {
    const ws = this.#ws;
    let sentAny = false;
    while (ws && this.phase === "connected" && !this.paused && !this.cancelling && this.sentOffset < this.size) {
      const end = Math.min(this.sentOffset + this.#messageSize, this.size);
      if (end - this.ackedOffset > this.#window) break;
      if (ws.bufferedAmount >= SEND_BUFFER_LIMIT) {
        this.#pollDrain();
        break;
      }
      ws.send(this.#snapshot.slice(this.sentOffset, end));
      this.sentOffset = end;
      this.messagesSent++;
      this.#unackedMessageEnds.push(end);
      sentAny = true;
    }
    if (sentAny) this.#progress.request();
  }
  /**
   * Reads the file's last byte, once per connection, and ends the upload if
   * that fails. The browser reads each message's Blob only as it sends it, so
   * a file that vanished, became unreadable or changed (Chromium notices every
   * change; Firefox a missing or shortened file) shows up there as a failed
   * send, which browsers report as an abnormal close (1006), not as an error
   * of the file. Without this check every reconnection would fail the same
   * way, forever.
   */
  async #probeFile() {
    const size = this.size;
    if (size === 0) return;
    let problem = null;
    try {
      const bytes = await this.#snapshot.slice(size - 1, size).arrayBuffer();
      if (bytes.byteLength !== 1) problem = "it is shorter than when the upload began";
    } catch (error) {
      problem = /** @type {Error} */
      error.message || String(error);
    }
    if (problem !== null && !this.isOver) this.#fail(LOCAL_ERROR, `cannot read the file: ${problem}`);
  }
  #pollDrain() {
    if (this.#drainTimer !== null) return;
    this.#drainTimer = this.#env.setTimeout(() => {
      this.#drainTimer = null;
      this.#pump();
    }, DRAIN_POLL_MS);
  }
  #sendCancel() {
    this.#send(this.cancelReason === null ? { type: "cancel" } : { type: "cancel", reason: this.cancelReason });
  }
  /**
   * @param {number} code
   * @param {string | undefined} message
   * @param {string} [state]  the ticket's state, when the error message carried it
   */
  #serverError(code, message, state) {
    if (code === TICKET_CLOSED && state === "finished") {
      this.#finish();
    } else if (code === TICKET_CLOSED && state === "cancelled") {
      if (!this.cancelling) this.cancelReason = message || "cancelled";
      this.#end("cancelled");
    } else if (RETRYABLE_ERRORS.has(code)) {
      this.#disconnected();
    } else {
      this.#fail(code, message || `error ${code}`);
    }
  }
  /**
   * @param {number} code  WebSocket close code
   * @param {string} reason
   */
  #closed(code, reason) {
    const errorCode = code - ERROR_CLOSE_BASE;
    if (errorCode > 0 && errorCode < 1e3) this.#serverError(errorCode, reason || `closed with code ${code}`);
    else this.#disconnected();
  }
  /** The connection is gone without the upload being over: reconnect, or wait for unpause. */
  #disconnected() {
    this.#dropConnection();
    if (this.paused && !this.cancelling) {
      this.phase = "held";
      return;
    }
    const delay = reconnectDelay(this.#failures++, this.#env.random);
    this.phase = "waiting";
    this.reconnectAt = this.#env.now() + delay;
    this.#reconnectTimer = this.#env.setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
      this.#noteSituation();
    }, delay);
  }
  #dropConnection() {
    if (this.#drainTimer !== null) {
      this.#env.clearTimeout(this.#drainTimer);
      this.#drainTimer = null;
    }
    const ws = this.#ws;
    if (ws === null) return;
    this.#ws = null;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close(1e3);
  }
  #cancelReconnect() {
    if (this.#reconnectTimer === null) return;
    this.#env.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }
  #finish() {
    if (!this.allAcked) {
      this.sentOffset = this.size;
      this.#setAcked(this.size);
    }
    this.#end("finished");
  }
  /**
   * @param {number} code
   * @param {string} message
   */
  #fail(code, message) {
    this.errorCode = code;
    this.errorMessage = message;
    this.#end("failed");
  }
  /** @param {'finished' | 'cancelled' | 'failed'} outcome */
  #end(outcome) {
    this.#dropConnection();
    this.#cancelReconnect();
    this.#progress.cancel();
    this.phase = outcome;
    this.cancelling = false;
    this.#noteSituation();
    this.#notify(outcome === "failed" ? "error" : outcome);
  }
};

// src/uploader.js
var EVENTS_WITH_CALLBACKS = ["progress", "finished", "cancelled", "error"];
var IncomingUploader = class extends EventTarget {
  /** @type {((uploader: IncomingUploader) => void) | null} */
  onprogress = null;
  /** @type {((uploader: IncomingUploader) => void) | null} */
  onfinished = null;
  /** @type {((uploader: IncomingUploader) => void) | null} */
  oncancelled = null;
  /** @type {((uploader: IncomingUploader) => void) | null} */
  onerror = null;
  /** @type {UploadCore} */
  #core;
  /**
   * @param {string} ticketId
   * @param {Blob} file
   * @param {UploaderOptions} [options]
   */
  constructor(ticketId, file, { url, environment = browserEnvironment() } = {}) {
    super();
    if (typeof ticketId !== "string" || ticketId === "") {
      throw new TypeError("incoming.Uploader: ticketId must be a non-empty string");
    }
    if (typeof file?.slice !== "function" || !Number.isSafeInteger(file.size)) {
      throw new TypeError("incoming.Uploader: file must be a File or Blob");
    }
    for (const type of EVENTS_WITH_CALLBACKS) {
      const property = (
        /** @type {'onprogress'} */
        `on${type}`
      );
      this.addEventListener(type, () => this[property]?.(this));
    }
    this.#core = new UploadCore({
      ticketId,
      file,
      socketUrl: url ? () => url : uploadSocketUrl,
      environment,
      notify: (type) => this.dispatchEvent(new Event(type))
    });
  }
  /** The file's name as the browser knows it (empty for a Blob). */
  get filename() {
    return this.#core.filename;
  }
  /** The file's size in bytes. */
  get bytes_total() {
    return this.#core.size;
  }
  /** File offset up to which bytes have been handed to the connection. */
  get bytes_tx() {
    return this.#core.sentOffset;
  }
  /** File offset up to which the server has stored the bytes. */
  get bytes_acked() {
    return this.#core.ackedOffset;
  }
  /** Bytes sent but not yet acknowledged. */
  get bytes_ahead() {
    return this.#core.sentOffset - this.#core.ackedOffset;
  }
  /** bytes_acked / bytes_total, from 0 to 1 (an empty file is 1 once acknowledged). */
  get frac_complete() {
    const core = this.#core;
    if (core.size === 0) return core.allAcked ? 1 : 0;
    return core.ackedOffset / core.size;
  }
  /** Binary messages sent on the current connection. */
  get chunks_tx_now() {
    return this.#core.messagesSent;
  }
  /** Binary messages of the current connection wholly acknowledged. */
  get chunks_acked_now() {
    return this.#core.messagesAcked;
  }
  /** Binary messages of the current connection not yet wholly acknowledged. */
  get chunks_ahead() {
    return this.#core.messagesSent - this.#core.messagesAcked;
  }
  /** A short text for people, e.g. "uploading" or "reconnecting in 2 s". */
  get state_msg() {
    return this.#core.stateMessage();
  }
  /** Why the upload was cancelled (the server's word), or null. */
  get cancel_msg() {
    return this.#core.cancelReason;
  }
  /** The error code once the upload failed: the server's, or 0 for a failure in the browser. */
  get error_code() {
    return this.#core.errorCode;
  }
  /** What went wrong, once the upload failed. */
  get error_msg() {
    return this.#core.errorMessage;
  }
  /** A connection is open and the server has welcomed it. */
  get connected() {
    return this.#core.phase === "connected";
  }
  /** The backend has accepted the file: the upload is done. */
  get finished() {
    return this.#core.phase === "finished";
  }
  /** The upload was paused with pause() and not yet unpaused. */
  get paused() {
    return this.#core.paused;
  }
  /** pause() would pause now: the upload is not over and not every byte is acknowledged. */
  get can_pause() {
    return this.#core.canPause;
  }
  /** cancel() was called and the server has not yet confirmed. */
  get cancelling() {
    return this.#core.cancelling;
  }
  /** The upload was cancelled, by this page or by the web-app backend. */
  get cancelled() {
    return this.#core.phase === "cancelled";
  }
  /** cancel() would cancel now: the upload is not over and the file is not yet stored. */
  get can_cancel() {
    return this.#core.canCancel;
  }
  /** Connect and upload; reconnects by itself until finished, cancelled or failed. Calling it again does nothing. */
  start() {
    this.#core.start();
  }
  /** @param {'pause' | 'unpause' | 'toggle'} [mode] */
  pause(mode = "pause") {
    switch (mode) {
      case "pause":
        return this.#core.setPaused(true);
      case "unpause":
        return this.#core.setPaused(false);
      case "toggle":
        return this.#core.setPaused(!this.#core.paused);
      default:
        throw new TypeError(`incoming.Uploader.pause: mode must be 'pause', 'unpause' or 'toggle', not ${String(mode)}`);
    }
  }
  /** @param {string} [reason]  passed on to the web-app backend */
  cancel(reason) {
    this.#core.cancel(reason);
  }
};
function Uploader(ticketId, file, options) {
  return new IncomingUploader(ticketId, file, options);
}
Uploader.prototype = IncomingUploader.prototype;

// src/upload_promise.js
var UploadError = class extends Error {
  /** @param {ReturnType<typeof Uploader>} uploader  a cancelled or failed uploader */
  constructor(uploader) {
    const cancelled = uploader.cancelled;
    super(cancelled ? `upload cancelled${uploader.cancel_msg ? `: ${uploader.cancel_msg}` : ""}` : uploader.error_msg ?? "upload failed");
    this.name = cancelled ? "AbortError" : "UploadError";
    this.code = uploader.error_code;
    this.uploader = uploader;
  }
};
function upload(ticketId, file, { onprogress, signal, ...uploaderOptions } = {}) {
  return new Promise((resolve, reject) => {
    const uploader = Uploader(ticketId, file, uploaderOptions);
    const cancelOnAbort = () => uploader.cancel(abortReason(signal));
    const whenOver = (settle) => () => {
      signal?.removeEventListener("abort", cancelOnAbort);
      settle();
    };
    uploader.addEventListener("finished", whenOver(() => resolve(uploader)));
    const rejectWithError = whenOver(() => reject(new UploadError(uploader)));
    uploader.addEventListener("error", rejectWithError);
    uploader.addEventListener("cancelled", rejectWithError);
    if (onprogress) uploader.addEventListener("progress", () => onprogress(uploader));
    uploader.start();
    if (signal?.aborted) cancelOnAbort();
    else signal?.addEventListener("abort", cancelOnAbort);
  });
}
function abortReason(signal) {
  const reason = signal?.reason;
  if (reason == null) return void 0;
  return reason instanceof Error ? reason.message : String(reason);
}

// src/module_entry.js
rememberLoaderUrl(import.meta.url);
export {
  UploadError,
  Uploader,
  set_server_hostname,
  upload
};
