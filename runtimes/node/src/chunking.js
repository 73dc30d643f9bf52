// Chunked 1-D inference, exactly the rule of export/CONTRACT.md ("Chunking long 1-D signals").
// x_T[n] depends on y only within about T (K - 1) samples (shared/crsae-math.md, "Receptive field"),
// so windows with halo = chunk_halo = (T + 1)(K - 1) reproduce the whole-signal result up to rounding.

import { ConfigError } from './errors.js';

/**
 * Plan the windows for one output of a signal of `length` samples.
 *
 * codes (M = N - K + 1 entries): cores [a, b) of `chunk` entries over [0, M),
 *   window ws = max(0, a - halo), we = min(N, b + K - 1 + halo).
 * reconstruction (N samples): cores [a, b) of `chunk` samples over [0, N),
 *   window ws = max(0, a - halo), we = min(N, b + halo).
 * Either way keep [a - ws, b - ws) of the window's output.
 *
 * @param {object} p
 * @param {'codes'|'reconstruction'} p.output
 * @param {number} p.length N, signal samples
 * @param {number} p.kernelSize K
 * @param {number} p.halo chunk_halo from the metadata
 * @param {number} p.chunk core size in output samples, >= 1
 * @returns {{a: number, b: number, ws: number, we: number}[]}
 */
export function planChunks({ output, length, kernelSize, halo, chunk }) {
  if (!Number.isInteger(chunk) || chunk < 1) {
    throw new ConfigError(`chunk must be an integer >= 1 (got ${chunk}); pass a core size in output samples such as 4096`);
  }
  const N = length;
  const K = kernelSize;
  const extra = output === 'codes' ? K - 1 : 0;
  const M = N - extra;
  const plan = [];
  for (let a = 0; a < M; a += chunk) {
    const b = Math.min(M, a + chunk);
    plan.push({ a, b, ws: Math.max(0, a - halo), we: Math.min(N, b + extra + halo) });
  }
  return plan;
}
