import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FIRST_REQUEST_BYTES, MAX_REQUEST_BYTES, POLL_FIRST_MS, requestBytes } from '../src/http_upload.js';
import { DIGEST_A, FakeFile, FakeHasher, makeWorld, memoryResumeStore, settle } from './fakes.js';

/**
 * A fetch whose server side the test plays: every request waits until the test answers it
 * (`answer`) or fails it at the network level (`fail`); aborting its signal rejects it.
 */
function fakeFetch() {
  /** @type {{method: string, url: string, headers: Record<string, string>, body: any, settle: (r: any) => void, fail: (e: Error) => void, aborted: boolean}[]} */
  const requests = [];
  const fetch = (url, init) => new Promise((resolve, reject) => {
    const request = { method: init.method, url, headers: init.headers, body: init.body, settle: resolve, fail: reject, aborted: false };
    init.signal?.addEventListener('abort', () => {
      request.aborted = true;
      reject(new DOMException('aborted', 'AbortError'));
    });
    requests.push(request);
  });
  const last = () => requests[requests.length - 1];
  /** Answers the latest request. */
  async function answer(status, headers = {}, text = '') {
    last().settle(new Response(status === 204 || last().method === 'HEAD' ? null : text, { status, headers }));
    await settle();
  }
  async function fail() {
    last().fail(new TypeError('Failed to fetch'));
    await settle();
  }
  return { fetch, requests, last, answer, fail };
}

function httpWorld(options = {}, worldOptions = {}) {
  const world = makeWorld(worldOptions);
  const net = fakeFetch();
  world.environment.fetch = net.fetch;
  const handle = world.uploaderFor(new FakeFile(options.size ?? 10 * 1024 * 1024), 'T1', { transport: 'http', ...options });
  return { world, net, ...handle };
}

const TUS = 'http://test/incoming/0.1/tus/';

test('create, then PATCHes of Blob slices at the acknowledged offsets; progress from Upload-Offset', async () => {
  const { net, uploader } = httpWorld({ integrity: false, size: 1024 * 1024 });
  uploader.start();
  const create = net.last();
  assert.equal(create.method, 'POST');
  assert.equal(create.url, TUS);
  assert.equal(create.headers['Upload-Length'], String(1024 * 1024));
  assert.match(create.headers['Upload-Metadata'], /^ticket VDE=,filename ZmFrZS5iaW4=$/);
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading', Location: '/incoming/0.1/tus/T1' });
  assert.equal(uploader.transport, 'http');
  let expected = 0;
  while (net.last().method === 'PATCH' && uploader.bytes_acked < 1024 * 1024) {
    const patch = net.last();
    assert.equal(patch.url, `${TUS}T1`);
    assert.equal(patch.headers['Upload-Offset'], String(expected));
    assert.equal(patch.body.start, expected); // a slice of the file, never its bytes
    expected = patch.body.end;
    assert.equal(uploader.bytes_tx, expected);
    await net.answer(204, { 'Upload-Offset': String(expected) });
    assert.equal(uploader.bytes_acked, expected);
  }
  assert.equal(uploader.bytes_acked, 1024 * 1024);
  assert.ok(net.requests.filter((r) => r.method === 'PATCH').length >= 2);
  assert.equal(net.last().method, 'PATCH', 'no HEAD before the poll is due');
});

test('after a failed request it waits, asks HEAD and continues at its offset', async () => {
  const { world, net, uploader } = httpWorld({ integrity: false });
  uploader.start();
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  await net.fail();
  assert.equal(uploader.state_msg, 'reconnecting in 1 s');
  world.clock.advance(1000);
  assert.equal(net.last().method, 'HEAD');
  await net.answer(200, { 'Upload-Offset': '100000', 'Incoming-State': 'uploading' });
  assert.equal(net.last().method, 'PATCH');
  assert.equal(net.last().headers['Upload-Offset'], '100000');
  assert.equal(uploader.bytes_acked, 100000);
});

test('pause aborts the request under way; unpause resumes from HEAD', async () => {
  const { net, uploader } = httpWorld({ integrity: false });
  uploader.start();
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  const patch = net.last();
  uploader.pause();
  await settle();
  assert.equal(patch.aborted, true);
  assert.equal(uploader.state_msg, 'paused');
  assert.equal(net.requests.length, 2);
  uploader.pause('unpause');
  assert.equal(net.last().method, 'HEAD');
  await net.answer(200, { 'Upload-Offset': '5000', 'Incoming-State': 'uploading' });
  assert.equal(net.last().headers['Upload-Offset'], '5000');
});

test('cancel aborts the PATCH and sends DELETE with the reason; 204 is cancelled', async () => {
  const { net, uploader, calls } = httpWorld({ integrity: false });
  uploader.start();
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  const patch = net.last();
  uploader.cancel('changé');
  await settle();
  assert.equal(patch.aborted, true);
  assert.equal(net.last().method, 'DELETE');
  assert.equal(net.last().headers['Incoming-Reason'], 'chang%C3%A9');
  await net.answer(204);
  assert.equal(calls.cancelled, 1);
  assert.equal(uploader.cancel_msg, 'changé');
});

