"""Measured parity bound of float16 exports: onnxruntime float16 vs torch float32, for T in a sweep.

Prints max |diff| and max |diff| / max(1, max |reference|) / T per workload and T; the contract's float16 rule
(5e-3 + 1e-4 * T * max(1, max |ref|), export/CONTRACT.md) is set from these numbers. CPU provider here (float16 kernels on CPU); run on a GPU machine
with ``--device cuda`` for the GPU figures. Writes bench/results/float16_parity.json.
Usage: ``python bench/float16_parity.py [--device cpu|cuda]``
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from crsae.config import ModelConfig
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import ExportGraph, to_onnx, write_export
from crsae.serving.runtime import Encoder

CASES = {
    "1d 8x1x2000, 10 filters x 45": (dict(kind="1d", num_filters=10, kernel_size=45, lam_init=0.5), (8, 1, 2000)),
    "2d 4x1x64x64, 64 filters 7x7 s=5": (dict(kind="2d", num_filters=64, kernel_size=7, stride=5, L=10.0,
                                               lam_init=20.0, sigma=0.078), (4, 1, 64, 64)),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layers", default="5,15,30,50,100")
    args = parser.parse_args()
    rows = []
    for name, (kwargs, shape) in CASES.items():
        y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for T in (int(t) for t in args.layers.split(",")):
            model = CRsAE(ModelConfig(num_layers=T, **kwargs), seed=0).eval()
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "h.onnx"
                write_export(to_onnx(model, outputs="both", dtype="float16"), path)
                got = Encoder(path, device=args.device).run(y)
            with torch.no_grad():
                refs = ExportGraph(model, ("codes", "reconstruction"))(torch.from_numpy(y))
            for out, ref in zip(("codes", "reconstruction"), refs):
                ref = ref.numpy()
                diff = float(np.abs(got[out].astype(np.float64) - ref).max())
                per_layer = diff / max(1.0, float(np.abs(ref).max())) / T
                rows.append({"case": name, "T": T, "output": out, "max_abs_diff": diff, "per_layer": per_layer})
                print(f"{name:<34} T={T:<4} {out:<15} max |diff| {diff:.2e}  per layer {per_layer:.2e}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "float16_parity.json").write_text(json.dumps({"device": args.device, "rows": rows}, indent=2) + "\n")
    print(f"worst per-layer error {max(r['per_layer'] for r in rows):.2e} (contract: 5e-3 + 1e-4 T)")


if __name__ == "__main__":
    main()
