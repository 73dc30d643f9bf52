// crsae in the browser: onnxruntime-web (wasm backend) plus crsae-node/core, the runtime-independent part of
// the crsae-node package (a dependency of this page, package.json: the contract from its contract.json, metadata
// checks, the chunking rule, the .npy parser, Model), so the page and crsae-node run models the same way.
// No build step: plain ES modules from this folder and its node_modules, served from the repository root.

import * as ort from './node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
// protobuf.js's browser build (no ES module build exists) defines globalThis.protobuf; crsae-node reads the ONNX
// metadata with it, as it does in Node.
import './node_modules/protobufjs/dist/light/protobuf.min.js';
import {
  CONTRACT, CrsaeError, maxAbsDiff, message, Model, ModelFormatError, onnxMetadataReader, parseNpy, sizeText,
} from './node_modules/crsae-node/src/core.js';

/** The export folder (models/, golden/), relative to this module. */
export const EXPORT_URL = new URL('../../export/', import.meta.url);

// The .wasm files sit next to ort.wasm.min.mjs; say so explicitly so nothing is fetched elsewhere.
ort.env.wasm.wasmPaths = new URL('./node_modules/onnxruntime-web/dist/', import.meta.url).href;
// Threads need a cross-origin-isolated page (serve.js sends COOP/COEP); otherwise run on one thread.
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

export { ort, CONTRACT, CrsaeError, maxAbsDiff, message, sizeText };

/** ONNX metadata_props of model bytes, as raw strings (crsae-node's reader on protobuf.js). */
export const { readOnnxMetadata } = onnxMetadataReader(globalThis.protobuf);

/** Fetch a URL as bytes; null on 404 when optional, else a CrsaeError naming the URL. */
async function fetchBytes(url, { optional = false } = {}) {
  const response = await fetch(url);
  if (response.status === 404 && optional) return null;
  if (!response.ok) throw new CrsaeError(`cannot fetch ${url} (HTTP ${response.status}); check that the file exists under export/`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Fetch and parse a .npy file (float32, little-endian, C order); null on 404 when optional. */
export async function fetchNpy(url, { optional = false } = {}) {
  const bytes = await fetchBytes(url, { optional });
  return bytes && parseNpy(bytes, String(url));
}

/**
 * Load a crsae model from a URL (metadata from the ONNX file, else the sidecar NAME.json beside it).
 * @param {string|URL} url NAME.onnx
 * @param {object} [options]
 * @param {object} [options.sessionOptions] extra onnxruntime-web session options
 * @returns {Promise<Model>} with encode / reconstruct / run, as in crsae-node
 */
export async function loadModel(url, { sessionOptions = {} } = {}) {
  const modelUrl = new URL(url, document.baseURI);
  const bytes = await fetchBytes(modelUrl);
  const sidecarBytes = await fetchBytes(new URL(modelUrl.pathname.replace(/\.onnx$/i, '.json'), modelUrl), { optional: true });
  let sidecar = null;
  if (sidecarBytes) {
    try {
      sidecar = JSON.parse(new TextDecoder().decode(sidecarBytes));
    } catch (err) {
      throw new ModelFormatError(`sidecar of ${modelUrl} is not valid JSON (${err.message}); re-export the model with crsae`);
    }
  }
  return Model.create(ort, bytes, {
    readMetadata: readOnnxMetadata,
    sidecar,
    source: modelUrl.pathname.split('/').pop(),
    sessionOptions: { executionProviders: ['wasm'], ...sessionOptions },
  });
}

/** The golden index (export/golden/index.json) with URLs resolved against the export folder; null if absent. */
export async function fetchGoldenIndex() {
  const bytes = await fetchBytes(new URL('golden/index.json', EXPORT_URL), { optional: true });
  if (!bytes) return null;
  const index = JSON.parse(new TextDecoder().decode(bytes));
  const abs = (p) => (p ? new URL(p, EXPORT_URL).href : p);
  index.cases = index.cases.map((c) => ({
    ...c,
    modelUrl: abs(c.model),
    inputUrl: abs(c.input),
    noiseUrl: abs(c.noise_sigma),
    outputUrls: Object.fromEntries(Object.entries(c.outputs).map(([k, v]) => [k, abs(v)])),
  }));
  return index;
}

/**
 * Run every golden case and output in this browser, each with its chunk_length.
 * @returns {Promise<{name: string, output: string, chunk: number|null, diff: number, atol: number, ok: boolean, ms: number, shape: number[]}[]>}
 */
export async function runGolden() {
  const index = await fetchGoldenIndex();
  if (!index) throw new CrsaeError('export/golden/index.json is missing; generate the golden vectors with python -m crsae.exporter.golden');
  const models = new Map();
  const results = [];
  for (const c of index.cases) {
    if (!models.has(c.modelUrl)) models.set(c.modelUrl, await loadModel(c.modelUrl));
    const model = models.get(c.modelUrl);
    const signal = await fetchNpy(c.inputUrl);
    // a case's noise levels (models exported with --noise-input): -1 is the graph's estimate, asked for as 'auto'
    const noiseSigma = c.noiseUrl ? [...(await fetchNpy(c.noiseUrl)).data].map((v) => (v < 0 ? 'auto' : v)) : null;
    for (const [output, url] of Object.entries(c.outputUrls)) {
      const ref = await fetchNpy(url);
      const start = performance.now();
      const out = await model.run(output, signal, { chunk: c.chunk_length ?? null, noiseSigma });
      const ms = performance.now() - start;
      const sameShape = JSON.stringify(out.shape) === JSON.stringify(ref.shape);
      const diff = sameShape ? maxAbsDiff(out.data, ref.data) : Infinity;
      const atol = c.atol[output];
      results.push({ name: c.name, output, chunk: c.chunk_length ?? null, diff, atol, ok: diff <= atol, ms, shape: out.shape });
    }
  }
  for (const model of models.values()) await model.release();
  return results;
}
