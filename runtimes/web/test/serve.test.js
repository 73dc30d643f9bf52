import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from '../serve.js';

let server;
let base;
before(async () => {
  const started = await startServer({ port: 0 });
  server = started.server;
  base = new URL(started.url).origin;
});
after(() => server.close());

test('serves the page and wasm with the right types and isolation headers', async () => {
  const page = await fetch(`${base}/runtimes/web/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
  const wasm = await fetch(`${base}/runtimes/web/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
});

test('refuses paths outside the repository', async () => {
  const { request } = await import('node:http');
  const status = await new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    request({ hostname, port, path: '/../../../etc/passwd' }, (res) => resolve(res.statusCode)).on('error', reject).end();
  });
  assert.equal(status, 404);
});
