// crsae-node/core: everything that does not depend on Node or on which onnxruntime package runs the model
// (the contract, metadata checks, the chunking rule, .npy bytes, named errors, Model). The web page imports
// this file; crsae-node's main entry (index.js) adds file I/O and onnxruntime-node.

export * from './errors.js';
export {
  CONTRACT, FORMAT, CONTRACT_VERSION, INPUT, NOISE_INPUT, hasNoiseInput, isAccelerated, OUTPUTS, REQUIRED_KEYS, KINDS, inputAxes, inputAxisNames, message,
  sizeText, decodeMetadataProps, checkMetadata, tolerance, maxAbsDiff,
} from './contract.js';
export { planChunks } from './chunking.js';
export { ONNX_METADATA_SCHEMA, onnxMetadataReader } from './onnx-metadata.js';
export { parseNpy, formatNpy } from './npy.js';
export { Model, modelMetadata } from './model.js';
