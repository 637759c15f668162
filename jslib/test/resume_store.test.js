import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ResumeStore, fileFingerprint, findResumable } from '../src/resume_store.js';
import { FakeFile, makeWorld, memoryResumeStore, settle } from './fakes.js';

async function started({ file = new FakeFile(40, 'movie.mov', 123) } = {}) {
  const { store, storage } = memoryResumeStore();
  const world = makeWorld({ store });
  const handle = world.uploaderFor(file, 'ticket-7');
  handle.uploader.start();
  await settle();
  return { store, storage, world, file, ...handle };
}

test('a started upload is remembered by file name, size and modification time', async () => {
  const { store, file } = await started();
  assert.deepEqual(await findResumable(file, { store }), { ticket: 'ticket-7', bytes_acked: 0, url: 'ws://test/upload_ws' });
  assert.equal(await findResumable(new FakeFile(40, 'movie.mov', 124), { store }), null, 'another modification time');
  assert.equal(await findResumable(new FakeFile(41, 'movie.mov', 123), { store }), null, 'another size');
  assert.equal(await findResumable(new FakeFile(40, 'other.mov', 123), { store }), null, 'another name');
});

test('the acknowledged offset is written at the welcome and then at most once a second', async () => {
  const { store, storage, world, file } = await started();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ offset: 4, chunkSize: 4, window: 12 });
  await settle();
  assert.equal((await findResumable(file, { store })).bytes_acked, 4);
  const writes = storage.log.length;
  world.clock.advance(400);
  ws.ack(8);
  world.clock.advance(400);
  ws.ack(12);
  await settle();
  assert.equal(storage.log.length, writes, 'not within the second');
  assert.equal((await findResumable(file, { store })).bytes_acked, 4);
  world.clock.advance(300);
  ws.ack(16);
  await settle();
  assert.equal(storage.log.length, writes + 1);
  assert.equal((await findResumable(file, { store })).bytes_acked, 16);
});

for (const [outcome, end] of [
  ['finished', (ws) => { ws.ack(40); ws.state('finished'); }],
  ['cancelled', (ws) => ws.receive({ type: 'cancelled', by: 'backend', reason: 'no' })],
  ['failed', (ws) => ws.error(2, 'unknown ticket')],
]) {
  test(`an upload that ${outcome} is forgotten`, async () => {
    const { store, world, file } = await started();
    const ws = world.lastSocket();
    ws.open();
    ws.welcome({ chunkSize: 4, window: 12 });
    end(ws);
    await settle();
    assert.equal(await findResumable(file, { store }), null);
  });
}

test('a retried error or a disconnect forgets nothing', async () => {
  const { store, world, file } = await started();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  ws.error(13, 'restarting');
  await settle();
  assert.equal((await findResumable(file, { store })).ticket, 'ticket-7');
});

test('an uploader forgets only its own ticket: a newer upload of the same file stays remembered', async () => {
  const { store } = memoryResumeStore();
  const world = makeWorld({ store });
  const file = new FakeFile(40, 'a.bin', 1);
  const old = world.uploaderFor(file, 'old');
  old.uploader.start();
  const fresh = world.uploaderFor(file, 'new');
  fresh.uploader.start();
  world.sockets[0].open();
  world.sockets[0].error(2, 'unknown ticket');
  await settle();
  assert.equal((await findResumable(file, { store })).ticket, 'new');
});

test('{remember: false}, and a Blob without name and time, are not remembered', async () => {
  const { store, storage } = memoryResumeStore();
  const world = makeWorld({ store });
  world.uploaderFor(new FakeFile(40, 'x.bin', 5), 'T', { remember: false }).uploader.start();
  world.uploaderFor(new Blob(['abc']), 'U').uploader.start();
  await settle();
  assert.deepEqual(storage.log, []);
  assert.equal(fileFingerprint(new Blob(['abc'])), null);
});

test('a storage that fails is only a missing convenience: nothing is found and nothing throws', async () => {
  const broken = new ResumeStore(async () => { throw new Error('no IndexedDB here'); });
  const world = makeWorld({ store: broken });
  const file = new FakeFile(4, 'x.bin', 5);
  const { uploader } = world.uploaderFor(file);
  uploader.start();
  await settle();
  assert.equal(await findResumable(file, { store: broken }), null);
  const throwing = new ResumeStore(async () => ({
    get: async () => { throw new Error('read'); },
    set: async () => { throw new Error('quota'); },
    delete: async () => { throw new Error('gone'); },
  }));
  await throwing.remember(file, { ticket: 'T', url: null, bytes_acked: 0 }, 0);
  await throwing.forget(file, 'T');
  assert.equal(await throwing.find(file), null);
});
