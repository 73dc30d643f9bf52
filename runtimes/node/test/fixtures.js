// Shared test fixtures: the golden index (export/golden/index.json) and ONNX metadata rewriting.
// CRSAE_EXPORT_DIR overrides the export folder (default: the repository's export/).

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy } from '../src/npy.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXPORT_DIR = resolve(process.env.CRSAE_EXPORT_DIR ?? join(REPO, 'export'));

/** The golden index with every path made absolute. Throws (fails the test) when it is missing. */
export function goldenIndex() {
  const index = JSON.parse(readFileSync(join(EXPORT_DIR, 'golden', 'index.json'), 'utf8'));
  const abs = (p) => (p === null || p === undefined ? p : join(EXPORT_DIR, p));
  return {
    ...index,
    cases: index.cases.map((c) => ({
      ...c,
      model: abs(c.model),
      sidecar: abs(c.sidecar),
      input: abs(c.input),
      outputs: Object.fromEntries(Object.entries(c.outputs).map(([k, v]) => [k, abs(v)])),
    })),
  };
}

/** Golden cases whose model is 1-D, read from their sidecars. */
export function cases1d() {
  return goldenIndex().cases.filter((c) => JSON.parse(readFileSync(c.sidecar, 'utf8')).kind === '1d');
}

/** The 1-D golden case with the fewest input values (cheapest to run many times); undefined if none. */
export async function smallest1dCase() {
  const sized = cases1d().map((c) => ({ c, size: parseNpy(new Uint8Array(readFileSync(c.input)), c.input).data.length }));
  return sized.sort((x, y) => x.size - y.size)[0]?.c;
}

function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function lengthDelimited(field, bytes) {
  return [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
}

function readVarint(bytes, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
  }
}

/**
 * Replace an ONNX model's metadata_props (ModelProto field 14) with `props` (raw strings).
 * @param {Uint8Array} bytes
 * @param {Record<string, string>} props
 */
export function rewriteMetadata(bytes, props) {
  const kept = [];
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    let tag;
    [tag, pos] = readVarint(bytes, pos);
    const wireType = tag % 8;
    if (wireType === 0) [, pos] = readVarint(bytes, pos);
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else {
      let length;
      [length, pos] = readVarint(bytes, pos);
      pos += length;
    }
    if (Math.floor(tag / 8) !== 14) kept.push(bytes.subarray(start, pos));
  }
  const enc = new TextEncoder();
  for (const [key, value] of Object.entries(props)) {
    kept.push(Uint8Array.from(lengthDelimited(14, [...lengthDelimited(1, enc.encode(key)), ...lengthDelimited(2, enc.encode(value))])));
  }
  const out = new Uint8Array(kept.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of kept) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
