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

test('the page fetched nothing outside 127.0.0.1, logged no error, and is saved as screenshot.png', async () => {
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.ok(existsSync(SCREENSHOT));
  assert.deepEqual(outsideRequests, []);
  assert.deepEqual(pageErrors, []);
});
