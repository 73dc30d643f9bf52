#!/usr/bin/env node
// Time crsae-node on the 1-D golden batch (export/golden/index.json), after warm-up.
//   node runtimes/node/bench.js [--repeats 50] [--warmup 5] [--case NAME] [--threads N]
// Prints one JSON object: per output mean / median / min / max ms, plus versions and the machine.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { chooseGoldenCase, timingStats } from './bench-cases.js';
import { loadModel, readNpy } from './src/index.js';

const { values } = parseArgs({
  options: {
    repeats: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    case: { type: 'string' },
    threads: { type: 'string' },
  },
});
const exportDir = resolve(process.env.CRSAE_EXPORT_DIR ?? fileURLToPath(new URL('../../export', import.meta.url)));
const chosen = chooseGoldenCase(exportDir, values.case);
const sessionOptions = values.threads ? { intraOpNumThreads: Number(values.threads) } : {};
const model = await loadModel(join(exportDir, chosen.model), { sessionOptions });
const signal = await readNpy(join(exportDir, chosen.input));
const chunk = chosen.chunk_length ?? null;
const results = {};
for (const output of Object.keys(chosen.outputs)) {
  for (let i = 0; i < Number(values.warmup); i++) await model.run(output, signal, { chunk });
  const ms = [];
  for (let i = 0; i < Number(values.repeats); i++) {
    const start = performance.now();
    await model.run(output, signal, { chunk });
    ms.push(performance.now() - start);
  }
  results[output] = timingStats(ms);
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
  node: process.version,
  onnxruntime_node: ortVersion,
  crsae_version: model.meta.crsae_version,
  cpu: cpus()[0]?.model,
  cpu_count: cpus().length,
}, null, 1));
