import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FIRST_RETRY_MS, MAX_RETRY_MS, reconnectDelay } from '../src/backoff.js';

test('the first retry waits between half a second and a second', () => {
  assert.equal(reconnectDelay(0, () => 0), FIRST_RETRY_MS / 2);
  assert.ok(reconnectDelay(0, () => 0.999999) < FIRST_RETRY_MS);
});

test('each failure doubles the range, with jitter keeping the delay in [ceiling / 2, ceiling)', () => {
  for (let failures = 0; failures < 5; failures++) {
    const ceiling = FIRST_RETRY_MS * 2 ** failures;
    for (const random of [0, 0.25, 0.5, 0.999999]) {
      const delay = reconnectDelay(failures, () => random);
      assert.ok(delay >= ceiling / 2 && delay < ceiling, `${failures} failures, random ${random}: ${delay}`);
    }
  }
});

test('the delay never exceeds the cap, however many failures (no overflow to Infinity or NaN)', () => {
  for (const failures of [5, 10, 100, 2000]) {
    const delay = reconnectDelay(failures, () => 0.999999);
    assert.ok(delay < MAX_RETRY_MS && delay >= MAX_RETRY_MS / 2, `${failures} failures: ${delay}`);
  }
});
