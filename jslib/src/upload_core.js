import { reconnectDelay } from './backoff.js';
import { inFlightLimit, messageSize } from './flow_limits.js';
import { HttpAttempt, tusEndpointFor } from './http_upload.js';
import { ProgressThrottle } from './progress_throttle.js';
import {
  DIGEST_MISMATCH,
  ERROR_CLOSE_BASE,
  LOCAL_ERROR,
  MAX_TEXT_LENGTH,
  RETRYABLE_ERRORS,
  STATES_AFTER_UPLOAD,
  TICKET_CLOSED,
} from './protocol.js';
import { RateMeter } from './rate_meter.js';

/**
 * While the browser holds this many bytes in the socket's send buffer, no more
 * are handed to it. The window bounds unacknowledged bytes already; this keeps
 * the browser's own buffer small too, so memory stays flat and a pause takes
 * effect quickly even with a large window. (Measured with bench/browser,
 * 512 MiB: 4, 8 and 16 MiB, and polls every 1, 5 or 20 ms, were all within
 * the noise of each other in Chromium and Firefox; at 5 ms a poll comes
 * around long before 8 MiB drain even at 500 MB/s.)
 */
export const SEND_BUFFER_LIMIT = 8 * 1024 * 1024;

/** Browsers fire no event when bufferedAmount drains, so it is polled this often while at the limit. */
export const DRAIN_POLL_MS = 5;

/** The remembered offset of an unfinished upload is written at most this often (it is only a hint: the server's welcome decides). */
export const REMEMBER_INTERVAL_MS = 1000;

/**
 * @typedef {'progress' | 'statechange' | 'finished' | 'cancelled' | 'error'} UploadEvent
 *
 * @typedef {'idle' | 'connecting' | 'connected' | 'waiting' | 'held' | 'finished' | 'cancelled' | 'failed'} Phase
 *   idle: not started; connecting: socket opening, or open and waiting for
 *   `welcome`; connected: welcomed; waiting: disconnected, a reconnection is
 *   scheduled; held: disconnected while paused, reconnects on unpause;
 *   finished, cancelled, failed: over for good.
 */

/** @type {Record<string, string>} */
const SERVER_STATE_TEXT = {
  stored: 'stored',
  handing_over: 'handing over',
  waiting_for_backend: 'waiting for backend',
};

/**
 * The upload of one file for one ticket: the protocol conversation, flow
 * control, reconnection and the upload's state. Shared by every face of the
 * library; it reports through `notify` and is read through its public fields,
 * which only this class writes.
 */
export class UploadCore {
  /** @type {Phase} */
  phase = 'idle';
  /** @type {string | null} the ticket state the server last reported */
  serverState = null;
  paused = false;
  cancelling = false;
  /** @type {string | null} the reason sent with our cancel, then the server's */
  cancelReason = null;
  /** @type {number | null} the error that ended the upload, or the retryable one last met while retrying */
  errorCode = null;
  /** @type {string | null} */
  errorMessage = null;
  /** @type {unknown} the backend's result, from `state finished` or error 4; null until known */
  result = null;
  /** @type {string | null} this page's SHA-256 of the file, once computed */
  sha256 = null;
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
  /** @type {RateMeter} */
  #rate;
  /** Whether the file is hashed and the server asked to check it end to end. */
  #integrity;
  /** @type {Promise<void> | null} the hashing under way or done, once started */
  #hashing = null;
  /** @type {import('./resume_store.js').ResumeStore | null} */
  #resumeStore;
  #rememberedAt = -Infinity;
  /** errorCode and errorMessage tell of a retryable error, to be cleared once bytes flow again. */
  #showingRetryError = false;

