// serve.js against hostile requests: each case starts a fresh `node serve.js --port 0` process on 127.0.0.1,
// sends the request as raw bytes (so nothing normalises the URL first), expects a 4xx, then checks that the same
// server still serves the page and printed nothing on stderr (no uncaught exception).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SERVE = fileURLToPath(new URL('../serve.js', import.meta.url));
const TIMEOUT_MS = 5000;

/** Start serve.js in a fresh process; resolve {port, stop} once it prints its URL. */
function startServe() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVE, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill(); reject(new Error(`serve.js did not start: ${out}${err}`)); }, 15_000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        port: Number(m[1]),
        alive: () => child.exitCode === null && child.signalCode === null,
        stderr: () => err,
        stop: () => new Promise((done) => { child.once('exit', done); child.kill(); }),
      });
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve.js exited ${code}: ${err}`)); });
  });
}

/** Send one raw HTTP/1.1 request line (plus headers) to 127.0.0.1:port; resolve {status, headers, body}. */
function raw(port, requestLine, extraHeaders = '') {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(TIMEOUT_MS, () => { socket.destroy(); reject(new Error(`no answer to ${requestLine} in ${TIMEOUT_MS} ms`)); });
    socket.on('data', (d) => { data += d; });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, ...body] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
      resolve({ status, head, body: body.join('\r\n\r\n') });
    });
    socket.write(`${requestLine}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${extraHeaders}\r\n`);
  });
}

/** Run one hostile request against a fresh server, then check the server survived and still serves the page. */
async function hostile(requestLine, expected, { extraHeaders = '', check } = {}) {
  const server = await startServe();
  try {
    const res = await raw(server.port, requestLine, extraHeaders);
    assert.equal(res.status, expected, `${requestLine}: ${res.head}`);
    if (check) check(res);
    const page = await raw(server.port, 'GET /runtimes/web/ HTTP/1.1');
    assert.equal(page.status, 200, 'the server stopped serving the page after a hostile request');
    assert.ok(server.alive(), 'serve.js exited');
    assert.equal(server.stderr(), '', 'serve.js wrote to stderr');
  } finally {
    await server.stop();
  }
}

test('serves the page and wasm with the right types and isolation headers', async () => {
  const server = await startServe();
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const page = await fetch(`${base}/runtimes/web/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const wasm = await fetch(`${base}/runtimes/web/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const contract = await fetch(`${base}/runtimes/web/node_modules/crsae-node/src/contract.json`);
    assert.equal(contract.status, 200, 'the crsae-node dependency (a link to runtimes/node) is served');
    assert.equal(contract.headers.get('content-type'), 'application/json');
    const redirect = await fetch(`${base}/runtimes/web`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/runtimes/web/');
  } finally {
    await server.stop();
  }
});

test('a malformed percent-encoding (GET /%E0%A4%A) is a 400, not a crash', () => hostile('GET /%E0%A4%A HTTP/1.1', 400));
test('an invalid UTF-8 sequence (GET /%FF%FE) is a 400', () => hostile('GET /%FF%FE HTTP/1.1', 400));
test('a NUL byte (GET /runtimes/web/%00) is a 400', () => hostile('GET /runtimes/web/%00index.html HTTP/1.1', 400));
test('a request target that is not a path (GET runtimes/web/) is a 400', () => hostile('GET runtimes/web/ HTTP/1.1', 400));
test('path traversal with /../ is a 403', () => hostile('GET /../../../etc/passwd HTTP/1.1', 403));
test('path traversal below a served folder (/runtimes/web/../../../etc/passwd) is a 403',
  () => hostile('GET /runtimes/web/../../../etc/passwd HTTP/1.1', 403));
test('encoded path traversal (%2e%2e) is a 403', () => hostile('GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1', 403));
test('encoded separators (..%2f) are a 403', () => hostile('GET /runtimes/..%2f..%2f..%2fetc/passwd HTTP/1.1', 403));
test('leaving /export/ for the rest of the repository is a 403', () => hostile('GET /export/%2e%2e/README.md HTTP/1.1', 403));
test('a missing file is a 404', () => hostile('GET /runtimes/web/no-such-file.js HTTP/1.1', 404));
for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE']) {
  test(`${method} is a 405 with Allow: GET, HEAD`, () => hostile(`${method} /runtimes/web/ HTTP/1.1`, 405, {
    extraHeaders: 'Content-Length: 0\r\n',
    check: (res) => assert.match(res.head, /\r\nAllow: GET, HEAD/i),
  }));
}
test('a request that is not HTTP is a 400', () => hostile('NOT HTTP AT ALL', 400));
test('HEAD answers headers without a body', () => hostile('HEAD /runtimes/web/ HTTP/1.1', 200, {
  check: (res) => { assert.match(res.head, /Content-Length: \d+/i); assert.equal(res.body, ''); },
}));
