// One crsae model: an onnxruntime session plus its contract metadata.
// Independent of which onnxruntime package runs it: Node passes onnxruntime-node, the web page
// onnxruntime-web (both implement onnxruntime-common's InferenceSession and Tensor).

import {
  checkMetadata, decodeMetadataProps, hasNoiseInput, INPUT, isAccelerated, inputAxes, inputAxisNames, message, NOISE_INPUT, sizeText,
} from './contract.js';
import { planChunks } from './chunking.js';
import { ConfigError, ModelFormatError, ProviderUnavailableError, ShapeError } from './errors.js';

/**
 * The model's typed metadata: from the ONNX file's metadata_props when it has them, else from the
 * sidecar NAME.json. When both exist they must agree on every key they share.
 * @param {Record<string, string>} props the ONNX file's metadata_props (readOnnxMetadata)
 * @param {Record<string, unknown>|null} sidecar parsed NAME.json, or null
 * @param {string} source name for messages
 */
export function modelMetadata(props, sidecar, source) {
  if (!('format' in props)) {
    if (!sidecar) {
      throw new ModelFormatError(
        `${source} is not a crsae model (no "format" in its ONNX metadata and no sidecar NAME.json); export it with crsae`);
    }
    return checkMetadata(sidecar, `${source} (sidecar)`);
  }
  const meta = decodeMetadataProps(props);
  if (sidecar) {
    for (const key of Object.keys(sidecar)) {
      if (key in meta && JSON.stringify(meta[key]) !== JSON.stringify(sidecar[key])) {
        throw new ModelFormatError(
          `${source}: sidecar says ${key} = ${JSON.stringify(sidecar[key])} but the ONNX metadata says ${JSON.stringify(meta[key])}; re-export both files together`);
      }
    }
  }
  return checkMetadata(meta, source);
}

/** ort.InferenceSession.create, with its failures turned into one-line crsae errors. */
async function createSession(ort, bytes, sessionOptions, source) {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (err) {
    const reason = String(err?.message ?? err).split('\n')[0].replace(/\x1b\[[0-9;]*m/g, '').trim();
    const providers = (sessionOptions.executionProviders ?? []).map((p) => (typeof p === 'string' ? p : p.name));
    const special = providers.filter((p) => p !== 'cpu' && p !== 'wasm');
    if (special.length && /provider|backend|shared library|cuda|webgpu/i.test(reason)) {
      throw new ProviderUnavailableError(
        `execution provider ${special.join(', ')} is unavailable for ${source} (${reason}); install its build of onnxruntime or ask for ['cpu']`);
    }
    if (/IR version/i.test(reason)) {
      throw new ModelFormatError(
        `onnxruntime cannot load ${source} (${reason}); re-export with an older ir_version or upgrade onnxruntime`);
    }
    throw new ModelFormatError(`onnxruntime cannot load ${source} (${reason}); check that it is a valid ONNX model exported by crsae`);
  }
}

/** Check a signal {data, shape} against the model; return the spatial size(s). */
function checkSignal(signal, meta) {
  const axes = inputAxes(meta.kind);
  const rank = inputAxisNames(meta.kind).length;
  const { data, shape } = signal ?? {};
  if (!(data instanceof Float32Array)) {
    throw new ShapeError(`signal.data must be a Float32Array (got ${data?.constructor?.name ?? typeof data}); convert with Float32Array.from(values)`);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`signal.shape must be an array of positive integers (got ${JSON.stringify(shape)}); pass ${axes}`);
  }
  if (shape.length !== rank) {
    throw new ShapeError(`signal has rank ${shape.length} (shape [${shape.join(", ")}]) but a ${meta.kind} model takes ${axes}; reshape it`);
  }
  if (shape[1] !== meta.channels) {
    throw new ShapeError(`signal has ${shape[1]} channels (shape [${shape.join(", ")}]) but the model takes ${meta.channels}; pass ${axes} with channels = ${meta.channels}`);
  }
  const count = shape.reduce((p, d) => p * d, 1);
  if (count !== data.length) {
    throw new ShapeError(`signal shape [${shape.join(", ")}] holds ${count} values but data has ${data.length}; pass the data's own shape`);
  }
  const spatial = shape.slice(2);
  if (spatial.some((d) => d < meta.min_size)) {
    throw new ShapeError(message('too_small', { size: sizeText(spatial), min_size: meta.min_size }));
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new ShapeError(`signal holds ${data[i]} at flat index ${i}; values must be finite, so replace NaN/Infinity before encoding`);
    }
  }
  return spatial;
}

