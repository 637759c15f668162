/**
 * The HTTP face of an upload: the server's tus 1.0 face (docs/tus.rst) with
 * the extensions for this library (Incoming-Integrity, Incoming-Digest,
 * Incoming-Error, Incoming-Result, Incoming-Sha256). Each PATCH body is a
 * Blob slice of the file, which the browser reads from disk on its way to the
 * network (Chromium sends such a body much faster than WebSocket messages).
 *
 * One HttpAttempt is what one WebSocket connection is: it says hello (POST, or
 * HEAD once the upload exists), sends bytes one request at a time, delivers
 * the digest, and after the last byte polls HEAD for the ticket's state. It
 * reports to UploadCore through a sink with the same meanings as the
 * WebSocket's messages; UploadCore decides everything else.
 */
import { LOCAL_ERROR, TICKET_CLOSED, TUS_PATH } from './protocol.js';

/**
 * The first PATCH of an attempt is this large; until the rate is known each next one is
 * REQUEST_GROWTH times larger. Every PATCH costs the server a fixed ~10 ms (it takes the
 * upload over, and answers only once the body is on disk), so small requests are slow: on
 * loopback a 1 MiB PATCH ran at ~80 MB/s where 64 MiB ran at 200+. Growing fourfold reaches
 * full size after four requests, yet a slow link (1 MB/s) still sees its first
 * acknowledgements within a second.
 */
export const FIRST_REQUEST_BYTES = 256 * 1024;
export const REQUEST_GROWTH = 4;
/**
 * Largest PATCH body. A pause or cancel aborts the request under way, and a cut keeps what
 * the server already wrote, so the size bounds only how often progress is acknowledged and
 * what a request-buffering proxy in between holds at once.
 */
export const MAX_REQUEST_BYTES = 128 * 1024 * 1024;
/** Once the rate is known a PATCH carries this many seconds' worth of it (progress stays lively). */
export const REQUEST_SECONDS = 0.5;
/**
 * HEAD polls after the last byte: the first after this long, then POLL_GROWTH times longer
 * each, up to POLL_MAX_MS, and from POLL_FIRST_MS again after each change of state. The server
 * stores the file and hears from a quick backend within tens of milliseconds, so the first
 * polls come soon (a fixed 250 ms cost a 256 MiB upload at 200 MB/s a fifth of its time); a
 * slow backend is asked every 5 s.
 */
export const POLL_FIRST_MS = 20;
export const POLL_GROWTH = 1.5;
export const POLL_MAX_MS = 5000;

const OFFSET_TYPE = 'application/offset+octet-stream';

/** Error codes for refusals that carry no Incoming-Error (docs/protocol.rst's numbers). */
const CODE_OF_STATUS = { 400: 1, 404: 2, 412: 1, 413: 5, 415: 1, 423: 11 };

/**
 * @param {string} socketUrl  ws[s]://host/…
 * @returns {string} http[s]://host/incoming/0.1/tus/
 */
