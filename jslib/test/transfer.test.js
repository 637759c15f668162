import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DRAIN_POLL_MS, SEND_BUFFER_LIMIT } from '../src/upload_core.js';
import { FakeFile, MiB, makeWorld, settle, warmUp } from './fakes.js';

test('the first message of a connection is hello with ticket, size and file name, sent once the socket opens', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(10, 'holiday.mov'), 'ticket-42');
  uploader.start();
  const ws = world.lastSocket();
  assert.equal(ws.url, 'ws://test/upload_ws');
  assert.equal(ws.binaryType, 'arraybuffer');
  assert.deepEqual(ws.sent, []);
  assert.equal(uploader.state_msg, 'connecting');
  ws.open();
  assert.deepEqual(ws.texts(), [{ type: 'hello', ticket: 'ticket-42', size: 10, filename: 'holiday.mov' }]);
  assert.equal(uploader.connected, false, 'not connected before welcome');
});

test('sends the file in order as binary messages of chunkSize bytes, the last one shorter', async () => {
  const world = makeWorld();
  const content = Uint8Array.from({ length: 10 }, (_, i) => i);
  const { uploader } = world.uploaderFor(new Blob([content]));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 100 });
  await settle();
  const messages = await Promise.all(ws.binaries().map(async (blob) => [...new Uint8Array(await blob.arrayBuffer())]));
  assert.deepEqual(messages, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.equal(uploader.connected, true);
  assert.equal(uploader.state_msg, 'uploading');
});

test('a Blob without a name is announced with an empty file name', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new Blob(['abc']));
  uploader.start();
  world.lastSocket().open();
  assert.equal(world.lastSocket().texts()[0].filename, '');
  assert.equal(uploader.filename, '');
});

test('never has more than window bytes unacknowledged, and sends more as acks arrive', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 10 });
  await settle();
  assert.equal(ws.bytesSent(), 8, 'two messages fit the window of 10, a third would not');
  ws.ack(1); // a partial acknowledgement: 7 + 4 unacknowledged would exceed 10
  await settle();
  assert.equal(ws.bytesSent(), 8);
  ws.ack(2); // 6 + 4 fits exactly
  await settle();
  assert.equal(ws.bytesSent(), 12);
  assert.equal(uploader.bytes_ahead, 10);
});

test('messages are no larger than the window when the server offers a window below chunkSize', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 8, window: 3 });
  await settle();
  assert.deepEqual(ws.ranges(), [[0, 3]]);
  ws.ack(3);
  await settle();
  assert.deepEqual(ws.ranges(), [[0, 3], [3, 6]]);
});

test('stops handing messages to the socket once its bufferedAmount reaches the limit, and polls until it drains', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(1024 * MiB));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.drain();
  ws.welcome({ chunkSize: MiB, window: 64 * MiB });
  await settle();
  await warmUp(world, ws, uploader, 1000 * MiB); // a fast link: neither the rate nor the window holds back
  ws.ack(uploader.bytes_tx);
  ws.sent = [];
  ws.drain();
  const start = uploader.bytes_tx;
  ws.ack(start); // no change: acks only grow; so hand-pump once through a poll
  world.clock.advance(DRAIN_POLL_MS);
  await settle();
  assert.equal(SEND_BUFFER_LIMIT % MiB, 0);
  assert.equal(ws.bytesSent(), SEND_BUFFER_LIMIT, 'the queued Blobs count in bufferedAmount: sending stops at the limit');
  assert.equal(ws.bufferedAmount, SEND_BUFFER_LIMIT);
  world.clock.advance(DRAIN_POLL_MS);
  await settle();
  assert.equal(ws.bytesSent(), SEND_BUFFER_LIMIT, 'still full: nothing more');
  ws.drain(3 * MiB);
  assert.equal(ws.bytesSent(), SEND_BUFFER_LIMIT, 'no event tells of the drain...');
  world.clock.advance(DRAIN_POLL_MS);
  assert.equal(ws.bytesSent(), SEND_BUFFER_LIMIT + 3 * MiB, '...the next poll refills what drained');
  assert.equal(uploader.bytes_tx, start + SEND_BUFFER_LIMIT + 3 * MiB);
  assert.equal(world.clock.pendingDelays().filter((delay) => delay === DRAIN_POLL_MS).length, 1, 'one poll at a time');
  for (let i = 0; i < 100 && uploader.bytes_tx - uploader.bytes_acked < 64 * MiB; i++) {
    ws.drain();
    world.clock.advance(DRAIN_POLL_MS);
  }
  assert.equal(uploader.bytes_tx - uploader.bytes_acked, 64 * MiB, 'then the window is full');
  assert.deepEqual(world.clock.pendingDelays().filter((delay) => delay === DRAIN_POLL_MS), [], 'no polling while the window is full: the next ack sends');
});

test('the window holds back sending even while the send buffer has room', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(1024 * MiB));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: MiB, window: 4 * MiB });
  ws.drain();
  await settle();
  await warmUp(world, ws, uploader, 1000 * MiB);
  const acked = uploader.bytes_acked;
  ws.drain();
  assert.equal(uploader.bytes_tx - acked, 4 * MiB);
  world.clock.advance(1000);
  ws.drain();
  assert.equal(uploader.bytes_tx - acked, 4 * MiB, 'no ack, no more bytes');
  assert.deepEqual(world.clock.timers.filter((t) => t.at - world.clock.time === DRAIN_POLL_MS), [], 'and no polling: the next ack sends');
  ws.ack(acked + 2 * MiB);
  assert.equal(uploader.bytes_tx - acked, 6 * MiB);
  assert.equal(uploader.bytes_ahead, 4 * MiB);
});

