#!/usr/bin/env node
// Time crsae-web (onnxruntime-web, wasm) on the 1-D golden batch inside headless Chromium, after warm-up.
//   node runtimes/web/bench.js [--repeats 50] [--warmup 5] [--case NAME] [--threads 1] [--modes lift,no-lift]
// Each mode loads its own model in the same page (lift: loadModel's default, 1-D ConvTranspose run as 2-D;
// no-lift: { liftConvTranspose: false }, the .onnx file as it is); calls are interleaved across modes so that
// load on the machine hits them alike. Prints one JSON object: per mode and output mean / median / min / max ms,
// max |out - golden|, and whether the modes' outputs are bit-identical.

import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { chooseGoldenCase, timingStats } from '../node/bench-cases.js';
import { REPO, startServer } from './serve.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    case: { type: 'string' },
    threads: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'lift,no-lift' },
  },
});
const CHROMIUM = process.env.CRSAE_CHROMIUM ?? '/usr/bin/chromium';
const exportDir = resolve(process.env.CRSAE_EXPORT_DIR ?? join(REPO, 'export'));
const chosen = chooseGoldenCase(exportDir, values.case);
const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean);
if (modes.some((m) => m !== 'lift' && m !== 'no-lift')) throw new Error(`--modes takes lift and/or no-lift (got ${values.modes})`);

const { server, url } = await startServer({ port: 0, exportDir });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  // A blank page beside crsae-web.js (app.js would start its own sessions), cross-origin isolated like index.html.
  const benchUrl = new URL('bench.html', url).href;
  await page.route(benchUrl, (route) => route.fulfill({
    status: 200,
    contentType: 'text/html',
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    body: '<!doctype html><meta charset="utf-8"><title>crsae bench</title>',
  }));
  await page.goto(benchUrl);
  const result = await page.evaluate(async ({ c, modes, threads, repeats, warmup }) => {
    const web = await import('./crsae-web.js');
    web.ort.env.wasm.numThreads = threads; // read when the first session starts the wasm runtime
    const abs = (p) => new URL(p, web.EXPORT_URL).href;
    const chunk = c.chunk_length ?? null;
    const signal = await web.fetchNpy(abs(c.input));
    const models = {};
    for (const mode of modes) models[mode] = await web.loadModel(abs(c.model), { liftConvTranspose: mode === 'lift' });
    const out = {};
    for (const [output, refPath] of Object.entries(c.outputs)) {
      const ref = await web.fetchNpy(abs(refPath));
      const ms = Object.fromEntries(modes.map((m) => [m, []]));
      const last = {};
      for (let i = 0; i < warmup; i++) for (const m of modes) last[m] = await models[m].run(output, signal, { chunk });
      for (let i = 0; i < repeats; i++) {
        for (const m of modes) {
          const start = performance.now();
          last[m] = await models[m].run(output, signal, { chunk });
          ms[m].push(performance.now() - start);
        }
      }
      out[output] = { atol: c.atol[output], modes: {} };
      for (const m of modes) out[output].modes[m] = { ms: ms[m], max_abs_diff_vs_golden: web.maxAbsDiff(last[m].data, ref.data) };
      if (modes.length === 2) {
        const [a, b] = modes.map((m) => last[m].data);
        out[output].modes_bit_identical = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
        out[output].max_abs_diff_between_modes = web.maxAbsDiff(a, b);
      }
    }
    for (const m of Object.values(models)) await m.release();
    return { results: out, ort_web: web.ort.env.versions?.web, cross_origin_isolated: crossOriginIsolated, user_agent: navigator.userAgent };
  }, { c: chosen, modes, threads: Number(values.threads), repeats: Number(values.repeats), warmup: Number(values.warmup) });
  for (const output of Object.values(result.results)) {          // call times in ms -> their summary
    for (const [m, { ms, ...rest }] of Object.entries(output.modes)) output.modes[m] = { ...timingStats(ms), ...rest };
  }
  console.log(JSON.stringify({
    case: chosen.name,
    chunk_length: chosen.chunk_length ?? null,
    repeats: Number(values.repeats),
    warmup: Number(values.warmup),
    wasm_threads: Number(values.threads),
    ...result,
    chromium: browser.version(),
    node: process.version,
    cpu: cpus()[0]?.model,
    cpu_count: cpus().length,
    loadavg_after: loadavg().map((v) => Math.round(v * 100) / 100),
  }, null, 1));
} finally {
  await browser.close();
  server.close();
}
