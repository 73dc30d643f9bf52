#!/usr/bin/env node
// Time crsae-node on the 1-D golden batch (export/golden/index.json), after warm-up.
//   node runtimes/node/bench.js [--repeats 50] [--warmup 5] [--case NAME] [--threads N] [--no-lift]
// --no-lift runs the .onnx file as it is (no 1-D ConvTranspose rewrite, see src/onnx-rewrite.js), for comparison.
// Prints one JSON object: per output mean / median / min / max ms, plus versions and the machine.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadModel, readNpy } from './src/index.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    case: { type: 'string' },
    threads: { type: 'string' },
    'no-lift': { type: 'boolean', default: false },
  },
});
const exportDir = resolve(process.env.CRSAE_EXPORT_DIR ?? fileURLToPath(new URL('../../export', import.meta.url)));
const index = JSON.parse(readFileSync(join(exportDir, 'golden', 'index.json'), 'utf8'));
const is1d = (c) => JSON.parse(readFileSync(join(exportDir, c.sidecar), 'utf8')).kind === '1d';
const chosen = values.case
  ? index.cases.find((c) => c.name === values.case)
  : index.cases.find((c) => is1d(c) && !c.chunk_length) ?? index.cases.find(is1d);
if (!chosen) throw new Error(`no such golden case ${values.case ?? '(1-D)'} in ${exportDir}/golden/index.json`);

const sessionOptions = values.threads ? { intraOpNumThreads: Number(values.threads) } : {};
const model = await loadModel(join(exportDir, chosen.model), { sessionOptions, liftConvTranspose: !values['no-lift'] });
const signal = await readNpy(join(exportDir, chosen.input));
const chunk = chosen.chunk_length ?? null;
const stats = (ms) => {
  const sorted = [...ms].sort((a, b) => a - b);
  const mean = ms.reduce((s, v) => s + v, 0) / ms.length;
  const round = (v) => Math.round(v * 1000) / 1000;
  return { mean_ms: round(mean), median_ms: round(sorted[Math.floor(ms.length / 2)]), min_ms: round(sorted[0]), max_ms: round(sorted.at(-1)) };
};
const results = {};
for (const output of Object.keys(chosen.outputs)) {
  for (let i = 0; i < Number(values.warmup); i++) await model.run(output, signal, { chunk });
  const ms = [];
  for (let i = 0; i < Number(values.repeats); i++) {
    const start = performance.now();
    await model.run(output, signal, { chunk });
    ms.push(performance.now() - start);
  }
  results[output] = stats(ms);
}
await model.release();
const ortVersion = JSON.parse(readFileSync(new URL('./node_modules/onnxruntime-node/package.json', import.meta.url))).version;
console.log(JSON.stringify({
  case: chosen.name,
  shape: signal.shape,
  chunk_length: chunk,
  num_layers: model.meta.num_layers,
  kernel_size: model.meta.kernel_size,
  num_filters: model.meta.num_filters,
  repeats: Number(values.repeats),
  warmup: Number(values.warmup),
  results,
  provider: 'cpu',
  intra_op_threads: values.threads ? Number(values.threads) : 'onnxruntime default',
  lift_conv_transpose_1d: !values['no-lift'],
  node: process.version,
  onnxruntime_node: ortVersion,
  crsae_version: model.meta.crsae_version,
  cpu: cpus()[0]?.model,
  cpu_count: cpus().length,
}, null, 1));
