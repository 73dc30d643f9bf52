#!/usr/bin/env node
// crsae-node MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N]

import { parseArgs } from 'node:util';
import { CrsaeError, loadModel, readNpy, writeNpy } from '../src/index.js';

const USAGE = `usage: crsae-node MODEL.onnx INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N]

Runs a crsae ONNX model on INPUT.npy (float32, [batch, channels, length] or
[batch, channels, height, width], fed as it is: scale images to [0, 1] yourself when the model's
input_scaling is "unit_interval") and writes the chosen output to OUT.npy.

  -o, --out PATH     output .npy (written to a temporary name, then renamed)
  --output NAME      codes or reconstruction (default: the model's first output)
  --chunk N          1-D only: process in chunks of N output samples (the contract's chunking rule)
  -h, --help         show this help`;

function usageError(message) {
  process.stderr.write(`error: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv) {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        output: { type: 'string' },
        chunk: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    usageError(err.message);
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 2) usageError(`expected MODEL and INPUT, got ${positionals.length} positional argument(s)`);
  if (!values.out) usageError('missing -o OUT.npy');
  let chunk = null;
  if (values.chunk !== undefined) {
    chunk = Number(values.chunk);
    if (!/^\d+$/.test(values.chunk) || chunk < 1) usageError(`--chunk must be an integer >= 1 (got ${values.chunk})`);
  }
  const [modelPath, inputPath] = positionals;
  const model = await loadModel(modelPath);
  const output = values.output ?? model.meta.outputs[0];
  const signal = await readNpy(inputPath);
  const start = performance.now();
  const result = await model.run(output, signal, { chunk });
  const ms = performance.now() - start;
  await writeNpy(values.out, result);
  process.stdout.write(`wrote ${values.out}: ${output} [${result.shape.join(', ')}] in ${ms.toFixed(1)} ms\n`);
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof CrsaeError)) throw err;
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(1);
}
