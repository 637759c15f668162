import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';

import { ONE_SHOT_MAX_BYTES, sha256OfBlob, sha256OfFile } from '../src/sha256_engine.js';
import { DIGEST_A, DIGEST_B, FakeFile, FakeHasher, makeWorld, settle } from './fakes.js';

function hashedUpload({ size = 40 } = {}) {
  const hasher = new FakeHasher();
  const world = makeWorld({ hasher });
  const handle = world.uploaderFor(new FakeFile(size));
  handle.uploader.start();
  return { hasher, world, ...handle };
}

test('every hello promises integrity sha256; the digest follows the welcome as soon as it is known', async () => {
  const { hasher, world, uploader } = hashedUpload();
  assert.equal(hasher.jobs.length, 1, 'hashing starts with the upload');
  const ws = world.lastSocket();
  ws.open();
  assert.deepEqual(ws.texts()[0], { type: 'hello', ticket: 'T1', size: 40, filename: 'fake.bin', integrity: 'sha256' });
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  assert.deepEqual(ws.textTypes(), ['hello'], 'no digest before it is known');
  hasher.finish(DIGEST_A);
  await settle();
  assert.deepEqual(ws.texts().at(-1), { type: 'digest', sha256: DIGEST_A });
  assert.equal(uploader.sha256, DIGEST_A);
});

test('a digest known before the welcome goes in the hello and right after the welcome, before any byte', async () => {
  const { hasher, world } = hashedUpload();
  hasher.finish(DIGEST_A);
  await settle();
  const ws = world.lastSocket();
  ws.open();
  assert.equal(ws.texts()[0].sha256, DIGEST_A);
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  assert.equal(ws.sent[1], JSON.stringify({ type: 'digest', sha256: DIGEST_A }), 'the digest is the first thing after the welcome');
  assert.ok(ws.binaries().length > 0);
});

test('the digest is sent again on every later connection, and the file is hashed only once', async () => {
  const { hasher, world } = hashedUpload();
  const first = world.lastSocket();
  first.open();
  first.welcome({ chunkSize: 4, window: 12 });
  hasher.finish(DIGEST_A);
  await settle();
  first.drop(1006);
  world.clock.advance(1000);
  const second = world.lastSocket();
  second.open();
  second.welcome({ offset: 8, chunkSize: 4, window: 12 });
  await settle();
  assert.deepEqual(second.texts().filter((m) => m.type === 'digest'), [{ type: 'digest', sha256: DIGEST_A }]);
  assert.equal(hasher.jobs.length, 1);
});

test('a digest that becomes known while disconnected is sent after the next welcome', async () => {
  const { hasher, world } = hashedUpload();
  const first = world.lastSocket();
  first.open();
  first.drop(1006);
  hasher.finish(DIGEST_A);
  await settle();
  assert.deepEqual(first.textTypes(), ['hello']);
  world.clock.advance(1000);
  const second = world.lastSocket();
  second.open();
  second.welcome({ chunkSize: 4, window: 12 });
  assert.deepEqual(second.texts().filter((m) => m.type === 'digest').length, 1);
});

test('error 20 digest_mismatch ends the upload for good with onerror and code 20', async () => {
  const { hasher, world, uploader, calls } = hashedUpload();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  hasher.finish(DIGEST_A);
  await settle();
  ws.error(20, 'the file was damaged on the way');
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 20);
  assert.equal(uploader.error_msg, 'the file was damaged on the way');
  world.clock.advance(3600_000);
  assert.equal(world.sockets.length, 1, 'never retried');
});

test('{integrity: false}: no hashing, no integrity in hello, no digest', async () => {
  const hasher = new FakeHasher();
  const world = makeWorld({ hasher });
  const { uploader } = world.uploaderFor(new FakeFile(40), 'T1', { integrity: false });
  uploader.start();
  const ws = world.lastSocket();
  ws.open();
  ws.welcome({ chunkSize: 4, window: 12 });
  await settle();
  assert.equal(hasher.jobs.length, 0);
  assert.deepEqual(ws.texts()[0], { type: 'hello', ticket: 'T1', size: 40, filename: 'fake.bin' });
  assert.equal(uploader.sha256, null);
});

