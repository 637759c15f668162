/**
 * Acknowledgements closer together than this are folded into one sample: on
 * a fast link acks come every millisecond or two, and rates from such short
 * spans are mostly noise.
 */
export const MIN_SAMPLE_MS = 100;

/**
 * How fast the smoothed rate follows a change: after this long, 63 % of the
 * way. It rises quickly, because while it is low it also holds back how much
 * may be in flight (flow_limits.js), which would hold back a fast link; it
 * falls more slowly, so that one late acknowledgement does not halve it, yet
 * within a few seconds, so that the in-flight bound follows a link that got
 * slower and a pause still takes effect within about a second.
 */
export const RISE_MS = 300;
export const FALL_MS = 1000;

/**
 * The upload rate as the server's acknowledgements show it: bytes stored per
 * second, smoothed exponentially over time. Acknowledged bytes are what
 * matters for both uses (the time left, and how many bytes may be on the way
 * without a pause overshooting), whatever buffers sit in between.
 */
export class RateMeter {
  /** Bytes per second, smoothed; 0 until the first sample. */
  bytesPerSecond = 0;

  /** @type {() => number} */
  #now;
  /** @type {{at: number, offset: number} | null} where the current sample started */
  #reference = null;

  /** @param {() => number} now  milliseconds */
  constructor(now) {
    this.#now = now;
  }

  /**
   * Starts a new sample at the next acknowledgement, keeping the rate: after
   * a pause or a reconnection, whose idle time says nothing about the link.
   */
  restart() {
    this.#reference = null;
  }

  /** @param {number} offset  the acknowledged offset, just grown */
  acknowledged(offset) {
    const at = this.#now();
    const reference = this.#reference;
    if (reference === null) {
      this.#reference = { at, offset };
      return;
    }
    const elapsed = at - reference.at;
    if (elapsed < MIN_SAMPLE_MS) return;
    const sample = ((offset - reference.offset) * 1000) / elapsed;
    // The first sample is taken as it is, so that the in-flight bound opens up at once on a fast link.
    const smoothing = sample > this.bytesPerSecond ? RISE_MS : FALL_MS;
    const weight = this.bytesPerSecond === 0 ? 1 : 1 - Math.exp(-elapsed / smoothing);
    this.bytesPerSecond += (sample - this.bytesPerSecond) * weight;
    this.#reference = { at, offset };
  }
}
