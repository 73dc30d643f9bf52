"""Sparse coding to a relative objective gap, every tool in its best configuration under one timing protocol
(issues 6 and 18): crsae's exported encoder under onnxruntime, SPORCO's ConvBPDN (ADMM) in float32 with rho tuned,
alphacsc's locally greedy coordinate descent (1-D only). Run by hand, in the peers venv (bash bench/setup_peers.sh):

    taskset -c 0 bench/.venv-peers/bin/python bench/sparse_coding.py --threads 1 --workloads 1d --out sparse_coding_1d.json

What each side computes, on one objective F(x) = 1/2 ||y - H x||^2 + lam ||x||_1 (linear "full" convolution,
valid-length codes: x_c of length N - K + 1, or (Hh - K + 1) x (Ww - K + 1); 1-D codes non-negative):
- crsae: a fixed number T of unrolled FISTA steps (crsae.model.fista.unrolled_fista, the paper's encoder, step 1/L
  with L = 1.01 ||H||^2 by power iteration), exported to ONNX and run by ``crsae.serving.runtime.Encoder``;
  float32. T is swept over every value 1 .. --T-max: the first T whose codes reach the gap is timed.
- SPORCO: ConvBPDN, ADMM on the circular problem of the signal's own length (the wrap-around positions get an l1
  weight of 1e6, which holds them at exactly zero, so it is the linear problem above), float32 (``DataType``),
  FastSolve. Sweeps: fixed rho over --rho-factors x (50 lam + 1) (SPORCO's default) and AutoRho (its residual
  balancing) started from the default rho and from the best fixed rho; every iteration count 1 .. --sporco-max-iter
  of each (a callback scores the iterate after every iteration). The first iteration count whose codes reach the
  gap is timed, with MaxMainIter set to it: that is at least as fast as any residual tolerance (RelStopTol) that
  reaches the gap, since such a stop can only come at or after that iteration.
- alphacsc (1-D): ``update_z_multi(solver="lgcd")``, the locally greedy coordinate descent its docs recommend for
  the z step, strategy "greedy" with n_seg "auto" (segments of 2K - 1 samples, its default; the "cyclic" and
  "random" strategies fail with an IndexError in 0.4.1), tolerance swept over --lgcd-tols; float64 (its only
  precision); the largest tolerance that reaches the gap is timed.
Relative gap: F(x) / F* - 1, F evaluated in float64 for every output; F* the minimum of a long reference FISTA
(float32 with adaptive restart to a stall, then float64 from there; cached under bench/results/.cache) and of every
output seen. The gap of the timed output is recomputed and reported.

Timing (bench/common.py): set-up excluded and reported separately (crsae: export and session creation; SPORCO: the
warm-up call pays pyFFTW's FFTW_MEASURE planning, kept in ``first_call_s``; alphacsc: numba compilation in the
warm-up call), one warm-up call per case, then --repeats rounds in which every case runs once (interleaved, so
that drift hits every tool alike); median and min - max per case, and the ratio to crsae per round (median, range).
The machine's load and a float32 GEMM probe are recorded before and after each workload.

At --threads N > 1 every tool is offered the same batch split across N worker processes of one thread each
(``ProcessSplit``), beside its own threading (crsae: ``Encoder(threads=N)``; SPORCO: pyFFTW threads; alphacsc:
joblib n_jobs).

Workloads:
- 1-D: simulated spike-like data (crsae.simulate), 10 filters of 45 taps, --signals x 5000 samples, 5 events per
  filter per signal (amplitudes 1..2, positive), 20 dB SNR; dictionary = the ground truth; quality = spike F1.
- 2-D: --crops 128x128 centre crops of BSD68 (grayscale), noise sigma 25/255, mean removed; 64 filters 7x7
  (49 DCT atoms + 15 random, fixed), stride 1, two-sided codes; quality = denoising PSNR of H x + mean.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CACHE, ProcessSplit, add_reference_options, add_workload_options, describe_state,  # noqa: E402
                    interleaved, machine_state, pin_threads, protocol, ratio_stats, restore_affinity, versions,
                    write_json)

THREADS = pin_threads(1)

import argparse  # noqa: E402
import hashlib  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from crsae.config import ModelConfig  # noqa: E402
from crsae.model.fista import (ACCELERATED_STEP, accelerated_steps, analysis, estimate_L,  # noqa: E402
                               momentum_schedule, soft_threshold, synthesis)
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402
from crsae.simulate import SimulationConfig, simulate  # noqa: E402


# --- the common objective -------------------------------------------------------------------------------------
class Problem:
    def __init__(self, name, y, H, lam, nonneg, quality, quality_name):
        self.name, self.lam, self.nonneg = name, float(lam), nonneg
        self.y = np.ascontiguousarray(y, dtype=np.float32)
        self.H = np.ascontiguousarray(H, dtype=np.float32)
        self.y64 = torch.from_numpy(self.y.astype(np.float64))
        self.H64 = torch.from_numpy(self.H.astype(np.float64))
        self.size = self.y.shape[2:]
        self.quality, self.quality_name = quality, quality_name
        self.L = estimate_L(torch.from_numpy(self.H), self.size, margin=1.01)
        self.f_star = None

    def objective(self, x) -> float:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        if self.nonneg and float(x.min()) < 0:
            return math.inf
        r = self.y64 - synthesis(x, self.H64, self.size)
        return float(0.5 * (r * r).sum() + self.lam * x.abs().sum())

    def gap(self, f) -> float:
        return f / self.f_star - 1.0


def reference_fista(p: Problem, max_iter: int, threads: int, dtype=torch.float64, x0=None):
    """Long FISTA with gradient-based adaptive restart: (x, F, iterations, last relative F change)."""
    torch.set_num_threads(threads)
    y, H, L = p.y64.to(dtype), p.H64.to(dtype), p.L
    c = analysis(y, H) / L
    x = torch.zeros_like(c) if x0 is None else torch.as_tensor(x0, dtype=dtype)
    z, t = x.clone(), 1.0
    thr = p.lam / L
    hist = []
    for k in range(max_iter):
        u = z - analysis(synthesis(z, H, p.size), H) / L + c
        x_new = F.relu(u - thr) if p.nonneg else torch.sign(u) * F.relu(u.abs() - thr)
        if float(((z - x_new) * (x_new - x)).sum()) > 0:           # restart the momentum
            t = 1.0
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
        if k % 25 == 24:
            hist.append(p.objective(x))
            if len(hist) > 2 and abs(hist[-2] - hist[-1]) <= (1e-13 if dtype == torch.float64 else 1e-8) * abs(hist[-1]):
                break
    change = abs(hist[-2] - hist[-1]) / abs(hist[-1]) if len(hist) > 1 else math.nan
    return x.numpy(), p.objective(x), k + 1, change


# --- crsae ----------------------------------------------------------------------------------------------------
def crsae_gaps(p: Problem, T_max: int, stop_gap: float) -> list:
    """Relative gap of x_T for T = 1, 2, ... (stops at T_max or once the gap is <= stop_gap).

    The same steps and float32 arithmetic as ``crsae.model.fista.unrolled_fista`` with We = H, b = lam / L: FISTA's
    momentum factors depend on k only, so the T-step encoder's output is the T-th iterate of a longer one.
    """
    torch.set_num_threads(THREADS)
    y, H = torch.from_numpy(p.y), torch.from_numpy(p.H)
    b = torch.full((H.shape[0],), p.lam / p.L)
    We_L, bias = H / p.L, (-b if p.nonneg else None)
    momentum = momentum_schedule(T_max)
    gaps, x_prev, z = [], None, None
    with torch.no_grad():
        for k in range(T_max):
            u = analysis(y, We_L, 1, bias) if k == 0 else z + analysis(y - synthesis(z, H, p.size), We_L, 1, bias)
            x = F.relu(u) if p.nonneg else soft_threshold(u, b)
            gaps.append(p.gap(p.objective(x.numpy())))
            if gaps[-1] <= stop_gap:
                break
            z = x if k == 0 else x + momentum[k] * (x - x_prev)
            x_prev = x
    return gaps


def crsae_accelerated_gaps(p: Problem, T_max: int, stop_gap: float, step: float) -> list:
    """Relative gap of x_T of the accelerated encoder (``crsae export --encoder accelerated --step STEP``, beyond
    the paper) for T = 1, 2, ...: ``accelerated_steps`` yields the iterates of one T_max-layer run, and a T-layer
    export's output is its T-th (the safeguard's decisions depend on the layers before only)."""
    torch.set_num_threads(THREADS)
    y, H = torch.from_numpy(p.y), torch.from_numpy(p.H)
    b = torch.full((H.shape[0],), p.lam / p.L)
    gaps = []
    with torch.no_grad():
        for x in accelerated_steps(y, H, b, p.L, T_max, step=step, two_sided=not p.nonneg):
            gaps.append(p.gap(p.objective(x.numpy())))
            if gaps[-1] <= stop_gap:
                break
    return gaps


def export_crsae(p: Problem, T: int, path: Path, step: float | None = None) -> float:
    """Export the T-step encoder of ``p`` to ``path`` (``step``: the accelerated encoder with that s); returns the
    seconds it took (set-up, not timed)."""
    C, ch, K = p.H.shape[:3]
    cfg = ModelConfig(kind="1d" if p.H.ndim == 3 else "2d", channels=ch, num_filters=C, kernel_size=K,
                      num_layers=T, L=p.L, sigma=1.0, threshold_mode="fixed", lam_init=p.lam, two_sided=not p.nonneg)
    options = {} if step is None else {"encoder": "accelerated", "step": step}
    start = time.perf_counter()
    write_export(to_onnx(CRsAE(cfg, p.H).eval(), outputs="codes", **options), path)
    return time.perf_counter() - start


def build_crsae(path: str, threads: int, y: np.ndarray):
    """A call that encodes ``y`` with the exported encoder (session created here, outside any timing)."""
    encoder = Encoder(path, device="cpu", threads=threads)      # the default call batch (crsae.serving.runtime)
    return lambda: encoder.encode(y)


# --- SPORCO ---------------------------------------------------------------------------------------------------
def sporco_layout(y: np.ndarray, K: int):
    """SPORCO's arrays for signals y (n, 1, N) / (n, 1, Hh, Ww): (S, L1 weights, dimN, codes from Y).

    1-D: S (N, n), X (N, 1, n, C); 2-D: S (Hh, Ww, n), X (Hh, Ww, 1, n, C). The weight 1e6 on the wrap-around
    positions holds them at zero, so circular and linear synthesis agree."""
    if y.ndim == 3:
        S = np.ascontiguousarray(y[:, 0, :].T, dtype=np.float32)
        N = S.shape[0]
        w = np.ones((N, 1, 1, 1), np.float32)
        w[N - K + 1:] = 1e6
        return S, w, 1, lambda Y: np.ascontiguousarray(Y[:N - K + 1, 0].transpose(1, 2, 0))
    S = np.ascontiguousarray(y[:, 0].transpose(1, 2, 0), dtype=np.float32)
    Hh, Ww = S.shape[:2]
    w = np.ones((Hh, Ww, 1, 1, 1), np.float32)
    w[Hh - K + 1:] = 1e6
    w[:, Ww - K + 1:] = 1e6
    return S, w, 2, lambda Y: np.ascontiguousarray(Y[:Hh - K + 1, :Ww - K + 1, 0].transpose(2, 3, 0, 1))


def sporco_dictionary(H: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(H[:, 0, :].T if H.ndim == 3 else H[:, 0].transpose(1, 2, 0), dtype=np.float32)


def sporco_options(w, rho: float, autorho: bool, iters: int, nonneg: bool, callback=None):
    from sporco.admm import cbpdn
    return cbpdn.ConvBPDN.Options({"Verbose": False, "FastSolve": True, "MaxMainIter": iters, "RelStopTol": 0.0,
                                   "rho": rho, "AutoRho": {"Enabled": autorho}, "L1Weight": w,
                                   "NonNegCoef": nonneg, "DataType": np.float32, "Callback": callback})


def build_sporco(H: np.ndarray, lam: float, nonneg: bool, rho: float, autorho: bool, iters: int, threads: int,
                 y: np.ndarray):
    """A call that solves ConvBPDN for ``y``: the solver object's set-up (FFTs of D and S) and ``iters`` ADMM
    iterations, float32, pyFFTW on ``threads`` threads (SPORCO's default is every CPU)."""
    import sporco.fft
    from sporco.admm import cbpdn
    sporco.fft.pyfftw_threads = threads
    S, w, dimN, codes = sporco_layout(y, H.shape[-1])
    D = sporco_dictionary(H)

    def solve():
        solver = cbpdn.ConvBPDN(D, S, lam, sporco_options(w, rho, autorho, iters, nonneg), dimN=dimN)
        solver.solve()
        return codes(solver.getcoef())
    return solve


def sporco_planning(p: Problem) -> dict:
    """pyFFTW's FFTW_MEASURE planning for this problem's shapes, in seconds: a one-iteration solve in a fresh
    process (plans made) minus the same solve again (plans cached by pyfftw.interfaces)."""
    import sporco.fft
    sporco.fft.pyfftw_threads = THREADS
    solve = build_sporco(p.H, p.lam, p.nonneg, 50 * p.lam + 1, False, 1, THREADS, p.y)
    first = time.perf_counter()
    solve()
    second = time.perf_counter()
    solve()
    end = time.perf_counter()
    return {"first_solve_s": second - first, "second_solve_s": end - second,
            "planning_s": (second - first) - (end - second), "planner_effort": sporco.fft.pyfftw_planner_effort}


def sporco_gaps(p: Problem, rho: float, autorho: bool, max_iter: int, stop_gap: float) -> tuple[list, float]:
    """Relative gap of SPORCO's Y after every iteration (a Callback; stops at ``stop_gap``), and the final rho."""
    import sporco.fft
    from sporco.admm import cbpdn
    sporco.fft.pyfftw_threads = THREADS
    S, w, dimN, codes = sporco_layout(p.y, p.H.shape[-1])
    gaps = []

    def score(solver):
        gaps.append(p.gap(p.objective(codes(solver.Y))))
        return gaps[-1] <= stop_gap
    solver = cbpdn.ConvBPDN(sporco_dictionary(p.H), S, p.lam,
                            sporco_options(w, rho, autorho, max_iter, p.nonneg, score), dimN=dimN)
    solver.solve()
    return gaps, float(solver.rho)


# --- alphacsc -------------------------------------------------------------------------------------------------
def build_alphacsc(H: np.ndarray, lam: float, strategy: str, tol: float, n_jobs: int, y: np.ndarray):
    """A call of alphacsc's z step (locally greedy coordinate descent, non-negative codes) on ``y``, float64."""
    from alphacsc.update_z_multi import update_z_multi
    restore_affinity()
    X, D = y.astype(np.float64), H.astype(np.float64)
    kwargs = {"tol": tol, "strategy": strategy, "n_seg": "auto"}

    def solve():
        codes = update_z_multi(X, D, lam, solver="lgcd", solver_kwargs=kwargs, n_jobs=n_jobs)[0]
        restore_affinity()                      # undo outside pinning before the next tool (common.py)
        return codes
    return solve


def first_reaching(gaps: list, target: float):
    """The first (1-based) iteration count whose gap is <= target, or None."""
    return next((k + 1 for k, g in enumerate(gaps) if g <= target), None)


# --- workloads ------------------------------------------------------------------------------------------------
def spike_f1(codes, events, M, thr=0.25, tol=3, window=5):
    codes = np.asarray(codes, dtype=np.float32)
    n, C = codes.shape[:2]
    truth = {}
    for i, c, pos, _ in events:
        truth.setdefault((int(i), int(c)), []).append(int(pos))
    tp = fp = fn = 0
    pooled = F.max_pool1d(torch.from_numpy(codes), 2 * window + 1, 1, window).numpy()
    peaks = (codes >= pooled) & (codes > thr)
    for i in range(n):
        for c in range(C):
            found = np.flatnonzero(peaks[i, c])
            true = np.array(truth.get((i, c), []))
            used = np.zeros(len(true), bool)
            for f in found:
                d = np.abs(true - f) if len(true) else np.array([])
                j = int(np.argmin(d)) if len(d) else -1
                if j >= 0 and d[j] <= tol and not used[j]:
                    used[j] = True
                    tp += 1
                else:
                    fp += 1
            fn += int((~used).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1)


def workload_1d(args):
    sim = simulate(SimulationConfig(num_signals=args.signals, length=5000, num_filters=10, kernel_size=45,
                                    events_per_filter=5, min_spacing=100, nonnegative=True, snr_db=20.0,
                                    seed=args.seed))
    M = 5000 - 45 + 1
    p = Problem("1d", sim.signals, sim.dictionary, args.lam1d, True,
                lambda x: spike_f1(x, sim.events, M), "spike F1")
    p.sigma = sim.sigma
    return p


def dct_dictionary(K=7, extra=15, seed=0):
    n = np.arange(K)
    basis = [np.cos(np.pi * (n + 0.5) * k / K) for k in range(K)]
    atoms = [np.outer(basis[a], basis[b]) for a in range(K) for b in range(K)]
    rng = np.random.default_rng(seed)
    atoms += [rng.standard_normal((K, K)) for _ in range(extra)]
    H = np.stack([a / np.linalg.norm(a) for a in atoms])[:, None]
    return H.astype(np.float32)                                          # (64, 1, 7, 7)


def workload_2d(args):
    from crsae.readers import list_images, load_image
    files = list_images(args.data)[:args.crops]
    clean = []
    for f in files:
        im = load_image(f, 1)[0]
        r, c = (im.shape[0] - 128) // 2, (im.shape[1] - 128) // 2
        clean.append(im[r:r + 128, c:c + 128])
    clean = np.stack(clean)[:, None].astype(np.float64)
    rng = np.random.default_rng(args.seed)
    noisy = clean + 25 / 255 * rng.standard_normal(clean.shape)
    mean = noisy.mean(axis=(2, 3), keepdims=True)
    H = dct_dictionary()

    def psnr(x):
        rec = synthesis(torch.as_tensor(np.asarray(x), dtype=torch.float64),
                        torch.from_numpy(H.astype(np.float64)), (128, 128)).numpy() + mean
        return float(10 * np.log10(1.0 / np.mean((rec - clean) ** 2)))
    p = Problem("2d", noisy - mean, H, args.lam2d, False, psnr, "denoising PSNR (dB)")
    p.noisy_psnr = float(10 * np.log10(1.0 / np.mean((noisy - clean) ** 2)))
    return p


# --- driver ---------------------------------------------------------------------------------------------------
def reference(p: Problem, args):
    key = hashlib.sha256(p.y.tobytes() + p.H.tobytes() + repr((p.lam, p.nonneg, args.ref_iters, args.ref_iters64)).encode())
    path = CACHE / f"ref_{p.name}_{key.hexdigest()[:16]}.npz"
    if path.is_file():
        z = np.load(path)
        return z["x"], float(z["f"]), int(z["iters"]), float(z["change"]), True
    # float32 FISTA (fast convolutions) to a stall, then float64 FISTA from there: the float64 run defines F*.
    x32, _, iters32, _ = reference_fista(p, args.ref_iters, THREADS, torch.float32)
    x, f, iters, change = reference_fista(p, args.ref_iters64, THREADS, torch.float64, x32)
    iters += iters32
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, f=f, iters=iters, change=change)
    return x, f, iters, change, False


