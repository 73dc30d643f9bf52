// Read an ONNX model's metadata_props with protobuf.js (onnxruntime's JS API, node and web, exposes no model
// metadata). The schema below is the slice of onnx/onnx.proto that we read: ModelProto field 14,
// `repeated StringStringEntryProto metadata_props`, with key = 1 and value = 2; protobuf.js skips every other
// field (the graph included) by its wire type.
//
// No Node API and no import of protobuf.js here, so the web page shares this file: the caller passes the
// protobuf.js module (crsae-node imports the npm package, the page loads its browser build), as Model.create
// takes the onnxruntime package.

import { ModelFormatError } from './errors.js';

/** protobuf.js JSON descriptor for the part of onnx.proto that holds the model metadata. */
export const ONNX_METADATA_SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: { fields: { metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 } } },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
      },
    },
  },
};

/**
 * @param {object} protobuf the protobuf.js module (light or full build)
 * @returns {{ModelProto: object, readOnnxMetadata: (bytes: Uint8Array, source?: string) => Record<string, string>}}
 *   readOnnxMetadata gives metadata_props as raw strings (empty when the model has none)
 */
export function onnxMetadataReader(protobuf) {
  const ModelProto = protobuf.Root.fromJSON(ONNX_METADATA_SCHEMA).lookupType('onnx.ModelProto');
  function readOnnxMetadata(bytes, source = 'model') {
    let model;
    try {
      model = ModelProto.decode(bytes);
    } catch (err) {
      throw new ModelFormatError(`${source} is not a valid ONNX file (${err.message}); check the path and re-export`);
    }
    return Object.fromEntries(model.metadata_props.map(({ key, value }) => [key, value]));
  }
  return { ModelProto, readOnnxMetadata };
}
