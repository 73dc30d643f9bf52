// Refusals: models that are not crsae exports, and signals that break the contract.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ConfigError, loadModel, maxAbsDiff, message, ModelFormatError, readNpy, readOnnxMetadata, ShapeError,
} from '../src/index.js';
import { goldenIndex, rewriteMetadata } from './fixtures.js';

const cases = goldenIndex().cases;
const case1d = cases.find((c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind === '1d');
const case2d = cases.find((c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind === '2d');
const bytes = new Uint8Array(readFileSync(case1d.model));
const props = readOnnxMetadata(bytes);
let dir;
let model;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'crsae-node-test-'));
  model = await loadModel(case1d.model);
});
after(async () => {
  await model.release();
  rmSync(dir, { recursive: true, force: true });
});

/** Write NAME.onnx (and NAME.json when sidecar is given) into the temp folder; return the .onnx path. */
function writeModel(name, onnxBytes, sidecar) {
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, onnxBytes);
  if (sidecar !== undefined) writeFileSync(join(dir, `${name}.json`), JSON.stringify(sidecar));
  return path;
}

const refused = (pattern) => (err) => err instanceof ModelFormatError && pattern.test(err.message);

test('ONNX metadata holds every sidecar key, JSON-encoded', () => {
  for (const c of cases) {
    const sidecar = JSON.parse(readFileSync(c.sidecar, 'utf8'));
    const meta = readOnnxMetadata(new Uint8Array(readFileSync(c.model)));
    for (const [key, value] of Object.entries(sidecar)) {
      assert.deepEqual(JSON.parse(meta[key]), value, `${c.model}: ${key}`);
    }
  }
});