def sweep(p: Problem, args) -> dict:
    """Every tool's settings scored by the gap they reach (untimed): the selection step."""
    stop = min(args.gaps)
    out = {"crsae": {"T_max": args.T_max, "gaps": crsae_gaps(p, args.T_max, stop)}}
    print(f"  crsae: T = 1..{len(out['crsae']['gaps'])} scored", flush=True)
    if args.accelerated:
        out["crsae accelerated"] = {"T_max": args.T_max, "step": args.step,
                                    "gaps": crsae_accelerated_gaps(p, args.T_max, stop, args.step)}
        print(f"  crsae accelerated (step {args.step:g}/L): T = 1..{len(out['crsae accelerated']['gaps'])} scored, "
              "layers to " + ", ".join(f"{g:g}: {first_reaching(out['crsae accelerated']['gaps'], g)}"
                                       for g in args.gaps), flush=True)
    rho0 = 50 * p.lam + 1
    planning = sporco_planning(p)
    print(f"  SPORCO: pyFFTW planning {planning['planning_s']:.2f} s (excluded from the timings)", flush=True)
    fixed = []
    for factor in args.rho_factors:
        gaps, _ = sporco_gaps(p, factor * rho0, False, args.sporco_max_iter, stop)
        fixed.append({"rho": factor * rho0, "factor": factor, "autorho": False, "gaps": gaps})
        print(f"  SPORCO rho {factor * rho0:.4g} ({factor:g} x default): iterations to "
              + ", ".join(f"{g:g}: {first_reaching(gaps, g)}" for g in args.gaps), flush=True)
    best = min(fixed, key=lambda r: (first_reaching(r["gaps"], args.gaps[0]) or math.inf,
                                     first_reaching(r["gaps"], stop) or math.inf))
    auto = []
    for start in dict.fromkeys([rho0, best["rho"]]):
        gaps, final = sporco_gaps(p, start, True, args.sporco_max_iter, stop)
        auto.append({"rho": start, "factor": start / rho0, "autorho": True, "final_rho": final, "gaps": gaps})
        print(f"  SPORCO AutoRho from rho {start:.4g} (ends at {final:.4g}): iterations to "
              + ", ".join(f"{g:g}: {first_reaching(gaps, g)}" for g in args.gaps), flush=True)
    out["sporco"] = {"default_rho": rho0, "planning": planning, "fixed": fixed, "autorho": auto, "max_iter": args.sporco_max_iter}
    if p.nonneg and not args.skip_alphacsc:
        lgcd = []
        for strategy in args.lgcd_strategies:
            build_alphacsc(p.H, p.lam, strategy, 1.0, 1, p.y[:1])()              # numba compilation, untimed
            for tol in args.lgcd_tols:
                start = time.perf_counter()
                x = build_alphacsc(p.H, p.lam, strategy, tol, 1, p.y)()
                lgcd.append({"strategy": strategy, "tol": tol, "gap": p.gap(p.objective(x)),
                             "seconds_once": time.perf_counter() - start})
                print(f"  alphacsc {strategy} tol {tol:g}: gap {lgcd[-1]['gap']:.2e} "
                      f"({lgcd[-1]['seconds_once']:.2f} s once)", flush=True)
        out["alphacsc"] = lgcd
    return out


