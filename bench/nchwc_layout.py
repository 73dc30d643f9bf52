"""Would the paper's encoder run faster in onnxruntime's blocked NCHWc layout (issue 18)? Run by hand:

    taskset -c 0 .venv/bin/python bench/nchwc_layout.py --threads 1

onnxruntime's CPU provider runs a Conv with static weights as an NCHWc (channel-blocked) convolution and converts
its output back to NCHW (a ReorderOutput, one more pass over the codes) unless every consumer is an op its NCHWc
transformer handles: Conv, Add/Sum of equal shapes (fused into the convolution as its "sum" input), Mul of equal
shapes, Relu (fused as the convolution's activation), BatchNormalization (as a depthwise 1x1 convolution) and a
few others; not Sub, Max, Min, Clip or a Mul by a scalar, which the exported FISTA layer uses. Two hand-built
forms of the same T-step FISTA are timed against each other, interleaved (bench/common.py's protocol):

- ``nchw``, the export's layer: ConvTranspose synthesis, Sub, the analysis Conv, Add, the threshold (one-sided:
  the bias and Relu; two-sided: Max, Min, Sub), the momentum Sub, Mul, Add.
- ``nchwc``, the same sums from NCHWc-able ops: the momentum as two BatchNormalization scalings
  ((1 + m) x_k - m x_{k-1}, the second added), the two-sided threshold as relu(u - b) - relu(-u - b) from three
  BatchNormalizations, and symbolic dims on every code tensor (value_info), without which the transformer cannot
  prove the Add's shapes equal and fuses nothing. The synthesis stays a ConvTranspose: as an NCHWc Conv with one
  output channel (padded to the block of 8) it ran 3x slower.

The export itself (``crsae.exporter.onnx_export.to_onnx``) is timed beside them, to show the ``nchw`` hand graph
stands for it. Workloads (random unit-norm filters, Gaussian signals: the dense work does not depend on the
values): 1-D one-sided, 10 filters x 45 on 5000 samples, T = 35, 3 signals a call (the runtime's cache-sized call
batch) and 20; 2-D, 64 filters 7x7 on 128 x 128, T = 53, 1 and 4 images a call, two- and one-sided. The result
(``results/nchwc_layout.json``) gives per case the median and range over rounds and the per-round ratio to
``nchw``, the optimized graphs' op counts, and the codes' largest difference from ``nchw``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import describe_state, interleaved, machine_state, pin_threads, protocol, ratio_stats, versions, write_json  # noqa: E402,E501

THREADS = pin_threads(1)

import argparse  # noqa: E402
import collections  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from crsae.config import ModelConfig  # noqa: E402
from crsae.exporter.onnx_export import to_onnx  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.model.fista import momentum_schedule, norm_bound  # noqa: E402

LAM = 0.02                                     # b_c = LAM (fixed thresholds, sigma 1), small: dense enough codes
WORKLOADS = {                                  # name: (filters (C, 1, Kh, Kw), signal (Hh, Ww), T, two-sided, batches)
    "1d one-sided": ((10, 1, 1, 45), (1, 5000), 35, False, (3, 20)),
    "2d two-sided": ((64, 1, 7, 7), (128, 128), 53, True, (1, 4)),
    "2d one-sided": ((64, 1, 7, 7), (128, 128), 53, False, (1, 4)),
}


def fista_graph(H: np.ndarray, b: np.ndarray, L: float, T: int, two_sided: bool, form: str) -> onnx.ModelProto:
    """T FISTA steps (``crsae.model.fista.unrolled_fista``) on y (B, 1, Hh, Ww) with filters H (C, 1, Kh, Kw), as
    an ONNX graph of ``form`` ``nchw`` or ``nchwc`` (module docstring); output ``codes`` (B, C, Mh, Mw)."""
    C = H.shape[0]
    nchwc = form == "nchwc"
    inits = {"H": H, "Wa": H / L, "nb": -b, "b4": b.reshape(1, C, 1, 1), "nb4": -b.reshape(1, C, 1, 1),
             "zero": np.zeros(C), "one": np.ones(C), "mone": -np.ones(C)}
    nodes = []

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def scale(x, weight, bias, out):                    # per-channel weight x + bias: BatchNormalization
        return node("BatchNormalization", [x, weight, bias, "zero", "one"], out, epsilon=0.0)

    def constant(name, value):
        inits[name] = np.asarray(value)
        return name

    def threshold(u, k):                                # x_k = S_b(u) (two-sided) from u = z + (1/L) H^T r
        if not nchwc:
            low = node("Max", [u, "nb4"], f"lo{k}")
            return node("Sub", [u, node("Min", [low, "b4"], f"cl{k}")], f"x{k}")
        pos = node("Relu", [scale(u, "one", "nb", f"pu{k}")], f"p{k}")
        neg = node("Relu", [scale(u, "mone", "nb", f"nu{k}")], f"n{k}")
        return node("Add", [pos, scale(neg, "mone", "zero", f"mn{k}")], f"x{k}")

    momentum = momentum_schedule(T)
    x_prev = x = z = None
    for k in range(T):
        if k == 0:
            gradient = node("Conv", ["y", "Wa"] + ([] if two_sided else ["nb"]), f"g{k}")
            u = gradient
        else:
            residual = node("Sub", ["y", node("ConvTranspose", [z, "H"], f"s{k}")], f"r{k}")
            gradient = node("Conv", [residual, "Wa"] + ([] if two_sided else ["nb"]), f"g{k}")
            u = node("Add", [z, gradient], f"u{k}")
        x = threshold(u, k) if two_sided else node("Relu", [u], f"x{k}")
        if k + 1 < T:
            m = momentum[k]
            if k == 0:
                z = x
            elif nchwc:
                later = scale(x_prev, constant(f"neg_m_{k}", np.full(C, -m)), "zero", f"q{k}")
                z = node("Add", [scale(x, constant(f"one_plus_m_{k}", np.full(C, 1 + m)), "zero", f"w{k}"), later], f"z{k}")
            else:
                step = node("Mul", [node("Sub", [x, x_prev], f"d{k}"), constant(f"m_{k}", np.float32(m))], f"e{k}")
                z = node("Add", [x, step], f"z{k}")
        x_prev = x
    nodes.append(helper.make_node("Identity", [x], ["codes"]))
    codes = {out for n in nodes for out in n.output if out[0] in "gupnmqwzxdelc" and out != "codes"}
    value_info = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", C, "code_h", "code_w"])
                  for name in sorted(codes)] if nchwc else []
    graph = helper.make_graph(
        nodes, f"fista_{form}", [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1, "h", "w"])],
        [helper.make_tensor_value_info("codes", TensorProto.FLOAT, ["batch", C, "code_h", "code_w"])],
        [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in inits.items()],
        value_info=value_info)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def export_graph(H: np.ndarray, b: np.ndarray, L: float, T: int, two_sided: bool) -> onnx.ModelProto:
    """The same encoder as crsae exports it (2-D model; the 1-D unit-height filters as a 1-D model)."""
    one_d = H.shape[2] == 1
    filters = H[:, :, 0] if one_d else H
    cfg = ModelConfig(kind="1d" if one_d else "2d", channels=1, num_filters=H.shape[0], kernel_size=H.shape[-1],
                      num_layers=T, L=L, sigma=1.0, threshold_mode="fixed", lam_init=float(b[0] * L),
                      two_sided=two_sided)
    return to_onnx(CRsAE(cfg, filters).eval(), outputs="codes")


def session(proto: onnx.ModelProto, folder: Path, name: str):
    path = folder / f"{name}.onnx"
    onnx.save(proto, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    options.log_severity_level = 3
    options.optimized_model_filepath = str(folder / f"{name}.optimized.onnx")
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)
    return sess, dict(ops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--output", default="nchwc_layout.json")
    args = ap.parse_args()
    before = machine_state(THREADS)
    print("before:", describe_state(before))
    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            shape, size, T, two_sided, batches = WORKLOADS[name]
            H = rng.standard_normal(shape)
            H /= np.linalg.norm(H.reshape(len(H), -1), axis=1)[:, None, None, None]
            L = 1.01 * norm_bound(torch.from_numpy(H[:, :, 0] if shape[2] == 1 else H))
            b = np.full(shape[0], LAM)
            key = name.replace(" ", "_")
            forms = {form: session(fista_graph(H, b, L, T, two_sided, form), Path(tmp), f"{key}_{form}")
                     for form in ("nchw", "nchwc")}
            forms["export"] = session(export_graph(H.astype(np.float32), b, L, T, two_sided), Path(tmp),
                                      f"{key}_export")
            for batch in batches:
                y = rng.standard_normal((batch, 1) + size).astype(np.float32)
                feed = {form: {s.get_inputs()[0].name: (y[:, :, 0] if form == "export" and shape[2] == 1 else y)}
                        for form, (s, _) in forms.items()}
                calls = {form: (lambda s=s, f=feed[form]: s.run(None, f)[0]) for form, (s, _) in forms.items()}
                timings, outputs, rounds = interleaved(calls, repeats=args.repeats)
                ref = outputs["nchw"]
                row = {"batch": batch, "T": T, "filters": list(shape), "signal": list(size)}
                for form in forms:
                    out = outputs[form].reshape(ref.shape)
                    row[form] = {"median_s": timings[form].median, "min_s": timings[form].min,
                                 "max_s": timings[form].max, "ratio_to_nchw": ratio_stats(rounds, form, "nchw"),
                                 "max_abs_diff_to_nchw": float(np.abs(out - ref).max()), "ops": forms[form][1]}
                results[f"{name}, batch {batch}"] = row
                print(f"{name}, batch {batch}: " + "; ".join(
                    f"{form} {row[form]['median_s']:.4f} s [{row[form]['min_s']:.4f} - {row[form]['max_s']:.4f}] "
                    f"x{row[form]['ratio_to_nchw']['median']:.3f} [{row[form]['ratio_to_nchw']['min']:.3f} - "
                    f"{row[form]['ratio_to_nchw']['max']:.3f}] of nchw, max |diff| "
                    f"{row[form]['max_abs_diff_to_nchw']:.1e}" for form in forms), flush=True)
    after = machine_state(THREADS)
    print("after:", describe_state(after))
    path = write_json(args.output, {"results": results, "machine_before": before, "machine_after": after,
                                    "protocol": protocol(THREADS), "versions": versions()})
    print("wrote", path)


if __name__ == "__main__":
    main()
