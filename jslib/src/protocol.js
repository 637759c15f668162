/**
 * Names and numbers of the wire protocol (docs/protocol.rst), in one place so
 * that the rest of the library never spells a code or a path twice.
 */

/** Path of the upload endpoint on the Incoming!! server. */
export const SOCKET_PATH = '/incoming/0.1/frontend/upload_ws';

/** Path of the tus face (docs/tus.rst), the HTTP data path. */
export const TUS_PATH = '/incoming/0.1/tus/';

/** ticket_closed: with `state: "finished"` it means an earlier connection completed the upload. */
export const TICKET_CLOSED = 4;

/**
 * Errors after which the protocol says to connect again (with backoff). All
 * others end the upload; notably taken_over (11), where a newer connection for
 * the same ticket carries on and this one must not fight it.
 */
export const RETRYABLE_ERRORS = new Set([
  10, // idle_timeout
  12, // storage_failed
  13, // shutting_down
  21, // storage_full: the upload completes once the server has space again
]);

/** digest_mismatch: the file's SHA-256 differs from the server's; the upload is over (never retried). */
export const DIGEST_MISMATCH = 20;

/** The server closes after an error with WebSocket close code 4000 + code. */
export const ERROR_CLOSE_BASE = 4000;

/**
 * `error_code` of a failure found in the browser rather than reported by the
 * server (the file cannot be read, the server cannot be reached by URL).
 * The server's codes start at 1.
 */
export const LOCAL_ERROR = 0;

/** Longest `filename` and cancel `reason` the server accepts. */
export const MAX_TEXT_LENGTH = 1024;

/** Ticket states in which every byte has arrived: nothing is left to send. */
export const STATES_AFTER_UPLOAD = new Set([
  'stored',
  'handing_over',
  'waiting_for_backend',
  'finished',
]);
