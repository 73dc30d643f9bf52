// crsae-node: run crsae ONNX encoders from Node.js with onnxruntime-node.
//
//   import { loadModel, readNpy, writeNpy } from 'crsae-node';
//   const model = await loadModel('export/models/spikes1d.onnx');
//   const codes = await model.encode(await readNpy('signal.npy'), { chunk: 4096 });
//   await writeNpy('codes.npy', codes);

import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import protobuf from 'protobufjs/light.js';
import { ConfigError, DataError, ModelFormatError } from './errors.js';
import { Model } from './model.js';
import { formatNpy, parseNpy } from './npy.js';
import { onnxMetadataReader } from './onnx-metadata.js';

export * from './core.js';

/** ONNX metadata_props of model bytes, as raw strings (protobuf.js; see src/onnx-metadata.js). */
export const { readOnnxMetadata } = onnxMetadataReader(protobuf);

/** The sidecar path of a model: NAME.onnx -> NAME.json. */
export function sidecarPath(modelPath) {
  return modelPath.replace(/\.onnx$/i, '') + '.json';
}

/** A file's bytes, or an ErrorClass naming `what` and ending in `hint` when it is missing, a folder or unreadable. */
async function readBytes(path, what, ErrorClass, hint) {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new ErrorClass(`${what} ${path} does not exist; ${hint}`);
    throw new ErrorClass(`cannot read ${what} ${path} (${err.code ?? err.message}); ${hint}`);
  }
  if (info.isDirectory()) throw new ErrorClass(`${what} ${path} is a folder, not a file; ${hint}`);
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new ErrorClass(`cannot read ${what} ${path} (${err.code ?? err.message}); ${hint}`);
  }
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
  const bytes = await readBytes(path, 'model', ModelFormatError, 'pass the .onnx file written by crsae export');
  if (bytes.length === 0) throw new ModelFormatError(`model ${path} is empty (0 bytes); pass the .onnx file written by crsae export`);
  const sidecarFile = sidecarPath(path);
  let sidecar = null;
  let sidecarText = null;
  try {
    sidecarText = await readFile(sidecarFile, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw new ModelFormatError(`cannot read sidecar ${sidecarFile} (${err.code ?? err.message}); remove it or re-export the model with crsae`);
  }
  if (sidecarText !== null) {
    try {
      sidecar = JSON.parse(sidecarText);
    } catch (err) {
      throw new ModelFormatError(`sidecar ${sidecarFile} is not valid JSON (${err.message}); re-export the model with crsae`);
    }
  }
  return Model.create(ort, bytes, {
    readMetadata: readOnnxMetadata,
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
  return parseNpy(await readBytes(path, 'input', DataError, 'check the path'), path);
}

/** A one-sentence DataError for a failed write of `path`. */
function writeError(path, err) {
  const folder = dirname(path);
  const reasons = {
    ENOENT: `its folder ${folder} does not exist; create it or pass another output path`,
    ENOTDIR: `${folder} is not a folder; pass an output path inside a folder`,
    EACCES: `the folder ${folder} is not writable; pass an output path in a writable folder`,
    EPERM: `the folder ${folder} is not writable; pass an output path in a writable folder`,
    EROFS: `${folder} is on a read-only file system; pass an output path in a writable folder`,
    EISDIR: 'it is a folder; pass a file name such as out.npy',
    ENOSPC: 'the disk is full; free space or pass an output path on another disk',
  };
  return new DataError(`cannot write ${path}: ${reasons[err.code] ?? `${err.code ?? err.message}; pass a writable output path`}`);
}

/**
 * Check that `path` can be written as a file: its folder exists and is a folder, and it is not a folder itself.
 * Throws DataError otherwise (so a CLI can refuse before running the model).
 */
export async function checkWritable(path) {
  const folder = dirname(path);
  let info;
  try {
    info = await stat(folder);
  } catch (err) {
    throw writeError(path, err);
  }
  if (!info.isDirectory()) throw writeError(path, { code: 'ENOTDIR' });
  try {
    if ((await stat(path)).isDirectory()) throw writeError(path, { code: 'EISDIR' });
  } catch (err) {
    if (err instanceof DataError) throw err;
  }
}

/**
 * Write a .npy file atomically: to a temporary name in the same folder, then renamed over `path`.
 * On any failure the temporary file is removed and an existing `path` is left as it was.
 * @param {string} path
 * @param {{data: Float32Array, shape: number[]}} array
 */
export async function writeNpy(path, array) {
  const bytes = formatNpy(array);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw writeError(path, err);
  }
}
