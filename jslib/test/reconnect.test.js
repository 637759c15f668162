import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_RETRY_MS, reconnectDelay } from '../src/backoff.js';
import { FakeFile, makeWorld, settle } from './fakes.js';

/** An uploader of a 40-byte file, connected and welcomed at `offset`, with what it sent settled. */
async function connectedUpload({ offset = 0, random } = {}) {
  const world = makeWorld({ random });
  const handle = world.uploaderFor(new FakeFile(40));
  handle.uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ offset, chunkSize: 4, window: 12 });
  await settle();
  return { world, ws, ...handle };
}

test('after a disconnect it reconnects, says hello again and resumes from welcome.offset, not from what it had sent', async () => {
  const { world, ws, uploader } = await connectedUpload();
  ws.ack(4);
  await settle();
  assert.equal(uploader.bytes_tx, 16);
  ws.drop(1006);
  assert.equal(uploader.connected, false);
  assert.equal(ws.closedByClient.code, 1000, 'the old socket is closed and forgotten');
  world.clock.advance(1000);
  const again = world.lastSocket();
  assert.notEqual(again, ws);
  again.open();
  assert.equal(again.texts()[0].type, 'hello');
  again.welcome({ offset: 8, chunkSize: 4, window: 12 }); // the server had stored 4 more bytes than it acknowledged
  await settle();
  assert.equal(uploader.bytes_acked, 8);
  assert.equal(uploader.bytes_tx, 20);
  assert.equal(uploader.chunks_tx_now, 3, 'chunks_* count this connection only');
  assert.equal(again.bytesSent(), 12);
});

test('a welcome.offset below what was sent makes it send those bytes again', async () => {
  const { world, ws, uploader } = await connectedUpload();
  ws.drop(1001);
  world.clock.advance(1000);
  const again = world.lastSocket();
  again.open();
  again.welcome({ offset: 0, chunkSize: 4, window: 12 });
  await settle();
  assert.equal(again.bytesSent(), 12);
  assert.equal(uploader.bytes_tx, 12);
});

test('the first retry comes within 1 s, later ones double, and none waits more than the cap', async () => {
  const world = makeWorld({ random: () => 0.999999 });
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.start();
  const delays = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    world.lastSocket().drop(1006); // the server cannot be reached at all
    delays.push(...world.clock.pendingDelays());
    world.clock.advance(delays[delays.length - 1]);
  }
  assert.equal(world.sockets.length, 11);
  assert.ok(delays[0] <= 1000);
  for (let i = 1; i < 5; i++) assert.ok(Math.abs(delays[i] - 2 * delays[i - 1]) < 1e-6, `delay ${i} doubles`);
  assert.ok(delays.every((delay) => delay <= MAX_RETRY_MS));
  assert.ok(delays.slice(5).every((delay) => delay > MAX_RETRY_MS * 0.99), 'the cap is reached and kept');
});

test('the delays are jittered between half the schedule and the schedule, by the random source', async () => {
  for (const [random, expected] of [[() => 0, 500], [() => 0.5, 750]]) {
    const world = makeWorld({ random });
    const { uploader } = world.uploaderFor(new FakeFile(40));
    uploader.start();
    world.lastSocket().drop(1006);
    assert.deepEqual(world.clock.pendingDelays(), [expected]);
    assert.equal(uploader.state_msg, 'reconnecting in 1 s');
  }
});

test('state_msg counts down to the reconnection', async () => {
  const world = makeWorld({ random: () => 0 });
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.start();
  for (let i = 0; i < 3; i++) {
    world.lastSocket().drop(1006);
    world.clock.advance(reconnectDelay(i, () => 0));
  }
  world.lastSocket().drop(1006); // the fourth retry waits 4 s
  assert.equal(uploader.state_msg, 'reconnecting in 4 s');
  world.clock.advance(2500);
  assert.equal(uploader.state_msg, 'reconnecting in 2 s');
  world.clock.advance(1500);
  assert.equal(uploader.state_msg, 'connecting');
});

test('progress made on a connection starts the backoff from the beginning again', async () => {
  const { world, uploader } = await connectedUpload({ random: () => 0 });
  for (let i = 0; i < 4; i++) {
    world.lastSocket().drop(1006);
    world.clock.advance(60_000);
  }
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  ws.ack(4);
  ws.drop(1006);
  const socketsBefore = world.sockets.length;
  world.clock.advance(499);
  assert.equal(world.sockets.length, socketsBefore);
  world.clock.advance(1);
  assert.equal(world.sockets.length, socketsBefore + 1, 'reconnected after the first delay, 500 ms');
  assert.equal(uploader.bytes_acked, 4);
});

test('an hour offline does not stop it: it keeps retrying at the cap and finishes when the server is back', async () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(8));
  uploader.start();
  while (world.clock.now() < 3600_000) {
    world.lastSocket().drop(1006);
    world.clock.advance(world.clock.pendingDelays()[0]);
  }
  assert.ok(world.sockets.length > 100);
  assert.equal(calls.error, 0);
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  await settle();
  ws.ack(8);
  ws.state('stored');
  ws.state('handing_over');
  ws.state('finished');
  assert.equal(calls.finished, 1);
});

