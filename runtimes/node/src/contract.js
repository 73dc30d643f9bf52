// The crsae ONNX contract, version 1 (export/CONTRACT.md, export/contract.json).
// The constants below are checked against export/contract.json by test/contract.test.js.

import { ModelFormatError } from './errors.js';

export const FORMAT = 'crsae-onnx';
export const CONTRACT_VERSION = 1;
export const INPUT = 'signal';
export const OUTPUTS = ['codes', 'reconstruction'];

/** Metadata keys this runtime reads; a model missing one is refused. */
export const REQUIRED_KEYS = [
  'format', 'contract_version', 'kind', 'channels', 'num_filters', 'kernel_size', 'stride',
  'num_layers', 'outputs', 'chunk_halo', 'dtype', 'atol_floor', 'atol_per_layer',
];

/**
 * Decode ONNX `metadata_props` (each value the JSON encoding of the sidecar's value).
 * @param {Record<string, string>} props
 * @returns {Record<string, unknown>} typed metadata, as in the sidecar NAME.json
 */
export function decodeMetadataProps(props) {
  const meta = {};
  for (const [key, text] of Object.entries(props)) {
    try {
      meta[key] = JSON.parse(text);
    } catch {
      throw new ModelFormatError(
        `ONNX metadata key "${key}" holds ${JSON.stringify(text)}, which is not JSON; re-export the model with crsae`);
    }
  }
  return meta;
}

const isInt = (v, min) => Number.isInteger(v) && v >= min;

/**
 * Refuse a model this runtime cannot run; return the metadata unchanged otherwise.
 * @param {Record<string, unknown>} meta typed metadata
 * @param {string} source where it came from, for messages
 */
export function checkMetadata(meta, source) {
  if (meta.format !== FORMAT) {
    throw new ModelFormatError(
      `${source} is not a crsae model (metadata "format" is ${JSON.stringify(meta.format)}, expected "${FORMAT}"); export it with crsae`);
  }
  if (!isInt(meta.contract_version, 1)) {
    throw new ModelFormatError(
      `${source} has contract_version ${JSON.stringify(meta.contract_version)}, expected a positive integer; re-export it with crsae`);
  }
  if (meta.contract_version > CONTRACT_VERSION) {
    throw new ModelFormatError(
      `${source} uses contract_version ${meta.contract_version} but this runtime knows only ${CONTRACT_VERSION}; upgrade the runtime or export with a matching crsae`);
  }
  const missing = REQUIRED_KEYS.filter((key) => !(key in meta));
  if (missing.length) {
    throw new ModelFormatError(`${source} lacks metadata key(s) ${missing.join(', ')}; re-export it with crsae`);
  }
  if (meta.kind !== '1d' && meta.kind !== '2d') {
    throw new ModelFormatError(`${source} has kind ${JSON.stringify(meta.kind)}, expected "1d" or "2d"; re-export it with crsae`);
  }
  for (const key of ['channels', 'num_filters', 'kernel_size', 'stride', 'num_layers']) {
    if (!isInt(meta[key], 1)) {
      throw new ModelFormatError(`${source} has ${key} ${JSON.stringify(meta[key])}, expected a positive integer; re-export it with crsae`);
    }
  }
  if (!isInt(meta.chunk_halo, 0)) {
    throw new ModelFormatError(`${source} has chunk_halo ${JSON.stringify(meta.chunk_halo)}, expected an integer >= 0; re-export it with crsae`);
  }
  const outputs = meta.outputs;
  if (!Array.isArray(outputs) || outputs.length === 0 || outputs.some((o) => !OUTPUTS.includes(o))) {
    throw new ModelFormatError(
      `${source} has outputs ${JSON.stringify(outputs)}, expected one or both of ${OUTPUTS.join(', ')}; re-export it with crsae`);
  }
  if (meta.dtype !== 'float32') {
    throw new ModelFormatError(
      `${source} has dtype ${JSON.stringify(meta.dtype)}, but this runtime runs only float32 exports; use the float32 export of the model`);
  }
  return meta;
}

/**
 * The contract's tolerance: atol = atol_floor + atol_per_layer * num_layers * max(1, max |ref|).
 * @param {Record<string, number>} meta
 * @param {Float32Array} ref the reference output
 */
export function tolerance(meta, ref) {
  let peak = 1;
  for (const v of ref) peak = Math.max(peak, Math.abs(v));
  return meta.atol_floor + meta.atol_per_layer * meta.num_layers * peak;
}

/** max |a - b| over two equally long arrays (Infinity when a value is not finite). */
export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}
