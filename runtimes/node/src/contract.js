// The crsae ONNX contract (export/CONTRACT.md), read from contract.json: a byte-for-byte copy of
// export/contract.json that ships inside the package (scripts/sync-contract.js refreshes it, `npm pack` runs that,
// and test/contract.test.js fails when it differs from the repository's file). Nothing here restates the contract:
// names, keys, the dtype and the messages all come from that JSON. No Node API: the web page imports this too.

import CONTRACT from './contract.json' with { type: 'json' };
import { ModelFormatError } from './errors.js';

export { CONTRACT };
export const FORMAT = CONTRACT.format;
export const CONTRACT_VERSION = CONTRACT.contract_version;
/** The one input's name ("signal"). */
export const INPUT = Object.keys(CONTRACT.inputs)[0];
/** The optional second input's name ("noise_sigma", [batch] float32): per-item noise levels, negative = estimate. */
export const NOISE_INPUT = Object.keys(CONTRACT.inputs)[1];
/** The output names the contract knows, in its order ("codes", "reconstruction"). */
export const OUTPUTS = Object.keys(CONTRACT.outputs);
/** Every metadata key of the contract; a model missing one is refused. */
export const REQUIRED_KEYS = [...CONTRACT.metadata_keys];
/** The kinds of model ("1d", "2d"): the contract gives axes for each. */
export const KINDS = Object.keys(CONTRACT.inputs[INPUT]).map((k) => k.replace(/^axes_/, ''));

/** The input's axis names for a model kind, e.g. ["batch", "channels", "length"] for "1d". */
export function inputAxisNames(kind) {
  return CONTRACT.inputs[INPUT][`axes_${kind}`];
}

/** The input axes of a model kind as text, e.g. "[batch, channels, length]". */
export function inputAxes(kind) {
  return `[${inputAxisNames(kind).join(', ')}]`;
}

/**
 * One of the contract's messages (`messages` in contract.json), which every runtime words identically.
 * @param {string} name e.g. "too_small"
 * @param {Record<string, string|number>} values one per {placeholder}
 */
export function message(name, values) {
  const template = CONTRACT.messages[name];
  if (template === undefined) throw new RangeError(`contract.json has no message "${name}"`);
  return template.replace(/\{(\w+)\}/g, (_, key) => {
    if (!(key in values)) throw new RangeError(`message "${name}" needs a value for {${key}}`);
    return String(values[key]);
  });
}

/** A spatial size as the contract's messages write it: axes joined by 'x' ([7, 96] -> "7x96", [5] -> "5"). */
export function sizeText(size) {
  return size.join('x');
}

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

/** Whether a model's graph takes the optional noise_sigma input (metadata noise_sigma_input; absent: false). */
export function hasNoiseInput(meta) {
  return Boolean(meta.noise_sigma_input ?? CONTRACT.optional_metadata.noise_sigma_input);
}

/**
 * Whether a model runs the accelerated encoder (metadata encoder "accelerated"; absent: the paper's encoder), whose
 * per-example safeguard makes every code depend on the whole input, so the chunking rule does not hold for it.
 */
export function isAccelerated(meta) {
  return (meta.encoder ?? CONTRACT.optional_metadata.encoder) === 'accelerated';
}

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
  if (!KINDS.includes(meta.kind)) {
    throw new ModelFormatError(
      `${source} has kind ${JSON.stringify(meta.kind)}, expected ${KINDS.map((k) => `"${k}"`).join(' or ')}; re-export it with crsae`);
  }
  for (const key of ['channels', 'num_filters', 'kernel_size', 'stride', 'num_layers']) {
    if (!isInt(meta[key], 1)) {
      throw new ModelFormatError(`${source} has ${key} ${JSON.stringify(meta[key])}, expected a positive integer; re-export it with crsae`);
    }
  }
  if (!isInt(meta.chunk_halo, 0)) {
    throw new ModelFormatError(`${source} has chunk_halo ${JSON.stringify(meta.chunk_halo)}, expected an integer >= 0; re-export it with crsae`);
  }
  if (!isInt(meta.min_size, meta.kernel_size)) {
    throw new ModelFormatError(
      `${source} has min_size ${JSON.stringify(meta.min_size)}, expected an integer >= kernel_size ${meta.kernel_size}; re-export it with crsae`);
  }
  const outputs = meta.outputs;
  if (!Array.isArray(outputs) || outputs.length === 0 || outputs.some((o) => !OUTPUTS.includes(o))) {
    throw new ModelFormatError(
      `${source} has outputs ${JSON.stringify(outputs)}, expected one or both of ${OUTPUTS.join(', ')}; re-export it with crsae`);
  }
  if ('noise_sigma_input' in meta && typeof meta.noise_sigma_input !== 'boolean') {
    throw new ModelFormatError(
      `${source} has noise_sigma_input ${JSON.stringify(meta.noise_sigma_input)}, expected true or false; re-export it with crsae`);
  }
  if (hasNoiseInput(meta) && meta.threshold_mode === 'bias') {
    throw new ModelFormatError(
      `${source} has noise_sigma_input true with threshold_mode "bias" (free biases have no sigma); re-export it with crsae`);
  }
  const encoder = meta.encoder ?? CONTRACT.optional_metadata.encoder;
  if (encoder !== 'paper' && encoder !== 'accelerated') {
    throw new ModelFormatError(
      `${source} has encoder ${JSON.stringify(meta.encoder)}, expected "paper" or "accelerated"; re-export it with crsae`);
  }
  if (encoder === 'accelerated' && !(typeof meta.step === 'number' && meta.step > 0 && meta.step < 2)) {
    throw new ModelFormatError(
      `${source} has step ${JSON.stringify(meta.step ?? null)}, expected a number in (0, 2) for the accelerated encoder; re-export it with crsae`);
  }
  if (meta.dtype !== CONTRACT.dtype) {
    throw new ModelFormatError(
      `${source} has dtype ${JSON.stringify(meta.dtype)}, but this runtime runs only ${CONTRACT.dtype} exports; use the ${CONTRACT.dtype} export of the model`);
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
