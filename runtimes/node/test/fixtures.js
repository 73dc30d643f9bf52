// Shared test fixtures: the golden index (export/golden/index.json), the repository's contract.json and ONNX
// metadata rewriting.
// CRSAE_EXPORT_DIR overrides the export folder (default: the repository's export/).

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs/light.js';
import { onnxMetadataReader } from '../src/onnx-metadata.js';
import { parseNpy } from '../src/npy.js';

const { ModelProto } = onnxMetadataReader(protobuf);

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXPORT_DIR = resolve(process.env.CRSAE_EXPORT_DIR ?? join(REPO, 'export'));
/** export/contract.json, the contract's one source (src/contract.json must be a byte-for-byte copy). */
export const CONTRACT_FILE = join(REPO, 'export', 'contract.json');

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
      noise_sigma: abs(c.noise_sigma),
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

/**
 * Replace an ONNX model's metadata_props (ModelProto field 14) with `props` (raw strings): every other top-level
 * field is copied as it is (protobuf.js's Reader finds the field boundaries), then the new entries are appended.
 * @param {Uint8Array} bytes
 * @param {Record<string, string>} props
 */
export function rewriteMetadata(bytes, props) {
  const reader = protobuf.Reader.create(bytes);
  const kept = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    reader.skipType(tag & 7);
    if (tag >>> 3 !== 14) kept.push(bytes.subarray(start, reader.pos));
  }
  const entries = Object.entries(props).map(([key, value]) => ({ key, value }));
  kept.push(ModelProto.encode({ metadata_props: entries }).finish());
  const out = new Uint8Array(kept.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of kept) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
