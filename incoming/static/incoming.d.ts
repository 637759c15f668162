// Type declarations of the Incoming!! browser library (handwritten; see jslib/README.md).
// The classic script defines the global `incoming`; the ES module exports the same names.

export as namespace incoming;

/** Send uploads to this server (host with optional port) instead of the one the library was loaded from. */
export function set_server_hostname(host: string): void;

/** What the upload machine takes from the outside world; the browser's by default. */
export interface Environment {
  WebSocket: new (url: string) => WebSocket;
  /** Milliseconds from a monotonic clock. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
  /** Uniform in [0, 1), for reconnect jitter. */
  random(): number;
  /** SHA-256 of a file as 64 lower-case hex digits; without it, no end-to-end check. */
  hashFile?(blob: Blob): Promise<string>;
  /** Where unfinished uploads are remembered for findResumable(); without it, nowhere. */
  resumeStore?: unknown;
  /** fetch() for the HTTP data path; without it only the WebSocket is used. */
  fetch?: typeof fetch;
  /** transport 'auto' takes HTTP first (true in Chromium). */
  preferHttp?: boolean;
}

export interface UploaderOptions {
  /** WebSocket URL of the upload endpoint; by default built from set_server_hostname() or the library's origin. */
  url?: string;
  /** For tests and non-browser runtimes. */
  environment?: Environment;
  /** false: the file is not hashed and the server checks no end-to-end SHA-256 (for benchmarks). Default true. */
  integrity?: boolean;
  /** false: the upload is not remembered for findResumable(). Default true. */
  remember?: boolean;
  /**
   * The data path: 'websocket', or 'http' (tus PATCH requests whose bodies are Blob slices of the
   * file, at /incoming/0.1/tus/). 'auto' (default): HTTP in Chromium, the WebSocket elsewhere, and
   * the other one for this upload if the chosen one is blocked before it ever worked.
   */
  transport?: 'auto' | 'websocket' | 'http';
}

/** What findResumable() found: an upload of this file that was started in this browser and has not ended. */
export interface Resumable {
  ticket: string;
  /** The acknowledged offset when it was last written down (at most about a second old); the server's welcome decides. */
  bytes_acked: number;
  /** The WebSocket URL it went to. */
  url: string | null;
}

/**
 * An unfinished upload of this file (same name, size and modification time) remembered in this
 * browser, or null. Continue it with `Uploader(found.ticket, file).start()`.
 */
export function findResumable(file: Blob): Promise<Resumable | null>;

export type PauseMode = 'pause' | 'unpause' | 'toggle';

export type UploaderCallback = ((uploader: Uploader) => void) | null;

export interface UploaderEventMap {
  progress: Event;
  statechange: Event;
  finished: Event;
  cancelled: Event;
  error: Event;
}

/** One file's upload. Dispatches 'progress', 'statechange', 'finished', 'cancelled' and 'error'. */
export interface Uploader extends EventTarget {
  /** The file's name as the browser knows it (empty for a Blob). */
  readonly filename: string;
  /** The file's size in bytes. */
  readonly bytes_total: number;
  /** File offset up to which bytes have been handed to the connection. */
  readonly bytes_tx: number;
  /** File offset up to which the server has stored the bytes. */
  readonly bytes_acked: number;
  /** bytes_tx - bytes_acked: sent but not yet acknowledged. */
  readonly bytes_ahead: number;
  /** bytes_acked / bytes_total, 0 to 1 (an empty file is 1 once acknowledged). */
  readonly frac_complete: number;
  /** Binary messages sent on the current connection. */
  readonly chunks_tx_now: number;
  /** Binary messages of the current connection wholly acknowledged. */
  readonly chunks_acked_now: number;
  /** chunks_tx_now - chunks_acked_now. */
  readonly chunks_ahead: number;
  /** A short text for people, e.g. "uploading" or "reconnecting in 2 s". */
  readonly state_msg: string;
  /** Why the upload was cancelled, or null. */
  readonly cancel_msg: string | null;
  /**
   * Once failed: the server's error code, or 0 for a failure in the browser. While the uploader
   * retries after a retryable error (10, 12, 13, 21): that error, until bytes flow again. Else null.
   */
  readonly error_code: number | null;
  /** What went wrong (see error_code); else null. */
  readonly error_msg: string | null;
  /** Bytes per second the server stores, smoothed over the last seconds (from acknowledgements); 0 until measured. */
  readonly bytes_per_second: number;
  /** Seconds until every byte is acknowledged at bytes_per_second; null until measured. */
  readonly seconds_left: number | null;
  /** The web-app backend's result (any JSON value), set before onfinished; null if none or not yet. */
  readonly result: unknown;
  /** This page's SHA-256 of the file (64 hex digits) once computed; null before, or with integrity off. */
  readonly sha256: string | null;

  /** The data path in use. */
  readonly transport: 'websocket' | 'http';
  readonly connected: boolean;
  readonly finished: boolean;
  readonly paused: boolean;
  readonly can_pause: boolean;
  readonly cancelling: boolean;
  readonly cancelled: boolean;
  readonly can_cancel: boolean;

  /** Called (with the uploader) at most about ten times a second, and when the last byte is acknowledged. */
  onprogress: UploaderCallback;
  /** Called once the backend has accepted the file. */
  onfinished: UploaderCallback;
  /** Called once the server confirms a cancellation (this page's or the backend's). */
  oncancelled: UploaderCallback;
  /** Called when the upload failed for good; see error_code and error_msg. */
  onerror: UploaderCallback;

  /** Connect and upload; reconnects by itself until finished, cancelled or failed. */
  start(): void;
  /** Default 'pause'. */
  pause(mode?: PauseMode): void;
  /** Cancel on the server; `reason` is passed on to the web-app backend. */
  cancel(reason?: string): void;

  addEventListener<K extends keyof UploaderEventMap>(
    type: K,
    listener: (this: Uploader, event: UploaderEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof UploaderEventMap>(
    type: K,
    listener: (this: Uploader, event: UploaderEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

/** Creates an uploader for one ticket and one file; callable with or without `new`. */
export const Uploader: {
  new (ticketId: string, file: Blob, options?: UploaderOptions): Uploader;
  (ticketId: string, file: Blob, options?: UploaderOptions): Uploader;
  readonly prototype: Uploader;
};

export interface UploadOptions extends UploaderOptions {
  onprogress?: (uploader: Uploader) => void;
  /** Aborting it cancels the upload on the server. */
  signal?: AbortSignal;
}

/** Uploads a file; resolves with the uploader when the backend has accepted it, rejects with an UploadError. */
export function upload(ticketId: string, file: Blob, options?: UploadOptions): Promise<Uploader>;

/** Why upload() rejected: name "AbortError" when cancelled, "UploadError" when failed. */
export class UploadError extends Error {
  constructor(uploader: Uploader);
  readonly name: 'AbortError' | 'UploadError';
  /** The uploader's error_code; null when cancelled. */
  readonly code: number | null;
  readonly uploader: Uploader;
}