def split_halves(y: np.ndarray, parts: int) -> list:
    return [np.ascontiguousarray(part) for part in np.array_split(y, parts)]


def timed_cases(p: Problem, args, sweeps: dict, target: float, tmp: Path, exports: dict):
    """The cases timed for one gap target: name -> (setting, zero-argument callable, closer)."""
    cases, setup = {}, {}
    T = first_reaching(sweeps["crsae"]["gaps"], target)
    parts = split_halves(p.y, THREADS) if THREADS > 1 else None
    closers = []

    def add(name, setting, fn):
        cases[name] = fn
        setup[name] = setting

    def add_split(name, setting, builder, build_args):
        split = ProcessSplit(builder, build_args, parts, lambda xs: np.concatenate(xs))
        closers.append(split)
        add(name, {**setting, "split": f"{THREADS} processes x 1 thread"}, split.run)
        setup[name]["result"] = split.result

    def add_crsae(name, T, step=None):                  # the T-layer export (cached), its session, the split
        key = (step, T)
        if key not in exports:
            path = tmp / f"{p.name}_{'paper' if step is None else 'accelerated'}_T{T}.onnx"
            exports[key] = (str(path), export_crsae(p, T, path, step=step))
        path, export_s = exports[key]
        start = time.perf_counter()
        run = build_crsae(path, THREADS, p.y)
        setting = {"T": T} if step is None else {"T": T, "step": step}
        add(name, {**setting, "export_s": export_s, "session_s": time.perf_counter() - start, "threads": THREADS}, run)
        if parts:
            add_split(f"{name} split", setting, build_crsae, (path, 1))

    if T is not None:
        add_crsae("crsae", T)
    if "crsae accelerated" in sweeps:
        Ta = first_reaching(sweeps["crsae accelerated"]["gaps"], target)
        if Ta is not None:
            add_crsae("crsae accelerated", Ta, args.step)
    sp = sweeps["sporco"]
    for label, rows in (("SPORCO", sp["fixed"]), ("SPORCO AutoRho", sp["autorho"])):
        scored = [(first_reaching(r["gaps"], target), r) for r in rows]
        scored = [(k, r) for k, r in scored if k is not None]
        if not scored:
            continue
        if label == "SPORCO":
            scored = [min(scored, key=lambda kr: kr[0])]
        for k, r in scored:
            name = label if len(scored) == 1 else f"{label} (from {r['factor']:g} x default rho)"
            setting = {"rho": r["rho"], "rho_factor": r["factor"], "autorho": r["autorho"], "iterations": k,
                       "threads": THREADS, "dtype": "float32"}
            add(name, setting, build_sporco(p.H, p.lam, p.nonneg, r["rho"], r["autorho"], k, THREADS, p.y))
            if parts:
                add_split(f"{name} split", setting, build_sporco,
                          (p.H, p.lam, p.nonneg, r["rho"], r["autorho"], k, 1))
    for strategy in args.lgcd_strategies if "alphacsc" in sweeps else ():
        ok = [r for r in sweeps["alphacsc"] if r["strategy"] == strategy and r["gap"] <= target]
        if not ok:
            continue
        tol = max(r["tol"] for r in ok)
        name = f"alphacsc {'LGCD' if strategy == 'greedy' else strategy}"
        setting = {"strategy": strategy, "tol": tol, "n_seg": "auto", "n_jobs": THREADS, "dtype": "float64"}
        add(name, setting, build_alphacsc(p.H, p.lam, strategy, tol, THREADS, p.y))
        if parts:
            add_split(f"{name} split", {**setting, "n_jobs": 1}, build_alphacsc, (p.H, p.lam, strategy, tol, 1))
    return cases, setup, closers


