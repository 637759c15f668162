/**
 * How many bytes may be on the way (sent, not acknowledged) and how large
 * each binary message may be, from the measured rate.
 *
 * Bytes handed to the socket cannot be called back: after pause() they still
 * drain through the browser's buffer, the kernel's, any proxy's and land on
 * the server. So a pause takes effect only after everything in flight, and
 * keeping that to about IN_FLIGHT_SECONDS of the measured rate makes a pause
 * overshoot by less than a second at any link speed. On a fast link the bound
 * grows past the server's window and it is the window that limits, as before.
 */

/** Always allowed in flight, also before the rate is known: a quarter of a second at 1 MB/s. */
export const MIN_IN_FLIGHT_BYTES = 256 * 1024;

/** In flight at most this many seconds' worth of the measured rate. */
export const IN_FLIGHT_SECONDS = 0.75;

/**
 * A message is at most this fraction of the in-flight bound, so that several
 * are on the way at once (the pipe never runs dry waiting for one large ack)
 * and a slow link is not handed a megabyte that takes a second to cross.
 */
export const MESSAGES_IN_FLIGHT = 4;

/**
 * @param {number} bytesPerSecond  the measured rate (0: not known yet)
 * @returns {number} bytes that may be unacknowledged as far as the rate goes (the window may allow fewer)
 */
export function rateBound(bytesPerSecond) {
  return Math.max(MIN_IN_FLIGHT_BYTES, Math.floor(bytesPerSecond * IN_FLIGHT_SECONDS));
}

/**
 * @param {number} bytesPerSecond  the measured rate (0: not known yet)
 * @param {number} window  the server's window
 * @returns {number} bytes that may be unacknowledged
 */
export function inFlightLimit(bytesPerSecond, window) {
  return Math.min(window, rateBound(bytesPerSecond));
}

/**
 * @param {number} bytesPerSecond  the measured rate (0: not known yet)
 * @param {number} chunkSize  the server's largest message
 * @param {number} window  the server's window: a larger message could never be sent
 * @returns {number} bytes per binary message
 */
export function messageSize(bytesPerSecond, chunkSize, window) {
  return Math.min(chunkSize, window, Math.floor(rateBound(bytesPerSecond) / MESSAGES_IN_FLIGHT));
}