test('sends Blob slices of the file: the page never reads the bytes, apart from one probe byte per connection', async () => {
  const SIZE = 1024 * MiB;
  const world = makeWorld();
  const file = new FakeFile(SIZE);
  const { uploader } = world.uploaderFor(file);
  assert.deepEqual(file.slices, [[0, SIZE]], 'the file is sliced once, when the uploader is made');
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: MiB, window: 4 * MiB });
  await settle();
  await warmUp(world, ws, uploader, 1000 * MiB);
  const ranges = ws.ranges();
  for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i][0], ranges[i - 1][1], 'message after message, in order');
  assert.deepEqual(ranges.slice(-4), Array.from({ length: 4 }, (_, i) => [ranges.at(-4)[0] + i * MiB, ranges.at(-4)[0] + (i + 1) * MiB]),
    'at full rate, messages of chunkSize');
  assert.deepEqual(file.slices, [[0, SIZE]], 'messages are slices of that first slice');
  assert.deepEqual(file.reads, [[SIZE - 1, SIZE]], 'only the last byte, once');
  ws.drop(1006);
  world.clock.advance(1000);
  world.lastSocket().open();
  await settle();
  assert.deepEqual(file.reads, [[SIZE - 1, SIZE], [SIZE - 1, SIZE]], 'again on the next connection');
});

test('an empty file sends hello with size 0 and no binary message, and reports full progress once welcomed', async () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(0));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  assert.equal(ws.texts()[0].size, 0);
  assert.equal(uploader.frac_complete, 0);
  ws.welcome({ offset: 0 });
  await settle();
  assert.deepEqual(ws.binaries(), []);
  assert.equal(uploader.frac_complete, 1);
  assert.equal(uploader.can_pause, false);
  assert.equal(calls.progress, 1);
  ws.state('stored');
  ws.state('handing_over');
  world.clock.advance(1000);
  ws.state('finished');
  assert.equal(uploader.finished, true);
  assert.equal(calls.finished, 1);
  assert.equal(calls.progress, 1, 'finishing repeats no progress call');
});

test('bytes_* and chunks_* count what was sent and acknowledged on the current connection', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(20));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  ws.ack(6); // one whole message and half of the next
  await settle();
  assert.equal(uploader.bytes_total, 20);
  assert.equal(uploader.bytes_acked, 6);
  assert.equal(uploader.bytes_tx, 16, 'the window of 12 past offset 6 allows sending up to 18, in whole messages 16');
  assert.equal(uploader.bytes_ahead, 10);
  assert.equal(uploader.frac_complete, 0.3);
  assert.equal(uploader.chunks_tx_now, 4);
  assert.equal(uploader.chunks_acked_now, 1);
  assert.equal(uploader.chunks_ahead, 3);
});

test('start() a second time opens no second connection', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  uploader.start();
  assert.equal(world.sockets.length, 1);
});

test('a file that cannot be read ends the upload with error code 0 as it connects, before a byte is sent', async () => {
  const world = makeWorld();
  const file = new FakeFile(10);
  file.readError = new Error('NotReadableError');
  const { uploader, calls } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  await settle();
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /cannot read the file: NotReadableError/);
  assert.equal(ws.closedByClient.code, 1000);
  assert.deepEqual(ws.binaries(), []);
  assert.deepEqual(world.clock.timers, [], 'no reconnection');
});

test('a file that vanishes mid-upload ends it with onerror at the next connection, not with endless reconnecting', async () => {
  const world = makeWorld();
  const file = new FakeFile(40);
  const { uploader, calls } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  assert.equal(ws.bytesSent(), 12);
  // The browser fails to read a Blob it was sending and closes the socket as abnormal.
  file.readError = new Error('NotFoundError');
  ws.drop(1006);
  assert.equal(calls.error, 0, 'a 1006 close alone is a disconnect');
  world.clock.advance(1000);
  assert.equal(world.sockets.length, 2);
  await settle();
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /cannot read the file: NotFoundError/);
  assert.equal(world.lastSocket().closedByClient.code, 1000);
  world.clock.advance(3600_000);
  assert.equal(world.sockets.length, 2, 'no reconnection');
});

test('a file shortened on disk ends the upload as it connects', async () => {
  const world = makeWorld();
  const file = new FakeFile(10);
  file.bytesOnDisk = 6;
  const { uploader } = world.uploaderFor(file);
  uploader.start();
  await settle();
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /cannot read the file: it is shorter than when the upload began/);
});

test('a probe failing after the upload finished changes nothing', async () => {
  const world = makeWorld();
  const file = new FakeFile(4);
  let failRead = () => {};
  file.read = () => new Promise((resolve, reject) => { failRead = () => reject(new Error('gone')); });
  const { uploader, calls } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 4 });
  ws.ack(4);
  ws.state('finished');
  failRead();
  await settle();
  assert.equal(calls.finished, 1);
  assert.equal(calls.error, 0);
  assert.equal(uploader.error_code, null);
});

test('a welcome with a chunk size or window of 0 ends the upload rather than stalling', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(10));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 0, window: 16 });
  assert.equal(uploader.error_code, 0);
  assert.equal(uploader.state_msg, 'error');
});

test('Uploader rejects a missing ticket or something that is not a file', () => {
  const world = makeWorld();
  assert.throws(() => world.uploaderFor(new FakeFile(1), ''), TypeError);
  assert.throws(() => world.uploaderFor({ name: 'x' }), TypeError);
});
