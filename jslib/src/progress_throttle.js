/** At most one progress notification per this many milliseconds (ten per second). */
export const PROGRESS_INTERVAL_MS = 100;

/**
 * Rate-limits progress notifications by time, so that a large upload with
 * thousands of acknowledgements per second calls the page about ten times a
 * second. A request that falls inside the interval is not lost: one trailing
 * notification is delivered when the interval ends, so the page always ends
 * up showing the latest numbers (e.g. after pausing).
 */
export class ProgressThrottle {
  /** @type {import('./environment.js').Environment} */
  #clock;
  /** @type {() => void} */
  #emit;
  #lastEmitAt = -Infinity;
  /** @type {unknown} */
  #trailingTimer = null;

  /**
   * @param {import('./environment.js').Environment} clock
   * @param {() => void} emit
   */
  constructor(clock, emit) {
    this.#clock = clock;
    this.#emit = emit;
  }

  /** Notify now if the interval has passed, otherwise once when it does. */
  request() {
    if (this.#trailingTimer !== null) return;
    const wait = this.#lastEmitAt + PROGRESS_INTERVAL_MS - this.#clock.now();
    if (wait <= 0) {
      this.#fire();
      return;
    }
    this.#trailingTimer = this.#clock.setTimeout(() => {
      this.#trailingTimer = null;
      this.#fire();
    }, wait);
  }

  /** Notify now regardless of the interval: for the moment the last byte is acknowledged. */
  flush() {
    this.cancel();
    this.#fire();
  }

  /** Drop a pending trailing notification: the upload is over. */
  cancel() {
    if (this.#trailingTimer === null) return;
    this.#clock.clearTimeout(this.#trailingTimer);
    this.#trailingTimer = null;
  }

  #fire() {
    this.#lastEmitAt = this.#clock.now();
    this.#emit();
  }
}
