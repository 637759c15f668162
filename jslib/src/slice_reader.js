/**
 * How many messages are read from the file ahead of the one being sent. Reads
 * of a local file are much faster than the network, so a few are enough to
 * keep the socket from ever waiting for the disk, while memory stays at a few
 * chunks whatever the file's size.
 */
export const READ_AHEAD_MESSAGES = 3;

/**
 * Reads a file as consecutive slices of one message each, a few ahead of the
 * sender, never the whole file at once.
 *
 * Reads complete asynchronously and possibly out of order; the sender only
 * ever takes the slice at the head of the queue, so bytes go out in order.
 */
export class SliceReader {
  /** @type {Blob} */
  #file;
  /** @type {() => void} */
  #onReady;
  /** @type {(error: Error) => void} */
  #onError;
  /** @type {{bytes: ArrayBuffer | null}[]} */
  #queue = [];
  #nextOffset = 0;
  #messageSize = 0;
  /** Bumped by stop(): reads started before then are ignored when they finish. */
  #generation = 0;

  /**
   * @param {Blob} file
   * @param {{onReady: () => void, onError: (error: Error) => void}} callbacks
   *   onReady: the head slice has become available (see peek());
   *   onError: the file could not be read.
   */
  constructor(file, { onReady, onError }) {
    this.#file = file;
    this.#onReady = onReady;
    this.#onError = onError;
  }

  /**
   * Forget what was read and start reading at `offset`.
   *
   * @param {number} offset
   * @param {number} messageSize  bytes per slice (the last one may be shorter)
   */
  restart(offset, messageSize) {
    this.stop();
    this.#nextOffset = offset;
    this.#messageSize = messageSize;
    this.#fill();
  }

  /** Forget what was read and read nothing more until restart(). */
  stop() {
    this.#queue = [];
    this.#generation++;
  }

  /** @returns {ArrayBuffer | null} the next slice to send, or null while it is still being read */
  peek() {
    return this.#queue[0]?.bytes ?? null;
  }

  /**
   * Remove the head slice (call only after peek() returned it) and read another.
   */
  take() {
    this.#queue.shift();
    this.#fill();
  }

  #fill() {
    const size = this.#file.size;
    while (this.#queue.length < READ_AHEAD_MESSAGES && this.#nextOffset < size) {
      const start = this.#nextOffset;
      const end = Math.min(start + this.#messageSize, size);
      const slot = { bytes: null };
      this.#queue.push(slot);
      this.#nextOffset = end;
      this.#read(slot, start, end);
    }
  }

  /**
   * @param {{bytes: ArrayBuffer | null}} slot
   * @param {number} start
   * @param {number} end
   */
  async #read(slot, start, end) {
    const generation = this.#generation;
    let bytes;
    try {
      bytes = await this.#file.slice(start, end).arrayBuffer();
    } catch (error) {
      if (generation === this.#generation) this.#onError(/** @type {Error} */ (error));
      return;
    }
    if (generation !== this.#generation) return;
    if (bytes.byteLength !== end - start) {
      this.#onError(new Error(`read ${bytes.byteLength} bytes at ${start} instead of ${end - start}; has the file changed?`));
      return;
    }
    slot.bytes = bytes;
    if (slot === this.#queue[0]) this.#onReady();
  }
}
