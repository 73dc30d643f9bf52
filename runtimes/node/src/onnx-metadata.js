// Read an ONNX model's metadata_props straight from its protobuf bytes.
// onnxruntime's JS API (node and web) does not expose model metadata, and the ONNX file is the
// authority (the sidecar NAME.json is a convenience copy), so we walk the top level of ModelProto
// ourselves: field 14 is `repeated StringStringEntryProto metadata_props` with key = 1, value = 2
// (onnx/onnx.proto). Every other field is skipped by its wire type; nothing else is decoded.

import { ModelFormatError } from './errors.js';

const METADATA_PROPS = 14;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Iterate (field, wireType, value) over one protobuf message; value is a Uint8Array for wire type 2. */
function* fields(bytes, source) {
  let pos = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.length) break;
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new ModelFormatError(`${source} is not a valid ONNX file (bad varint at byte ${pos}); check the path and re-export`);
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    let value = null;
    if (wireType === 0) varint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = varint();
      value = bytes.subarray(pos, pos + length);
      pos += length;
    } else {
      throw new ModelFormatError(`${source} is not a valid ONNX file (wire type ${wireType} at byte ${pos}); check the path and re-export`);
    }
    if (pos > bytes.length || field === 0) {
      throw new ModelFormatError(`${source} is not a valid ONNX file (truncated or corrupt protobuf); check the path and re-export`);
    }
    yield [field, wireType, value];
  }
}

/**
 * @param {Uint8Array} bytes the whole .onnx file
 * @param {string} [source] name for messages
 * @returns {Record<string, string>} metadata_props as raw strings (empty when the model has none)
 */
export function readOnnxMetadata(bytes, source = 'model') {
  const props = {};
  for (const [field, wireType, value] of fields(bytes, source)) {
    if (field !== METADATA_PROPS || wireType !== 2) continue;
    let key = '';
    let text = '';
    for (const [f, w, v] of fields(value, source)) {
      if (w !== 2) continue;
      if (f === 1) key = decoder.decode(v);
      else if (f === 2) text = decoder.decode(v);
    }
    props[key] = text;
  }
  return props;
}
