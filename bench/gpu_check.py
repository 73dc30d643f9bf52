"""GPU check, run by hand on a CUDA machine (under 5 minutes): onnxruntime CUDA vs CPU vs torch parity with TF32
off on both sides, IO binding (Encoder uses it on CUDA), and throughput.

Needs onnxruntime-gpu (not onnxruntime) and a CUDA build of torch. Usage: ``python bench/gpu_check.py``.
Exits non-zero when the CUDA provider does not really run or parity fails.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crsae import contract
from crsae.config import ModelConfig
from crsae.model import CRsAE
from crsae.onnx_export import to_onnx, write_export
from crsae.runtime import Encoder

CASES = {
    "1d 64x1x5000 T=50": (ModelConfig(kind="1d", num_filters=10, kernel_size=45, num_layers=50, lam_init=0.5),
                          (64, 1, 5000)),
    "2d 16x1x128x128 T=30 s=5": (ModelConfig(kind="2d", num_filters=64, kernel_size=7, stride=5, num_layers=30,
                                             L=10.0, lam_init=20.0, sigma=0.078), (16, 1, 128, 128)),
}


def timed(fn, repeats=10):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> int:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch; nothing checked")
        return 1
    results, ok = [], True
    for name, (config, shape) in CASES.items():
        model = CRsAE(config, seed=0).eval()
        y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.onnx"
            write_export(to_onnx(model, outputs="both"), path)
            gpu = Encoder(path, device="cuda", batch_size=shape[0])     # raises if CUDA does not really run
            cpu = Encoder(path, device="cpu", batch_size=shape[0])
            out_gpu, out_cpu = gpu.run(y), cpu.run(y)
            cuda_model = model.to("cuda")
            yt = torch.from_numpy(y).to("cuda")
            with torch.no_grad():
                codes = cuda_model._encode(yt)
            torch.cuda.synchronize()
            ref = codes.cpu().numpy()
            atol = contract.atol(ref, config.num_layers)
            diffs = {"ort_cuda_vs_torch_cuda": float(np.abs(out_gpu["codes"] - ref).max()),
                     "ort_cuda_vs_ort_cpu": float(np.abs(out_gpu["codes"] - out_cpu["codes"]).max())}
            ok &= all(d <= atol for d in diffs.values())

            def torch_run():
                with torch.no_grad():
                    cuda_model._encode(yt)
                torch.cuda.synchronize()
            row = {"case": name, "provider": gpu.provider, "atol": atol, **diffs,
                   "ort_cuda_s": timed(lambda: gpu.run(y, ["codes"])),
                   "ort_cpu_s": timed(lambda: cpu.run(y, ["codes"]), repeats=2),
                   "torch_cuda_s": timed(torch_run)}
            row["signals_per_s_ort_cuda"] = shape[0] / row["ort_cuda_s"]
            results.append(row)
            print(json.dumps(row))
    print("parity OK" if ok else "parity FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