test('an ONNX model without crsae metadata or sidecar is refused', async () => {
  const path = writeModel('plain', rewriteMetadata(bytes, {}));
  await assert.rejects(loadModel(path), refused(/is not a crsae model \(no "format"/));
});

test('a model whose format is not crsae-onnx is refused', async () => {
  const path = writeModel('other', rewriteMetadata(bytes, { ...props, format: '"other-onnx"' }));
  await assert.rejects(loadModel(path), refused(/is not a crsae model \(metadata "format" is "other-onnx"/));
});

test('a model with a newer contract_version is refused', async () => {
  const path = writeModel('future', rewriteMetadata(bytes, { ...props, contract_version: '2' }));
  await assert.rejects(loadModel(path), refused(/contract_version 2 but this runtime knows only 1/));
});

test('metadata that is not JSON-encoded is refused', async () => {
  const path = writeModel('raw', rewriteMetadata(bytes, { ...props, kind: '1d' }));
  await assert.rejects(loadModel(path), refused(/"kind" holds "1d", which is not JSON/));
});

test('a model lacking a contract metadata key (min_size) is refused', async () => {
  const { min_size: _, ...rest } = props;
  const path = writeModel('old', rewriteMetadata(bytes, rest));
  await assert.rejects(loadModel(path), refused(/lacks metadata key\(s\) min_size; re-export it with crsae/));
});

test('a float16 export is refused with a pointer to the float32 one', async () => {
  const path = writeModel('half', rewriteMetadata(bytes, { ...props, dtype: '"float16"' }));
  await assert.rejects(loadModel(path), refused(/runs only float32 exports/));
});

test('a sidecar that disagrees with the ONNX metadata is refused', async () => {
  const sidecar = JSON.parse(readFileSync(case1d.sidecar, 'utf8'));
  const path = writeModel('stale', bytes, { ...sidecar, num_layers: sidecar.num_layers + 1 });
  await assert.rejects(loadModel(path), refused(/sidecar says num_layers = .* re-export both files/));
});

test('metadata are read from the sidecar when the ONNX file has none', async () => {
  const path = writeModel('bare', rewriteMetadata(bytes, {}), JSON.parse(readFileSync(case1d.sidecar, 'utf8')));
  const m = await loadModel(path);
  assert.equal(m.meta.kernel_size, model.meta.kernel_size);
  await m.release();
});

test('a file that is not ONNX is refused', async () => {
  const path = writeModel('text', new TextEncoder().encode('definitely not a protobuf\n'));
  await assert.rejects(loadModel(path), (err) => err instanceof ModelFormatError);
  await assert.rejects(loadModel(join(dir, 'missing.onnx')), refused(/model .*missing\.onnx does not exist; pass the \.onnx file/));
  await assert.rejects(loadModel(writeModel('empty', new Uint8Array(0))), refused(/empty\.onnx is empty \(0 bytes\)/));
});

function signal1d(shape) {
  const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
  return { data, shape };
}

test('signals that break the contract are refused with ShapeError', async () => {
  const { channels: ch, kernel_size: K } = model.meta;
  const bad = [
    [{ data: new Float32Array(10 * K), shape: [1, 10 * K] }, /rank 2 .* takes \[batch, channels, length\]/],
    [signal1d([1, ch + 1, 10 * K]), new RegExp(`has ${ch + 1} channels .* takes ${ch}`)],
    [signal1d([2, ch, K - 1]), new RegExp(`^signal size ${K - 1} is smaller than ${model.meta.min_size}, the least this model takes`)],
    [{ data: new Float32Array(5), shape: [1, ch, 10 * K] }, /holds \d+ values but data has 5/],
    [{ data: new Float64Array(ch * 10 * K), shape: [1, ch, 10 * K] }, /must be a Float32Array \(got Float64Array\)/],
    [{ data: new Float32Array(ch * 10 * K), shape: [0, ch, 10 * K] }, /array of positive integers/],
  ];
  const nan = signal1d([1, ch, 10 * K]);
  nan.data[7] = NaN;
  bad.push([nan, /holds NaN at flat index 7; values must be finite/]);
  for (const [signal, pattern] of bad) {
    await assert.rejects(model.encode(signal), (err) => err instanceof ShapeError && pattern.test(err.message), String(pattern));
  }
});

test('an output the model lacks and a bad chunk are refused with ConfigError', async () => {
  const { channels: ch, kernel_size: K } = model.meta;
  const signal = signal1d([1, ch, 4 * K]);
  await assert.rejects(model.run('denoised', signal), (err) => err instanceof ConfigError && /has no "denoised" output/.test(err.message));
  await assert.rejects(model.encode(signal, { chunk: 0 }), (err) => err instanceof ConfigError && /chunk must be an integer >= 1/.test(err.message));
});

test('chunking an accelerated-encoder model is refused with the contract message', async () => {
  // the 1-D golden model relabelled: metadata encoder "accelerated" is what the runtime reads
  const path = writeModel('accelerated', rewriteMetadata(bytes, { ...props, encoder: '"accelerated"', step: '1.9' }));
  const m = await loadModel(path);
  const { channels: ch, kernel_size: K } = m.meta;
  const signal = signal1d([1, ch, 4 * K]);
  assert.equal((await m.encode(signal)).shape[2], 3 * K + 1);                 // whole: runs
  await assert.rejects(m.encode(signal, { chunk: K }), (err) => err instanceof ConfigError
    && err.message === 'accelerated.onnx runs the accelerated encoder, whose safeguard is per example, so chunks would '
      + 'not reproduce the whole signal; run the signal whole, or export the model with crsae export --encoder paper to chunk it');
  await m.release();
});

test('a bad encoder or step in the metadata is refused', async () => {
  for (const [extra, pattern] of [[{ encoder: '"fast"' }, /has encoder "fast", expected "paper" or "accelerated"/],
    [{ encoder: '"accelerated"', step: '2.5' }, /has step 2.5, expected a number in \(0, 2\)/]]) {
    const path = writeModel('bad-encoder', rewriteMetadata(bytes, { ...props, ...extra }));
    await assert.rejects(loadModel(path), refused(pattern));
  }
});

test('chunking a 2-D model is refused', { skip: !case2d && 'no 2-D golden case' }, async () => {
  const m = await loadModel(case2d.model);
  const { channels: ch, kernel_size: K } = m.meta;
  const signal = { data: new Float32Array(ch * 4 * K * K), shape: [1, ch, 2 * K, 2 * K] };
  await assert.rejects(m.run(m.meta.outputs[0], signal, { chunk: 8 }),
    (err) => err instanceof ConfigError && /chunking is defined for 1-D models only/.test(err.message));
  await assert.rejects(m.run(m.meta.outputs[0], { data: new Float32Array(ch * K * 4 * K), shape: [1, ch, K * 4 * K] }),
    (err) => err instanceof ShapeError && /rank 3 .* \[batch, channels, height, width\]/.test(err.message));
  await m.release();
});

// The optional noise_sigma input (crsae export --noise-input): a per-item noise level, or 'auto'.
const caseSigma = cases.find((c) => c.noise_sigma);
const caseFrozen = cases.find((c) => c.name === caseSigma.name.replace(/_sigma$/, ''));

test('a noise-input model at its own sigma equals the frozen export; other levels differ', async () => {
  const frozen = await loadModel(caseFrozen.model);
  const noisy = await loadModel(caseSigma.model);
  try {
    assert.equal(frozen.noiseInput, false);
    assert.equal(noisy.noiseInput, true);
    const signal = await readNpy(caseSigma.input);
    const want = await frozen.reconstruct(signal);
    for (const noiseSigma of [null, noisy.meta.sigma, [noisy.meta.sigma, noisy.meta.sigma]]) {
      const got = await noisy.reconstruct(signal, { noiseSigma });
      assert.ok(maxAbsDiff(got.data, want.data) <= 1e-6, `noiseSigma ${JSON.stringify(noiseSigma)}`);
    }
    const other = await noisy.reconstruct(signal, { noiseSigma: 2 * noisy.meta.sigma });
    assert.ok(maxAbsDiff(other.data, want.data) > 1e-3);
    const auto = await noisy.reconstruct(signal, { noiseSigma: 'auto' });
    const mixed = await noisy.reconstruct(signal, { noiseSigma: ['auto', 0.2] });
    const half = auto.data.length / 2;
    assert.equal(maxAbsDiff(mixed.data.subarray(0, half), auto.data.subarray(0, half)), 0);
  } finally {
    await frozen.release();
    await noisy.release();
  }
});

test('bad noise levels, and any level for a frozen model, are refused with the contract message', async () => {
  const frozen = await loadModel(caseFrozen.model);
  const noisy = await loadModel(caseSigma.model);
  try {
    const signal = await readNpy(caseSigma.input);
    const sigma = Number(frozen.meta.sigma.toPrecision(6));
    await assert.rejects(frozen.reconstruct(signal, { noiseSigma: 0.1 }), (err) => err instanceof ConfigError
      && err.message === message('no_noise_input', { model: caseFrozen.model.split('/').pop(), sigma }));
    for (const noiseSigma of [-0.1, NaN, 'loud', [0.1], true]) {
      await assert.rejects(noisy.reconstruct(signal, { noiseSigma }), ConfigError, JSON.stringify(noiseSigma));
    }
  } finally {
    await frozen.release();
    await noisy.release();
  }
});

test('noise_sigma_input must be a boolean and match the graph inputs', async () => {
  const sigmaBytes = new Uint8Array(readFileSync(caseSigma.model));
  const sigmaProps = readOnnxMetadata(sigmaBytes);
  const bad = writeModel('badflag', rewriteMetadata(sigmaBytes, { ...sigmaProps, noise_sigma_input: '"yes"' }));
  await assert.rejects(loadModel(bad), refused(/noise_sigma_input "yes", expected true or false/));
  const { noise_sigma_input: _, ...withoutFlag } = sigmaProps;
  const unflagged = writeModel('unflagged', rewriteMetadata(sigmaBytes, withoutFlag));
  await assert.rejects(loadModel(unflagged), refused(/has inputs \["signal","noise_sigma"\], expected \["signal"\]/));
  const flagged = writeModel('flagged', rewriteMetadata(bytes, { ...props, noise_sigma_input: 'true' }));
  await assert.rejects(loadModel(flagged), refused(/expected \["signal","noise_sigma"\]/));
});