/** Copy samples [ws, we) of the last axis of a (rows, n) array. */
function sliceLast(data, rows, n, ws, we) {
  const width = we - ws;
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(data.subarray(r * n + ws, r * n + we), r * width);
  return out;
}

export class Model {
  /**
   * Build a Model from model bytes.
   * @param {object} ort onnxruntime-node or onnxruntime-web
   * @param {Uint8Array} bytes the .onnx file
   * @param {object} options
   * @param {(bytes: Uint8Array, source: string) => Record<string, string>} options.readMetadata the file's
   *   metadata_props (onnxMetadataReader(protobuf).readOnnxMetadata)
   * @param {Record<string, unknown>|null} [options.sidecar] parsed NAME.json
   * @param {string} [options.source] name for messages
   * @param {object} [options.sessionOptions] passed to ort.InferenceSession.create
   */
  static async create(ort, bytes, { readMetadata, sidecar = null, source = 'model', sessionOptions = {} }) {
    const meta = modelMetadata(readMetadata(bytes, source), sidecar, source);
    const session = await createSession(ort, bytes, sessionOptions, source);
    const inputs = hasNoiseInput(meta) ? [INPUT, NOISE_INPUT] : [INPUT];
    if (JSON.stringify(session.inputNames) !== JSON.stringify(inputs)) {
      throw new ModelFormatError(`${source} has inputs ${JSON.stringify(session.inputNames)}, expected ${JSON.stringify(inputs)}; re-export it with crsae`);
    }
    if (JSON.stringify(session.outputNames) !== JSON.stringify(meta.outputs)) {
      throw new ModelFormatError(
        `${source} has outputs ${JSON.stringify(session.outputNames)} but its metadata lists ${JSON.stringify(meta.outputs)}; re-export it with crsae`);
    }
    return new Model(ort, session, meta, source);
  }

  constructor(ort, session, meta, source) {
    this.ort = ort;
    this.session = session;
    /** Typed contract metadata (kind, channels, num_filters, kernel_size, chunk_halo, outputs, ...). */
    this.meta = meta;
    this.source = source;
    /** Whether the thresholds follow a noise level given at inference (options.noiseSigma of run). */
    this.noiseInput = hasNoiseInput(meta);
  }

  /**
   * The noise_sigma input for a batch: Float32Array [batch], or null for a model without it.
   * @param {undefined|null|number|'auto'|Array<number|'auto'>} noiseSigma null: the model's own sigma; a number
   *   >= 0 in the signal's units; 'auto': estimated from each item in the graph; or one of those per item
   * @param {number} batch
   */
  noiseValues(noiseSigma, batch) {
    if (!this.noiseInput) {
      if (noiseSigma !== undefined && noiseSigma !== null) {
        throw new ConfigError(message('no_noise_input', { model: this.source.split(/[\\/]/).pop(), sigma: Number(this.meta.sigma.toPrecision(6)) }));
      }
      return null;
    }
    const given = noiseSigma ?? this.meta.sigma;
    const items = Array.isArray(given) ? given : null;
    if (items && items.length !== batch) {
      throw new ConfigError(`noiseSigma has ${items.length} values for ${batch} items; pass one, or one per item`);
    }
    const out = new Float32Array(batch);
    for (let i = 0; i < batch; i++) {
      const v = items ? items[i] : given;
      if (v === 'auto') {
        out[i] = -1;                                   // negative: estimated in the graph
      } else if (typeof v === 'number' && v >= 0 && Number.isFinite(v)) {
        out[i] = v;
      } else {
        throw new ConfigError(`noiseSigma must be a number >= 0 or 'auto' (or one per item), got ${JSON.stringify(v)}`);
      }
    }
    return out;
  }