test('after the last byte: digest by an empty PATCH once known, then HEAD polls give states and the result', async () => {
  const hasher = new FakeHasher();
  const { world, net, uploader, calls } = httpWorld({ size: 1000 }, { hasher });
  uploader.start();
  assert.equal(net.last().headers['Incoming-Integrity'], 'sha256');
  assert.equal(net.last().headers['Incoming-Digest'], undefined);
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  await net.answer(204, { 'Upload-Offset': '1000' });
  assert.equal(net.requests.length, 2, 'the server waits for the digest');
  hasher.finish();
  await settle();
  const empty = net.last();
  assert.equal(empty.method, 'PATCH');
  assert.equal(empty.body.size, 0);
  assert.equal(empty.headers['Incoming-Digest'], `sha256=${DIGEST_A}`);
  await net.answer(204, { 'Upload-Offset': '1000' });
  world.clock.advance(POLL_FIRST_MS);
  assert.equal(net.last().method, 'HEAD');
  await net.answer(200, { 'Upload-Offset': '1000', 'Incoming-State': 'handing_over' });
  assert.equal(uploader.state_msg, 'handing over');
  world.clock.advance(POLL_FIRST_MS);
  await net.answer(200, { 'Upload-Offset': '1000', 'Incoming-State': 'finished', 'Incoming-Result': '{"url":"/p/1"}' });
  assert.equal(calls.finished, 1);
  assert.deepEqual(uploader.result, { url: '/p/1' });
});

test('refusals carry their code: Incoming-Error 20 fails the upload; 21 is retried and shown', async () => {
  const { world, net, uploader, calls } = httpWorld({ integrity: false });
  uploader.start();
  await net.answer(201, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  await net.answer(507, { 'Incoming-Error': '21' }, 'disk full');
  assert.equal(uploader.error_code, 21);
  assert.equal(calls.error, 0);
  world.clock.advance(1000);
  await net.answer(200, { 'Upload-Offset': '0', 'Incoming-State': 'uploading' });
  await net.answer(410, { 'Incoming-Error': '20', 'Incoming-State': 'cancelled' }, 'damaged');
  assert.equal(calls.error, 1);
  assert.deepEqual([uploader.error_code, uploader.error_msg], [20, 'damaged']);
});

test('a resumed upload is remembered for findResumable() on the HTTP path too', async () => {
  const { store, storage } = memoryResumeStore();
  const { net, uploader } = httpWorld({ integrity: false }, { store });
  uploader.start();
  await net.answer(201, { 'Upload-Offset': '4096', 'Incoming-State': 'uploading' });
  await settle();
  const [record] = storage.map.values();
  assert.deepEqual([record.ticket, record.bytes_acked], ['T1', 4096]);
});

test("'auto' falls back from a WebSocket that never opens to HTTP, and from blocked HTTP to the WebSocket", async () => {
  const toHttp = makeWorld();
  const net = fakeFetch();
  toHttp.environment.fetch = net.fetch;
  const first = toHttp.uploaderFor(new FakeFile(100), 'T1', { integrity: false }).uploader;
  first.start();
  assert.equal(first.transport, 'websocket');
  toHttp.lastSocket().drop(1006);
  assert.equal(first.transport, 'http');
  assert.equal(net.last().method, 'POST');

  const toSocket = makeWorld();
  const blocked = fakeFetch();
  Object.assign(toSocket.environment, { fetch: blocked.fetch, preferHttp: true });
  const second = toSocket.uploaderFor(new FakeFile(100), 'T2', { integrity: false }).uploader;
  second.start();
  assert.equal(second.transport, 'http');
  await blocked.fail();
  assert.equal(second.transport, 'websocket');
  assert.equal(toSocket.sockets.length, 1);

  const forced = makeWorld();
  forced.environment.fetch = fakeFetch().fetch;
  const third = forced.uploaderFor(new FakeFile(100), 'T3', { transport: 'websocket' }).uploader;
  third.start();
  forced.lastSocket().drop(1006);
  assert.equal(third.transport, 'websocket', 'a forced transport never falls back');
});

test('PATCH sizes: fourfold from 256 KiB until the rate is known, then half a second of it, within bounds', () => {
  const MiB = 1024 * 1024;
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => requestBytes(0, n)), [0.25, 1, 4, 16, 64].map((m) => m * MiB));
  assert.equal(requestBytes(0, 40), MAX_REQUEST_BYTES, 'never more than the largest body');
  assert.equal(requestBytes(100e6, 3), 50e6);
  assert.equal(requestBytes(1e9, 3), MAX_REQUEST_BYTES);
  assert.equal(requestBytes(100e3, 9), FIRST_REQUEST_BYTES, 'a slow link still sends 256 KiB');
});
