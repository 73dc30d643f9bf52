#!/usr/bin/env node
// A tiny static server for the crsae page: serves the repository root on 127.0.0.1 (the page at
// /runtimes/web/, models at /export/), with the COOP/COEP headers that let onnxruntime-web use threads.
//
//   node runtimes/web/serve.js [--port 8000] [--export DIR]     then open http://127.0.0.1:8000/runtimes/web/
//
// Hostile requests get a 4xx and the server keeps serving: 400 for a URL that is not an absolute path or does not
// decode (`/%E0%A4%A`, a NUL byte), 403 for a path that leaves the served folder (`/../`, `%2e%2e`, or a symlink
// pointing outside it), 404 for a missing file, 405 (with Allow) for methods other than GET and HEAD.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, STATUS_CODES } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.onnx': 'application/octet-stream',
  '.npy': 'application/octet-stream',
};

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

const inside = (file, base) => file === base || file.startsWith(base + sep);

/**
 * Map a request target to [base folder, file] (under exportDir for /export/..., else under root).
 * Throws HttpError 400 for a target that is not an absolute path or does not decode, 403 for one that escapes.
 */
function fileFor(target, root, exportDir) {
  const rawPath = target.split(/[?#]/)[0];
  if (!rawPath.startsWith('/')) throw new HttpError(400, 'the request target must be an absolute path such as /runtimes/web/');
  let path;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new HttpError(400, 'the URL path is not valid percent-encoded UTF-8');
  }
  if (path.includes('\0')) throw new HttpError(400, 'the URL path holds a NUL byte');
  const [base, rest] = path.startsWith('/export/') ? [exportDir, path.slice('/export/'.length)] : [root, path.slice(1)];
  const file = resolve(base, rest);
  if (!inside(file, base)) throw new HttpError(403, 'the path leaves the served folder');
  return [base, file];
}

/** Stat `file` and check that, symlinks resolved, it stays inside `base`; 404 when it does not exist. */
async function statInside(file, base) {
  let real;
  let info;
  try {
    [real, info] = [await realpath(file), await stat(file)];
  } catch {
    throw new HttpError(404, 'not found');
  }
  if (!inside(real, await realpath(base))) throw new HttpError(403, 'the path leaves the served folder');
  return info;
}

/**
 * Start the server.
 * @param {{port?: number, root?: string, exportDir?: string}} [options] port 0 picks a free one
 * @returns {Promise<{server: import('node:http').Server, url: string}>} url of the page
 */
export function startServer({ port = 8000, root = REPO, exportDir = join(REPO, 'export') } = {}) {
  root = resolve(root);
  exportDir = resolve(exportDir);
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cache-Control': 'no-store',
  };
  const fail = (res, status, detail, extra = {}) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', ...extra })
      .end(`${status} ${STATUS_CODES[status]}: ${detail}\n`);
  };
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        fail(res, 405, `${req.method} is not allowed; use GET or HEAD`, { Allow: 'GET, HEAD' });
        return;
      }
      let [base, file] = fileFor(req.url, root, exportDir);
      let info = await statInside(file, base);
      if (info.isDirectory()) {
        const path = req.url.split(/[?#]/)[0];
        if (!path.endsWith('/')) {
          res.writeHead(301, { ...headers, Location: `${path}/` }).end();
          return;
        }
        file = join(file, 'index.html');
        info = await statInside(file, base);
      }
      if (!info.isFile()) throw new HttpError(404, 'not found');
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      createReadStream(file).on('error', () => res.destroy()).pipe(res);
    } catch (err) {
      if (err instanceof HttpError) fail(res, err.status, err.message);
      else fail(res, 500, 'internal error');
    }
  });
  // A request that does not even parse as HTTP: answer 400 and close, rather than dropping the socket silently.
  server.on('clientError', (err, socket) => {
    if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/runtimes/web/`;
      resolvePromise({ server, url });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8000' }, export: { type: 'string' } } });
  const { url } = await startServer({ port: Number(values.port), exportDir: values.export ?? join(REPO, 'export') });
  console.log(`crsae page: ${url}  (Ctrl-C to stop)`);
}
