"""GPU check, run by hand on a CUDA machine (under 5 minutes). Needs onnxruntime-gpu (not onnxruntime) and a CUDA
build of torch. Usage: ``python bench/gpu_check.py``; exits non-zero when a GPU path fails.

Checks, with TF32 off on both sides:
1. parity: onnxruntime CUDA vs onnxruntime CPU vs torch CUDA (dynamic-shape export, IO binding);
2. zero-copy: ``Encoder.run_tensor`` on torch CUDA tensors equals ``run`` on host arrays;
3. static-shape export: exhaustive conv search and CUDA graphs, parity and throughput;
4. float16 export on the GPU: measured error against the contract's float16 rule;
5. TensorRT provider, when this onnxruntime has it;
6. a long 1-D recording streamed in chunks (uploads overlapped with compute) equals whole-signal inference;
and reports throughput (signals per second) for each path.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from crsae import contract
from common import encoder_workloads
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import to_onnx, write_export
from crsae.serving.runtime import Encoder

CASES = encoder_workloads()


def timed(fn, repeats=10):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def check(rows, name, diff, atol, **extra):
    row = {"check": name, "max_abs_diff": diff, "atol": atol, "ok": diff <= atol, **extra}
    rows.append(row)
    print(json.dumps(row))
    return row["ok"]


def main() -> int:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch; nothing checked")
        return 1
    rows, ok = [], True
    tmp = Path(tempfile.mkdtemp())
    for case, (config, shape) in CASES.items():
        model = CRsAE(config, seed=0).eval()
        y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        write_export(to_onnx(model, outputs="both"), tmp / "dyn.onnx")
        gpu = Encoder(tmp / "dyn.onnx", device="cuda", batch_size=shape[0])   # raises if CUDA does not really run
        cpu = Encoder(tmp / "dyn.onnx", device="cpu", batch_size=shape[0])
        cuda_model, yt = model.to("cuda"), torch.from_numpy(y).to("cuda")
        with torch.no_grad():
            ref = cuda_model._encode(yt).cpu().numpy()
        atol = contract.atol(ref, config.num_layers)
        out_gpu = gpu.run(y)["codes"]
        t_gpu = timed(lambda: gpu.run(y, ["codes"]))
        ok &= check(rows, f"{case}: ORT CUDA vs torch CUDA", float(np.abs(out_gpu - ref).max()), atol,
                    signals_per_s=shape[0] / t_gpu)
        ok &= check(rows, f"{case}: ORT CUDA vs ORT CPU", float(np.abs(out_gpu - cpu.run(y)["codes"]).max()), atol,
                    cpu_signals_per_s=shape[0] / timed(lambda: cpu.run(y, ["codes"]), repeats=2))
        bound = gpu.run_tensor(yt)["codes"]
        t_bound = timed(lambda: (gpu.run_tensor(yt, ["codes"]), torch.cuda.synchronize()))
        ok &= check(rows, f"{case}: run_tensor (zero-copy) vs run", float((bound.cpu() - torch.from_numpy(out_gpu))
                                                                           .abs().max()), 1e-6,
                    signals_per_s=shape[0] / t_bound)

        write_export(to_onnx(model, outputs="both", static_shape=shape), tmp / "static.onnx")
        static = Encoder(tmp / "static.onnx", device="cuda")
        out_static = static.run(y)["codes"]
        ok &= check(rows, f"{case}: static shape + CUDA graph vs torch", float(np.abs(out_static - ref).max()), atol,
                    signals_per_s=shape[0] / timed(lambda: static.run(y, ["codes"])))

        write_export(to_onnx(model, outputs="both", dtype="float16"), tmp / "half.onnx")
        half = Encoder(tmp / "half.onnx", device="cuda", batch_size=shape[0])
        out_half = half.run(y)["codes"].astype(np.float32)
        ok &= check(rows, f"{case}: float16 CUDA vs torch float32", float(np.abs(out_half - ref).max()),
                    contract.atol(ref, config.num_layers, dtype="float16"),
                    signals_per_s=shape[0] / timed(lambda: half.run(y, ["codes"])))

        if "TensorrtExecutionProvider" in ort.get_available_providers():
            trt = Encoder(tmp / "dyn.onnx", device="tensorrt", batch_size=shape[0])
            ok &= check(rows, f"{case}: TensorRT vs torch", float(np.abs(trt.run(y)["codes"] - ref).max()), atol,
                        signals_per_s=shape[0] / timed(lambda: trt.run(y, ["codes"])))
        else:
            print(json.dumps({"check": f"{case}: TensorRT", "skipped": "no TensorrtExecutionProvider"}))

        if config.kind == "1d":
            long = np.random.default_rng(1).standard_normal((1, 2_000_000)).astype(np.float32)
            start = time.perf_counter()
            chunked = gpu.run_long(long, "codes", chunk=65536)
            elapsed = time.perf_counter() - start
            whole = gpu.run(long[None])["codes"][0]
            ok &= check(rows, f"{case}: streamed 2M-sample recording vs whole", float(np.abs(chunked - whole).max()),
                        contract.atol(whole, config.num_layers), samples_per_s=long.shape[1] / elapsed)
    (Path(__file__).parent / "results").mkdir(exist_ok=True)
    (Path(__file__).parent / "results" / "gpu_check.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("all GPU checks passed" if ok else "some GPU checks FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
