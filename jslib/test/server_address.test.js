import assert from 'node:assert/strict';
import { test } from 'node:test';

import { set_server_hostname, socketUrlFor, uploadSocketUrl } from '../src/server_address.js';

const httpPage = { host: 'app.example.com', protocol: 'http:' };
const httpsPage = { host: 'app.example.com', protocol: 'https:' };

test('by default uploads go to the host the library was loaded from, over wss when it came over https', () => {
  const url = socketUrlFor({ configuredHost: null, loaderUrl: 'https://uploads.example.com:8443/incoming/0.1/frontend/incoming.js', page: httpPage });
  assert.equal(url, 'wss://uploads.example.com:8443/incoming/0.1/frontend/upload_ws');
});

test('a library loaded over plain http from a plain http page uses ws', () => {
  const url = socketUrlFor({ configuredHost: null, loaderUrl: 'http://127.0.0.1:4000/incoming/0.1/frontend/incoming.js', page: httpPage });
  assert.equal(url, 'ws://127.0.0.1:4000/incoming/0.1/frontend/upload_ws');
});

test('a configured host wins over the library origin; an https page means wss', () => {
  assert.equal(
    socketUrlFor({ configuredHost: 'uploads.example.com', loaderUrl: 'http://cdn.example.com/incoming.js', page: httpsPage }),
    'wss://uploads.example.com/incoming/0.1/frontend/upload_ws',
  );
  assert.equal(
    socketUrlFor({ configuredHost: '127.0.0.1:4000', loaderUrl: null, page: httpPage }),
    'ws://127.0.0.1:4000/incoming/0.1/frontend/upload_ws',
  );
});

test("without a usable library URL (inlined, file:, missing) the page's host is used", () => {
  for (const loaderUrl of [null, 'file:///home/me/incoming.js', 'not a url']) {
    assert.equal(socketUrlFor({ configuredHost: null, loaderUrl, page: httpsPage }), 'wss://app.example.com/incoming/0.1/frontend/upload_ws');
  }
});

test('with no host anywhere it says to call set_server_hostname', () => {
  assert.throws(() => socketUrlFor({ configuredHost: null, loaderUrl: null, page: undefined }), /set_server_hostname/);
});

test('set_server_hostname sets the host of every later upload, and refuses a non-string', () => {
  set_server_hostname('uploads.example.com:4000');
  assert.equal(uploadSocketUrl(), 'ws://uploads.example.com:4000/incoming/0.1/frontend/upload_ws');
  assert.throws(() => set_server_hostname(''), TypeError);
  assert.throws(() => set_server_hostname(/** @type {any} */ (undefined)), TypeError);
});