  /**
   * Sparse codes x_T.
   * @param {{data: Float32Array, shape: number[]}} signal [batch, channels, length] or [batch, channels, height, width]
   * @param {{chunk?: number, noiseSigma?: number|'auto'|Array<number|'auto'>}} [options] chunk: 1-D only, core
   *   size for chunked processing; noiseSigma: the noise level the thresholds are set for (noiseValues)
   * @returns {Promise<{data: Float32Array, shape: number[]}>} [batch, num_filters, length - K + 1] (2-D: code grid)
   */
  encode(signal, options) {
    return this.run('codes', signal, options);
  }

  /**
   * The decoder's reconstruction H x_T (2-D, stride > 1: the shift-and-average denoiser).
   * @param {{data: Float32Array, shape: number[]}} signal
   * @param {{chunk?: number, noiseSigma?: number|'auto'|Array<number|'auto'>}} [options] as for encode
   * @returns {Promise<{data: Float32Array, shape: number[]}>} same shape as signal
   */
  reconstruct(signal, options) {
    return this.run('reconstruction', signal, options);
  }

  /**
   * Run one output, whole or chunked.
   * @param {'codes'|'reconstruction'} output
   */
  async run(output, signal, { chunk = null, noiseSigma = null } = {}) {
    if (!this.meta.outputs.includes(output)) {
      throw new ConfigError(`${this.source} has no "${output}" output (it has ${this.meta.outputs.join(', ')}); ask for one of those`);
    }
    checkSignal(signal, this.meta);
    const noise = this.noiseValues(noiseSigma, signal.shape[0]);
    if (chunk === null || chunk === undefined) return this.#runWhole(output, signal.data, signal.shape, noise);
    if (isAccelerated(this.meta)) {
      throw new ConfigError(message('not_chunkable', { model: this.source.split(/[\\/]/).pop() }));
    }
    if (this.meta.kind !== '1d') {
      throw new ConfigError(`chunking is defined for 1-D models only and ${this.source} is ${this.meta.kind}; drop the chunk option`);
    }
    if (noise && noise.some((v) => v < 0)) {
      throw new ConfigError(`noiseSigma 'auto' would estimate the noise per chunk, so chunks would differ from the whole; pass the signal's noise std`);
    }
    return this.#runChunked(output, signal, chunk, noise);
  }

  async #runWhole(output, data, shape, noise) {
    const feeds = { [INPUT]: new this.ort.Tensor('float32', data, shape) };
    if (noise) feeds[NOISE_INPUT] = new this.ort.Tensor('float32', noise, [shape[0]]);
    const result = await this.session.run(feeds, [output]);
    const tensor = result[output];
    return { data: tensor.data, shape: [...tensor.dims] };
  }

  async #runChunked(output, { data, shape }, chunk, noise) {
    const [batch, channels, N] = shape;
    const K = this.meta.kernel_size;
    const plan = planChunks({ output, length: N, kernelSize: K, halo: this.meta.chunk_halo, chunk });
    const outChannels = output === 'codes' ? this.meta.num_filters : channels;
    const outLength = output === 'codes' ? N - K + 1 : N;
    const rows = batch * outChannels;
    const out = new Float32Array(rows * outLength);
    for (const { a, b, ws, we } of plan) {
      const window = sliceLast(data, batch * channels, N, ws, we);
      const part = await this.#runWhole(output, window, [batch, channels, we - ws], noise);
      const partLength = part.shape[2];
      for (let r = 0; r < rows; r++) {
        out.set(part.data.subarray(r * partLength + a - ws, r * partLength + b - ws), r * outLength + a);
      }
    }
    return { data: out, shape: [batch, outChannels, outLength] };
  }

  /** Free the onnxruntime session. */
  async release() {
    await this.session.release?.();
  }
}
