import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UploadError, upload } from '../src/upload_promise.js';
import { FakeFile, makeWorld, settle } from './fakes.js';

function options(world, extra = {}) {
  return { url: 'ws://test/upload_ws', environment: world.environment, ...extra };
}

test('upload() resolves with the uploader once finished, calling onprogress on the way', async () => {
  const world = makeWorld();
  const progress = [];
  const done = upload('T1', new FakeFile(8), options(world, { onprogress: (uploader) => progress.push(uploader.bytes_acked) }));
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  await settle();
  ws.ack(8);
  ws.state('stored');
  ws.state('finished');
  const uploader = await done;
  assert.equal(uploader.finished, true);
  assert.deepEqual(progress, [0, 8]);
});

test('upload() rejects with an UploadError carrying the code and message when the upload fails', async () => {
  const world = makeWorld();
  const done = upload('T1', new FakeFile(8), options(world));
  const ws = world.lastSocket();
  ws.open();
  ws.error(5, 'the file is larger than 4 bytes');
  await assert.rejects(done, (error) => {
    assert.ok(error instanceof UploadError);
    assert.equal(error.name, 'UploadError');
    assert.equal(error.code, 5);
    assert.equal(error.message, 'the file is larger than 4 bytes');
    assert.equal(error.uploader.error_code, 5);
    return true;
  });
});

test('aborting the signal cancels the upload on the server and rejects with an AbortError once confirmed', async () => {
  const world = makeWorld();
  const controller = new AbortController();
  const done = upload('T1', new FakeFile(8), options(world, { signal: controller.signal }));
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  controller.abort('user left');
  assert.deepEqual(ws.texts()[1], { type: 'cancel', reason: 'user left' });
  ws.receive({ type: 'cancelled', by: 'frontend', reason: 'user left' });
  await assert.rejects(done, { name: 'AbortError', code: null, message: 'upload cancelled: user left' });
});

test('a signal aborted before the call still sends the cancel to the server', async () => {
  const world = makeWorld();
  const done = upload('T1', new FakeFile(8), options(world, { signal: AbortSignal.abort() }));
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 8 });
  assert.deepEqual(ws.textTypes(), ['hello', 'cancel']);
  ws.receive({ type: 'cancelled', by: 'frontend' });
  await assert.rejects(done, { name: 'AbortError' });
});

test('a cancel by the backend rejects with an AbortError', async () => {
  const world = makeWorld();
  const done = upload('T1', new FakeFile(8), options(world));
  const ws = world.lastSocket();
  ws.open();
  ws.receive({ type: 'cancelled', by: 'backend', reason: 'quota' });
  await assert.rejects(done, { name: 'AbortError', message: 'upload cancelled: quota' });
});

test('upload() with a bad argument rejects instead of throwing', async () => {
  const world = makeWorld();
  await assert.rejects(upload('', new FakeFile(8), options(world)), TypeError);
});
