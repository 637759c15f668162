import { Uploader } from './uploader.js';

/**
 * Why upload() rejected. `name` is "AbortError" when the upload was
 * cancelled (by the signal, by cancel() or by the web-app backend) and
 * "UploadError" when it failed; `uploader` has the details.
 */
export class UploadError extends Error {
  /** @param {ReturnType<typeof Uploader>} uploader  a cancelled or failed uploader */
  constructor(uploader) {
    const cancelled = uploader.cancelled;
    super(cancelled ? `upload cancelled${uploader.cancel_msg ? `: ${uploader.cancel_msg}` : ''}` : uploader.error_msg ?? 'upload failed');
    this.name = cancelled ? 'AbortError' : 'UploadError';
    /** The uploader's error_code; null when cancelled. */
    this.code = uploader.error_code;
    this.uploader = uploader;
  }
}

/**
 * Uploads a file and settles when it is over: resolves with the uploader once
 * the backend has accepted the file, rejects with an UploadError when it fails
 * or is cancelled. Aborting `signal` cancels the upload on the server.
 *
 * @param {string} ticketId
 * @param {Blob} file
 * @param {import('./uploader.js').UploaderOptions & {
 *   onprogress?: (uploader: ReturnType<typeof Uploader>) => void,
 *   signal?: AbortSignal,
 * }} [options]
 * @returns {Promise<ReturnType<typeof Uploader>>}
 */
export function upload(ticketId, file, { onprogress, signal, ...uploaderOptions } = {}) {
  return new Promise((resolve, reject) => {
    const uploader = Uploader(ticketId, file, uploaderOptions);
    const cancelOnAbort = () => uploader.cancel(abortReason(signal));
    /** @param {() => void} settle */
    const whenOver = (settle) => () => {
      signal?.removeEventListener('abort', cancelOnAbort);
      settle();
    };
    uploader.addEventListener('finished', whenOver(() => resolve(uploader)));
    const rejectWithError = whenOver(() => reject(new UploadError(uploader)));
    uploader.addEventListener('error', rejectWithError);
    uploader.addEventListener('cancelled', rejectWithError);
    if (onprogress) uploader.addEventListener('progress', () => onprogress(uploader));
    uploader.start();
    if (signal?.aborted) cancelOnAbort();
    else signal?.addEventListener('abort', cancelOnAbort);
  });
}

/**
 * @param {AbortSignal | undefined} signal
 * @returns {string | undefined} the abort reason as text for the backend
 */
function abortReason(signal) {
  const reason = signal?.reason;
  if (reason == null) return undefined;
  return reason instanceof Error ? reason.message : String(reason);
}
