/**
 * The code of the hashing Worker. The build bundles it (with the hash
 * library) into a string inside incoming.js, and file_hasher.js starts it
 * from a Blob URL, so pages load no second script and need no worker path.
 *
 * It receives {id, blob} and answers {id, sha256} or {id, error}.
 */
import { sha256OfFile } from './sha256_engine.js';

self.onmessage = async (event) => {
  const { id, blob } = event.data;
  try {
    self.postMessage({ id, sha256: await sha256OfFile(blob) });
  } catch (error) {
    self.postMessage({ id, error: String(/** @type {Error} */ (error)?.message ?? error) });
  }
};
