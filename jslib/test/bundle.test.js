import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

import { BUNDLES, buildBundles, shippedDir } from '../build.mjs';
import { FakeSocket } from './fakes.js';

const PUBLIC_NAMES = ['UploadError', 'Uploader', 'findResumable', 'set_server_hostname', 'upload'];

/** Builds the bundles once into a temporary directory for all tests here. */
const built = (async () => {
  const dir = await mkdtemp(join(tmpdir(), 'incoming-jslib-'));
  await buildBundles(dir);
  return dir;
})();

test.after(async () => rm(await built, { recursive: true, force: true }));

test('the shipped bundles in incoming/static are byte for byte what the sources build', async () => {
  const dir = await built;
  for (const name of BUNDLES) {
    const fresh = await readFile(join(dir, name));
    const shipped = await readFile(join(shippedDir, name));
    assert.ok(fresh.equals(shipped), `incoming/static/${name} is stale: run npm run build in jslib/`);
  }
});

test('two builds give the same bytes', async () => {
  const dir = await built;
  const again = await mkdtemp(join(tmpdir(), 'incoming-jslib-'));
  try {
    await buildBundles(again);
    for (const name of [...BUNDLES, 'incoming.d.ts']) {
      assert.ok((await readFile(join(dir, name))).equals(await readFile(join(again, name))), name);
    }
  } finally {
    await rm(again, { recursive: true, force: true });
  }
});

test('the classic script defines the global incoming and by default uploads to the server it was loaded from', async () => {
  const code = await readFile(join(await built, 'incoming.js'), 'utf8');
  const sockets = [];
  const page = vm.createContext({
    document: { currentScript: { src: 'https://uploads.example.com/incoming/0.1/frontend/incoming.js' } },
    location: { host: 'app.example.com', protocol: 'http:' },
    WebSocket: class extends FakeSocket {
      constructor(url) {
        super(url);
        sockets.push(this);
      }
    },
    URL,
    File,
    EventTarget,
    Event,
    performance,
    setTimeout,
    clearTimeout,
  });
  vm.runInContext(code, page);
  const incoming = vm.runInContext('incoming', page);
  assert.deepEqual(Object.keys(incoming).sort(), PUBLIC_NAMES);
  vm.runInContext('incoming.Uploader("T1", new File(["x"], "a.txt")).start()', page);
  assert.equal(sockets[0].url, 'wss://uploads.example.com/incoming/0.1/frontend/upload_ws');
});

test('the ES module exports the same names, each declared in incoming.d.ts', async () => {
  const dir = await built;
  const module = await import(pathToFileURL(join(dir, 'incoming.mjs')).href);
  assert.deepEqual(Object.keys(module).sort(), PUBLIC_NAMES);
  const declarations = await readFile(join(dir, 'incoming.d.ts'), 'utf8');
  for (const name of PUBLIC_NAMES) {
    assert.match(declarations, new RegExp(`^export (?:declare )?(?:function|const|class) ${name}\\b`, 'm'), name);
  }
});
