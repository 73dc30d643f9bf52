"""onnxruntime (CPU) vs torch eager for the exported encoder, same threads, measured in one run.

Workloads (issue 3): a 1-D batch 64 x 1 x 5000 with T = 50 (10 filters of 45 taps) and a 2-D batch
16 x 1 x 128 x 128 with T = 30 (64 filters 7x7, stride 5; codes of the image as given). Prints a table and writes
bench/results/ort_vs_torch.json (or --out). Run by hand: ``python bench/ort_vs_torch.py [--threads N] [--repeats R]``.
Timing protocol of bench/common.py: one warm-up call each, then R rounds of one torch call and one onnxruntime
call (interleaved), median and range, the ratio per round; load and a matmul probe before and after.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPEATS, describe_state, encoder_workloads, interleaved, machine_state,  # noqa: E402
                    pin_threads, protocol, ratio_stats, versions, write_json)

pin_threads(2)                      # before numpy / torch: BLAS and OpenMP get --threads (default 2)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402

WORKLOADS = encoder_workloads()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--out", default="ort_vs_torch.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = machine_state(args.threads)
    print(f"before: {describe_state(before)}", flush=True)
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
                    return model._encode(yt).numpy()
            timings, results, rounds = interleaved({"torch": run_torch, "ort": lambda: encoder.encode(y)},
                                                   repeats=args.repeats)
            diff = float(np.abs(results["ort"] - results["torch"]).max())
        speedup = ratio_stats(rounds, "torch", "ort")
        rows.append({"workload": name, "torch": timings["torch"].as_dict(), "ort": timings["ort"].as_dict(),
                     "speedup": speedup, "max_abs_diff": diff, "ort_examples_per_call": encoder.call_batch(shape)})
        print(f"{name:<26} torch {timings['torch']}  ORT {timings['ort']}  ORT speed-up {speedup['median']:.2f}x "
              f"[{speedup['min']:.2f} - {speedup['max']:.2f}]  max |diff| {diff:.1e}", flush=True)
    after = machine_state(args.threads)
    print(f"after: {describe_state(after)}")
    path = write_json(args.out, {"threads": args.threads, "protocol": protocol(args.threads), "versions": versions(),
                                 "provider": "CPUExecutionProvider", "state_before": before, "state_after": after,
                                 "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
