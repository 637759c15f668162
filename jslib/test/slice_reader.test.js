import assert from 'node:assert/strict';
import { test } from 'node:test';

import { READ_AHEAD_MESSAGES, SliceReader } from '../src/slice_reader.js';
import { settle } from './fakes.js';

/** A file whose reads finish only when the test says so, in any order. */
function controlledFile(size) {
  const reads = [];
  return {
    reads,
    size,
    slice(start, end) {
      return {
        arrayBuffer: () => new Promise((resolve) => reads.push({ start, end, finish: () => resolve(new ArrayBuffer(end - start)) })),
      };
    },
  };
}

test('reads finishing out of order are handed out in file order, and onReady waits for the head', async () => {
  const file = controlledFile(10);
  let ready = 0;
  const reader = new SliceReader(/** @type {any} */ (file), { onReady: () => ready++, onError: assert.fail });
  reader.restart(0, 4);
  assert.deepEqual(file.reads.map((read) => [read.start, read.end]), [[0, 4], [4, 8], [8, 10]]);
  file.reads[1].finish();
  await settle();
  assert.equal(reader.peek(), null);
  assert.equal(ready, 0);
  file.reads[0].finish();
  await settle();
  assert.equal(ready, 1);
  assert.equal(reader.peek().byteLength, 4);
  reader.take();
  assert.equal(reader.peek().byteLength, 4, 'the second slice was ready already');
});

test('restart forgets reads in flight: their results are never handed out', async () => {
  const file = controlledFile(100);
  const reader = new SliceReader(/** @type {any} */ (file), { onReady: () => {}, onError: assert.fail });
  reader.restart(0, 10);
  const stale = file.reads.slice();
  reader.restart(50, 10);
  assert.equal(file.reads.length, 2 * READ_AHEAD_MESSAGES);
  for (const read of stale) read.finish();
  await settle();
  assert.equal(reader.peek(), null);
  file.reads[READ_AHEAD_MESSAGES].finish();
  await settle();
  assert.equal(reader.peek().byteLength, 10);
});

test('stop ends reading: nothing more is read or handed out', async () => {
  const file = controlledFile(100);
  let ready = 0;
  const reader = new SliceReader(/** @type {any} */ (file), { onReady: () => ready++, onError: assert.fail });
  reader.restart(0, 10);
  reader.stop();
  for (const read of file.reads) read.finish();
  await settle();
  assert.equal(ready, 0);
  assert.equal(reader.peek(), null);
  assert.equal(file.reads.length, READ_AHEAD_MESSAGES);
});