  /** @type {'websocket' | 'http'} the data path in use */
  #transport;
  /** 'auto' chose the transport: if it is blocked before it ever worked, the other one is tried. */
  #mayFallBack;
  /** Some connection or request of this upload got an answer from the server. */
  #everAnswered = false;
  /** An HTTP attempt created the tus upload: later attempts resume with HEAD. */
  #httpCreated = false;
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {HttpAttempt | null} the HTTP path's counterpart of #ws (http_upload.js) */
  #http = null;
  #window = 0;
  #chunkSize = 0;
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
   * @param {boolean} [options.integrity]  hash the file and have the server check it (default true)
   * @param {boolean} [options.remember]  remember the unfinished upload for findResumable() (default true)
   * @param {'auto' | 'websocket' | 'http'} [options.transport]  the data path; 'auto': HTTP where the
   *   environment prefers it (Chromium), else the WebSocket, and the other one if it is blocked
   */
  constructor({ ticketId, file, socketUrl, environment, notify, integrity = true, remember = true, transport = 'auto' }) {
    if (!['auto', 'websocket', 'http'].includes(transport)) {
      throw new TypeError(`incoming.Uploader: transport must be 'auto', 'websocket' or 'http', not ${String(transport)}`);
    }
    this.#mayFallBack = transport === 'auto';
    this.#transport = transport === 'auto' ? (environment.preferHttp ? 'http' : 'websocket') : transport;
    if (typeof environment.fetch !== 'function') {
      if (transport === 'http') throw new TypeError('incoming.Uploader: transport \'http\' needs fetch');
      this.#transport = 'websocket';
      this.#mayFallBack = false;
    }
    this.#ticketId = ticketId;
    this.#file = file;
    this.#snapshot = file.slice(0, file.size);
    this.#socketUrl = socketUrl;
    this.#env = environment;
    this.#notify = notify;
    this.#progress = new ProgressThrottle(environment, () => notify('progress'));
    this.#rate = new RateMeter(environment.now);
    this.#integrity = integrity && typeof environment.hashFile === 'function';
    this.#resumeStore = remember ? environment.resumeStore ?? null : null;
    this.#reportedSituation = this.#situation();
  }

  /** @returns {'websocket' | 'http'} the data path in use (it may change once, if 'auto' finds one blocked) */
  get transport() {
    return this.#transport;
  }

  /** Bytes per second the server stores, smoothed; 0 until measured. */
  get bytesPerSecond() {
    return this.#rate.bytesPerSecond;
  }

  /** @returns {number | null} seconds until every byte is acknowledged at the measured rate; null until measured */
  get secondsLeft() {
    if (this.allAcked) return 0;
    const rate = this.#rate.bytesPerSecond;
    return rate > 0 ? (this.size - this.ackedOffset) / rate : null;
  }

