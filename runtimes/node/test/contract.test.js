// The package reads the contract from src/contract.json, a copy of export/contract.json (the one source):
// the copy must not drift, every name and key comes from it, and too-small signals get its exact message.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  CONTRACT, CONTRACT_VERSION, FORMAT, INPUT, loadModel, NOISE_INPUT, message, OUTPUTS, REQUIRED_KEYS, ShapeError, sizeText, tolerance,
} from '../src/index.js';
import { CONTRACT_FILE, goldenIndex } from './fixtures.js';

const repoBytes = readFileSync(CONTRACT_FILE);
const contract = JSON.parse(repoBytes);
const kind = (c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind;
const case1d = goldenIndex().cases.find((c) => kind(c) === '1d');
const case2d = goldenIndex().cases.find((c) => kind(c) === '2d');
const models = {};

before(async () => {
  models['1d'] = await loadModel(case1d.model);
  models['2d'] = await loadModel(case2d.model);
});
after(async () => {
  for (const m of Object.values(models)) await m.release();
});

test('src/contract.json is a byte-for-byte copy of export/contract.json', () => {
  const copy = readFileSync(fileURLToPath(new URL('../src/contract.json', import.meta.url)));
  assert.ok(copy.equals(repoBytes), 'src/contract.json has drifted from export/contract.json; run: node runtimes/node/scripts/sync-contract.js');
  const check = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/sync-contract.js', import.meta.url)), '--check'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});

test('format, version, tensor names and metadata keys are the contract\'s', () => {
  assert.deepEqual(CONTRACT, contract);
  assert.equal(FORMAT, contract.format);
  assert.equal(CONTRACT_VERSION, contract.contract_version);
  assert.deepEqual([INPUT, NOISE_INPUT], Object.keys(contract.inputs));
  assert.equal(contract.inputs[NOISE_INPUT].optional, true);
  assert.deepEqual(OUTPUTS, Object.keys(contract.outputs));
  assert.deepEqual(REQUIRED_KEYS, contract.metadata_keys);
  assert.ok(REQUIRED_KEYS.includes('min_size'));
});

test('messages are the contract\'s templates with their placeholders filled', () => {
  assert.equal(sizeText([7, 96]), '7x96');
  assert.equal(sizeText([5]), '5');
  const expected = contract.messages.too_small.replace('{size}', '7x96').replace('{min_size}', '8');
  assert.equal(message('too_small', { size: '7x96', min_size: 8 }), expected);
  assert.throws(() => message('too_small', { size: '5' }), /needs a value for \{min_size\}/);
});

/** The contract's too_small message for a signal of spatial size `spatial` on `model`. */
const tooSmall = (model, spatial) => contract.messages.too_small
  .replace('{size}', spatial.join('x')).replace('{min_size}', String(model.meta.min_size));

const zeros = (shape) => ({ data: new Float32Array(shape.reduce((p, d) => p * d, 1)), shape });

test('metadata min_size is read from the model and follows the contract\'s rule', () => {
  for (const m of Object.values(models)) {
    const { kernel_size: K, stride: s, kind: k } = m.meta;
    assert.equal(m.meta.min_size, k === '2d' && s > 1 ? Math.max(K, 3 * s - 1) : K);
  }
});

test('a 1-D signal shorter than min_size is refused with the contract\'s too_small message', async () => {
  const m = models['1d'];
  const n = m.meta.min_size - 1;
  for (const output of m.meta.outputs) {
    await assert.rejects(m.run(output, zeros([1, m.meta.channels, n])),
      (err) => err instanceof ShapeError && err.message === tooSmall(m, [n]));
  }
  const ok = await m.encode(zeros([1, m.meta.channels, m.meta.min_size]));
  assert.deepEqual(ok.shape, [1, m.meta.num_filters, m.meta.min_size - m.meta.kernel_size + 1]);
});

test('a 2-D image with a side below min_size is refused with the exact message (e.g. 7x96)', async () => {
  const m = models['2d'];
  const { channels: ch, min_size: least, kernel_size: K } = m.meta;
  assert.ok(least > K, `${case2d.model}: expected a strided model whose min_size exceeds kernel_size`);
  for (const spatial of [[least - 1, 96], [96, least - 1], [K, K]]) {
    for (const output of m.meta.outputs) {
      await assert.rejects(m.run(output, zeros([1, ch, ...spatial])),
        (err) => err instanceof ShapeError && err.message === tooSmall(m, spatial), `${spatial} ${output}`);
    }
  }
  for (const output of m.meta.outputs) {
    const out = await m.run(output, zeros([1, ch, least, least]));
    assert.ok(out.data.every(Number.isFinite));
  }
});

test('tolerance follows the contract rule', () => {
  const meta = { atol_floor: contract.tolerance.atol_floor, atol_per_layer: contract.tolerance.atol_per_layer, num_layers: 30 };
  assert.equal(tolerance(meta, Float32Array.of(0.1, -0.5)), 1e-5 + 2e-6 * 30);
  assert.ok(Math.abs(tolerance(meta, Float32Array.of(0.1, -4)) - (1e-5 + 2e-6 * 30 * 4)) < 1e-12);
});
