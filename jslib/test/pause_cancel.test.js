import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FakeFile, makeWorld, settle } from './fakes.js';

/** An uploader of a 40-byte file, connected, with the first window (12 bytes) sent. */
async function connectedUpload() {
  const world = makeWorld();
  const handle = world.uploaderFor(new FakeFile(40));
  handle.uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  return { world, ws, ...handle };
}

test('pause sends pause and stops sending even as acks open the window; unpause sends unpause and goes on', async () => {
  const { ws, uploader } = await connectedUpload();
  uploader.pause('pause');
  assert.equal(uploader.paused, true);
  assert.equal(uploader.state_msg, 'paused');
  ws.state('paused');
  ws.ack(12);
  await settle();
  assert.equal(ws.bytesSent(), 12);
  uploader.pause('unpause');
  assert.equal(uploader.paused, false);
  await settle();
  assert.equal(ws.bytesSent(), 24);
  assert.deepEqual(ws.textTypes(), ['hello', 'pause', 'unpause']);
  assert.equal(uploader.state_msg, 'uploading');
});

test("pause('toggle') switches between paused and not, and pause() without a mode pauses", async () => {
  const { ws, uploader } = await connectedUpload();
  uploader.pause('toggle');
  assert.equal(uploader.paused, true);
  uploader.pause('toggle');
  assert.equal(uploader.paused, false);
  uploader.pause();
  uploader.pause(); // already paused: nothing more is sent
  assert.deepEqual(ws.textTypes(), ['hello', 'pause', 'unpause', 'pause']);
  assert.throws(() => uploader.pause('stop'), TypeError);
});

test('pausing while waiting to reconnect holds the reconnection until unpaused, which connects at once', async () => {
  const { world, ws, uploader } = await connectedUpload();
  ws.drop(1006);
  uploader.pause('pause');
  assert.equal(uploader.state_msg, 'paused');
  world.clock.advance(3600_000);
  assert.equal(world.sockets.length, 1);
  uploader.pause('unpause');
  assert.equal(world.sockets.length, 2);
  assert.equal(uploader.state_msg, 'connecting');
});

test('a paused upload whose connection drops stays disconnected until unpaused', async () => {
  const { world, ws, uploader } = await connectedUpload();
  uploader.pause('pause');
  ws.drop(1006);
  world.clock.advance(3600_000);
  assert.equal(world.sockets.length, 1);
  assert.equal(uploader.state_msg, 'paused');
  uploader.pause('unpause');
  const again = world.lastSocket();
  again.open();
  again.welcome({ offset: 8, chunkSize: 4, window: 12, state: 'paused' });
  await settle();
  assert.deepEqual(again.textTypes(), ['hello', 'unpause'], 'a ticket left paused is told that bytes follow');
  assert.equal(again.bytesSent(), 12);
});

test('paused before start(), it does not connect until unpaused', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.pause('pause');
  uploader.start();
  assert.equal(world.sockets.length, 0);
  uploader.pause('unpause');
  assert.equal(world.sockets.length, 1);
});

test('paused while the socket is connecting, it tells the server on welcome and sends no bytes', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.start();
  uploader.pause('pause');
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  assert.deepEqual(ws.textTypes(), ['hello', 'pause']);
  assert.equal(ws.bytesSent(), 0);
});

test('can_pause turns false once every byte is acknowledged, and pause() then does nothing', async () => {
  const { ws, uploader } = await connectedUpload();
  assert.equal(uploader.can_pause, true);
  for (const offset of [12, 24, 36, 40]) {
    ws.ack(offset);
    await settle();
  }
  assert.equal(uploader.bytes_acked, 40);
  assert.equal(uploader.can_pause, false);
  uploader.pause('pause');
  assert.equal(uploader.paused, false);
  assert.deepEqual(ws.textTypes(), ['hello']);
});

test('cancel sends cancel with the reason and stops sending; cancelling until the server confirms, then oncancelled', async () => {
  const { ws, uploader, calls } = await connectedUpload();
  uploader.cancel('user pressed cancel');
  assert.deepEqual(ws.texts()[1], { type: 'cancel', reason: 'user pressed cancel' });
  assert.equal(uploader.cancelling, true);
  assert.equal(uploader.can_cancel, false);
  assert.equal(uploader.can_pause, false);
  assert.equal(uploader.state_msg, 'cancelling');
  ws.ack(12);
  await settle();
  assert.equal(ws.bytesSent(), 12, 'nothing more is sent');
  assert.equal(calls.cancelled, 0);
  ws.receive({ type: 'cancelled', by: 'frontend', reason: 'user pressed cancel' });
  ws.drop(1000);
  assert.equal(calls.cancelled, 1);
  assert.equal(uploader.cancelled, true);
  assert.equal(uploader.cancelling, false);
  assert.equal(uploader.cancel_msg, 'user pressed cancel');
  assert.equal(uploader.state_msg, 'cancelled');
});

