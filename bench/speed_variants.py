"""Speed work on the exported encoder (issue 6, item 4): the same unrolled FISTA written with other ONNX
operators, exported the same way (crsae.exporter.onnx_export.to_onnx) and timed under onnxruntime beside the current
export, with the parity against the current encoder. Run by hand (either venv):

    .venv/bin/python bench/speed_variants.py --threads 1

Variants (each swaps ``crsae.model.fista.analysis`` / ``synthesis`` or the whole loop for the export; the math is
unchanged):
- ``current``: Conv for H^T r, ConvTranspose for H z, residual on the signal, soft threshold as u - clip(u, -b, b),
  one-sided threshold as the analysis Conv's bias (crsae today; 1/L folded into the filters).
- ``code-residual`` (crsae before 2026-11-29, kept to measure the change): u = z - (1/L) H^T H z + (1/L) H^T y with
  (1/L) H^T y formed once, and the threshold as relu(u - b) - relu(-u - b): four more passes over the codes per step
  (two-sided), two more (one-sided).
- ``synth-as-conv``: H z as a Conv of z zero-padded by K - 1 with the flipped, channel-swapped filters
  (no ConvTranspose / col2im).
- ``1d-codes-3d`` (crsae's 1-D graph before 2026-12-03, kept to measure the change): the codes (B, C, M) between
  layers, Conv1d for H^T r and a unit-height ConvTranspose (unsqueezed and squeezed each layer) for H z; today the
  whole 1-D loop runs as unit-height 2-D (codes (B, C, 1, M)), which onnxruntime runs on its NCHWc 2-D kernels.
- ``default-call-batch``: the current graph, run with ``Encoder``'s default call batch (on the CPU as many examples
  per session call as keep ~512 KiB of codes in cache) instead of the whole batch in one call.
The parity column is max |codes - codes of current| over the batch, to compare with the contract's tolerance.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure, pin_threads, versions, write_json  # noqa: E402

THREADS = pin_threads(1)

import argparse  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import crsae.model.fista as fista  # noqa: E402
import crsae.model.autoencoder as model_mod  # noqa: E402
from crsae import contract as contract_mod  # noqa: E402
from crsae.config import ModelConfig  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402

ORIGINAL = (fista.analysis, fista.synthesis)
LOOP = model_mod.unrolled_fista


def code_residual_fista(y, H, We, b, L, num_layers, *, stride=1, two_sided=True):
    """crsae's loop before 2026-11-29 (same iterates, more elementwise passes)."""
    def threshold(u):
        bb = b.reshape(1, -1, *([1] * (u.dim() - 2)))
        return F.relu(u - bb) - F.relu(-u - bb) if two_sided else F.relu(u - bb)
    We_L = We / L
    size = y.shape[2:]
    c = fista.analysis(y, We_L, stride)
    x_prev = torch.zeros_like(c)
    z = x_prev
    for k, m in enumerate(fista.momentum_schedule(num_layers)):
        u = c if k == 0 else z - fista.analysis(fista.synthesis(z, H, size, stride), We_L, stride) + c
        x = threshold(u)
        z = x + m * (x - x_prev)
        x_prev = x
    return x_prev


def codes_3d_fista(y, H, We, b, L, num_layers, *, stride=1, two_sided=True):
    """crsae's 1-D loop before 2026-12-03: ``unrolled_fista`` on the (B, C, M) codes, not lifted to unit height."""
    We_L, bias = We / L, None if two_sided or b.dim() == 2 else -b

    def gradient(z):
        return fista.analysis(y if z is None else y - fista.synthesis(z, H, y.shape[2:], stride), We_L, stride, bias)
    return fista._unrolled(gradient, b, num_layers, two_sided)


def synthesis_conv(x, W, size, stride=1):
    K = W.shape[-1]                                                       # W is 4-D: 1-D runs at unit height
    if stride != 1:
        return ORIGINAL[1](x, W, size, stride)
    Kh = W.shape[-2]                                                      # 1 for 1-D run as unit-height 2-D
    return F.conv2d(F.pad(x, (K - 1, K - 1, Kh - 1, Kh - 1)), W.transpose(0, 1).flip(-1, -2))


