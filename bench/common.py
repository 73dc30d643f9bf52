"""Shared helpers of the issue-6 benchmarks (run by hand, never by the test suite).

``pin_threads`` must run before numpy / torch are imported: it reads ``--threads N`` from the command line and
sets the BLAS / OpenMP / numba thread variables, so every tool in the process (torch, onnxruntime, numpy FFTs,
alphacsc, SPORCO) runs with the same thread count.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / ".cache"


def pin_threads(default: int = 1) -> int:
    threads = default
    for i, arg in enumerate(sys.argv):
        value = sys.argv[i + 1] if arg == "--threads" and i + 1 < len(sys.argv) else \
            arg.split("=", 1)[1] if arg.startswith("--threads=") else None
        if value is not None:
            threads = max(int(v) for v in value.split(","))       # a list (roofline): the largest
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(threads)
    return threads


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    out = {"python": platform.python_version(), "cpu": cpu_name(), "logical_cpus": os.cpu_count(),
           "platform": platform.platform()}
    for name in ("crsae", "torch", "onnxruntime", "numpy", "scipy", "sporco", "alphacsc"):
        try:
            module = __import__(name)
        except Exception:
            continue
        version = getattr(module, "__version__", None)
        if name == "crsae":
            from crsae import __version__
            version = __version__
        out[name] = version
    return out


def measure(fn, *, repeats: int = 3, slow: float = 2.0):
    """(best seconds, last result): one timed call; ``repeats - 1`` more when a call takes under ``slow`` s."""
    start = time.perf_counter()
    result = fn()
    times = [time.perf_counter() - start]
    if times[0] < slow:
        for _ in range(repeats - 1):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
    return min(times), result


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


def peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5) -> dict:
    """This CPU's float32 matrix-product rate (torch and numpy, best of ``repeats``), GFLOP/s."""
    import torch
    torch.set_num_threads(threads)
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    flops = 2.0 * n ** 3
    best_t, _ = measure(lambda: torch.mm(a, b), repeats=repeats, slow=1e9)
    an, bn = a.numpy(), b.numpy()
    from threadpoolctl import threadpool_limits     # numpy's BLAS ignores torch's setting; OMP_NUM_THREADS is the max
    with threadpool_limits(limits=threads):
        best_n, _ = measure(lambda: an @ bn, repeats=repeats, slow=1e9)
    return {"n": n, "torch_gflops": flops / best_t / 1e9, "numpy_gflops": flops / best_n / 1e9,
            "peak_gflops": max(flops / best_t, flops / best_n) / 1e9}


def encoder_workloads() -> dict:
    """The two encoder workloads of issue 3's speed checks: name -> (ModelConfig, input shape)."""
    from crsae.config import ModelConfig
    return {
        "1d 64x1x5000 T=50": (ModelConfig(kind="1d", num_filters=10, kernel_size=45, num_layers=50, lam_init=0.5),
                              (64, 1, 5000)),
        "2d 16x1x128x128 T=30 s=5": (ModelConfig(kind="2d", num_filters=64, kernel_size=7, stride=5, num_layers=30,
                                                 L=10.0, lam_init=20.0, sigma=0.078), (16, 1, 128, 128)),
    }
