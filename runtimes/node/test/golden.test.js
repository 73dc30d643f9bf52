// Every golden case (export/golden/index.json), every output, within the case's atol.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CONTRACT_VERSION, loadModel, maxAbsDiff, readNpy } from '../src/index.js';
import { goldenIndex, smallest1dCase } from './fixtures.js';

const models = new Map();
function model(path) {
  if (!models.has(path)) models.set(path, loadModel(path));
  return models.get(path);
}
after(async () => {
  for (const m of models.values()) await (await m).release();
});

const index = goldenIndex();

test('golden index lists cases of this contract version', () => {
  assert.equal(index.contract_version, CONTRACT_VERSION);
  assert.ok(index.cases.length > 0, 'export/golden/index.json has no cases');
});

for (const c of index.cases) {
  for (const [output, refPath] of Object.entries(c.outputs)) {
    const how = c.chunk_length ? `chunked at ${c.chunk_length}` : 'whole';
    test(`golden ${c.name} ${output} (${how}) is within atol`, async () => {
      const m = await model(c.model);
      const signal = await readNpy(c.input);
      const ref = await readNpy(refPath);
      // the golden noise levels: -1 is the graph's estimate, which this runtime asks for as 'auto'
      const noiseSigma = c.noise_sigma ? [...(await readNpy(c.noise_sigma)).data].map((v) => (v < 0 ? 'auto' : v)) : null;
      const out = await m.run(output, signal, { chunk: c.chunk_length ?? null, noiseSigma });
      assert.deepEqual(out.shape, ref.shape);
      const diff = maxAbsDiff(out.data, ref.data);
      const atol = c.atol[output];
      assert.ok(Number.isFinite(atol) && atol > 0, `case ${c.name} has no atol for ${output}`);
      assert.ok(diff <= atol, `${c.name} ${output}: max |out - ref| = ${diff} > atol ${atol}`);
    });
  }
}

// The smallest 1-D golden input, cut into two cores: the stitched result equals the whole-signal one.
const smallest = await smallest1dCase();

test('chunked 1-D inference equals whole-signal inference', { skip: !smallest && 'no 1-D golden case' }, async () => {
  const m = await model(smallest.model);
  const signal = await readNpy(smallest.input);
  const N = signal.shape[2];
  for (const output of m.meta.outputs) {
    const M = output === 'codes' ? N - m.meta.kernel_size + 1 : N;
    const whole = await m.run(output, signal);
    const chunked = await m.run(output, signal, { chunk: Math.ceil(M / 2) });
    assert.deepEqual(chunked.shape, whole.shape);
    const diff = maxAbsDiff(chunked.data, whole.data);
    const atol = smallest.atol[output] ?? Object.values(smallest.atol)[0];
    assert.ok(diff <= atol, `${smallest.name} ${output}: chunked vs whole max diff ${diff} > atol ${atol}`);
  }
});