export function tusEndpointFor(socketUrl) {
  const url = new URL(socketUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = TUS_PATH;
  url.search = '';
  return url.href;
}

/**
 * Bytes for the next PATCH.
 *
 * @param {number} bytesPerSecond  measured (0: unknown)
 * @param {number} requestsSent  on this attempt
 */
export function requestBytes(bytesPerSecond, requestsSent) {
  const wanted = bytesPerSecond > 0
    ? bytesPerSecond * REQUEST_SECONDS
    : FIRST_REQUEST_BYTES * REQUEST_GROWTH ** Math.min(requestsSent, 16);
  return Math.round(Math.min(MAX_REQUEST_BYTES, Math.max(FIRST_REQUEST_BYTES, wanted)));
}

/** @param {string} text */
function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * @typedef {object} HttpSink  what the attempt tells UploadCore
 * @property {(offset: number, state: string) => void} welcomed  where to resume
 * @property {(end: number) => void} sent  a PATCH up to `end` is on its way
 * @property {(offset: number) => void} acked  every byte before offset is stored
 * @property {(state: string, result?: unknown) => void} state  the ticket's state (from HEAD)
 * @property {(code: number, message: string, state?: string, details?: object) => void} error
 * @property {(reason: string | null) => void} cancelled  our DELETE was done
 * @property {(network: boolean) => void} disconnected  a request failed: try again later
 */

export class HttpAttempt {
  /** @type {AbortController} aborts every request of this attempt */
  #abort = new AbortController();
  #closed = false;
  #busy = false;
  #offset = 0;
  #requestsSent = 0;
  #digestDelivered = false;
  #pollDelay = POLL_FIRST_MS;
  /** @type {unknown} */
  #pollTimer = null;
  /** @type {string | null} */
  #lastState = null;

  /**
   * @param {object} o
   * @param {string} o.endpoint  the tus collection URL
   * @param {string} o.ticketId
   * @param {Blob} o.file  the snapshot
   * @param {string} o.filename
   * @param {boolean} o.integrity
   * @param {boolean} o.created  an earlier attempt created the upload: resume with HEAD
   * @param {() => string | null} o.digest  the file's SHA-256, once known
   * @param {() => number} o.rate  measured bytes per second
   * @param {() => boolean} o.paused
   * @param {import('./environment.js').Environment} o.env
   * @param {HttpSink} o.sink
   */
  constructor(o) {
    this.o = o;
    this.uploadUrl = new URL(encodeURIComponent(o.ticketId), o.endpoint).href;
  }

  /** Hello: POST creates (or finds) the upload, HEAD asks where it stands. */
  open() {
    if (this.o.created) void this.#head(true);
    else void this.#create();
  }

  /** Stops every request and timer; nothing more is reported. */
  close() {
    this.#closed = true;
    this.#abort.abort();
    if (this.#pollTimer !== null) this.o.env.clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
  }

  /** Sends the next PATCH if none is on its way. */
  pump() {
    const { file, paused } = this.o;
    if (this.#closed || this.#busy || paused() || this.#offset >= file.size) return;
    const end = Math.min(file.size, this.#offset + requestBytes(this.o.rate(), this.#requestsSent++));
    void this.#patch(this.#offset, end);
  }

  /** The digest became known: after the last byte it still has to reach the server. */
  digestKnown() {
    if (this.#offset === this.o.file.size && !this.#busy && !this.#closed) this.#afterLastByte();
  }

  /** @param {string | null} reason */
  cancel(reason) {
    this.#abort.abort(); // the PATCH under way: its bytes no longer matter
    this.#abort = new AbortController();
    this.#busy = true;
    const headers = reason === null ? {} : { 'Incoming-Reason': encodeURIComponent(reason) };
    void this.#request('DELETE', this.uploadUrl, headers).then((response) => {
      if (response === null) return;
      this.#busy = false;
      if (response.status === 204) this.o.sink.cancelled(reason);
      else if (response.status === 409) this.#afterLastByte(); // too late: the upload goes on
      else void this.#refused(response);
    });
  }

  /** @returns {Record<string, string>} */
  #extensionHeaders() {
    /** @type {Record<string, string>} */
    const headers = {};
    if (this.o.integrity) headers['Incoming-Integrity'] = 'sha256';
    const digest = this.o.integrity ? this.o.digest() : null;
    if (digest !== null) headers['Incoming-Digest'] = `sha256=${digest}`;
    return headers;
  }

  async #create() {
    const headers = {
      'Upload-Length': String(this.o.file.size),
      'Upload-Metadata': `ticket ${base64(this.o.ticketId)},filename ${base64(this.o.filename)}`,
      ...this.#extensionHeaders(),
    };
    const response = await this.#request('POST', this.o.endpoint, headers);
    if (response === null) return;
    if (response.status !== 201) return this.#refused(response);
    this.#digestDelivered = 'Incoming-Digest' in headers;
    this.#welcome(response);
  }

  /** @param {boolean} hello  the attempt's first request (else a poll after the last byte) */
  async #head(hello) {
    this.#pollTimer = null;
    const response = await this.#request('HEAD', this.uploadUrl, {});
    if (response === null) return;
    if (hello && response.status === 404 && response.headers.get('Incoming-Error') === null) {
      return this.#create(); // the ticket exists but no upload was made for it yet
    }
    if (response.status !== 200) return this.#refused(response);
    if (hello) {
      this.#welcome(response);
      return;
    }
    const state = response.headers.get('Incoming-State') ?? 'uploading';
    if (state !== this.#lastState) this.#pollDelay = POLL_FIRST_MS; // news: look again soon
    this.#lastState = state;
    const result = response.headers.get('Incoming-Result');
    this.o.sink.state(state, result === null ? undefined : JSON.parse(result));
    if (!this.#closed) this.#schedulePoll();
  }

  /** @param {Response} response  to a POST or a hello HEAD */
  #welcome(response) {
    const offset = Number(response.headers.get('Upload-Offset'));
    this.#offset = offset;
    this.#lastState = response.headers.get('Incoming-State') ?? 'uploading';
    this.o.sink.welcomed(offset, this.#lastState);
  }

  /**
   * @param {number} start
   * @param {number} end
   */
  async #patch(start, end) {
    const headers = { 'Upload-Offset': String(start), 'Content-Type': OFFSET_TYPE, ...this.#extensionHeaders() };
    if (end > start) this.o.sink.sent(end);
    const response = await this.#request('PATCH', this.uploadUrl, headers, this.o.file.slice(start, end));
    if (response === null) return;
    if (response.status !== 204) return this.#refused(response);
    if ('Incoming-Digest' in headers) this.#digestDelivered = true;
    this.#offset = Number(response.headers.get('Upload-Offset'));
    this.o.sink.acked(this.#offset);
    if (this.#closed) return;
    if (this.#offset === this.o.file.size) this.#afterLastByte();
    else this.pump();
  }

  /** Every byte is in: deliver the digest if the server still waits for it, then poll. */
  #afterLastByte() {
    if (this.o.integrity && !this.#digestDelivered && this.#lastState !== 'finished') {
      if (this.o.digest() !== null) void this.#patch(this.#offset, this.#offset);
      return; // else digestKnown() comes back here
    }
    if (this.#pollTimer === null) this.#schedulePoll();
  }

  #schedulePoll() {
    const delay = this.#pollDelay;
    this.#pollDelay = Math.min(POLL_MAX_MS, delay * POLL_GROWTH);
    this.#pollTimer = this.o.env.setTimeout(() => void this.#head(false), delay);
  }

  /**
   * One request; null when it failed (reported as a disconnect) or the attempt is closed.
   *
   * @param {string} method
   * @param {string} url
   * @param {Record<string, string>} headers
   * @param {Blob} [body]
   * @returns {Promise<Response | null>}
   */
  async #request(method, url, headers, body) {
    this.#busy = true;
    const fetch = /** @type {typeof globalThis.fetch} */ (this.o.env.fetch);
    const signal = this.#abort.signal;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: { 'Tus-Resumable': '1.0.0', ...headers },
        body,
        signal,
        cache: 'no-store',
      });
    } catch {
      // Aborted by us (close, cancel): nothing to report.
      if (!this.#closed && !signal.aborted) this.o.sink.disconnected(true);
      return null;
    }
    this.#busy = false;
    return this.#closed ? null : response;
  }

  /** @param {Response} response  any answer but the expected one */
  async #refused(response) {
    const { status, headers } = response;
    const header = headers.get('Incoming-Error');
    const state = headers.get('Incoming-State') ?? undefined;
    const message = (await response.text().catch(() => '')).trim() || `HTTP ${status}`;
    if (this.#closed) return;
    const code = header === null ? CODE_OF_STATUS[/** @type {400} */ (status)] : Number(header);
    if (code === TICKET_CLOSED && state === 'finished') {
      // Finished by an earlier attempt: HEAD tells its result and which file it stored.
      const head = await this.#request('HEAD', this.uploadUrl, {});
      if (head === null) return;
      const result = head.headers.get('Incoming-Result');
      this.o.sink.error(code, message, state, {
        sha256: head.headers.get('Incoming-Sha256'),
        ...(result === null ? {} : { result: JSON.parse(result) }),
      });
    } else if (code !== undefined) {
      this.o.sink.error(code, message, state);
    } else if (status === 403) {
      this.o.sink.error(LOCAL_ERROR, `the upload server refused this page: ${message}`);
    } else {
      this.o.sink.disconnected(false); // 409 (offsets differ), 429, 5xx: ask again later
    }
  }
}
