// What runtimes/node/bench.js and runtimes/web/bench.js share: picking the golden case to time, and the timing
// summary. Not part of the crsae-node package (package.json "files" ships src/ and bin/ only).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The golden case named `name` in exportDir/golden/index.json, or by default the first unchunked 1-D case
 *  (else the first 1-D one). Throws when there is none. */
export function chooseGoldenCase(exportDir, name) {
  const index = JSON.parse(readFileSync(join(exportDir, 'golden', 'index.json'), 'utf8'));
  const is1d = (c) => JSON.parse(readFileSync(join(exportDir, c.sidecar), 'utf8')).kind === '1d';
  const chosen = name
    ? index.cases.find((c) => c.name === name)
    : index.cases.find((c) => is1d(c) && !c.chunk_length) ?? index.cases.find(is1d);
  if (!chosen) throw new Error(`no such golden case ${name ?? '(1-D)'} in ${exportDir}/golden/index.json`);
  return chosen;
}

/** Mean / median / min / max of call times in ms, rounded to the microsecond. */
export function timingStats(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  const round = (v) => Math.round(v * 1000) / 1000;
  return {
    mean_ms: round(ms.reduce((s, v) => s + v, 0) / ms.length),
    median_ms: round(sorted[Math.floor(sorted.length / 2)]),
    min_ms: round(sorted[0]),
    max_ms: round(sorted.at(-1)),
  };
}
