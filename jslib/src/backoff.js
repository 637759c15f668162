/** Delay before the first reconnection attempt at most (the actual delay is jittered below it). */
export const FIRST_RETRY_MS = 1000;

/** The delay stops doubling here, so a browser offline for hours still retries twice a minute. */
export const MAX_RETRY_MS = 30_000;

/**
 * How long to wait before reconnection attempt number `failures` (0 for the
 * first retry after a working connection).
 *
 * The ceiling doubles with each failure up to MAX_RETRY_MS; the delay is drawn
 * from the upper half below that ceiling, so that many browsers cut off at
 * once (a server restart) do not all come back in the same instant, yet none
 * waits much less than the schedule says.
 *
 * @param {number} failures  consecutive attempts that achieved nothing
 * @param {() => number} random  uniform in [0, 1)
 * @returns {number} milliseconds, in [ceiling / 2, ceiling)
 */
export function reconnectDelay(failures, random) {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** failures);
  return (ceiling * (1 + random())) / 2;
}