test('cancel without a reason sends a cancel message without one', async () => {
  const { ws, uploader } = await connectedUpload();
  uploader.cancel();
  assert.deepEqual(ws.texts()[1], { type: 'cancel' });
});

test('cancel while waiting to reconnect connects at once and sends hello, then cancel once welcomed', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  ws.drop(1006);
  uploader.cancel('changed my mind');
  assert.equal(world.sockets.length, 2);
  const again = world.lastSocket();
  again.open();
  again.welcome({ offset: 4, chunkSize: 4, window: 12 });
  await settle();
  assert.deepEqual(again.texts().slice(1), [{ type: 'cancel', reason: 'changed my mind' }]);
  assert.equal(again.bytesSent(), 0);
  again.receive({ type: 'cancelled', by: 'frontend', reason: 'changed my mind' });
  assert.equal(calls.cancelled, 1);
});

test('cancel of a paused, disconnected upload still reaches the server', async () => {
  const { world, ws, uploader } = await connectedUpload();
  uploader.pause('pause');
  ws.drop(1006);
  uploader.cancel('bye');
  const again = world.lastSocket();
  assert.notEqual(again, ws);
  again.open();
  again.welcome({ offset: 4, chunkSize: 4, window: 12, state: 'paused' });
  assert.deepEqual(again.textTypes(), ['hello', 'cancel']);
});

test('cancel before start() connects and cancels', () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(40));
  uploader.cancel('never mind');
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  assert.deepEqual(ws.textTypes(), ['hello', 'cancel']);
  uploader.start();
  assert.equal(world.sockets.length, 1, 'start() after cancel() changes nothing');
});

test('a cancel whose connection drops before the confirmation is sent again on the next connection', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  uploader.cancel('bye');
  ws.drop(1006);
  assert.equal(uploader.cancelling, true);
  world.clock.advance(1000);
  const again = world.lastSocket();
  again.open();
  again.welcome({ offset: 4, chunkSize: 4, window: 12 });
  assert.deepEqual(again.textTypes(), ['hello', 'cancel']);
  again.receive({ type: 'cancelled', by: 'frontend' });
  assert.equal(calls.cancelled, 1);
  assert.equal(uploader.cancel_msg, 'bye', 'our own reason stays when the server gives none');
});

test('a ticket already cancelled (error 4, state cancelled) confirms a pending cancel', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  uploader.cancel('bye');
  ws.drop(1006);
  world.clock.advance(1000);
  const again = world.lastSocket();
  again.open();
  again.error(4, 'ticket is cancelled', 'cancelled');
  assert.equal(calls.cancelled, 1);
  assert.equal(calls.error, 0);
});

test('a ticket the backend cancelled while we were disconnected ends with oncancelled, not onerror', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  ws.drop(1006);
  world.clock.advance(1000);
  const again = world.lastSocket();
  again.open();
  again.error(4, 'ticket is cancelled (cancelled by the backend)', 'cancelled');
  assert.equal(calls.cancelled, 1);
  assert.equal(calls.error, 0);
  assert.equal(uploader.cancel_msg, 'ticket is cancelled (cancelled by the backend)');
});

test('the backend can cancel: a cancelled message by "backend" ends the upload with oncancelled and its reason', async () => {
  const { world, ws, uploader, calls } = await connectedUpload();
  ws.receive({ type: 'cancelled', by: 'backend', reason: 'quota exceeded' });
  ws.drop(1000);
  assert.equal(calls.cancelled, 1);
  assert.equal(uploader.cancelled, true);
  assert.equal(uploader.cancel_msg, 'quota exceeded');
  world.clock.advance(60_000);
  assert.equal(world.sockets.length, 1);
});

test('once the file is stored cancel() is refused and sends nothing', async () => {
  const { ws, uploader } = await connectedUpload();
  ws.state('stored');
  assert.equal(uploader.can_cancel, false);
  uploader.cancel('too late');
  assert.equal(uploader.cancelling, false);
  assert.deepEqual(ws.textTypes(), ['hello']);
});

test('a long cancel reason is cut to the 1024 characters the server accepts', async () => {
  const { ws, uploader } = await connectedUpload();
  uploader.cancel('x'.repeat(2000));
  assert.equal(ws.texts()[1].reason.length, 1024);
});
