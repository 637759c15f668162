import { sha256 as pureSha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { createSHA256 } from 'hash-wasm';

import { isChromium } from './engine.js';

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

/** Bytes read from the file per slice; on a page's main thread the page gets a turn after about this many. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;

/**
 * SHA-256 of a Blob, read off the calling thread while it is hashed, so that
 * reading and hashing overlap and memory stays flat. How it reads depends on
 * the engine (measured in a Worker over a 256 MiB File, alternating the two
 * ways): Chromium reads a Blob faster as a stream, whose chunks are hashed as
 * they come (median 1.6 times the rate of slices over 9 pairs); Firefox and
 * WebKit read it faster in 4 MiB slices into ArrayBuffers, the next slice read
 * while one is hashed (streams 0.7–0.98 of that). `pause` is awaited after
 * each HASH_SLICE_BYTES: on a page's main thread the event loop runs there and
 * the page stays responsive; in a Worker it is simply the whole job.
 *
 * @param {Blob} blob
 * @param {() => Promise<void>} [pause]  awaited between slices (the main thread yields to the page there)
 * @param {boolean} [asStream]  read with blob.stream() (default: in Chromium), else in slices
 * @returns {Promise<string>} 64 lower-case hex digits
 */
export async function sha256OfBlob(blob, pause = async () => {}, asStream = isChromium(globalThis.navigator)) {
  const hasher = await createIncrementalSha256();
  let sincePause = 0;
  for await (const bytes of asStream ? streamed(blob) : sliced(blob)) {
    hasher.update(bytes);
    sincePause += bytes.byteLength;
    if (sincePause >= HASH_SLICE_BYTES) {
      sincePause = 0;
      await pause();
    }
  }
  return hasher.hex();
}

/**
 * @param {Blob} blob
 * @returns {AsyncGenerator<Uint8Array>} the chunks of blob.stream()
 */
async function* streamed(blob) {
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}

/**
 * @param {Blob} blob
 * @returns {AsyncGenerator<Uint8Array>} HASH_SLICE_BYTES at a time, the next one being read meanwhile
 */
async function* sliced(blob) {
  const size = blob.size;
  /** @param {number} at */
  const read = (at) => {
    const reading = blob.slice(at, Math.min(at + HASH_SLICE_BYTES, size)).arrayBuffer();
    // Awaited in the next turn of the loop; a failure before then must not go unhandled.
    reading.catch(() => {});
    return reading;
  };
  let next = size > 0 ? read(0) : null;
  for (let at = 0; next !== null;) {
    const bytes = await next;
    at += HASH_SLICE_BYTES;
    next = at < size ? read(at) : null;
    yield new Uint8Array(bytes);
  }
}

/**
 * Up to this size a file is hashed in one piece by WebCrypto, which is native
 * code (SHA-NI on CPUs that have it: ~1.5 GB/s where hash-wasm does 200-300 MB/s),
 * at the price of holding the whole file in memory for a moment. WebCrypto
 * has no incremental digest, so larger files go through sha256OfBlob.
 */
export const ONE_SHOT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * SHA-256 of a file: small ones in one WebCrypto call where there is one
 * (secure contexts only), the rest incrementally, slice by slice.
 *
 * @param {Blob} blob
 * @param {() => Promise<void>} [pause]  awaited between slices of an incremental hash
 * @returns {Promise<string>} 64 lower-case hex digits
 */
export async function sha256OfFile(blob, pause) {
  const subtle = globalThis.crypto?.subtle;
  if (blob.size <= ONE_SHOT_MAX_BYTES && typeof subtle?.digest === 'function') {
    const bytes = await blob.arrayBuffer(); // a file that cannot be read fails here, as it would below
    let digest;
    try {
      digest = await subtle.digest('SHA-256', bytes);
    } catch {
      return sha256OfBlob(blob, pause);
    }
    return bytesToHex(new Uint8Array(digest));
  }
  return sha256OfBlob(blob, pause);
}
