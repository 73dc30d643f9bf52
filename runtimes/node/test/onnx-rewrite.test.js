// src/onnx-rewrite.js: 1-D ConvTranspose nodes run as 2-D ones (onnxruntime-node 1.30's 1-D kernel is slow).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { liftConvTranspose1d, loadModel, maxAbsDiff, readNpy, readOnnxMetadata } from '../src/index.js';
import { goldenIndex, smallest1dCase } from './fixtures.js';

const kind = (c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind;
const cases = goldenIndex().cases;

test('1-D models: every ConvTranspose is lifted, metadata_props are kept, a second pass changes nothing', () => {
  for (const c of cases.filter((x) => kind(x) === '1d')) {
    const bytes = new Uint8Array(readFileSync(c.model));
    const { bytes: lifted, rewritten } = liftConvTranspose1d(bytes);
    assert.ok(rewritten > 0, `${c.model}: no 1-D ConvTranspose was lifted`);
    assert.deepEqual(readOnnxMetadata(lifted), readOnnxMetadata(bytes));
    const again = liftConvTranspose1d(lifted);
    assert.equal(again.rewritten, 0);
    assert.equal(again.bytes, lifted);
  }
});

test('2-D models and bytes that are not ONNX come back unchanged', () => {
  for (const c of cases.filter((x) => kind(x) === '2d')) {
    const bytes = new Uint8Array(readFileSync(c.model));
    const result = liftConvTranspose1d(bytes);
    assert.equal(result.rewritten, 0);
    assert.equal(result.bytes, bytes);
  }
  const junk = Uint8Array.from([0xff, 0xff, 0xff, 0x07, 0x3a, 0x99]);
  assert.equal(liftConvTranspose1d(junk).bytes, junk);
});

test('the lifted model gives the same outputs as the file run as it is', async () => {
  const c = await smallest1dCase();
  assert.ok(c, 'no 1-D golden case');
  const signal = await readNpy(c.input);
  const lifted = await loadModel(c.model);
  const plain = await loadModel(c.model, { liftConvTranspose: false });
  try {
    for (const output of lifted.meta.outputs) {
      const a = await lifted.run(output, signal);
      const b = await plain.run(output, signal);
      assert.deepEqual(a.shape, b.shape);
      assert.ok(maxAbsDiff(a.data, b.data) <= 1e-5, `${output}: lifted and plain differ by ${maxAbsDiff(a.data, b.data)}`);
    }
  } finally {
    await lifted.release();
    await plain.release();
  }
});
