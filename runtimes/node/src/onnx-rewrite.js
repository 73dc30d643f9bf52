// Run 1-D ConvTranspose nodes as 2-D ones: the model is rewritten before it reaches onnxruntime.
//
// Why: onnxruntime 1.30 (the library inside onnxruntime-node 1.30.0; PyPI's 1.30.0 library behaves the same)
// runs a 1-D ConvTranspose about 16x slower than onnxruntime 1.32 (about 380 us vs 24 us per
// [3, 3, 1178] -> [3, 1, 1207] node on the development VM), which made the 1-D crsae encoder (50 such nodes)
// about 7x slower in Node than in Python / C++ onnxruntime 1.32. Its 2-D ConvTranspose is not affected.
// So each 1-D ConvTranspose(x, W[C_in, C_out/g, K]) becomes
//   Squeeze(ConvTranspose2d(Unsqueeze(x, axis 2), W[C_in, C_out/g, 1, K]), axis 2)
// with kernel_shape [1, K], strides [1, s], dilations [1, d], pads [0, p0, 0, p1], output_padding [0, op] and
// the same group: the same products summed in the same order (the results match the 1-D node bit for bit here).
//
// Only the top-level graph is touched, only nodes whose weight is a rank-3 initializer, in models of IR
// version >= 4 whose default-domain opset is >= 13 (Unsqueeze / Squeeze take axes as an input); a node with
// output_shape or auto_pad other than NOTSET is left alone, and a model with nothing to rewrite comes back
// as the same bytes.
// Every ModelProto field other than the graph (metadata_props included) is copied verbatim.

const IR_VERSION = 1; const GRAPH = 7; const OPSET_IMPORT = 8; // ModelProto
const G_NODE = 1; const G_INITIALIZER = 5; const G_INPUT = 11; const G_OUTPUT = 12; // GraphProto
const N_INPUT = 1; const N_OUTPUT = 2; const N_NAME = 3; const N_OP_TYPE = 4; const N_ATTRIBUTE = 5; const N_DOMAIN = 7; // NodeProto
const A_NAME = 1; const A_I = 3; const A_S = 4; const A_G = 6; const A_INTS = 8; const A_GRAPHS = 11; // AttributeProto
const T_DIMS = 1; const T_DATA_TYPE = 2; const T_NAME = 8; const T_RAW_DATA = 9; // TensorProto
const T_EXTERNAL_DATA = 13; const T_DATA_LOCATION = 14;
const INT64 = 7;
const V_NAME = 1; // ValueInfoProto.name
const O_DOMAIN = 1; const O_VERSION = 2; // OperatorSetIdProto

const utf8 = new TextDecoder('utf-8');
const encoder = new TextEncoder();

class Unsupported extends Error {}

/** Parse one message into [{field, wire, value, raw}]; value: number (varint), Uint8Array (len / fixed). */
function parse(bytes) {
  const out = [];
  let pos = 0;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10 && pos < bytes.length; i++) {
      const byte = bytes[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Unsupported('bad varint');
  };
  while (pos < bytes.length) {
    const start = pos;
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value;
    if (wire === 0) value = varint();
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      value = bytes.subarray(pos, pos + n);
      pos += n;
    } else if (wire === 2) {
      const length = varint();
      value = bytes.subarray(pos, pos + length);
      pos += length;
    } else throw new Unsupported(`wire type ${wire}`);
    if (pos > bytes.length || field === 0) throw new Unsupported('truncated');
    out.push({ field, wire, value, raw: bytes.subarray(start, pos) });
  }
  return out;
}

