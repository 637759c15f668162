import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FakeFile, makeWorld, settle } from './fakes.js';

test('the backend result from state finished is on uploader.result before onfinished is called', async () => {
  const world = makeWorld();
  const { uploader } = world.uploaderFor(new FakeFile(4));
  let seen = 'not called';
  uploader.onfinished = (u) => { seen = u.result; };
  assert.equal(uploader.result, null);
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 4 });
  await settle();
  ws.ack(4);
  ws.state('stored');
  assert.equal(uploader.result, null);
  ws.receive({ type: 'state', state: 'finished', result: { url: '/photos/42' } });
  assert.deepEqual(seen, { url: '/photos/42' });
  assert.deepEqual(uploader.result, { url: '/photos/42' });
});

test('a finished without result leaves result null', async () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(0));
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({});
  ws.state('finished');
  assert.equal(calls.finished, 1);
  assert.equal(uploader.result, null);
});

test('error 4 on a finished ticket brings the result too (the news was lost, e.g. over a reload)', () => {
  const world = makeWorld();
  const { uploader, calls } = world.uploaderFor(new FakeFile(10));
  let seen = 'not called';
  uploader.onfinished = (u) => { seen = u.result; };
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.receive({ type: 'error', code: 4, message: 'ticket closed', state: 'finished', result: ['any', 'json'] });
  assert.deepEqual(seen, ['any', 'json']);
  assert.equal(uploader.finished, true);
  assert.equal(calls.error, 0);
  assert.equal(uploader.error_code, null);
});