VARIANTS = {
    "current": ORIGINAL,
    "code-residual": ORIGINAL + (code_residual_fista,),
    "default-call-batch": ORIGINAL,
    "synth-as-conv": (ORIGINAL[0], synthesis_conv),
    "1d-codes-3d": ORIGINAL + (codes_3d_fista,),
}

WORKLOADS = {
    "1d": (dict(kind="1d", num_filters=10, kernel_size=45, two_sided=False, lam_init=0.1, sigma=1.0,
                threshold_mode="fixed", num_layers=50), (100, 1, 5000)),
    "2d": (dict(kind="2d", num_filters=64, kernel_size=7, two_sided=True, lam_init=0.2, sigma=1.0,
                threshold_mode="fixed", num_layers=30), (4, 1, 128, 128)),
    "2d-stride5": (dict(kind="2d", num_filters=64, kernel_size=7, stride=5, two_sided=True, lam_init=20.0,
                        sigma=0.078, L=10.0, threshold_mode="em", num_layers=30), (16, 1, 128, 128)),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="1d,2d,2d-stride5")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for wname in args.workloads.split(","):
            cfg_kw, shape = WORKLOADS[wname]
            model = CRsAE(ModelConfig(**cfg_kw), seed=0).eval()
            # a real-looking input: a sparse code through the model's own dictionary, plus noise
            y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            base = None
            for vname in args.variants.split(","):
                if wname != "1d" and vname.startswith("1d-"):
                    continue
                fista.analysis, fista.synthesis = VARIANTS[vname][:2]
                model_mod.unrolled_fista = VARIANTS[vname][2] if len(VARIANTS[vname]) > 2 else LOOP
                try:
                    path = Path(tmp) / f"{wname}_{vname}.onnx"
                    write_export(to_onnx(model, outputs="codes"), path)
                    with torch.no_grad():
                        ref_torch = model._encode(torch.from_numpy(y)).numpy()
                finally:
                    fista.analysis, fista.synthesis = ORIGINAL
                    model_mod.unrolled_fista = LOOP
                one_call = None if vname == "default-call-batch" else shape[0]
                enc = Encoder(path, device="cpu", threads=args.threads, batch_size=one_call)
                timing, x = measure(lambda: enc.encode(y))
                secs = timing.median
                if base is None:
                    base = (secs, x)
                atol = contract_mod.atol(base[1], cfg_kw["num_layers"], dtype="float32")
                row = {"workload": wname, "variant": vname, "shape": list(shape), "T": cfg_kw["num_layers"],
                       "examples_per_call": enc.call_batch(shape),
                       "ort_s": secs, "ort_timing": timing.as_dict(), "loadavg_1m": __import__("os").getloadavg()[0], "speedup_vs_current": base[0] / secs,
                       "max_abs_diff_vs_current": float(np.abs(x - base[1]).max()),
                       "max_abs_diff_vs_torch_variant": float(np.abs(x - ref_torch).max()), "contract_atol": atol,
                       "nodes": sorted({n.op_type for n in __import__("onnx").load(str(path)).graph.node})}
                rows.append(row)
                print(f"{wname:<11}{vname:<26}{secs:9.4f} s  x{row['speedup_vs_current']:.2f}  "
                      f"diff {row['max_abs_diff_vs_current']:.1e} (atol {atol:.1e})  ops {row['nodes']}", flush=True)
    print(f"\n| workload | variant | ORT s ({args.threads} thread) | speed-up | max diff vs current | contract atol |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['workload']} {tuple(r['shape'])} T={r['T']} | {r['variant']} | {r['ort_s']:.4f} | "
              f"{r['speedup_vs_current']:.2f}x | {r['max_abs_diff_vs_current']:.1e} | {r['contract_atol']:.1e} |")
    write_json(f"speed_variants_{args.threads}t.json", {"threads": args.threads, "versions": versions(),
                                                          "provider": "CPUExecutionProvider",
                                                          "onnxruntime": ort.__version__, "rows": rows})


if __name__ == "__main__":
    main()
