import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, planChunks } from '../src/index.js';

test('codes cores tile [0, N - K + 1) and windows follow the contract', () => {
  const N = 1000, K = 9, halo = 56, chunk = 128;
  const plan = planChunks({ output: 'codes', length: N, kernelSize: K, halo, chunk });
  assert.equal(plan[0].a, 0);
  assert.equal(plan.at(-1).b, N - K + 1);
  plan.forEach((p, i) => {
    if (i > 0) assert.equal(p.a, plan[i - 1].b);
    assert.ok(p.b - p.a <= chunk && p.b > p.a);
    assert.equal(p.ws, Math.max(0, p.a - halo));
    assert.equal(p.we, Math.min(N, p.b + K - 1 + halo));
    assert.ok(p.we - p.ws >= K);
  });
  assert.deepEqual(plan[1], { a: 128, b: 256, ws: 72, we: 320 });
});

test('reconstruction cores tile [0, N) with windows [a - halo, b + halo)', () => {
  const plan = planChunks({ output: 'reconstruction', length: 100, kernelSize: 5, halo: 8, chunk: 30 });
  assert.deepEqual(plan, [
    { a: 0, b: 30, ws: 0, we: 38 },
    { a: 30, b: 60, ws: 22, we: 68 },
    { a: 60, b: 90, ws: 52, we: 98 },
    { a: 90, b: 100, ws: 82, we: 100 },
  ]);
});

test('every window is at least K long whenever N >= K (halo = (T + 1)(K - 1))', () => {
  for (const K of [2, 5, 12]) {
    for (const T of [1, 3]) {
      for (const N of [K, K + 1, 3 * K + 2]) {
        for (const chunk of [1, 2, 7]) {
          for (const output of ['codes', 'reconstruction']) {
            const plan = planChunks({ output, length: N, kernelSize: K, halo: (T + 1) * (K - 1), chunk });
            for (const p of plan) assert.ok(p.we - p.ws >= K, `K ${K} T ${T} N ${N} chunk ${chunk} ${output}`);
          }
        }
      }
    }
  }
});

test('a chunk that is not a positive integer is refused', () => {
  for (const chunk of [0, -3, 2.5, NaN]) {
    assert.throws(() => planChunks({ output: 'codes', length: 50, kernelSize: 5, halo: 4, chunk }),
      (err) => err instanceof ConfigError && /chunk must be an integer >= 1/.test(err.message));
  }
});
