import { browserEnvironment } from './environment.js';
import { uploadSocketUrl } from './server_address.js';
import { UploadCore } from './upload_core.js';

/** Events that also have an `on<event>` callback property, as in the 0.1 API. */
const EVENTS_WITH_CALLBACKS = ['progress', 'finished', 'cancelled', 'error'];

/**
 * @typedef {object} UploaderOptions
 * @property {string} [url]  WebSocket URL of the upload endpoint; default from set_server_hostname()
 * @property {import('./environment.js').Environment} [environment]  for tests and non-browser runtimes
 * @property {boolean} [integrity]  false: no SHA-256 of the file, no end-to-end check (for benchmarks)
 * @property {boolean} [remember]  false: not remembered for findResumable()
 * @property {'auto' | 'websocket' | 'http'} [transport]  the data path; 'auto' (default): HTTP in Chromium, else the WebSocket
 */

/**
 * One file's upload, in the names of the Incoming!! 0.1 API. It is an
 * EventTarget dispatching 'progress', 'statechange', 'finished', 'cancelled'
 * and 'error'; the `on…` callbacks of 0.1 are called with the uploader just
 * before the listeners of the same event. All the work is done by UploadCore;
 * this class only names things.
 */
class IncomingUploader extends EventTarget {
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
  constructor(ticketId, file, { url, environment = browserEnvironment(), integrity = true, remember = true, transport = 'auto' } = {}) {
    super();
    if (typeof ticketId !== 'string' || ticketId === '') {
      throw new TypeError('incoming.Uploader: ticketId must be a non-empty string');
    }
    if (typeof file?.slice !== 'function' || !Number.isSafeInteger(file.size)) {
      throw new TypeError('incoming.Uploader: file must be a File or Blob');
    }
    for (const type of EVENTS_WITH_CALLBACKS) {
      const property = /** @type {'onprogress'} */ (`on${type}`);
      this.addEventListener(type, () => this[property]?.(this));
    }
    this.#core = new UploadCore({
      ticketId,
      file,
      socketUrl: url ? () => url : uploadSocketUrl,
      environment,
      notify: (type) => this.dispatchEvent(new Event(type)),
      integrity,
      remember,
      transport,
    });
  }

  /** The file's name as the browser knows it (empty for a Blob). */
  get filename() { return this.#core.filename; }
  /** The file's size in bytes. */
  get bytes_total() { return this.#core.size; }
  /** File offset up to which bytes have been handed to the connection. */
  get bytes_tx() { return this.#core.sentOffset; }
  /** File offset up to which the server has stored the bytes. */
  get bytes_acked() { return this.#core.ackedOffset; }
  /** Bytes sent but not yet acknowledged. */
  get bytes_ahead() { return this.#core.sentOffset - this.#core.ackedOffset; }
  /** bytes_acked / bytes_total, from 0 to 1 (an empty file is 1 once acknowledged). */
  get frac_complete() {
    const core = this.#core;
    if (core.size === 0) return core.allAcked ? 1 : 0;
    return core.ackedOffset / core.size;
  }
  /** Binary messages sent on the current connection. */
  get chunks_tx_now() { return this.#core.messagesSent; }
  /** Binary messages of the current connection wholly acknowledged. */
  get chunks_acked_now() { return this.#core.messagesAcked; }
  /** Binary messages of the current connection not yet wholly acknowledged. */
  get chunks_ahead() { return this.#core.messagesSent - this.#core.messagesAcked; }
  /** A short text for people, e.g. "uploading" or "reconnecting in 2 s". */
  get state_msg() { return this.#core.stateMessage(); }
  /** Why the upload was cancelled (the server's word), or null. */
  get cancel_msg() { return this.#core.cancelReason; }
  /**
   * The error code once the upload failed: the server's, or 0 for a failure in the browser.
   * While retrying after a retryable error (10, 12, 13, 21): that error, until bytes flow again.
   */
  get error_code() { return this.#core.errorCode; }
  /** What went wrong (see error_code). */
  get error_msg() { return this.#core.errorMessage; }
  /** Bytes per second the server stores, smoothed over the last seconds; 0 until measured. */
  get bytes_per_second() { return this.#core.bytesPerSecond; }
  /** Seconds until every byte is acknowledged at that rate; null until measured. */
  get seconds_left() { return this.#core.secondsLeft; }
  /** The web-app backend's result (any JSON value) once finished, if it gave one; else null. */
  get result() { return this.#core.result; }
  /** This page's SHA-256 of the file (64 hex digits) once computed; null before, or with integrity off. */
  get sha256() { return this.#core.sha256; }

  /** The data path in use: 'websocket' or 'http' (tus PATCH requests with Blob bodies). */
  get transport() { return this.#core.transport; }
  /** A connection is open and the server has welcomed it. */
  get connected() { return this.#core.phase === 'connected'; }
  /** The backend has accepted the file: the upload is done. */
  get finished() { return this.#core.phase === 'finished'; }
  /** The upload was paused with pause() and not yet unpaused. */
  get paused() { return this.#core.paused; }
  /** pause() would pause now: the upload is not over and not every byte is acknowledged. */
  get can_pause() { return this.#core.canPause; }
  /** cancel() was called and the server has not yet confirmed. */
  get cancelling() { return this.#core.cancelling; }
  /** The upload was cancelled, by this page or by the web-app backend. */
  get cancelled() { return this.#core.phase === 'cancelled'; }
  /** cancel() would cancel now: the upload is not over and the file is not yet stored. */
  get can_cancel() { return this.#core.canCancel; }

  /** Connect and upload; reconnects by itself until finished, cancelled or failed. Calling it again does nothing. */
  start() {
    this.#core.start();
  }

  /** @param {'pause' | 'unpause' | 'toggle'} [mode] */
  pause(mode = 'pause') {
    switch (mode) {
      case 'pause':
        return this.#core.setPaused(true);
      case 'unpause':
        return this.#core.setPaused(false);
      case 'toggle':
        return this.#core.setPaused(!this.#core.paused);
      default:
        throw new TypeError(`incoming.Uploader.pause: mode must be 'pause', 'unpause' or 'toggle', not ${String(mode)}`);
    }
  }

  /** @param {string} [reason]  passed on to the web-app backend */
  cancel(reason) {
    this.#core.cancel(reason);
  }
}

/**
 * Creates an uploader; works with and without `new`, as 0.1 code used both.
 * Sharing the prototype keeps `uploader instanceof incoming.Uploader` true.
 *
 * @param {string} ticketId
 * @param {Blob} file
 * @param {UploaderOptions} [options]
 * @returns {IncomingUploader}
 */
export function Uploader(ticketId, file, options) {
  return new IncomingUploader(ticketId, file, options);
}
Uploader.prototype = IncomingUploader.prototype;
