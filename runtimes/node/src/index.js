// crsae-node: run crsae ONNX encoders from Node.js with onnxruntime-node.
//
//   import { loadModel, readNpy, writeNpy } from 'crsae-node';
//   const model = await loadModel('export/models/spikes1d.onnx');
//   const codes = await model.encode(await readNpy('signal.npy'), { chunk: 4096 });
//   await writeNpy('codes.npy', codes);

import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { ConfigError, ModelFormatError } from './errors.js';
import { Model } from './model.js';
import { formatNpy, parseNpy } from './npy.js';

export * from './errors.js';
export { FORMAT, CONTRACT_VERSION, INPUT, OUTPUTS, tolerance, maxAbsDiff } from './contract.js';
export { planChunks } from './chunking.js';
export { readOnnxMetadata } from './onnx-metadata.js';
export { parseNpy, formatNpy } from './npy.js';
export { Model, modelMetadata } from './model.js';

/** The sidecar path of a model: NAME.onnx -> NAME.json. */
export function sidecarPath(modelPath) {
  return modelPath.replace(/\.onnx$/i, '') + '.json';
}

/**
 * Load a crsae model. Metadata come from the ONNX file, else from the sidecar NAME.json beside it.
 * @param {string} path NAME.onnx
 * @param {object} [options]
 * @param {string[]} [options.executionProviders] onnxruntime-node providers, default ['cpu'];
 *   ['cuda'] needs the CUDA build (see README), and fails rather than falling back to CPU
 * @param {object} [options.sessionOptions] extra onnxruntime session options
 * @returns {Promise<Model>}
 */
export async function loadModel(path, { executionProviders = ['cpu'], sessionOptions = {} } = {}) {
  if (!Array.isArray(executionProviders) || executionProviders.length === 0) {
    throw new ConfigError(`executionProviders must be a non-empty list such as ['cpu'] or ['cuda'] (got ${JSON.stringify(executionProviders)})`);
  }
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new ModelFormatError(`cannot read model ${path} (${err.code ?? err.message}); check the path`);
  }
  const sidecarFile = sidecarPath(path);
  let sidecar = null;
  if (existsSync(sidecarFile)) {
    try {
      sidecar = JSON.parse(await readFile(sidecarFile, 'utf8'));
    } catch (err) {
      throw new ModelFormatError(`sidecar ${sidecarFile} is not valid JSON (${err.message}); re-export the model with crsae`);
    }
  }
  return Model.create(ort, bytes, {
    sidecar,
    source: path,
    sessionOptions: { ...sessionOptions, executionProviders },
  });
}

/**
 * Read a .npy file (float32, little-endian, C order).
 * @returns {Promise<{data: Float32Array, shape: number[]}>}
 */
export async function readNpy(path) {
  return parseNpy(new Uint8Array(await readFile(path)), path);
}

/**
 * Write a .npy file atomically: to a temporary name beside it, then renamed.
 * @param {string} path
 * @param {{data: Float32Array, shape: number[]}} array
 */
export async function writeNpy(path, array) {
  const bytes = formatNpy(array);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
