import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Uploader } from '../src/uploader.js';
import { FakeFile, makeWorld } from './fakes.js';

test('Uploader works with and without new, and its uploaders are instanceof Uploader and EventTarget', () => {
  const { environment } = makeWorld();
  const plain = Uploader('T1', /** @type {any} */ (new FakeFile(1)), { environment });
  const constructed = new Uploader('T1', /** @type {any} */ (new FakeFile(1)), { environment });
  for (const uploader of [plain, constructed]) {
    assert.ok(uploader instanceof Uploader);
    assert.ok(uploader instanceof EventTarget);
    assert.equal(uploader.state_msg, 'not started');
  }
});

test('the on… callbacks get the uploader as argument, before the event listeners run', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(4));
  const order = [];
  uploader.addEventListener('error', (event) => order.push(['listener', event.type, event.target === uploader]));
  uploader.onerror = (argument) => order.push(['callback', argument === uploader]);
  uploader.start();
  world.lastSocket().open();
  world.lastSocket().error(2, 'unknown ticket');
  assert.deepEqual(order, [['callback', true], ['listener', 'error', true]]);
});

test('the 0.1 properties are read-only', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(4));
  assert.throws(() => {
    /** @type {any} */ (uploader).bytes_acked = 4;
  }, TypeError);
});
