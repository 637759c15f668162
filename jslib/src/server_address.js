import { SOCKET_PATH } from './protocol.js';

/** @type {string | null} set by set_server_hostname() */
let configuredHost = null;
/** @type {string | null} URL this library was loaded from, set by the entry module */
let loaderUrl = null;

/**
 * Send uploads to this server instead of the one the library was loaded from.
 *
 * @param {string} host  host name with an optional port, e.g. "uploads.example.com" or "127.0.0.1:4000"
 */
export function set_server_hostname(host) {
  if (typeof host !== 'string' || host === '') {
    throw new TypeError('incoming.set_server_hostname: host must be a non-empty string such as "uploads.example.com"');
  }
  configuredHost = host;
}

/**
 * Remember where the library was loaded from; it is the default server.
 *
 * @param {string | null | undefined} url
 */
export function rememberLoaderUrl(url) {
  loaderUrl = url || null;
}

/** @returns {string} the WebSocket URL for uploads, as configured now */
export function uploadSocketUrl() {
  return socketUrlFor({ configuredHost, loaderUrl, page: globalThis.location });
}

/**
 * The upload endpoint's URL. The host is the configured one, else the host
 * the library was loaded from, else the page's. The scheme is `wss:` when the
 * library or the page came over https: an https page may not open a plain
 * `ws:` socket, and a server that serves the library over https takes
 * WebSockets over TLS as well.
 *
 * @param {{configuredHost: string | null, loaderUrl: string | null, page?: {host: string, protocol: string}}} where
 * @returns {string}
 */
export function socketUrlFor({ configuredHost, loaderUrl, page }) {
  const loader = httpUrl(loaderUrl);
  const host = configuredHost || loader?.host || page?.host;
  if (!host) {
    throw new Error('no upload server known: call incoming.set_server_hostname(host) first');
  }
  const secure = loader?.protocol === 'https:' || page?.protocol === 'https:';
  return `${secure ? 'wss' : 'ws'}://${host}${SOCKET_PATH}`;
}

/**
 * @param {string | null} url
 * @returns {URL | null} the parsed URL if it is an http(s) one: a bundle inlined
 *   into a page or loaded from file: tells nothing about the server
 */
function httpUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed : null;
  } catch {
    return null;
  }
}
