#!/usr/bin/env node
// A tiny static server for the crsae page: serves the repository root on 127.0.0.1 (the page at
// /runtimes/web/, models at /export/), with the COOP/COEP headers that let onnxruntime-web use threads.
//
//   node runtimes/web/serve.js [--port 8000] [--export DIR]     then open http://127.0.0.1:8000/runtimes/web/

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
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

/** Map a URL path to a file under root (or under exportDir for /export/...); null if it escapes. */
function fileFor(urlPath, root, exportDir) {
  const path = decodeURIComponent(urlPath.split('?')[0]);
  const [base, rest] = path.startsWith('/export/') ? [exportDir, path.slice('/export/'.length)] : [root, path.slice(1)];
  const file = resolve(base, rest);
  return file === base || file.startsWith(base + sep) ? file : null;
}

/**
 * Start the server.
 * @param {{port?: number, root?: string, exportDir?: string}} [options] port 0 picks a free one
 * @returns {Promise<{server: import('node:http').Server, url: string}>} url of the page
 */
export function startServer({ port = 8000, root = REPO, exportDir = join(REPO, 'export') } = {}) {
  root = resolve(root);
  exportDir = resolve(exportDir);
  const server = createServer(async (req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    let file = fileFor(req.url, root, exportDir);
    try {
      if (!file) throw Object.assign(new Error('outside root'), { code: 'ENOENT' });
      let info = await stat(file);
      if (info.isDirectory()) {
        if (!req.url.split('?')[0].endsWith('/')) {
          res.writeHead(301, { ...headers, Location: `${req.url.split('?')[0]}/` }).end();
          return;
        }
        file = join(file, 'index.html');
        info = await stat(file);
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
    }
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