function encodeVarint(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new Unsupported(`varint ${n}`);
  const out = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

function concat(parts) {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

const tag = (field, wire) => encodeVarint(field * 8 + wire);
const lenField = (field, payload) => concat([tag(field, 2), encodeVarint(payload.length), payload]);
const varintField = (field, n) => concat([tag(field, 0), encodeVarint(n)]);
const str = (v) => utf8.decode(v);

/** Repeated int64 (packed or not) of one field; throws Unsupported on values that are not safe non-negative. */
function ints(entries, field) {
  const values = [];
  for (const e of entries.filter((x) => x.field === field)) {
    if (e.wire === 0) values.push(e.value);
    else if (e.wire === 2) {
      let pos = 0;
      const b = e.value;
      while (pos < b.length) {
        let value = 0;
        let scale = 1;
        let done = false;
        for (let i = 0; i < 10 && pos < b.length; i++) {
          const byte = b[pos++];
          value += (byte & 0x7f) * scale;
          if (byte < 0x80) { done = true; break; }
          scale *= 128;
        }
        if (!done) throw new Unsupported('bad packed varint');
        values.push(value);
      }
    } else throw new Unsupported('ints wire type');
  }
  if (values.some((v) => !Number.isSafeInteger(v))) throw new Unsupported('int64 out of range');
  return values;
}

const intsAttr = (name, values) => concat([
  lenField(A_NAME, encoder.encode(name)),
  ...values.map((v) => varintField(A_INTS, v)),
  varintField(20, 7), // AttributeProto.type = INTS
]);
const intAttr = (name, value) => concat([
  lenField(A_NAME, encoder.encode(name)), varintField(A_I, value), varintField(20, 2), // type = INT
]);


/** 2-D attributes for a 1-D ConvTranspose node with kernel size K, or null when the node is left alone. */
function attributes2d(attrEntries, K) {
  const lists = { strides: [1], dilations: [1], output_padding: [0], pads: [0, 0] };
  let group = 1;
  for (const a of attrEntries) {
    const e = parse(a.value);
    const name = str(e.find((x) => x.field === A_NAME)?.value ?? new Uint8Array());
    if (name === 'group') group = e.find((x) => x.field === A_I)?.value;
    else if (name === 'kernel_shape') {
      const k = ints(e, A_INTS);
      if (k.length !== 1 || k[0] !== K) return null;
    } else if (name === 'auto_pad') {
      const s = e.find((x) => x.field === A_S)?.value;
      if (s && str(s) !== 'NOTSET') return null;
    } else if (name in lists) {
      lists[name] = ints(e, A_INTS);
      if (lists[name].length !== (name === 'pads' ? 2 : 1)) return null;
    } else return null; // output_shape or anything unknown
  }
  if (!Number.isSafeInteger(group) || group < 1) return null;
  const [p0, p1] = lists.pads;
  return [
    intsAttr('dilations', [1, lists.dilations[0]]), intAttr('group', group), intsAttr('kernel_shape', [1, K]),
    intsAttr('output_padding', [0, lists.output_padding[0]]), intsAttr('pads', [0, p0, 0, p1]),
    intsAttr('strides', [1, lists.strides[0]]),
  ];
}

/** A copy of an initializer under another name with a 1 inserted before its last dim; null if it cannot be. */
function lift(tensorBytes, name) {
  const e = parse(tensorBytes);
  if (e.some((x) => x.field === T_EXTERNAL_DATA || (x.field === T_DATA_LOCATION && x.value !== 0))) return null;
  const dims = ints(e, T_DIMS);
  if (dims.length !== 3) return null;
  const rest = e.filter((x) => x.field !== T_DIMS && x.field !== T_NAME).map((x) => x.raw);
  return {
    K: dims[2],
    bytes: concat([...[dims[0], dims[1], 1, dims[2]].map((d) => varintField(T_DIMS, d)), lenField(T_NAME, encoder.encode(name)), ...rest]),
  };
}

function node(opType, inputs, outputs, name, attrs = []) {
  return concat([
    ...inputs.map((v) => lenField(N_INPUT, encoder.encode(v))),
    ...outputs.map((v) => lenField(N_OUTPUT, encoder.encode(v))),
    lenField(N_NAME, encoder.encode(name)),
    lenField(N_OP_TYPE, encoder.encode(opType)),
    ...attrs.map((a) => lenField(N_ATTRIBUTE, a)),
  ]);
}

/**
 * @param {Uint8Array} bytes an .onnx file
 * @returns {{bytes: Uint8Array, rewritten: number}} the model with its 1-D ConvTranspose nodes run as 2-D,
 *   and how many nodes changed (0: `bytes` is the input itself)
 */
export function liftConvTranspose1d(bytes) {
  try {
    return rewrite(bytes);
  } catch (err) {
    if (err instanceof Unsupported) return { bytes, rewritten: 0 };
    throw err;
  }
}

function rewrite(bytes) {
  const unchanged = { bytes, rewritten: 0 };
  const model = parse(bytes);
  const opset = model.filter((e) => e.field === OPSET_IMPORT && e.wire === 2).map((e) => parse(e.value))
    .find((o) => ['', 'ai.onnx'].includes(str(o.find((x) => x.field === O_DOMAIN)?.value ?? new Uint8Array())));
  const version = opset?.find((x) => x.field === O_VERSION)?.value;
  const graphs = model.filter((e) => e.field === GRAPH && e.wire === 2);
  const ir = model.find((e) => e.field === IR_VERSION && e.wire === 0)?.value;
  // IR >= 4: initializers need not be graph inputs (the new ones are not).
  if (!(version >= 13) || !(ir >= 4) || graphs.length !== 1) return unchanged;
  const graph = parse(graphs[0].value);
  const nodes = graph.filter((e) => e.field === G_NODE).map((e) => ({ entry: e, fields: parse(e.value) }));
  const text = (n, field) => str(n.fields.find((x) => x.field === field)?.value ?? new Uint8Array());
  const inputs = (n) => n.fields.filter((x) => x.field === N_INPUT).map((x) => str(x.value));
  const outputs = (n) => n.fields.filter((x) => x.field === N_OUTPUT).map((x) => str(x.value));
  const candidates = nodes.filter((n) => text(n, N_OP_TYPE) === 'ConvTranspose' && ['', 'ai.onnx'].includes(text(n, N_DOMAIN)));
  if (candidates.length === 0) return unchanged;
  // Subgraphs (If / Loop / Scan) may read outer initializers: leave such models alone.
  for (const n of nodes) {
    for (const a of n.fields.filter((x) => x.field === N_ATTRIBUTE)) {
      if (parse(a.value).some((x) => x.field === A_G || x.field === A_GRAPHS)) return unchanged;
    }
  }
  const valueName = (e) => str(parse(e.value).find((x) => x.field === V_NAME)?.value ?? new Uint8Array());
  const graphInputs = new Set(graph.filter((e) => e.field === G_INPUT).map(valueName));
  const graphOutputs = new Set(graph.filter((e) => e.field === G_OUTPUT).map(valueName));
  const initializers = new Map(); // name -> graph entry
  for (const e of graph.filter((x) => x.field === G_INITIALIZER)) {
    const nameEntry = parse(e.value).find((x) => x.field === T_NAME);
    if (nameEntry) initializers.set(str(nameEntry.value), e);
  }
  const used = new Set([...graphInputs, ...graphOutputs, ...initializers.keys()]);
  for (const n of nodes) {
    for (const x of n.fields) if (x.field === N_INPUT || x.field === N_OUTPUT || x.field === N_NAME) used.add(str(x.value));
  }
  const fresh = (base) => {
    let name = base;
    while (used.has(name)) name += '_';
    used.add(name);
    return name;
  };

  const axes = fresh('crsae_axis_2');
  const lifted = new Map(); // 1-D weight name -> {name, K, bytes, used} or null
  const replaced = new Map(); // node entry -> [node bytes]
  for (const n of candidates) {
    const ins = inputs(n);
    const outs = outputs(n);
    const w = ins[1];
    if (ins.length < 2 || outs.length !== 1 || !initializers.has(w) || graphInputs.has(w)) continue;
    if (!lifted.has(w)) {
      const name = fresh(`${w}__crsae_2d`);
      const t = lift(initializers.get(w).value, name);
      lifted.set(w, t && { name, ...t });
    }
    const weight = lifted.get(w);
    if (!weight) continue;
    const attrs = attributes2d(n.fields.filter((x) => x.field === N_ATTRIBUTE), weight.K);
    if (!attrs) continue;
    const name = text(n, N_NAME) || outs[0];
    const x4 = fresh(`${outs[0]}__crsae_in2d`);
    const y4 = fresh(`${outs[0]}__crsae_out2d`);
    replaced.set(n.entry, [
      node('Unsqueeze', [ins[0], axes], [x4], fresh(`${name}__crsae_unsqueeze`)),
      node('ConvTranspose', [x4, weight.name, ...ins.slice(2)], [y4], fresh(`${name}__crsae_2d`), attrs),
      node('Squeeze', [y4, axes], outs, fresh(`${name}__crsae_squeeze`)),
    ]);
    weight.used = true;
  }
  if (replaced.size === 0) return unchanged;

  // Drop 1-D weights that no node reads any more (onnxruntime would warn about them otherwise).
  const stillRead = new Set();
  for (const n of nodes) if (!replaced.has(n.entry)) for (const v of inputs(n)) stillRead.add(v);
  const dropped = new Set([...lifted.keys()]
    .filter((w) => lifted.get(w)?.used && !stillRead.has(w) && !graphOutputs.has(w))
    .map((w) => initializers.get(w)));
  const parts = [];
  for (const e of graph) {
    if (replaced.has(e)) parts.push(...replaced.get(e).map((b) => lenField(G_NODE, b)));
    else if (!dropped.has(e)) parts.push(e.raw);
  }
  for (const w of lifted.values()) if (w?.used) parts.push(lenField(G_INITIALIZER, w.bytes));
  const axesRaw = new Uint8Array(8);
  new DataView(axesRaw.buffer).setBigInt64(0, 2n, true);
  parts.push(lenField(G_INITIALIZER, concat([
    varintField(T_DIMS, 1), varintField(T_DATA_TYPE, INT64), lenField(T_NAME, encoder.encode(axes)), lenField(T_RAW_DATA, axesRaw),
  ])));
  const modelParts = model.map((e) => (e === graphs[0] ? lenField(GRAPH, concat(parts)) : e.raw));
  return { bytes: concat(modelParts), rewritten: replaced.size };
}