def bench(p: Problem, args, tmp: Path):
    print(f"\n== {p.name}: y {p.y.shape}, H {p.H.shape}, lam {p.lam:g}, L {p.L:.4g}, "
          f"{'non-negative' if p.nonneg else 'two-sided'} codes, {THREADS} thread(s)", flush=True)
    state_before = machine_state(THREADS)
    print(f"before: {describe_state(state_before)}", flush=True)
    t0 = time.perf_counter()
    x_ref, f_ref, iters, change, cached = reference(p, args)
    print(f"reference FISTA: F = {f_ref:.10g} after {iters} iterations (last relative change {change:.1e}, "
          f"{'cached' if cached else f'{time.perf_counter() - t0:.0f} s'})", flush=True)
    p.f_star = f_ref
    sweeps = sweep(p, args)
    exports, targets = {}, []
    for target in args.gaps:
        cases, setup, closers = timed_cases(p, args, sweeps, target, tmp, exports)
        if "crsae" not in cases:
            print(f"  gap {target:g}: crsae does not reach it within T = {args.T_max}; skipped", flush=True)
            continue
        state = machine_state(THREADS)
        timings, results, rounds = interleaved(cases, repeats=args.repeats)
        state_after = machine_state(THREADS)
        rows = []
        for name, timing in timings.items():
            setting = dict(setup[name])
            result = setting.pop("result")() if "result" in setting else results[name]
            f = p.objective(result)
            rows.append({"case": name, "setting": setting, **timing.as_dict(), "objective": f,
                         "quality": p.quality(result), "ratio_to_crsae": ratio_stats(rounds, name, "crsae")})
            if "crsae accelerated" in cases:
                rows[-1]["ratio_to_crsae_accelerated"] = ratio_stats(rounds, name, "crsae accelerated")
        for split in closers:
            split.close()
        targets.append({"gap": target, "state_before": state, "state_after": state_after, "rows": rows})
    f_min = min([f_ref] + [r["objective"] for t in targets for r in t["rows"]])
    for t in targets:
        for r in t["rows"]:
            r["rel_gap"] = r["objective"] / f_min - 1.0
    state_after = machine_state(THREADS)
    print(f"after: {describe_state(state_after)}", flush=True)
    return {"workload": p.name, "shape": list(p.y.shape), "dictionary": list(p.H.shape), "lam": p.lam, "L": p.L,
            "nonneg": p.nonneg, "f_star": f_min, "f_reference": f_ref,
            "reference": {"objective": f_ref, "iterations": iters, "last_rel_change": change},
            "optimum_density": float((np.abs(x_ref) > 0).mean()), "quality_name": p.quality_name,
            "quality_at_optimum": p.quality(x_ref),
            "extra": {k: getattr(p, k) for k in ("sigma", "noisy_psnr") if hasattr(p, k)},
            "state_before": state_before, "state_after": state_after, "sweeps": sweeps, "targets": targets}


