import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatNpy, NpyError, parseNpy, readNpy, writeNpy } from '../src/index.js';
import { goldenIndex } from './fixtures.js';

/** A .npy 1.0 file with an arbitrary header dict and data bytes. */
function npy(dict, dataBytes = new Uint8Array(0)) {
  let header = dict;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + dataBytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(dataBytes, 10 + header.length);
  return out;
}

test('format then parse round-trips shape and values, header aligned to 64 bytes', () => {
  for (const shape of [[3], [2, 3], [2, 1, 5], [1, 1, 2, 2], []]) {
    const n = shape.reduce((p, d) => p * d, 1);
    const data = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 1);
    const bytes = formatNpy({ data, shape });
    assert.equal((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64, 0);
    const back = parseNpy(bytes);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(back.data, data);
  }
});

test('golden .npy files are reproduced byte for byte (numpy writes the same header)', () => {
  const c = goldenIndex().cases[0];
  for (const path of [c.input, ...Object.values(c.outputs)]) {
    const bytes = new Uint8Array(readFileSync(path));
    assert.deepEqual(formatNpy(parseNpy(bytes, path)), bytes, path);
  }
});

test('unsupported .npy files are refused with NpyError', () => {
  const four = new Uint8Array(8);
  const cases = [
    [npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", four), /dtype '<f8', but only little-endian float32/],
    [npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", four), /dtype '>f4'/],
    [npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", four), /dtype '<i4'/],
    [npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", four), /Fortran order; save numpy.ascontiguousarray/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", four), /holds 8 data bytes but shape \[3\] needs 12/],
    [new TextEncoder().encode('hello, not numpy'), /not a .npy file/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(() => parseNpy(bytes), (err) => err instanceof NpyError && pattern.test(err.message), String(pattern));
  }
  assert.throws(() => formatNpy({ data: new Float64Array(2), shape: [2] }), /only Float32Array data/);
  assert.throws(() => formatNpy({ data: new Float32Array(2), shape: [3] }), /shape \[3\] holds 3 values but data has 2/);
});

test('writeNpy writes through a temporary name and leaves only the result', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'crsae-npy-'));
  try {
    const path = join(dir, 'out.npy');
    await writeNpy(path, { data: Float32Array.of(1, 2, 3), shape: [3] });
    assert.deepEqual(readdirSync(dir), ['out.npy']);
    assert.deepEqual((await readNpy(path)).data, Float32Array.of(1, 2, 3));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