test('a file that cannot be hashed ends the upload with code 0 (the server would wait for the digest for ever)', async () => {
  const { hasher, world, uploader, calls } = hashedUpload();
  world.lastSocket().open();
  hasher.jobs[0].reject(new Error('NotReadableError'));
  await settle();
  assert.equal(calls.error, 1);
  assert.equal(uploader.error_code, 0);
  assert.match(uploader.error_msg, /cannot read the file: NotReadableError/);
});

test('error 4 finished with the same sha256 finishes; with another one it is error 20, decided once our hash is known', async () => {
  for (const [stored, expectFinished] of [[DIGEST_A, true], [DIGEST_B, false]]) {
    const { hasher, world, uploader, calls } = hashedUpload();
    const ws = world.lastSocket();
    ws.open();
    ws.receive({ type: 'error', code: 4, message: 'ticket closed', state: 'finished', sha256: stored, result: { url: '/x' } });
    ws.drop(4004);
    assert.equal(calls.finished + calls.error, 0, 'waits for its own digest');
    hasher.finish(DIGEST_A);
    await settle();
    assert.equal(calls.finished, expectFinished ? 1 : 0);
    assert.equal(calls.error, expectFinished ? 0 : 1);
    assert.equal(uploader.error_code, expectFinished ? null : 20);
    assert.equal(world.sockets.length, 1, 'and connects no more');
  }
});

test('error 4 finished with a sha256 and our digest already known decides at once', () => {
  const hasher = new FakeHasher();
  const world = makeWorld({ hasher });
  return (async () => {
    const { uploader, calls } = world.uploaderFor(new FakeFile(40));
    uploader.start();
    hasher.finish(DIGEST_A);
    await settle();
    const ws = world.lastSocket();
    ws.open();
    ws.receive({ type: 'error', code: 4, message: 'closed', state: 'finished', sha256: DIGEST_B });
    assert.equal(calls.error, 1);
    assert.equal(uploader.error_code, 20);
    assert.equal(calls.finished, 0);
  })();
});

test('sha256OfBlob hashes a Blob as a stream or in slices to the same digest as a one-shot SHA-256', async () => {
  const bytes = new Uint8Array(9 * 1024 * 1024 + 5);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff;
  const expected = createHash('sha256').update(bytes).digest('hex');
  for (const asStream of [true, false]) {
    let pauses = 0;
    assert.equal(await sha256OfBlob(new Blob([bytes]), async () => { pauses++; }, asStream), expected);
    assert.ok(pauses >= 1, 'the page gets a turn after 4 MiB hashed');
    assert.equal(await sha256OfBlob(new Blob([]), undefined, asStream), createHash('sha256').digest('hex'));
  }
  let slices = 0;
  await sha256OfBlob(new Blob([bytes]), async () => { slices++; }, false);
  assert.equal(slices, 2, 'in slices: a turn after each whole 4 MiB slice');
});

test('sha256OfFile: one WebCrypto call up to ONE_SHOT_MAX_BYTES, slices above, the same digests', async () => {
  const bytes = new Uint8Array(ONE_SHOT_MAX_BYTES + 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 13)) & 0xff;
  for (const part of [bytes.subarray(0, 1000), bytes.subarray(0, ONE_SHOT_MAX_BYTES), bytes]) {
    let pauses = 0;
    const hex = await sha256OfFile(new Blob([part]), async () => { pauses++; });
    assert.equal(hex, createHash('sha256').update(part).digest('hex'));
    assert.equal(pauses > 0, part.length > ONE_SHOT_MAX_BYTES, 'sliced (with pauses) only above the limit');
  }
  assert.equal(await sha256OfFile(new Blob([])), createHash('sha256').digest('hex'));
});
