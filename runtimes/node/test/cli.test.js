// bin/crsae-node.js, each case in a fresh process: golden outputs, and every kind of bad input giving exactly one
// line `error: ...` on stderr, exit 1 (2 for usage errors), no stack trace, no partial or temporary output file,
// and an existing output left untouched.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatNpy, maxAbsDiff, readNpy, readOnnxMetadata } from '../src/index.js';
import { goldenIndex, rewriteMetadata, smallest1dCase } from './fixtures.js';

const CLI = fileURLToPath(new URL('../bin/crsae-node.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'crsae-cli-'));
after(() => {
  try { chmodSync(join(root, 'locked'), 0o755); } catch { /* not made */ }
  rmSync(root, { recursive: true, force: true });
});

const cli = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, CRSAE_DEBUG: '' } });
const c1 = await smallest1dCase();
const c2 = goldenIndex().cases.find((c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind === '2d');
const meta1 = JSON.parse(readFileSync(c1.sidecar, 'utf8'));
const meta2 = JSON.parse(readFileSync(c2.sidecar, 'utf8'));
const contract = JSON.parse(readFileSync(fileURLToPath(new URL('../src/contract.json', import.meta.url)), 'utf8'));
const tooSmall = (spatial, least) => contract.messages.too_small.replace('{size}', spatial.join('x')).replace('{min_size}', String(least));

let n = 0;
/** A fresh folder for one case. */
const folder = () => {
  const dir = join(root, `case${n++}`);
  mkdirSync(dir);
  return dir;
};
const npyFile = (dir, name, shape, fill = () => 0) => {
  const data = Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => fill(i));
  const path = join(dir, name);
  writeFileSync(path, formatNpy({ data, shape }));
  return path;
};
/** A .npy 1.0 file with any header dict and data bytes. */
const rawNpy = (dir, name, dict, dataBytes = new Uint8Array(0)) => {
  let header = dict;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + header.length + dataBytes.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(dataBytes, 10 + header.length);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

/**
 * Run the CLI and expect a one-line error. `out` (default dir/out.npy) gets a sentinel first when `existing`,
 * which must be left byte for byte; the folder must hold no new file afterwards.
 */
function expectError({ args, out, pattern, exact, status = 1, existing = true, dir }) {
  const sentinel = 'an existing output that a failed run must not touch\n';
  if (existing && out) writeFileSync(out, sentinel);
  const before = dir ? readdirSync(dir).sort() : null;
  const run = cli(...args, ...(out ? ['-o', out] : []));
  assert.equal(run.status, status, `exit ${run.status}, stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  if (status === 1) assert.match(run.stderr, /^error: [^\n]+\n$/, `not exactly one error line: ${JSON.stringify(run.stderr)}`);
  assert.doesNotMatch(run.stderr, /\n\s+at |node:internal|\.js:\d+/, 'stack trace on stderr');
  if (exact !== undefined) assert.equal(run.stderr, `error: ${exact}\n`);
  if (pattern) assert.match(run.stderr, pattern);
  if (existing && out) assert.equal(readFileSync(out, 'utf8'), sentinel, 'the existing output was changed');
  if (dir) assert.deepEqual(readdirSync(dir).sort(), before, 'a partial or temporary file was left behind');
  return run;
}

test('the CLI writes each output of a 1-D golden case within atol, and nothing else', async () => {
  const dir = folder();
  for (const [output, refPath] of Object.entries(c1.outputs)) {
    const out = join(dir, `${c1.name}.${output}.npy`);
    const args = [c1.model, c1.input, '-o', out, '--output', output];
    if (c1.chunk_length) args.push('--chunk', String(c1.chunk_length));
    const run = cli(...args);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, new RegExp(`^wrote .*: ${output} \\[[\\d, ]+\\] in [\\d.]+ ms\\n$`));
    const ref = await readNpy(refPath);
    const got = await readNpy(out);
    assert.deepEqual(got.shape, ref.shape);
    assert.ok(maxAbsDiff(got.data, ref.data) <= c1.atol[output]);
  }
  assert.deepEqual(readdirSync(dir).sort(), Object.keys(c1.outputs).map((o) => `${c1.name}.${o}.npy`).sort());
});

test('a successful run replaces an existing output atomically and leaves no temporary file', async () => {
  const dir = folder();
  const out = join(dir, 'codes.npy');
  writeFileSync(out, 'old');
  const run = cli(c1.model, c1.input, '-o', out, '--output', 'codes');
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual((await readNpy(out)).shape, (await readNpy(c1.outputs.codes)).shape);
  assert.deepEqual(readdirSync(dir), ['codes.npy']);
});

test('the CLI chunks with --chunk and matches the whole-signal run', async () => {
  const dir = folder();
  const N = (await readNpy(c1.input)).shape[2];
  const whole = join(dir, 'whole.npy');
  const chunked = join(dir, 'chunked.npy');
  assert.equal(cli(c1.model, c1.input, '-o', whole, '--output', 'codes').status, 0);
  const run = cli(c1.model, c1.input, '-o', chunked, '--output', 'codes', '--chunk', String(Math.ceil(N / 2)));
  assert.equal(run.status, 0, run.stderr);
  assert.ok(maxAbsDiff((await readNpy(whole)).data, (await readNpy(chunked)).data) <= c1.atol.codes);
});

// ---- bad models ----

test('a missing model', () => {
  const dir = folder();
  expectError({ dir, args: [join(dir, 'nope.onnx'), c1.input], out: join(dir, 'out.npy'),
    pattern: /^error: model .*nope\.onnx does not exist; pass the \.onnx file written by crsae export\n$/ });
});

test('a model path that is a folder', () => {
  const dir = folder();
  mkdirSync(join(dir, 'model.onnx'));
  expectError({ dir, args: [join(dir, 'model.onnx'), c1.input], out: join(dir, 'out.npy'), pattern: /is a folder, not a file/ });
});

test('an empty model file', () => {
  const dir = folder();
  writeFileSync(join(dir, 'empty.onnx'), '');
  expectError({ dir, args: [join(dir, 'empty.onnx'), c1.input], out: join(dir, 'out.npy'), pattern: /empty\.onnx is empty \(0 bytes\)/ });
});

test('a garbage model file (text, random bytes)', () => {
  const dir = folder();
  writeFileSync(join(dir, 'text.onnx'), 'definitely not a protobuf\n');
  let state = 7;
  writeFileSync(join(dir, 'random.onnx'), Uint8Array.from({ length: 4096 }, () => { state = (state * 1103515245 + 12345) % 2 ** 31; return state >>> 16; }));
  for (const name of ['text.onnx', 'random.onnx']) {
    expectError({ dir, args: [join(dir, name), c1.input], out: join(dir, 'out.npy'),
      pattern: /is not a valid ONNX file|is not a crsae model|onnxruntime cannot load/ });
  }
});

test('an ONNX model without crsae metadata (and no sidecar)', () => {
  const dir = folder();
  const bytes = rewriteMetadata(new Uint8Array(readFileSync(c1.model)), {});
  writeFileSync(join(dir, 'plain.onnx'), bytes);
  expectError({ dir, args: [join(dir, 'plain.onnx'), c1.input], out: join(dir, 'out.npy'),
    pattern: /plain\.onnx is not a crsae model \(no "format" in its ONNX metadata and no sidecar NAME\.json\); export it with crsae/ });
});

test('an ONNX model with a stale min_size-less export', () => {
  const dir = folder();
  const bytes = new Uint8Array(readFileSync(c1.model));
  const { min_size: _, ...props } = readOnnxMetadata(bytes);
  writeFileSync(join(dir, 'old.onnx'), rewriteMetadata(bytes, props));
  expectError({ dir, args: [join(dir, 'old.onnx'), c1.input], out: join(dir, 'out.npy'), pattern: /lacks metadata key\(s\) min_size/ });
});

// ---- bad inputs ----

test('a missing input', () => {
  const dir = folder();
  expectError({ dir, args: [c1.model, join(dir, 'missing.npy')], out: join(dir, 'out.npy'),
    pattern: /^error: input .*missing\.npy does not exist; check the path\n$/ });
});

test('an input that is not .npy, and a truncated .npy', () => {
  const dir = folder();
  writeFileSync(join(dir, 'bad.npy'), 'not numpy');
  expectError({ dir, args: [c1.model, join(dir, 'bad.npy')], out: join(dir, 'out.npy'), pattern: /bad\.npy is not a \.npy file/ });
  const truncated = rawNpy(dir, 'short.npy', `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 100), }`, new Uint8Array(40));
  expectError({ dir, args: [c1.model, truncated], out: join(dir, 'out.npy'), pattern: /holds 40 data bytes but shape \[1,1,100\] needs 400; the file is truncated or corrupt/ });
  const header = rawNpy(dir, 'header.npy', `{'shape': garbage}`);
  expectError({ dir, args: [c1.model, header], out: join(dir, 'out.npy'), pattern: /unreadable \.npy header/ });
});

test('an input of the wrong dtype (float64, int32) or complex', () => {
  const dir = folder();
  const f8 = rawNpy(dir, 'f8.npy', `{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 64), }`, new Uint8Array(512));
  expectError({ dir, args: [c1.model, f8], out: join(dir, 'out.npy'), pattern: /has dtype '<f8', but only little-endian float32 \('<f4'\) is supported/ });
  const i4 = rawNpy(dir, 'i4.npy', `{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1, 64), }`, new Uint8Array(256));
  expectError({ dir, args: [c1.model, i4], out: join(dir, 'out.npy'), pattern: /has dtype '<i4'/ });
  const c8 = rawNpy(dir, 'c8.npy', `{'descr': '<c8', 'fortran_order': False, 'shape': (1, 1, 64), }`, new Uint8Array(512));
  expectError({ dir, args: [c1.model, c8], out: join(dir, 'out.npy'), pattern: /holds complex numbers \(dtype '<c8'\), but signals are real/ });
});

test('an input of the wrong rank or channel count', () => {
  const dir = folder();
  const rank2 = npyFile(dir, 'rank2.npy', [2, 4 * meta1.min_size]);
  expectError({ dir, args: [c1.model, rank2], out: join(dir, 'out.npy'), pattern: /signal has rank 2 .* takes \[batch, channels, length\]; reshape it/ });
  const rank3 = npyFile(dir, 'rank3.npy', [1, meta2.channels, 4 * meta2.min_size]);
  expectError({ dir, args: [c2.model, rank3], out: join(dir, 'out.npy'), pattern: /takes \[batch, channels, height, width\]/ });
  const channels = npyFile(dir, 'channels.npy', [1, meta1.channels + 1, 4 * meta1.min_size]);
  expectError({ dir, args: [c1.model, channels], out: join(dir, 'out.npy'), pattern: new RegExp(`has ${meta1.channels + 1} channels`) });
});

test('a too-small input gives exactly the contract\'s too_small message (1-D, and a 7-pixel image)', () => {
  const dir = folder();
  const short = npyFile(dir, 'short.npy', [1, meta1.channels, meta1.min_size - 1]);
  expectError({ dir, args: [c1.model, short], out: join(dir, 'out.npy'), exact: tooSmall([meta1.min_size - 1], meta1.min_size) });
  assert.ok(meta2.min_size > meta2.kernel_size, 'the 2-D golden model should be strided (min_size > kernel_size)');
  const flat = npyFile(dir, 'flat.npy', [1, meta2.channels, meta2.min_size - 1, 96]);
  expectError({ dir, args: [c2.model, flat], out: join(dir, 'out.npy'), exact: tooSmall([meta2.min_size - 1, 96], meta2.min_size) });
  for (const output of meta2.outputs) {
    const image = npyFile(dir, 'kernel.npy', [1, meta2.channels, meta2.kernel_size, meta2.kernel_size]);
    expectError({ dir, args: [c2.model, image, '--output', output], out: join(dir, 'out.npy'),
      exact: tooSmall([meta2.kernel_size, meta2.kernel_size], meta2.min_size) });
  }
});

test('an input holding NaN or Infinity', () => {
  const dir = folder();
  const nan = npyFile(dir, 'nan.npy', [1, meta1.channels, 4 * meta1.min_size], (i) => (i === 9 ? NaN : 0));
  expectError({ dir, args: [c1.model, nan], out: join(dir, 'out.npy'), pattern: /holds NaN at flat index 9; values must be finite/ });
  const inf = npyFile(dir, 'inf.npy', [1, meta1.channels, 4 * meta1.min_size], (i) => (i === 3 ? -Infinity : 0));
  expectError({ dir, args: [c1.model, inf], out: join(dir, 'out.npy'), pattern: /holds -Infinity at flat index 3/ });
});

test('an output the model lacks', () => {
  const dir = folder();
  expectError({ dir, args: [c1.model, c1.input, '--output', 'denoised'], out: join(dir, 'out.npy'), pattern: /has no "denoised" output/ });
});

// ---- bad output paths ----

test('a missing output folder', () => {
  const dir = folder();
  expectError({ dir, args: [c1.model, c1.input], out: join(dir, 'no', 'such', 'out.npy'), existing: false,
    pattern: /^error: cannot write .*out\.npy: its folder .*such does not exist; create it or pass another output path\n$/ });
});

test('an output whose parent is a file', () => {
  const dir = folder();
  writeFileSync(join(dir, 'file.txt'), 'a file');
  expectError({ dir, args: [c1.model, c1.input], out: join(dir, 'file.txt', 'out.npy'), existing: false,
    pattern: /cannot write .*: .*file\.txt is not a folder; pass an output path inside a folder/ });
  assert.equal(readFileSync(join(dir, 'file.txt'), 'utf8'), 'a file');
});

test('an output that is a folder', () => {
  const dir = folder();
  mkdirSync(join(dir, 'out.npy'));
  expectError({ dir, args: [c1.model, c1.input], out: join(dir, 'out.npy'), existing: false, pattern: /it is a folder; pass a file name/ });
});

/** A folder this process cannot write to: a chmod 555 one, or (as root, who ignores modes) /sys when it refuses. */
function unwritableFolder() {
  if (process.getuid?.() !== 0) {
    const dir = join(root, 'locked');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    return dir;
  }
  try {
    writeFileSync('/sys/.crsae-probe', 'x', { flag: 'wx' });
    rmSync('/sys/.crsae-probe');
  } catch (err) {
    if (['EACCES', 'EPERM', 'EROFS'].includes(err.code)) return '/sys';
  }
  return null;
}
const locked = unwritableFolder();

test('an unwritable output folder', { skip: !locked && 'no unwritable folder here (root, and /sys is writable)' }, () => {
  const before = readdirSync(locked).sort();
  expectError({ args: [c1.model, c1.input], out: join(locked, 'crsae-out.npy'), existing: false,
    pattern: /^error: cannot write .*crsae-out\.npy: (the folder .* is not writable|.* is on a read-only file system); pass an output path in a writable folder\n$/ });
  assert.deepEqual(readdirSync(locked).sort(), before, 'a temporary file was left in the unwritable folder');
});

// ---- usage ----

test('the CLI exits 2 on usage errors, with the usage after one error line', () => {
  for (const args of [[], [c1.model, c1.input], [c1.model, c1.input, '-o', 'x.npy', '--chunk', 'ten'], ['--bogus'],
    [c1.model, c1.input, 'extra', '-o', 'x.npy']]) {
    const run = cli(...args);
    assert.equal(run.status, 2, `${args}: ${run.stderr}`);
    assert.match(run.stderr, /^error: [^\n]+\nusage: crsae-node/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  }
  const help = cli('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: crsae-node/);
});

test('--noise-sigma sets the noise level of a noise-input model, and is refused for a frozen one', async () => {
  const cs = goldenIndex().cases.find((c) => c.noise_sigma);
  const dir = folder();
  const out = join(dir, 'out.npy');
  const run = cli(cs.model, cs.input, '-o', out, '--output', 'reconstruction', '--noise-sigma', 'auto');
  assert.equal(run.status, 0, run.stderr);
  const autoOut = await readNpy(out);
  const run2 = cli(cs.model, cs.input, '-o', out, '--output', 'reconstruction', '--noise-sigma', '0.2');
  assert.equal(run2.status, 0, run2.stderr);
  assert.ok(maxAbsDiff((await readNpy(out)).data, autoOut.data) > 1e-4);
  const bad = cli(cs.model, cs.input, '-o', join(dir, 'bad.npy'), '--noise-sigma=-1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: --noise-sigma must be a number >= 0 or auto \(got -1\)/);
  const frozen = cli(c2.model, c2.input, '-o', join(dir, 'bad.npy'), '--noise-sigma', '0.2');
  assert.equal(frozen.status, 1);
  const frozenAt = String(Number(JSON.parse(readFileSync(c2.sidecar, 'utf8')).sigma.toPrecision(6)));   // as %g prints it
  assert.ok(frozen.stderr.startsWith(`error: image2d.onnx has its noise level frozen at sigma ${frozenAt} (exported without --noise-input)`), frozen.stderr);
  assert.deepEqual(readdirSync(dir).sort(), ['out.npy']);
});

// ---- a closed stdout (crsae-node ... | head -1) ends quietly, as the Python CLI's does ----

/** Run the CLI with stdout a pipe whose reader has gone (a FIFO opened for reading, then closed), or /dev/full. */
function cliIntoStdout(how, ...args) {
  const dir = folder();
  let fd;
  if (how === 'gone reader') {
    const fifo = join(dir, 'stdout.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo failed');
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fd = openSync(fifo, constants.O_WRONLY);
    closeSync(reader);                                  // the reader is gone before the CLI writes a byte
  } else {
    fd = openSync('/dev/full', 'w');
  }
  try {
    return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', fd, 'pipe'],
      env: { ...process.env, CRSAE_DEBUG: '' } });
  } finally {
    closeSync(fd);
  }
}

test('a closed stdout ends quietly with status 141, the output complete and no temporary file', async () => {
  const dir = folder();
  const expected = join(dir, 'expected.npy');
  assert.equal(cli(c1.model, c1.input, '-o', expected, '--output', 'codes').status, 0);
  const out = join(dir, 'out.npy');
  const run = cliIntoStdout('gone reader', c1.model, c1.input, '-o', out, '--output', 'codes');
  assert.deepEqual([run.status, run.signal, run.stderr], [141, null, '']);
  assert.deepEqual(readFileSync(out), readFileSync(expected));
  assert.deepEqual(readdirSync(dir).sort(), ['expected.npy', 'out.npy']);
  const help = cliIntoStdout('gone reader', '--help');
  assert.deepEqual([help.status, help.stderr], [141, '']);
  // an error is still an error: its line on stderr, exit 1
  const bad = cliIntoStdout('gone reader', join(dir, 'nope.onnx'), c1.input, '-o', join(dir, 'bad.npy'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^error: model .*nope\.onnx does not exist; [^\n]+\n$/);
});

// Not an error as in the Python and C++ CLIs: Node opens /dev/null (read-write) on a closed stdout before any
// JavaScript runs, the same file and flags as a caller's stdio 'ignore' (README, "A closed stdout").
test('stdout closed with >&- drops the result line and exits 0; a full stdout is an error', { skip: !existsSync('/dev/full') && 'no /dev/full' }, async () => {
  const dir = folder();
  const out = join(dir, 'out.npy');
  const closed = spawnSync('bash', ['-c', 'exec "$@" >&-', 'bash', process.execPath, CLI, c1.model, c1.input, '-o', out,
    '--output', 'codes'], { encoding: 'utf8' });
  assert.deepEqual([closed.status, closed.stderr], [0, '']);
  assert.deepEqual((await readNpy(out)).shape, (await readNpy(c1.outputs.codes)).shape);
  for (const args of [['--help'], [c1.model, c1.input, '-o', join(dir, 'full.npy')]]) {
    const full = cliIntoStdout('full', ...args);
    assert.deepEqual([full.status, full.stderr], [1, 'error: cannot write to stdout (No space left on device)\n'], args.join(' '));
  }
});
