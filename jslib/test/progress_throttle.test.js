import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PROGRESS_INTERVAL_MS, ProgressThrottle } from '../src/progress_throttle.js';
import { FakeClock } from './fakes.js';

function throttled() {
  const clock = new FakeClock();
  const emitted = [];
  const throttle = new ProgressThrottle(clock, () => emitted.push(clock.now()));
  return { clock, emitted, throttle };
}

test('the first request is delivered at once, the next ones within the interval are merged into one at its end', () => {
  const { clock, emitted, throttle } = throttled();
  throttle.request();
  clock.advance(10);
  throttle.request();
  throttle.request();
  assert.deepEqual(emitted, [0]);
  clock.advance(PROGRESS_INTERVAL_MS);
  assert.deepEqual(emitted, [0, PROGRESS_INTERVAL_MS]);
});

test('requests spaced more than the interval apart are each delivered at once', () => {
  const { clock, emitted, throttle } = throttled();
  for (let i = 0; i < 3; i++) {
    throttle.request();
    clock.advance(PROGRESS_INTERVAL_MS + 1);
  }
  assert.equal(emitted.length, 3);
});

test('flush delivers at once and replaces a pending trailing delivery', () => {
  const { clock, emitted, throttle } = throttled();
  throttle.request();
  throttle.request();
  throttle.flush();
  clock.advance(10 * PROGRESS_INTERVAL_MS);
  assert.deepEqual(emitted, [0, 0]);
});

test('cancel drops a pending trailing delivery', () => {
  const { clock, emitted, throttle } = throttled();
  throttle.request();
  throttle.request();
  throttle.cancel();
  clock.advance(10 * PROGRESS_INTERVAL_MS);
  assert.deepEqual(emitted, [0]);
});
