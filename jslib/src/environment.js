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
 * Whether this browser is Chromium-based (Blink): its WebSocket stays below
 * ~190 MB/s where an HTTP request whose body is a Blob slice reaches 300+
 * MB/s. Firefox's WebSocket is as fast as its HTTP, and WebKit's faster.
 *
 * @param {{userAgent?: string, userAgentData?: {brands?: {brand: string}[]}} | undefined} navigator
 * @returns {boolean}
 */
export function isChromium(navigator) {
  const brands = navigator?.userAgentData?.brands;
  if (Array.isArray(brands) && brands.length > 0) return brands.some(({ brand }) => /Chromium/.test(brand));
  // Without client hints (an insecure context, an old engine): every Blink browser says Chrome/.
  return /\b(Headless)?Chrome\/\d/.test(navigator?.userAgent ?? '');
}

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
