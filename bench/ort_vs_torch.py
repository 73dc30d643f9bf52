"""onnxruntime (CPU) vs torch eager for the exported encoder, same threads, measured in one run.

Workloads (issue 3): a 1-D batch 64 x 1 x 5000 with T = 50 (10 filters of 45 taps) and a 2-D batch
16 x 1 x 128 x 128 with T = 30 (64 filters 7x7, stride 5; codes of the image as given). Prints a table and writes
bench/results/ort_vs_torch.json. Run by hand: ``python bench/ort_vs_torch.py [--threads N] [--repeats R]``.
"""

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from crsae import __version__
from common import encoder_workloads
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import to_onnx, write_export
from crsae.serving.runtime import Encoder

WORKLOADS = encoder_workloads()


def best_of(fn, repeats):
    fn()                                                        # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, (config, shape) in WORKLOADS.items():
        model = CRsAE(config, seed=0).eval()
        y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            write_export(to_onnx(model, outputs="codes"), path)
            encoder = Encoder(path, device="cpu", threads=args.threads)      # the default call batch
            yt = torch.from_numpy(y)

            def run_torch():
                with torch.no_grad():
                    return model._encode(yt)
            t_torch = best_of(run_torch, args.repeats)
            t_ort = best_of(lambda: encoder.encode(y), args.repeats)
            diff = float(np.abs(encoder.encode(y) - run_torch().numpy()).max())
        rows.append({"workload": name, "torch_s": t_torch[0], "ort_s": t_ort[0], "torch_median_s": t_torch[1],
                     "ort_median_s": t_ort[1], "speedup": t_torch[0] / t_ort[0], "max_abs_diff": diff,
                     "ort_examples_per_call": encoder.call_batch(shape)})
    print(f"{'workload':<24}{'torch (s)':>11}{'ORT (s)':>10}{'ORT speed-up':>14}{'max |diff|':>12}")
    for r in rows:
        print(f"{r['workload']:<24}{r['torch_s']:>11.3f}{r['ort_s']:>10.3f}{r['speedup']:>13.2f}x{r['max_abs_diff']:>12.1e}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ort_vs_torch.json").write_text(json.dumps({
        "threads": args.threads, "repeats": args.repeats, "machine": platform.processor() or platform.machine(),
        "crsae": __version__, "torch": torch.__version__, "onnxruntime": ort.__version__,
        "provider": "CPUExecutionProvider", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
