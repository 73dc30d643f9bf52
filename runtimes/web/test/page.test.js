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
const requested = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing; run runtimes/web/setup.sh (apt-get install chromium)`);
  let url;
  ({ server, url } = await startServer({ port: 0, exportDir: EXPORT_DIR }));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    if (target.hostname === '127.0.0.1') requested.push(target.pathname);
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
    sigmaModeDisabled: document.getElementById('sigma-mode').disabled,
  }));
  assert.equal(state.sigmaModeDisabled, true, 'the shipped image model has its sigma frozen: no threshold choice');
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

test('the page\'s contract is export/contract.json, read through its crsae-node dependency', async () => {
  const contract = JSON.parse(readFileSync(join(REPO, 'export', 'contract.json'), 'utf8'));
  const got = await page.evaluate(async () => {
    const web = await import('./crsae-web.js');
    return { contract: web.CONTRACT, message: web.message('too_small', { size: web.sizeText([7, 96]), min_size: 8 }) };
  });
  assert.deepEqual(got.contract, contract);
  assert.equal(got.message, contract.messages.too_small.replace('{size}', '7x96').replace('{min_size}', '8'));
});

test('too-small signals are refused in the page with the contract\'s exact too_small message', async () => {
  const contract = JSON.parse(readFileSync(join(REPO, 'export', 'contract.json'), 'utf8'));
  const index = JSON.parse(readFileSync(join(EXPORT_DIR, 'golden', 'index.json'), 'utf8'));
  const byKind = {};
  for (const c of index.cases) byKind[JSON.parse(readFileSync(join(EXPORT_DIR, c.sidecar), 'utf8')).kind] ??= c;
  assert.ok(byKind['1d'] && byKind['2d'], 'export/golden/index.json needs a 1-D and a 2-D case');
  const results = await page.evaluate(async (cases) => {
    const web = await import('./crsae-web.js');
    const out = [];
    for (const c of cases) {
      const model = await web.loadModel(new URL(c.model, web.EXPORT_URL));
      const { channels, min_size: least, kind } = model.meta;
      const sizes = kind === '1d' ? [[least - 1], [1]] : [[least - 1, 96], [96, least - 1], [model.meta.kernel_size, model.meta.kernel_size]];
      for (const spatial of sizes) {
        const shape = [1, channels, ...spatial];
        const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
        try {
          await model.run(model.meta.outputs[0], { data, shape });
          out.push({ kind, spatial, least, error: null });
        } catch (err) {
          out.push({ kind, spatial, least, name: err.name, error: err.message });
        }
      }
      const shape = [1, channels, ...(kind === '1d' ? [least] : [least, least])];
      const fine = await model.run(model.meta.outputs[0], { data: new Float32Array(shape.reduce((p, d) => p * d, 1)), shape });
      out.push({ kind, spatial: shape.slice(2), least, runs: fine.data.every(Number.isFinite) });
      await model.release();
    }
    return out;
  }, [byKind['1d'], byKind['2d']]);
  for (const r of results) {
    if ('runs' in r) {
      assert.ok(r.runs, `${r.kind} ${r.spatial}: a signal of exactly min_size should run`);
      continue;
    }
    const expected = contract.messages.too_small.replace('{size}', r.spatial.join('x')).replace('{min_size}', String(r.least));
    assert.equal(r.name, 'ShapeError', `${r.kind} ${r.spatial}`);
    assert.equal(r.error, expected, `${r.kind} ${r.spatial}`);
  }
  assert.ok(results.some((r) => r.kind === '2d' && r.spatial.join('x') === `${r.least - 1}x96` && r.error), 'image2d (stride > 1) should refuse an image one pixel below min_size');
});

test('the page loads its code only from runtimes/web (its node_modules included) and the models from /export/', () => {
  const elsewhere = requested.filter((p) => !p.startsWith('/runtimes/web/') && !p.startsWith('/export/'));
  assert.deepEqual(elsewhere, [], 'the page reached outside its own folder (e.g. ../node/src by relative path)');
  assert.ok(requested.includes('/runtimes/web/node_modules/crsae-node/src/core.js'), 'crsae-node/core comes through node_modules');
});

test('the page fetched nothing outside 127.0.0.1, logged no error, and is saved as screenshot.png', async () => {
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(existsSync(SCREENSHOT));
  assert.deepEqual(outsideRequests, []);
  assert.deepEqual(pageErrors, []);
});

test('a noise-input model in the page follows the noise level it is given', async () => {
  const got = await page.evaluate(async () => {
    const model = await window.crsae.loadModel('/export/models/image2d_sigma.onnx');
    const side = 24;
    const data = Float32Array.from({ length: side * side }, (_, i) => 0.5 + 0.2 * Math.sin(i / 3));
    const signal = { data, shape: [1, 1, side, side] };
    const own = await model.reconstruct(signal);
    const same = await model.reconstruct(signal, { noiseSigma: model.meta.sigma });
    const other = await model.reconstruct(signal, { noiseSigma: 0.3 });
    let refused = '';
    try { await model.reconstruct(signal, { noiseSigma: -2 }); } catch (err) { refused = err.message; }
    await model.release();
    const diff = (a, b) => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
    return { noiseInput: model.noiseInput, same: diff(own, same), other: diff(own, other), refused };
  });
  assert.equal(got.noiseInput, true);
  assert.equal(got.same, 0);
  assert.ok(got.other > 1e-3, `noiseSigma 0.3 changed nothing (${got.other})`);
  assert.match(got.refused, /noiseSigma must be a number >= 0 or 'auto'/);
});
