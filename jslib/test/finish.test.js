import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PROGRESS_INTERVAL_MS } from '../src/progress_throttle.js';
import { FakeFile, MiB, makeWorld, settle } from './fakes.js';

/** Lets the client send the whole (small) file, acknowledging it one window at a time. */
async function uploadAllBytes(ws, size) {
  for (let round = 0; round < 100; round++) {
    await settle();
    const sent = ws.bytesSent();
    ws.ack(sent);
    if (sent === size) return;
  }
  assert.fail(`the client stopped sending at ${ws.bytesSent()} of ${size} bytes`);
}

test('after the last ack the states stored, handing over and waiting for backend show in state_msg; onfinished fires only on finished', async () => {
  const world = makeWorld();
  const { uploader, calls, events } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  await uploadAllBytes(ws, 10);
  assert.equal(uploader.frac_complete, 1);
  const seen = [];
  for (const state of ['stored', 'handing_over', 'waiting_for_backend']) {
    ws.state(state);
    seen.push(uploader.state_msg);
    assert.equal(calls.finished, 0);
    assert.equal(uploader.finished, false);
  }
  assert.deepEqual(seen, ['stored', 'handing over', 'waiting for backend']);
  ws.state('finished');
  assert.equal(calls.finished, 1);
  assert.equal(uploader.finished, true);
  assert.equal(uploader.state_msg, 'finished');
  assert.equal(uploader.can_cancel, false);
  ws.drop(1000);
  world.clock.advance(60_000);
  assert.equal(world.sockets.length, 1, 'the close after finished is not a disconnect');
  assert.deepEqual(events.slice(-2), ['statechange', 'finished']);
});

test('reconnecting after every byte arrived, a welcome in state stored makes it send nothing and wait for the states', async () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  world.lastSocket().drop(1006);
  world.clock.advance(1000);
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ offset: 10, chunkSize: 4, window: 8, state: 'handing_over' });
  await settle();
  assert.deepEqual(ws.binaries(), []);
  assert.equal(uploader.state_msg, 'handing over');
  assert.equal(uploader.frac_complete, 1);
  ws.state('finished');
  assert.equal(calls.finished, 1);
});

test('a ticket already finished (error 4 with state finished) counts as finished, not as an error', () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.error(4, 'ticket is finished', 'finished');
  assert.equal(calls.finished, 1);
  assert.equal(calls.error, 0);
  assert.equal(uploader.finished, true);
  assert.equal(uploader.error_code, null);
  assert.equal(uploader.frac_complete, 1);
});

test('statechange is dispatched when state_msg changes, not on every message', async () => {
  const world = makeWorld();
  const { uploader, events } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  await uploadAllBytes(ws, 10);
  ws.state('stored');
  const states = [];
  uploader.addEventListener('statechange', () => states.push(uploader.state_msg));
  ws.state('stored');
  ws.state('handing_over');
  ws.state('finished');
  assert.deepEqual(states, ['handing over', 'finished']);
  assert.equal(events.filter((type) => type === 'statechange').length, 5, 'connecting, uploading, stored, handing over, finished');
});

test('onprogress is called at most ten times a second however fast acks come, plus once for the last byte', async () => {
  const world = makeWorld();
  const size = 10 * 1024 * MiB; // 10 GiB, simulated
  const { uploader, calls } = world.uploaderFor(new FakeFile(size));
  let lastSeenAcked = 0;
  uploader.onprogress = () => {
    calls.progress++;
    lastSeenAcked = uploader.bytes_acked;
  };
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: MiB, window: 8 * MiB });
  await settle();
  for (let acked = MiB; acked <= size; acked += MiB) {
    world.clock.advance(1); // 1 GiB/s
    ws.ack(acked);
    if (acked % (4 * MiB) === 0) await settle();
  }
  const seconds = world.clock.now() / 1000;
  assert.ok(seconds > 10);
  assert.ok(calls.progress <= seconds * (1000 / PROGRESS_INTERVAL_MS) + 2, `${calls.progress} calls in ${seconds} s`);
  assert.ok(calls.progress >= seconds * 5, 'and it does keep reporting');
  assert.equal(lastSeenAcked, size, 'the last call reports the last byte');
});

test('a progress update held back by the throttle is delivered when the interval ends', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(40));
  const seen = [];
  uploader.onprogress = () => seen.push(uploader.bytes_acked);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 40 });
  await settle();
  ws.ack(4);
  ws.ack(8);
  assert.deepEqual(seen, [0]);
  world.clock.advance(PROGRESS_INTERVAL_MS);
  assert.deepEqual(seen, [0, 8]);
});

test('several uploaders in one page run independently', async () => {
  const world = makeWorld();
  const first = world.uploaderFor(new FakeFile(8, 'a.bin'), 'TA');
  const second = world.uploaderFor(new FakeFile(12, 'b.bin'), 'TB');
  first.uploader.start();
  second.uploader.start();
  const [wsA, wsB] = world.sockets;
  wsA.open();
  wsB.open();
  assert.equal(wsA.texts()[0].ticket, 'TA');
  assert.equal(wsB.texts()[0].ticket, 'TB');
  wsA.welcome({ chunkSize: 4, window: 8 });
  wsB.welcome({ chunkSize: 2, window: 4 });
  await settle();
  assert.deepEqual(wsA.ranges(), [[0, 4], [4, 8]]);
  assert.deepEqual(wsB.ranges(), [[0, 2], [2, 4]]);
  first.uploader.pause('pause');
  wsB.ack(4);
  await settle();
  assert.equal(wsB.bytesSent(), 8, 'pausing one does not hold the other');
  wsA.error(2, 'unknown ticket');
  assert.equal(first.uploader.error_code, 2);
  assert.equal(second.uploader.error_code, null);
  wsB.ack(8);
  await settle();
  wsB.ack(12);
  wsB.state('stored');
  wsB.state('finished');
  assert.equal(second.calls.finished, 1);
  assert.equal(first.calls.finished, 0);
});

test('an exception thrown by a callback does not stop the upload', async (t) => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(8));
  // Node reports an exception from an event listener as uncaught, as a browser does; catch it here.
  const reported = [];
  const emit = process.emit;
  t.mock.method(process, 'emit', function (event, error, ...rest) {
    if (event !== 'uncaughtException') return emit.call(this, event, error, ...rest);
    reported.push(error);
    return true;
  });
  uploader.onprogress = () => {
    throw new Error('a bug in the page');
  };
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  await settle();
  t.mock.restoreAll();
  assert.equal(ws.bytesSent(), 8);
  assert.equal(reported.length, 1, 'the exception is reported, as for any event listener');
});
