import { sha256 as pureSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createSHA256 } from 'hash-wasm';

/**
 * @typedef {object} IncrementalSha256
 * @property {(bytes: Uint8Array) => void} update
 * @property {() => string} hex  the digest of everything so far, 64 lower-case hex digits
 */

/**
 * An incremental SHA-256. WebCrypto's digest() takes the whole input at once,
 * which for a file of gigabytes means holding it all in memory; so it is
 * hash-wasm (WebAssembly, several hundred MB/s), or, where a page's CSP
 * forbids compiling WebAssembly, @noble/hashes in plain JavaScript (slower,
 * but the upload still gets its end-to-end check).
 *
 * @returns {Promise<IncrementalSha256>}
 */
export async function createIncrementalSha256() {
  try {
    const hasher = await createSHA256();
    hasher.init();
    return {
      update: (bytes) => { hasher.update(bytes); },
      hex: () => hasher.digest('hex'),
    };
  } catch {
    const hasher = pureSha256.create();
    return {
      update: (bytes) => { hasher.update(bytes); },
      hex: () => bytesToHex(hasher.digest()),
    };
  }
}

/** Bytes read from the file per step: large enough to keep the hasher busy, small enough to keep memory flat. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;

/**
 * SHA-256 of a Blob, read slice by slice. Each slice is awaited, so on a
 * page's main thread the event loop runs between slices and the page stays
 * responsive; in a Worker it is simply the whole job.
 *
 * @param {Blob} blob
 * @param {() => Promise<void>} [pause]  awaited between slices (the main thread yields to the page there)
 * @returns {Promise<string>} 64 lower-case hex digits
 */
export async function sha256OfBlob(blob, pause = async () => {}) {
  const hasher = await createIncrementalSha256();
  for (let at = 0; at < blob.size; at += HASH_SLICE_BYTES) {
    const bytes = await blob.slice(at, Math.min(at + HASH_SLICE_BYTES, blob.size)).arrayBuffer();
    hasher.update(new Uint8Array(bytes));
    await pause();
  }
  return hasher.hex();
}