  get filename() {
    return (this.#file.name ?? '').slice(0, MAX_TEXT_LENGTH);
  }

  get size() {
    return this.#snapshot.size;
  }

  get isOver() {
    return this.phase === 'finished' || this.phase === 'cancelled' || this.phase === 'failed';
  }

  get canPause() {
    return !this.isOver && !this.cancelling && !this.allAcked;
  }

  /** Once the file is stored the server is handing it over; a cancel would come too late. */
  get canCancel() {
    return !this.isOver && !this.cancelling && !STATES_AFTER_UPLOAD.has(this.serverState ?? '');
  }

  start() {
    if (this.phase !== 'idle') return;
    this.#startHashing();
    this.#remember(true);
    if (this.paused) this.phase = 'held';
    else this.#connect();
    this.#noteSituation();
  }

  /** @param {boolean} wanted */
  setPaused(wanted) {
    if (wanted === this.paused || this.isOver || this.cancelling) return;
    if (wanted && this.allAcked) return; // nothing left to hold back
    this.paused = wanted;
    this.#rate.restart(); // the paused time says nothing about the link
    if (this.#transport === 'http' && wanted && (this.phase === 'connected' || this.phase === 'connecting')) {
      // Bytes in a request cannot be held back: the request is aborted, and the next
      // attempt (on unpause) resumes from the server's offset.
      this.#dropConnection();
      this.phase = 'held';
    } else if (this.phase === 'connected') {
      this.#send({ type: wanted ? 'pause' : 'unpause' });
      if (!wanted) this.#pump();
    } else if (wanted && this.phase === 'waiting') {
      this.#cancelReconnect();
      this.phase = 'held';
    } else if (!wanted && this.phase === 'held') {
      this.#connect();
    }
    this.#noteSituation();
  }

  /** @param {string | undefined} reason */
  cancel(reason) {
    if (!this.canCancel) return;
    this.cancelling = true;
    this.cancelReason = reason == null ? null : String(reason).slice(0, MAX_TEXT_LENGTH);
    if (this.phase === 'connected') this.#sendCancel();
    // A cancel must reach the server, so a disconnected upload connects right
    // away (a connecting one sends the cancel when welcomed).
    else if (this.phase !== 'connecting') this.#connect();
    this.#noteSituation();
  }

  /** @returns {string} a short text for people, e.g. "uploading" or "reconnecting in 2 s" */
  stateMessage() {
    const situation = this.#situation();
    if (situation !== 'reconnecting') return situation;
    const seconds = Math.max(1, Math.ceil((this.reconnectAt - this.#env.now()) / 1000));
    return `reconnecting in ${seconds} s`;
  }

  /** What stateMessage() says, without the countdown: a change here is a 'statechange'. */
  #situation() {
    switch (this.phase) {
      case 'idle':
        return this.paused ? 'paused' : 'not started';
      case 'finished':
      case 'cancelled':
        return this.phase;
      case 'failed':
        return 'error';
    }
    if (this.cancelling) return 'cancelling';
    switch (this.phase) {
      case 'connecting':
        return 'connecting';
      case 'waiting':
        return 'reconnecting';
      case 'held':
        return 'paused';
    }
    return SERVER_STATE_TEXT[this.serverState ?? ''] ?? (this.paused ? 'paused' : 'uploading');
  }

  #noteSituation() {
    const situation = this.#situation();
    if (situation === this.#reportedSituation) return;
    this.#reportedSituation = situation;
    this.#notify('statechange');
  }

  #connect() {
    this.#cancelReconnect();
    this.phase = 'connecting';
    void this.#probeFile(); // alongside the connection; it ends the upload only if the file is unreadable
    if (this.#transport === 'http') this.#connectHttp();
    else this.#connectSocket();
  }

  #connectSocket() {
    let ws;
    try {
      ws = new this.#env.WebSocket(this.#socketUrl());
    } catch (error) {
      // A bad URL or a blocked scheme: trying again would fail the same way.
      this.#fail(LOCAL_ERROR, `cannot open the upload connection: ${/** @type {Error} */ (error).message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.#everAnswered = true;
      /** @type {Record<string, unknown>} */
      const hello = { type: 'hello', ticket: this.#ticketId, size: this.size, filename: this.filename };
      if (this.#integrity) hello.integrity = 'sha256';
      // Known already (a fast hash, or a reconnection): a finished ticket can then tell our file from another.
      if (this.#integrity && this.sha256 !== null) hello.sha256 = this.sha256;
      this.#send(hello);
    };
    ws.onmessage = (event) => {
      this.#receive(event.data);
      this.#noteSituation();
    };
    ws.onclose = (event) => {
      if (event.code === 1006 && !this.#everAnswered && this.#mayFallBack) this.#fallBack('http');
      else this.#closed(event.code, event.reason);
      this.#noteSituation();
    };
    this.#ws = ws;
  }

  /** The HTTP path: one HttpAttempt per "connection", reporting as the socket's messages do. */
  #connectHttp() {
    let endpoint;
    try {
      endpoint = tusEndpointFor(this.#socketUrl());
    } catch (error) {
      this.#fail(LOCAL_ERROR, `cannot open the upload connection: ${/** @type {Error} */ (error).message}`);
      return;
    }
    /** @param {(...args: any[]) => void} action */
    const reporting = (action) => (/** @type {any[]} */ ...args) => {
      if (this.#http !== attempt) return;
      action(...args);
      this.#noteSituation();
    };
    const attempt = new HttpAttempt({
      endpoint,
      ticketId: this.#ticketId,
      file: this.#snapshot,
      filename: this.filename,
      integrity: this.#integrity,
      created: this.#httpCreated,
      digest: () => this.sha256,
      rate: () => this.#rate.bytesPerSecond,
      paused: () => this.paused || this.cancelling,
      env: this.#env,
      sink: {
        welcomed: reporting((offset, state) => {
          this.#everAnswered = this.#httpCreated = true;
          if (!(offset >= 0 && offset <= this.size)) this.#fail(LOCAL_ERROR, 'the server sent an unusable offset');
          else this.#resumeAt(offset, state);
        }),
        sent: reporting((end) => {
          this.sentOffset = end;
          this.messagesSent++;
          this.#unackedMessageEnds.push(end);
          this.#progress.request();
        }),
        acked: reporting((offset) => this.#acknowledged(offset)),
        state: reporting((state, result) => {
          if (state === this.serverState) return;
          this.#failures = 0;
          if (state === 'finished' && result !== undefined) this.result = result;
          this.#serverStateChanged(state);
        }),
        error: reporting((code, message, state, details) => {
          this.#everAnswered = true;
          this.#serverError(code, message, state, details);
        }),
        cancelled: reporting((reason) => {
          this.cancelReason = reason ?? this.cancelReason;
          this.#end('cancelled');
        }),
        disconnected: reporting((network) => {
          if (network && !this.#everAnswered && this.#mayFallBack) this.#fallBack('websocket');
          else this.#disconnected();
        }),
      },
    });
    this.#http = attempt;
    attempt.open();
  }

  /**
   * The chosen path is blocked (a proxy that breaks WebSockets, say): this upload takes the
   * other one, at once, and keeps it.
   *
   * @param {'websocket' | 'http'} transport
   */
  #fallBack(transport) {
    this.#dropConnection();
    this.#mayFallBack = false;
    this.#transport = transport;
    this.#connect();
  }

  /** @param {object} message */
  #send(message) {
    this.#ws?.send(JSON.stringify(message));
  }

  /** @param {unknown} data */
  #receive(data) {
    // The server sends no binary messages, and types added by newer servers are ignored.
    if (typeof data !== 'string') return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    switch (message?.type) {
      case 'welcome':
        this.#welcomed(message);
        break;
      case 'ack':
        this.#acknowledged(message.offset);
        break;
      case 'state':
        this.#failures = 0;
        if (message.state === 'finished' && 'result' in message) this.result = message.result ?? null;
        this.#serverStateChanged(message.state);
        break;
      case 'cancelled':
        this.cancelReason = message.reason ?? this.cancelReason;
        this.#end('cancelled');
        break;
      case 'error':
        this.#serverError(message.code, message.message, message.state, message);
        break;
    }
  }

  /** @param {{offset: number, chunkSize: number, window: number, state: string}} welcome */
  #welcomed({ offset, chunkSize, window, state }) {
    if (!(chunkSize > 0 && window > 0 && offset >= 0 && offset <= this.size)) {
      this.#fail(LOCAL_ERROR, 'the server sent an unusable welcome');
      return;
    }
    this.#everAnswered = true;
    this.#window = window;
    this.#chunkSize = chunkSize;
    this.#resumeAt(offset, state);
  }

  /**
   * Welcomed (by the socket, or the HTTP path's POST or HEAD): carry on from the server's offset.
   *
   * @param {number} offset
   * @param {string} state
   */
  #resumeAt(offset, state) {
    this.phase = 'connected';
    this.#rate.restart(); // the time spent reconnecting says nothing about the link
    this.messagesSent = 0;
    this.messagesAcked = 0;
    this.#unackedMessageEnds = [];
    // Resume where the server says, never from what was sent before.
    this.sentOffset = offset;
    this.#setAcked(offset);
    this.#serverStateChanged(state);
    if (this.isOver) return;
    this.#remember(true);
    // Every connection hears the digest (the server keeps the first), ahead of the bytes.
    if (!this.cancelling) this.#sendDigest();
    if (this.cancelling) {
      this.#sendCancel();
    } else if (STATES_AFTER_UPLOAD.has(state)) {
      // Every byte is there; the following state messages will tell the rest.
      this.#clearRetryError();
      this.#http?.digestKnown();
    } else if (this.#http) {
      this.#pump();
    } else if (this.paused) {
      if (state !== 'paused') this.#send({ type: 'pause' });
    } else {
      // A ticket left paused by an earlier connection is told explicitly that bytes follow.
      if (state === 'paused') this.#send({ type: 'unpause' });
      this.#pump();
    }
  }

  /** @param {string} state */
  #serverStateChanged(state) {
    this.serverState = state;
    if (STATES_AFTER_UPLOAD.has(state)) this.#clearRetryError();
    if (state === 'finished') this.#finish();
  }

  /** @param {number} offset */
  #acknowledged(offset) {
    if (!(offset > this.ackedOffset)) return; // acknowledgements only grow
    this.#failures = 0;
    this.#rate.acknowledged(offset);
    this.#clearRetryError();
    this.#setAcked(offset);
    this.#remember(false);
    this.#pump();
  }

  /** Hashes the file alongside the upload; the digest goes to the server as soon as it is known. */
  #startHashing() {
    if (!this.#integrity || this.#hashing !== null) return;
    const hashFile = /** @type {(blob: Blob) => Promise<string>} */ (this.#env.hashFile);
    // Started at once; a hasher that throws rejects the promise like one that fails later.
    this.#hashing = new Promise((resolve) => { resolve(hashFile(this.#snapshot)); })
      .then(
        (hex) => {
          this.sha256 = hex;
          if (this.phase === 'connected' && !this.cancelling) this.#sendDigest();
        },
        (error) => {
          // The server was promised a digest and would wait for it for ever.
          if (!this.isOver) this.#fail(LOCAL_ERROR, `cannot read the file: ${/** @type {Error} */ (error)?.message ?? error}`);
        },
      );
  }

  #sendDigest() {
    if (this.#http) {
      this.#http.digestKnown(); // PATCH requests carry it; after the last byte it needs one of its own
      return;
    }
    if (this.#integrity && this.sha256 !== null && !this.isOver) this.#send({ type: 'digest', sha256: this.sha256 });
  }

  /**
   * Writes down where this upload stands, for findResumable() after a reload:
   * always when `now`, else at most every REMEMBER_INTERVAL_MS.
   *
   * @param {boolean} now
   */
  #remember(now) {
    const store = this.#resumeStore;
    if (store === null || this.isOver) return;
    const at = this.#env.now();
    if (!now && at - this.#rememberedAt < REMEMBER_INTERVAL_MS) return;
    this.#rememberedAt = at;
    let url = null;
    try {
      url = this.#socketUrl();
    } catch {
      // No server known yet: the connection will fail and say so.
    }
    void store.remember(this.#file, { ticket: this.#ticketId, url, bytes_acked: this.ackedOffset }, Date.now());
  }

  /** Bytes flow again (or all have arrived): the retryable error that held them up is history. */
  #clearRetryError() {
    if (!this.#showingRetryError) return;
    this.#showingRetryError = false;
    this.errorCode = null;
    this.errorMessage = null;
    this.#progress.request();
  }

  /** @param {number} offset */
  #setAcked(offset) {
    this.ackedOffset = offset;
    while (this.#unackedMessageEnds.length > 0 && this.#unackedMessageEnds[0] <= offset) {
      this.#unackedMessageEnds.shift();
      this.messagesAcked++;
    }
    const allAcked = offset === this.size;
    // The moment the last byte is acknowledged is always reported, throttle or not.
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
    if (this.#http) {
      if (this.phase === 'connected' && !this.paused && !this.cancelling) this.#http.pump();
      return;
    }
    const ws = this.#ws;
    let sentAny = false;
    // Both follow the measured rate, which each ack may change.
    const rate = this.#rate.bytesPerSecond;
    const limit = inFlightLimit(rate, this.#window);
    const bytesPerMessage = messageSize(rate, this.#chunkSize, this.#window);
    while (ws && this.phase === 'connected' && !this.paused && !this.cancelling && this.sentOffset < this.size) {
      const end = Math.min(this.sentOffset + bytesPerMessage, this.size);
      if (end - this.ackedOffset > limit) break; // the next ack pumps again
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
      if (bytes.byteLength !== 1) problem = 'it is shorter than when the upload began';
    } catch (error) {
      problem = /** @type {Error} */ (error).message || String(error);
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
    if (this.#http) {
      this.#http.cancel(this.cancelReason);
      return;
    }
    this.#send(this.cancelReason === null ? { type: 'cancel' } : { type: 'cancel', reason: this.cancelReason });
  }

  /**
   * @param {number} code
   * @param {string | undefined} message
   * @param {string} [state]  the ticket's state, when the error message carried it
   * @param {{sha256?: unknown, result?: unknown}} [details]  the error message's other members
   */
  #serverError(code, message, state, details = {}) {
    if (code === TICKET_CLOSED && state === 'finished') {
      // An earlier connection completed it; only the news was lost.
      if ('result' in details) this.result = details.result ?? null;
      const stored = typeof details.sha256 === 'string' ? details.sha256 : null;
      this.#finishedElsewhere(stored);
    } else if (code === TICKET_CLOSED && state === 'cancelled') {
      // Cancelled while we were away (our cancel, or the backend's): only the news was lost.
      if (!this.cancelling) this.cancelReason = message || 'cancelled';
      this.#end('cancelled');
    } else if (RETRYABLE_ERRORS.has(code)) {
      // The page may show why nothing moves; cleared once bytes flow again.
      this.errorCode = code;
      this.errorMessage = message || `error ${code}`;
      this.#showingRetryError = true;
      this.#progress.flush();
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
    // An error close whose error message did not arrive: the close code tells the error.
    if (errorCode > 0 && errorCode < 1000) this.#serverError(errorCode, reason || `closed with code ${code}`);
    else this.#disconnected();
  }

  /** The connection is gone without the upload being over: reconnect, or wait for unpause. */
  #disconnected() {
    this.#dropConnection();
    if (this.paused && !this.cancelling) {
      this.phase = 'held';
      return;
    }
    const delay = reconnectDelay(this.#failures++, this.#env.random);
    this.phase = 'waiting';
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
    this.#http?.close();
    this.#http = null;
    const ws = this.#ws;
    if (ws === null) return;
    this.#ws = null;
    // Detached first, so that nothing the old socket still delivers is taken for news.
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.close(1000);
  }

  #cancelReconnect() {
    if (this.#reconnectTimer === null) return;
    this.#env.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  /**
   * The ticket was finished by an earlier connection (perhaps before a
   * reload). If the server says which file it stored and ours is another
   * one, this is no success: the user presented a different file.
   *
   * @param {string | null} storedSha256
   */
  #finishedElsewhere(storedSha256) {
    if (storedSha256 === null || !this.#integrity || this.#hashing === null) {
      this.#finish();
      return;
    }
    const decide = () => {
      if (this.isOver) return; // the hash failed: that said it already
      if (this.sha256 !== null && this.sha256 !== storedSha256) {
        this.#fail(DIGEST_MISMATCH, 'the ticket was finished with another file (its SHA-256 differs from this file\'s)');
      } else {
        this.#finish();
      }
    };
    if (this.sha256 !== null) {
      decide();
      return;
    }
    // Decided once our own digest is known; the connection is done either way.
    this.#dropConnection();
    void this.#hashing.then(decide);
  }

  #finish() {
    this.#clearRetryError();
    // Finished without having seen the last ack (error 4 "finished"): the file is all there.
    if (!this.allAcked) {
      this.sentOffset = this.size;
      this.#setAcked(this.size);
    }
    this.#end('finished');
  }

  /**
   * @param {number} code
   * @param {string} message
   */
  #fail(code, message) {
    this.#showingRetryError = false;
    this.errorCode = code;
    this.errorMessage = message;
    this.#end('failed');
  }

  /** @param {'finished' | 'cancelled' | 'failed'} outcome */
  #end(outcome) {
    if (outcome === 'cancelled') this.#clearRetryError();
    void this.#resumeStore?.forget(this.#file, this.#ticketId);
    this.#dropConnection();
    this.#cancelReconnect();
    this.#progress.cancel();
    this.phase = outcome;
    this.cancelling = false;
    this.#noteSituation();
    this.#notify(outcome === 'failed' ? 'error' : outcome);
  }
}
