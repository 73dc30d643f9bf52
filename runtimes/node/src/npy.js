// A minimal .npy reader and writer: float32, little-endian, C order only (NumPy format 1.0/2.0/3.0 in,
// 1.0 out). Pure functions on bytes, so the web page uses them too; file I/O lives in index.js.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

import { NpyError } from './errors.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * @typedef {object} Array32
 * @property {Float32Array} data values in C order
 * @property {number[]} shape
 */

/**
 * Parse .npy bytes.
 * @param {Uint8Array} bytes
 * @param {string} [source] name for messages
 * @returns {Array32}
 */
export function parseNpy(bytes, source = 'array') {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NpyError(`${source} is not a .npy file (no \\x93NUMPY magic); save it with numpy.save`);
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength;
  let start;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    headerLength = view.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyError(`${source} has .npy format version ${major}.${bytes[7]}, which this reader does not know; save it with numpy.save`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${source} has an unreadable .npy header ${JSON.stringify(header.trim())}; save it with numpy.save`);
  }
  if (/^[<>|=]c\d+$/.test(descr)) {
    throw new NpyError(`${source} holds complex numbers (dtype '${descr}'), but signals are real; save the real part, x.real.astype('<f4')`);
  }
  if (descr !== '<f4') {
    throw new NpyError(`${source} has dtype '${descr}', but only little-endian float32 ('<f4') is supported; save x.astype('<f4')`);
  }
  if (fortran === 'True') {
    throw new NpyError(`${source} is in Fortran order; save numpy.ascontiguousarray(x) instead`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new NpyError(`${source} has shape (${shapeText}), which is not a tuple of sizes; save it with numpy.save`);
  }
  const count = shape.reduce((p, d) => p * d, 1);
  const offset = start + headerLength;
  if (bytes.length - offset !== 4 * count) {
    throw new NpyError(`${source} holds ${bytes.length - offset} data bytes but shape [${shape}] needs ${4 * count}; the file is truncated or corrupt`);
  }
  let data;
  if (LITTLE_ENDIAN_HOST) {
    data = new Float32Array(bytes.slice(offset).buffer);
  } else {
    data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(offset + 4 * i, true);
  }
  return { data, shape };
}

/**
 * Format an array as .npy 1.0 bytes ('<f4', C order).
 * @param {Array32} array
 * @returns {Uint8Array}
 */
export function formatNpy({ data, shape }) {
  if (!(data instanceof Float32Array)) {
    throw new NpyError(`only Float32Array data can be written as .npy (got ${data?.constructor?.name}); convert with Float32Array.from`);
  }
  const count = shape.reduce((p, d) => p * d, 1);
  if (count !== data.length) {
    throw new NpyError(`shape [${shape}] holds ${count} values but data has ${data.length}; pass the array's own shape`);
  }
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + 4 * count);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  } else {
    const view = new DataView(out.buffer);
    data.forEach((v, i) => view.setFloat32(10 + header.length + 4 * i, v, true));
  }
  return out;
}
