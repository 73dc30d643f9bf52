#!/usr/bin/env node
// crsae-node MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N] [--noise-sigma S|auto]
//
// The same promise as the Python CLI: a bad model, input, option or output path gives exactly one line
// `error: <what is wrong and the fix>` on stderr and exit 1 (2 for a usage error), never a stack trace, and
// never a partial or temporary output file (OUT.npy is written to a temporary name beside it and renamed; an
// existing OUT.npy stays as it was unless the run succeeds). CRSAE_DEBUG=1 adds the stack of unexpected errors.
// A closed stdout (`crsae-node ... | head -1` once head has gone) ends the run quietly with status 141, as the
// Python CLI does; the output file, written before the result line, is then complete.

import { parseArgs } from 'node:util';

const USAGE = `usage: crsae-node MODEL.onnx INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N]
                  [--noise-sigma S|auto]

Runs a crsae ONNX model on INPUT.npy (float32, [batch, channels, length] or
[batch, channels, height, width], fed as it is: scale images to [0, 1] yourself when the model's
input_scaling is "unit_interval") and writes the chosen output to OUT.npy.

  -o, --out PATH     output .npy (written to a temporary name beside it, then renamed)
  --output NAME      codes or reconstruction (default: the model's first output)
  --chunk N          1-D only: process in chunks of N output samples (the contract's chunking rule)
  --noise-sigma S    noise std the thresholds are set for, in the input's units, or auto (estimated per
                     signal); for models exported with crsae export --noise-input (default: their sigma)
  -h, --help         show this help`;

class UsageError extends Error {}

/** What a shell shows for a tool that SIGPIPE ended (128 + 13), e.g. `yes | head -1`; the Python CLI's CLOSED_STDOUT. */
const CLOSED_STDOUT = 141;

/** A failed write to stdout; `code` is the system's (EPIPE: its reader has gone). */
class StdoutError extends Error {
  constructor(err) {
    const reason = String(err?.message ?? err).replace(/^[A-Z]+: /, '').replace(/, write$/, '');   // 'ENOSPC: no space ..., write'
    super(`cannot write to stdout (${reason.charAt(0).toUpperCase()}${reason.slice(1)})`);  // as crsae-infer says it
    this.code = err?.code;
  }
}

// Failures of stdout come back through print's callback; without a listener Node would also throw them here.
process.stdout.on('error', () => {});

/** Write `text` to stdout and wait until it is written, or reject with a StdoutError. */
const print = (text) => new Promise((resolve, reject) => {
  process.stdout.write(text, (err) => (err ? reject(new StdoutError(err)) : resolve()));
});

/** One line: newlines and terminal escapes of a message folded away. */
const oneLine = (text) => String(text).replace(/\x1b\[[0-9;]*m/g, '').replace(/\s*\n\s*/g, '; ').trim();

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
        'noise-sigma': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(err.message);
  }
  const { values, positionals } = args;
  if (values.help) {
    await print(`${USAGE}\n`);
    return;
  }
  if (positionals.length !== 2) throw new UsageError(`expected MODEL and INPUT, got ${positionals.length} positional argument(s)`);
  if (!values.out) throw new UsageError('missing -o OUT.npy');
  let chunk = null;
  if (values.chunk !== undefined) {
    chunk = Number(values.chunk);
    if (!/^\d+$/.test(values.chunk) || chunk < 1) throw new UsageError(`--chunk must be an integer >= 1 (got ${values.chunk})`);
  }
  let noiseSigma = null;
  const noiseText = values['noise-sigma'];
  if (noiseText !== undefined) {
    noiseSigma = noiseText === 'auto' ? 'auto' : Number(noiseText);
    if (noiseSigma !== 'auto' && !(/^[0-9.eE+-]+$/.test(noiseText) && noiseSigma >= 0 && Number.isFinite(noiseSigma))) {
      throw new UsageError(`--noise-sigma must be a number >= 0 or auto (got ${noiseText})`);
    }
  }
  // Loaded here, after the arguments are checked, so that --help and usage errors stay quick.
  const { checkWritable, loadModel, readNpy, writeNpy } = await import('../src/index.js');
  const [modelPath, inputPath] = positionals;
  await checkWritable(values.out);
  const model = await loadModel(modelPath);
  const output = values.output ?? model.meta.outputs[0];
  const signal = await readNpy(inputPath);
  const start = performance.now();
  const result = await model.run(output, signal, { chunk, noiseSigma });
  const ms = performance.now() - start;
  await writeNpy(values.out, result);
  await print(`wrote ${values.out}: ${output} [${result.shape.join(', ')}] in ${ms.toFixed(1)} ms\n`);
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof StdoutError && err.code === 'EPIPE') {
    process.exitCode = CLOSED_STDOUT;
  } else if (err instanceof UsageError) {
    process.stderr.write(`error: ${oneLine(err.message)}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    const { CrsaeError } = await import('../src/errors.js');
    const known = err instanceof CrsaeError || err instanceof StdoutError;
    const text = known ? err.message : `unexpected ${err?.name ?? 'error'}: ${err?.message ?? err}; please report it (CRSAE_DEBUG=1 shows where)`;
    process.stderr.write(`error: ${oneLine(text)}\n`);
    if (!known && process.env.CRSAE_DEBUG) process.stderr.write(`${err?.stack}\n`);
    process.exitCode = 1;
  }
}
