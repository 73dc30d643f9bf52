#!/usr/bin/env node
// Time crsae-web (onnxruntime-web, wasm) on the 1-D golden batch inside headless Chromium, after warm-up.
//   node runtimes/web/bench.js [--repeats 50] [--warmup 5] [--case NAME] [--threads 1]
// Prints one JSON object: per output mean / median / min / max ms and max |out - golden|.

import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { chooseGoldenCase, timingStats } from 'crsae-node/bench-cases';
import { REPO, startServer } from './serve.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    case: { type: 'string' },
    threads: { type: 'string', default: '1' },
  },
});
const CHROMIUM = process.env.CRSAE_CHROMIUM ?? '/usr/bin/chromium';
const exportDir = resolve(process.env.CRSAE_EXPORT_DIR ?? join(REPO, 'export'));
const chosen = chooseGoldenCase(exportDir, values.case);

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
  const result = await page.evaluate(async ({ c, threads, repeats, warmup }) => {
    const web = await import('./crsae-web.js');
    web.ort.env.wasm.numThreads = threads; // read when the first session starts the wasm runtime
    const abs = (p) => new URL(p, web.EXPORT_URL).href;
    const chunk = c.chunk_length ?? null;
    const signal = await web.fetchNpy(abs(c.input));
    const model = await web.loadModel(abs(c.model));
    const out = {};
    for (const [output, refPath] of Object.entries(c.outputs)) {
      const ref = await web.fetchNpy(abs(refPath));
      const ms = [];
      let last;
      for (let i = 0; i < warmup; i++) last = await model.run(output, signal, { chunk });
      for (let i = 0; i < repeats; i++) {
        const start = performance.now();
        last = await model.run(output, signal, { chunk });
        ms.push(performance.now() - start);
      }
      out[output] = { ms, atol: c.atol[output], max_abs_diff_vs_golden: web.maxAbsDiff(last.data, ref.data) };
    }
    await model.release();
    return { results: out, ort_web: web.ort.env.versions?.web, cross_origin_isolated: crossOriginIsolated, user_agent: navigator.userAgent };
  }, { c: chosen, threads: Number(values.threads), repeats: Number(values.repeats), warmup: Number(values.warmup) });
  for (const [output, { ms, ...rest }] of Object.entries(result.results)) { // call times in ms -> their summary
    result.results[output] = { ...timingStats(ms), ...rest };
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