for (const [code, name] of [[10, 'idle_timeout'], [12, 'storage_failed'], [13, 'shutting_down'], [21, 'storage_full']]) {
  test(`error ${code} (${name}) is retried: reconnects with backoff, shows the error meanwhile and calls no onerror`, async () => {
    const { world, ws, uploader, calls } = await connectedUpload();
    const progressBefore = calls.progress;
    ws.error(code, `the server says ${name}`);
    assert.equal(calls.error, 0);
    assert.equal(uploader.error_code, code, 'the page can show why nothing moves');
    assert.equal(uploader.error_msg, `the server says ${name}`);
    assert.equal(calls.progress, progressBefore + 1, 'onprogress tells the page at once');
    assert.match(uploader.state_msg, /^reconnecting in/);
    world.clock.advance(1000);
    assert.equal(world.sockets.length, 2);
    const again = world.lastSocket();
    again.open();
    again.welcome({ offset: 4, chunkSize: 4, window: 12 });
    await settle();
    assert.equal(uploader.error_code, code, 'a welcome alone is no progress: the error stays until bytes flow');
    again.ack(8);
    assert.equal(uploader.error_code, null, 'cleared once the server acknowledges bytes again');
    assert.equal(uploader.error_msg, null);
    world.clock.advance(200);
    assert.ok(calls.progress >= progressBefore + 2, 'and the page hears of it');
  });
}

test('a retryable error kept through several failed reconnections is replaced by the latest one', async () => {
  const { world, ws, uploader } = await connectedUpload();
  ws.error(12, 'disk error');
  world.clock.advance(1000);
  world.lastSocket().drop(1006); // a plain disconnect changes nothing
  assert.equal(uploader.error_code, 12);
  world.clock.advance(2000);
  const third = world.lastSocket();
  third.open();
  third.error(21, 'no space left');
  assert.equal(uploader.error_code, 21);
  assert.equal(uploader.error_msg, 'no space left');
  assert.equal(uploader.state_msg.startsWith('reconnecting'), true);
});

test('a retryable error is cleared when the ticket turns out to be stored already', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  ws.error(13, 'restarting');
  world.clock.advance(1000);
  const again = world.lastSocket();
  again.open();
  again.welcome({ offset: 40, chunkSize: 4, window: 12, state: 'handing_over' });
  assert.equal(uploader.error_code, null);
  again.state('finished');
  assert.equal(calls.finished, 1);
  assert.equal(uploader.error_code, null);
});

for (const [code, name] of [
  [1, 'bad_request'],
  [2, 'unknown_ticket'],
  [3, 'wrong_secret'],
  [4, 'ticket_closed'],
  [5, 'too_large'],
  [6, 'size_mismatch'],
  [7, 'chunk_too_large'],
  [8, 'beyond_size'],
  [9, 'window_exceeded'],
  [11, 'taken_over'],
  [14, 'wrong_state'],
  [15, 'handover_failed'],
  [20, 'digest_mismatch'],
]) {
  test(`error ${code} (${name}) ends the upload: onerror with the server's code and message, and no reconnection`, async () => {
    const { world, ws, uploader, calls } = await connectedUpload();
    ws.error(code, `the server says ${name}`, code === 4 ? 'expired' : 'uploading');
    assert.equal(calls.error, 1);
    assert.equal(uploader.error_code, code);
    assert.equal(uploader.error_msg, `the server says ${name}`);
    assert.equal(uploader.state_msg, 'error');
    assert.equal(uploader.can_cancel, false);
    assert.equal(uploader.can_pause, false);
    world.clock.advance(3600_000);
    assert.equal(world.sockets.length, 1);
  });
}

for (const code of [1000, 1001, 1006, 1011]) {
  test(`a close with code ${code} and no error message is a disconnect: it reconnects`, async () => {
    const { world, ws, calls } = await connectedUpload();
    ws.drop(code);
    world.clock.advance(1000);
    assert.equal(world.sockets.length, 2);
    assert.equal(calls.error, 0);
  });
}

test('a close with code 4000 + N whose error message was lost is taken as error N', async () => {
  const retried = await connectedUpload();
  retried.ws.drop(4013, 'shutting down');
  retried.world.clock.advance(1000);
  assert.equal(retried.world.sockets.length, 2, '13 is retried');

  const ended = await connectedUpload();
  ended.ws.drop(4002, 'unknown ticket');
  assert.equal(ended.uploader.error_code, 2);
  assert.equal(ended.uploader.error_msg, 'unknown ticket');
  ended.world.clock.advance(60_000);
  assert.equal(ended.world.sockets.length, 1);
});

test('a socket that cannot be created (bad URL) ends the upload with error code 0', () => {
  const world = makeWorld();
  world.environment.WebSocket = class {
    constructor() {
      throw new SyntaxError('The URL is invalid');
    }
  };
  const { uploader, calls } = world.uploaderFor(new FakeFile(4));
  uploader.start();
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /URL is invalid/);
});
