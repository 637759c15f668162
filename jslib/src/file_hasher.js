import { sha256OfFile } from './sha256_engine.js';

/**
 * The hashing Worker's bundled source; the build defines it (see build.mjs).
 * Unbundled (the unit tests under Node) there is none, and hashing runs on
 * the calling thread.
 */
/* global INCOMING_HASH_WORKER_SOURCE */
const WORKER_SOURCE = typeof INCOMING_HASH_WORKER_SOURCE === 'string' ? INCOMING_HASH_WORKER_SOURCE : null;

/**
 * SHA-256 of a whole file, read independently of the sending (the browser
 * reads the slices a second time; its cache makes that cheap). In a Worker
 * where one can be made, so the page's thread does nothing but send; else on
 * this thread in slices, yielding between them.
 *
 * @param {Blob} blob
 * @returns {Promise<string>} 64 lower-case hex digits
 */
export async function hashFile(blob) {
  const worker = hashWorker();
  if (worker) {
    try {
      return await worker.hash(blob);
    } catch (error) {
      // A worker that could not start (CSP refused it, no WebAssembly there…) fails on its
      // first job; the page's thread can still do it. A file that cannot be read fails here too.
      if (error instanceof FileError) throw error;
    }
  }
  return sha256OfFile(blob, yieldToPage);
}

/** The worker could read no file: the same would happen on the page's thread. */
class FileError extends Error {}

/** Between slices on the page's thread: a macrotask turn, so input and rendering come first. */
function yieldToPage() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** @type {{hash: (blob: Blob) => Promise<string>} | null | undefined} one worker for every upload of the page */
let sharedWorker;

function hashWorker() {
  if (sharedWorker !== undefined) return sharedWorker;
  sharedWorker = null;
  if (WORKER_SOURCE === null || typeof Worker !== 'function' || typeof URL?.createObjectURL !== 'function') return null;
  let worker;
  try {
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    worker = new Worker(url);
    // The worker has loaded its code once it runs; the URL is not needed after that, but
    // revoking it at once races the load in some engines, so it stays for the page's life.
  } catch {
    return null; // a CSP without blob: in worker-src, or no Worker here
  }
  /** @type {Map<number, {resolve: (hex: string) => void, reject: (error: Error) => void}>} */
  const jobs = new Map();
  let nextId = 1;
  const failAll = (/** @type {Error} */ error) => {
    for (const job of jobs.values()) job.reject(error);
    jobs.clear();
    sharedWorker = null; // later uploads hash on the page's thread
    worker.terminate();
  };
  worker.onmessage = (event) => {
    const { id, sha256, error } = event.data;
    const job = jobs.get(id);
    if (!job) return;
    jobs.delete(id);
    if (typeof sha256 === 'string') job.resolve(sha256);
    else job.reject(new FileError(error));
  };
  // Fired when the worker's script cannot load or run (a CSP may refuse it only now).
  worker.onerror = (event) => {
    event.preventDefault?.();
    failAll(new Error('the hashing worker failed'));
  };
  sharedWorker = {
    hash: (blob) => new Promise((resolve, reject) => {
      const id = nextId++;
      jobs.set(id, { resolve, reject });
      worker.postMessage({ id, blob });
    }),
  };
  return sharedWorker;
}
