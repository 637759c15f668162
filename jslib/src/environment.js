import { isChromium } from './engine.js';
import { hashFile } from './file_hasher.js';
import { browserResumeStore } from './resume_store.js';

/**
 * Everything the upload machine takes from the outside world. The browser
 * gets the real one; tests pass fakes they control.
 *
 * @typedef {object} Environment
 * @property {new (url: string) => WebSocket} WebSocket  constructor of sockets
 * @property {() => number} now  milliseconds from a monotonic clock
 * @property {(callback: () => void, ms: number) => unknown} setTimeout
 * @property {(timer: unknown) => void} clearTimeout
 * @property {() => number} random  uniform in [0, 1), for reconnect jitter
 * @property {(blob: Blob) => Promise<string>} [hashFile]  SHA-256 of a file as 64 hex digits; without it, no integrity check
 * @property {import('./resume_store.js').ResumeStore | null} [resumeStore]  where unfinished uploads are remembered; without it, nowhere
 * @property {typeof globalThis.fetch} [fetch]  for the HTTP data path; without it, only the WebSocket
 * @property {boolean} [preferHttp]  transport 'auto' takes HTTP first (Chromium: Blob bodies beat its WebSocket)
 */

/**
 * The environment of a browser page (or any runtime with a global WebSocket).
 *
 * The timer functions are wrapped because browsers refuse to run
 * `setTimeout` with `this` bound to anything but the global object.
 *
 * @returns {Environment}
 */
export function browserEnvironment() {
  return {
    WebSocket: globalThis.WebSocket,
    now: () => performance.now(),
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (timer) => globalThis.clearTimeout(/** @type {any} */ (timer)),
    random: Math.random,
    hashFile,
    resumeStore: browserResumeStore(),
    fetch: typeof globalThis.fetch === 'function' ? (input, init) => globalThis.fetch(input, init) : undefined,
    preferHttp: isChromium(globalThis.navigator),
  };
}
