"""Shared helpers of the issue-6 benchmarks (run by hand, never by the test suite).

``pin_threads`` must run before numpy / torch are imported: it reads ``--threads N`` from the command line and
sets the BLAS / OpenMP / numba thread variables, so every tool in the process (torch, onnxruntime, numpy FFTs,
alphacsc, SPORCO) runs with the same thread count.

The timing protocol every benchmark uses (issue 18): ``measure`` (one case) and ``interleaved`` (several cases
compared in one table) make one untimed warm-up call, reported as ``first_call_s`` (it pays onnxruntime's first
run, FFTW planning, numba compilation), then ``REPEATS`` timed calls; a figure is their median with the range
min - max. ``interleaved`` runs the cases in rounds, one call of each per round, so that the machine's drift hits
every case alike, and ``ratio_stats`` takes ratios within a round. ``machine_state`` (load averages, allowed CPUs,
a fixed float32 GEMM's GFLOP/s) is recorded before and after every run, in every result file. ``ProcessSplit``
offers any tool the same batch split across worker processes of one thread each.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
START_CPUS = sorted(os.sched_getaffinity(0))     # the CPUs this benchmark was started on (restore_affinity)


def restore_affinity() -> None:
    """Give the calling thread back the CPUs the process started with, before a tool's threads or ProcessSplit's
    workers start (they inherit the caller's affinity). On 2026-12-01 the lead's CPU scheduler, which kept core 1 for
    a training run, re-pinned every other process to CPU 0 every 3 s; this undoes such outside pinning. (It was first
    blamed on alphacsc: a clean check, importing alphacsc and its z-step, leaves the affinity alone.)"""
    os.sched_setaffinity(0, START_CPUS)
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


@dataclass
class Timing:
    """Seconds of the timed calls of one case under the protocol of ``measure`` / ``interleaved``.

    ``first`` is the warm-up call (plan creation, JIT compilation, first-touch allocation: reported, never in the
    statistics); ``times`` the timed repeats, of which ``median`` is the figure and ``min`` - ``max`` the range.
    """
    first: float
    times: list

    @property
    def median(self) -> float:
        return float(statistics.median(self.times))

    @property
    def min(self) -> float:
        return float(min(self.times))

    @property
    def max(self) -> float:
        return float(max(self.times))

    def as_dict(self) -> dict:
        return {"median_s": self.median, "min_s": self.min, "max_s": self.max, "first_call_s": self.first,
                "times_s": list(self.times)}

    def __str__(self) -> str:
        return f"{self.median:.3f} s [{self.min:.3f} - {self.max:.3f}]"


WARMUP = 1            # the protocol every benchmark uses: one untimed warm-up call, then REPEATS timed calls
REPEATS = 5


def _clock(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(fn, *, repeats: int = REPEATS):
    """(Timing, last result) of ``fn()``: one warm-up call (its time kept as ``first``), then ``repeats`` calls."""
    first, result = _clock(fn)
    times = []
    for _ in range(repeats):
        secs, result = _clock(fn)
        times.append(secs)
    return Timing(first, times), result


def interleaved(cases: dict, *, repeats: int = REPEATS):
    """Time several cases in one run, interleaved: every case's warm-up call, then ``repeats`` rounds in each of
    which every case runs once, so that drift of the machine's speed hits every case alike.

    ``cases``: name -> zero-argument callable. Returns (name -> Timing, name -> last result, rounds), ``rounds`` a
    list of {name: seconds} per round, from which per-round ratios are taken (``ratio_stats``).
    """
    firsts, results = {}, {}
    for name, fn in cases.items():
        firsts[name], results[name] = _clock(fn)
    rounds = []
    for _ in range(repeats):
        row = {}
        for name, fn in cases.items():
            row[name], results[name] = _clock(fn)
        rounds.append(row)
    timings = {name: Timing(firsts[name], [r[name] for r in rounds]) for name in cases}
    return timings, results, rounds


def ratio_stats(rounds: list, numerator: str, denominator: str) -> dict:
    """Median and range over rounds of time(numerator) / time(denominator), both measured in the same round."""
    ratios = [r[numerator] / r[denominator] for r in rounds]
    return {"median": float(statistics.median(ratios)), "min": float(min(ratios)), "max": float(max(ratios)),
            "per_round": ratios}


def machine_state(threads: int, n: int = 2048, repeats: int = 5) -> dict:
    """The machine's load and speed now: ``os.getloadavg()``, the CPUs this process may run on, and the GFLOP/s of
    a fixed float32 GEMM (numpy n x n times n x n, BLAS pinned to ``threads`` threads; median and best of
    ``repeats`` after one warm-up). Recorded before and after every benchmark: a probe slower at the end, or a 1-min
    load above the thread count, says the timings in between were slowed by other work."""
    import numpy as np
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(limits=threads):
        timing, _ = measure(lambda: a @ b, repeats=repeats)
    flops = 2.0 * n ** 3
    return {"time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "loadavg": list(os.getloadavg()), "cpus_allowed": START_CPUS,
            "main_thread_cpus": sorted(os.sched_getaffinity(0)),
            "matmul_n": n, "matmul_threads": threads, "matmul_gflops_median": flops / timing.median / 1e9,
            "matmul_gflops_best": flops / timing.min / 1e9}


def describe_state(state: dict) -> str:
    return (f"load {state['loadavg'][0]:.2f} / {state['loadavg'][1]:.2f} / {state['loadavg'][2]:.2f}, "
            f"matmul {state['matmul_gflops_median']:.1f} GFLOP/s (best {state['matmul_gflops_best']:.1f}, "
            f"{state['matmul_threads']} thread(s), n {state['matmul_n']}), CPUs {state['cpus_allowed']} "
            f"(main thread {state['main_thread_cpus']})")


def protocol(threads: int) -> dict:
    """What every result file states about how it was timed."""
    return {"warmup_calls": WARMUP, "repeats": REPEATS, "statistic": "median, range min - max",
            "threads": threads, "interleaved": "cases compared in one table run in rounds, one call each per round",
            "excluded": "session creation / export, FFTW planning (in the warm-up call, reported as first_call_s)"}


def _split_worker(conn, builder, args, cpus):
    """A ProcessSplit worker: one thread, builds its runner once, then runs it on every "run" message."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.sched_setaffinity(0, cpus)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    run = builder(*args)
    os.sched_setaffinity(0, cpus)
    conn.send("ready")
    result = None
    while True:
        message = conn.recv()
        if message == "run":
            result = run()
            conn.send("done")
        elif message == "result":
            conn.send(result)
        else:
            break


class ProcessSplit:
    """The same batch split across ``len(parts)`` worker processes (spawned, one thread each), for any tool.

    ``builder(*args, part)`` runs in each worker and returns a zero-argument callable that solves that part;
    ``builder`` must be a module-level function. ``run()`` starts every worker and waits for all (what is timed:
    the messages are a few bytes, the results stay in the workers); ``result()`` gathers the last results, in
    order, with ``combine``.
    """

    def __init__(self, builder, args: tuple, parts: list, combine):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.combine, self.conns, self.procs = combine, [], []
        for part in parts:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_split_worker, args=(child, builder, (*args, part), START_CPUS),
                               daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for conn in self.conns:
            if conn.recv() != "ready":
                raise RuntimeError("a ProcessSplit worker failed to start")

    def run(self) -> None:
        for conn in self.conns:
            conn.send("run")
        for conn in self.conns:
            conn.recv()

    def result(self):
        for conn in self.conns:
            conn.send("result")
        return self.combine([conn.recv() for conn in self.conns])

    def close(self) -> None:
        for conn in self.conns:
            conn.send("stop")
        for proc in self.procs:
            proc.join(timeout=10)


def add_workload_options(ap) -> None:
    """The options of sparse_coding.py's workloads (``workload_1d``, ``workload_2d``), shared by the scripts that
    run them (sparse_coding.py, fista_variants.py) so that their defaults stay the same."""
    ap.add_argument("--signals", type=int, default=100)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "BSD68"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lam1d", type=float, default=0.1)
    ap.add_argument("--lam2d", type=float, default=0.2)


def add_reference_options(ap) -> None:
    """The iteration counts of sparse_coding.py's reference F* (``reference``: float32 then float64 FISTA), shared
    like ``add_workload_options``: equal counts let fista_variants.py reuse sparse_coding.py's cached F*."""
    ap.add_argument("--ref-iters", type=int, default=3000,
                    help="float32 iterations of the reference F* (cached by these counts, shared by the scripts)")
    ap.add_argument("--ref-iters64", type=int, default=200, help="float64 iterations after them")


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
    best_t = measure(lambda: torch.mm(a, b), repeats=repeats)[0].min
    an, bn = a.numpy(), b.numpy()
    from threadpoolctl import threadpool_limits     # numpy's BLAS ignores torch's setting; OMP_NUM_THREADS is the max
    with threadpool_limits(limits=threads):
        best_n = measure(lambda: an @ bn, repeats=repeats)[0].min
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