def describe_setting(s: dict) -> str:
    keys = ("T", "step", "rho", "iterations", "strategy", "tol", "split")
    return ", ".join(f"{k} {s[k]:.4g}" if isinstance(s[k], float) else f"{k} {s[k]}" for k in keys if k in s)


def print_table(res):
    print(f"\n{res['workload']}: y {tuple(res['shape'])}, lam {res['lam']:g}, F* {res['f_star']:.8g}, optimum density "
          f"{res['optimum_density']:.2e}; {THREADS} thread(s); median [min - max] of the timed calls")
    for t in res["targets"]:
        print(f"\ngap {t['gap']:g}; before: {describe_state(t['state_before'])}; after: "
              f"{describe_state(t['state_after'])}")
        accelerated = any("ratio_to_crsae_accelerated" in r for r in t["rows"])
        print("| tool | setting | seconds | first call (s) | gap reached | "
              f"{res['quality_name']} | time / crsae's, per round |"
              + (" time / crsae accelerated's, per round |" if accelerated else ""))
        print("| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if accelerated else ""))
        ratio = lambda q: f"{q['median']:.2f}x [{q['min']:.2f} - {q['max']:.2f}]"
        for r in t["rows"]:
            print(f"| {r['case']} | {describe_setting(r['setting'])} | {r['median_s']:.3f} [{r['min_s']:.3f} - "
                  f"{r['max_s']:.3f}] | {r['first_call_s']:.3f} | {r['rel_gap']:.2e} | {r['quality']:.4f} | "
                  f"{ratio(r['ratio_to_crsae'])} |"
                  + (f" {ratio(r['ratio_to_crsae_accelerated'])} |" if accelerated else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    floats = lambda s: [float(v) for v in s.split(",") if v]
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="1d,2d")
    add_workload_options(ap)
    ap.add_argument("--gaps", type=floats, default=[1e-2, 1e-3], help="relative gap targets, the first the headline")
    ap.add_argument("--T-max", type=int, default=300, help="crsae: every T up to this is scored")
    ap.add_argument("--rho-factors", type=floats, default=[0.0625, 0.125, 0.25, 0.35, 0.5, 0.7, 1.0, 2.0],
                    help="SPORCO: fixed rho = factor x (50 lam + 1), SPORCO's default")
    ap.add_argument("--accelerated", action="store_true",
                    help="also time crsae's accelerated encoder (crsae export --encoder accelerated; beyond the paper)")
    ap.add_argument("--step", type=float, default=ACCELERATED_STEP, help="--accelerated: its step factor s")
    ap.add_argument("--sporco-max-iter", type=int, default=300)
    ap.add_argument("--lgcd-tols", type=floats, default=[1.0, 0.3, 0.1, 0.03, 0.01, 1e-3])
    ap.add_argument("--lgcd-strategies", default="greedy", type=lambda s: [v for v in s.split(",") if v])
    ap.add_argument("--repeats", type=int, default=5)
    add_reference_options(ap)
    ap.add_argument("--skip-alphacsc", action="store_true")
    ap.add_argument("--note", default="", help="stored in the result file (e.g. what else ran on the machine)")
    ap.add_argument("--out", default="sparse_coding.json")
    args = ap.parse_args()
    if args.repeats < 5:
        ap.error("--repeats must be at least 5 (the protocol's median and range)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            if name == "2d" and not Path(args.data).is_dir():
                print(f"error: {args.data} is absent (pass --data FOLDER of natural images, e.g. shared/data/BSD68)")
                sys.exit(1)
            p = workload_1d(args) if name == "1d" else workload_2d(args)
            res = bench(p, args, Path(tmp))
            results.append(res)
            print_table(res)
    write_json(args.out, {"threads": THREADS, "protocol": protocol(THREADS), "versions": versions(),
                          "args": vars(args), "note": args.note, "workloads": results})


if __name__ == "__main__":
    main()
