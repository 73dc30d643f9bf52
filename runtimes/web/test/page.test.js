// Headless Chromium (Debian's /usr/bin/chromium via playwright-core; no browser is downloaded):
// the page runs every golden vector within atol, draws the denoised image, and saves screenshot.png.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { REPO, startServer } from '../serve.js';

const CHROMIUM = process.env.CRSAE_CHROMIUM ?? '/usr/bin/chromium';
const EXPORT_DIR = resolve(process.env.CRSAE_EXPORT_DIR ?? join(REPO, 'export'));
const SCREENSHOT = fileURLToPath(new URL('../screenshot.png', import.meta.url));
// Playwright's headless launch adds --headless and a fresh temporary --user-data-dir itself.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let server;
let browser;
let page;
const pageErrors = [];
const outsideRequests = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing; run runtimes/web/setup.sh (apt-get install chromium)`);
  let url;
  ({ server, url } = await startServer({ port: 0, exportDir: EXPORT_DIR }));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === '127.0.0.1' || target.protocol === 'blob:' || target.protocol === 'data:') return route.continue();
    outsideRequests.push(target.href);
    return route.abort();
  });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(msg.text()); });
  await page.goto(url);
  await page.waitForFunction(() => window.crsae !== undefined, null, { timeout: 60_000 });
  await page.evaluate(() => window.crsae.ready);
}, { timeout: 300_000 });

after(async () => {
  await browser?.close();
  server?.close();
});

test('the page denoises the built-in image and draws the spike codes and filters', async () => {
  const state = await page.evaluate(() => ({
    denoise: document.getElementById('denoise').dataset.state,
    denoiseStatus: document.getElementById('denoise-status').textContent,
    spikes: document.getElementById('spikes').dataset.state,
    spikesStatus: document.getElementById('spikes-status').textContent,
    filters: document.getElementById('filters-status').textContent,
    isolated: window.crossOriginIsolated,
  }));
  assert.equal(state.denoise, 'done', state.denoiseStatus);
  assert.equal(state.spikes, 'done', state.spikesStatus);
  assert.doesNotMatch(state.filters, /error/);
  assert.ok(state.isolated, 'serve.js should make the page cross-origin isolated (wasm threads)');
});

test('every golden vector runs inside the page within atol', { timeout: 600_000 }, async () => {
  const index = JSON.parse(readFileSync(join(EXPORT_DIR, 'golden', 'index.json'), 'utf8'));
  const expected = index.cases.flatMap((c) => Object.keys(c.outputs).map((output) => ({ name: c.name, output, atol: c.atol[output] })));
  assert.ok(expected.length > 0, 'export/golden/index.json has no cases');
  const results = await page.evaluate(() => window.crsae.showGolden());
  assert.deepEqual(results.map((r) => `${r.name}/${r.output}`), expected.map((e) => `${e.name}/${e.output}`));
  for (const [i, r] of results.entries()) {
    assert.ok(r.diff <= expected[i].atol, `${r.name} ${r.output}: max |out - ref| = ${r.diff} > atol ${expected[i].atol}`);
  }
});

test('loadModel lifts 1-D ConvTranspose to 2-D unless { liftConvTranspose: false }, with bit-identical codes', async () => {
  const index = JSON.parse(readFileSync(join(EXPORT_DIR, 'golden', 'index.json'), 'utf8'));
  const c = index.cases.find((x) => JSON.parse(readFileSync(join(EXPORT_DIR, x.sidecar), 'utf8')).kind === '1d');
  assert.ok(c, 'export/golden/index.json has no 1-D case');
  const r = await page.evaluate(async (c) => {
    const web = await import('./crsae-web.js');
    const { liftConvTranspose1d } = await import('../node/src/onnx-rewrite.js');
    const abs = (p) => new URL(p, web.EXPORT_URL).href;
    const onnx = new Uint8Array(await (await fetch(abs(c.model))).arrayBuffer());
    const signal = await web.fetchNpy(abs(c.input));
    const ref = await web.fetchNpy(abs(c.outputs.codes));
    const codes = {};
    for (const lift of [true, false]) {
      const model = await window.crsae.loadModel(abs(c.model), { liftConvTranspose: lift });
      codes[lift] = (await model.run('codes', signal, { chunk: c.chunk_length ?? null })).data;
      await model.release();
    }
    return {
      rewritten: liftConvTranspose1d(onnx).rewritten,
      identical: codes.true.length === codes.false.length && codes.true.every((v, i) => Object.is(v, codes.false[i])),
      diff: web.maxAbsDiff(codes.true, ref.data),
    };
  }, c);
  assert.ok(r.rewritten > 0, `${c.model} has no 1-D ConvTranspose that the rewrite lifts`);
  assert.ok(r.diff <= c.atol.codes, `${c.name} codes: max |out - ref| = ${r.diff} > atol ${c.atol.codes}`);
  assert.ok(r.identical, 'lifted and unlifted 1-D models should give bit-identical codes');
});

test('the page fetched nothing outside 127.0.0.1, logged no error, and is saved as screenshot.png', async () => {
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(existsSync(SCREENSHOT));
  assert.deepEqual(outsideRequests, []);
  assert.deepEqual(pageErrors, []);
});
