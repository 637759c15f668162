import assert from 'node:assert/strict';
import { test } from 'node:test';

import { READ_AHEAD_MESSAGES } from '../src/slice_reader.js';
import { DRAIN_POLL_MS, SEND_BUFFER_LIMIT } from '../src/upload_core.js';
import { FakeFile, MiB, makeWorld, settle } from './fakes.js';

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
  assert.deepEqual(ws.binaries().map((bytes) => [...new Uint8Array(bytes)]), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
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
  assert.deepEqual(ws.binaries().map((bytes) => bytes.byteLength), [3]);
  ws.ack(3);
  await settle();
  assert.deepEqual(ws.binaries().map((bytes) => bytes.byteLength), [3, 3]);
});

test("waits while the socket's bufferedAmount is at the limit and sends again once it has drained", async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(3 * MiB));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.bufferedAmount = SEND_BUFFER_LIMIT;
  ws.welcome({ chunkSize: MiB, window: 64 * MiB });
  await settle();
  assert.equal(ws.bytesSent(), 0);
  world.clock.advance(DRAIN_POLL_MS);
  await settle();
  assert.equal(ws.bytesSent(), 0, 'still full');
  ws.bufferedAmount = 0;
  world.clock.advance(DRAIN_POLL_MS);
  await settle();
  assert.equal(ws.bytesSent(), 3 * MiB);
  assert.equal(uploader.bytes_tx, 3 * MiB);
});

test('reads the file in message-sized slices, a few ahead of the sender, never the whole file', async () => {
  const world = makeWorld();
  const file = new FakeFile(100 * MiB);
  const { uploader } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: MiB, window: 4 * MiB });
  await settle();
  assert.equal(ws.bytesSent(), 4 * MiB);
  assert.equal(file.slices.length, 4 + READ_AHEAD_MESSAGES, 'four sent, the next few read ahead, nothing more');
  for (const [start, end] of file.slices) assert.equal(end - start, MiB);
  ws.ack(2 * MiB);
  await settle();
  assert.equal(ws.bytesSent(), 6 * MiB, 'the read-ahead slices go out as soon as the window opens');
  assert.equal(file.slices.length, 6 + READ_AHEAD_MESSAGES);
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

test('a file that cannot be read ends the upload with error code 0', async () => {
  const world = makeWorld();
  const file = new FakeFile(10);
  file.slice = () => ({ arrayBuffer: async () => { throw new Error('NotReadableError'); } });
  const { uploader, calls } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 16 });
  await settle();
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /cannot read the file: NotReadableError/);
  assert.equal(ws.closedByClient.code, 1000);
  assert.deepEqual(world.clock.timers, [], 'no reconnection');
});

test('a file that shrank while being read ends the upload instead of sending short messages', async () => {
  const world = makeWorld();
  const file = new FakeFile(10);
  file.slice = (start, end) => ({ arrayBuffer: async () => new ArrayBuffer(Math.max(0, Math.min(end, 6) - start)) });
  const { uploader } = world.uploaderFor(file);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 16 });
  await settle();
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /has the file changed/);
  assert.equal(ws.bytesSent(), 4, 'only the complete first slice went out');
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
