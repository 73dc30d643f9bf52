"""Sparse coding at matched quality: crsae's encoder (onnxruntime and torch, T swept) vs alphacsc (locally greedy
coordinate descent, L-BFGS), SPORCO's ConvBPDN (ADMM, fixed rho) and plain FISTA run to a tolerance, on the same
data in the same process (issue 6, item 1). Run by hand, in the peers venv (bash bench/setup_peers.sh):

    bench/.venv-peers/bin/python bench/sparse_coding.py --threads 1 --data ../shared/data/BSD68

One objective for every method: F(x) = 1/2 ||y - H x||^2 + lam ||x||_1 with linear ("full") convolution and
valid-length codes (x_c of length N - K + 1, or (Hh - K + 1) x (Ww - K + 1)); 1-D codes are constrained to be
non-negative (spikes; alphacsc only solves that problem). F is evaluated in float64 for every method's output.
F* is the minimum of a long float64 FISTA (with adaptive restart) and of every output seen; rel gap = F / F* - 1.

SPORCO solves with circular convolution on the signal's own length N. A circular convolution of length N of a
code supported on [0, N - K + 1) never wraps (index n - k < 0 only reaches positions >= N - K + 1), so it equals
the linear full convolution; we therefore give the wrap-around positions [N - K + 1, N) an l1 weight of 1e6
(``L1Weight``), which forces them to exactly zero in SPORCO's sparse variable Y, and read Y's valid part.
SPORCO's rho is fixed (AutoRho off), FastSolve on (no per-iteration objective), so each point is one solve of
``MaxMainIter`` iterations, setup (FFTs of the dictionary) included.

Workloads:
- 1-D: simulated spike-like data (crsae.simulate), 10 filters of 45 taps, --signals x 5000 samples, 5 events per
  filter per signal (amplitudes 1..2, positive), 20 dB SNR; dictionary = the ground truth; task quality = spike
  detection F1 (code peaks above 0.25 within +-3 samples of a true event of the same filter).
- 2-D: --crops 128x128 centre crops of BSD68 (grayscale), noise sigma 25/255, mean removed; 64 filters 7x7
  (49 DCT atoms + 15 random, fixed, not trained), stride 1, two-sided codes; task quality = denoising PSNR of
  H x + mean against the clean crop. alphacsc has no 2-D solver, so it is absent there.
Time to a target = the fastest setting of a method (T, tolerance, iteration count) whose output reaches it.
Timings: best of 3 for calls under 2 s, else one call; onnxruntime session creation excluded.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, measure, pin_threads, versions, write_json  # noqa: E402

THREADS = pin_threads(1)

import argparse  # noqa: E402
import os  # noqa: E402
import hashlib  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from crsae.config import ModelConfig  # noqa: E402
from crsae.model.fista import analysis, estimate_L, synthesis  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402
from crsae.simulate import SimulationConfig, simulate  # noqa: E402

GAPS = (1e-2, 1e-3)


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


# --- the methods: each yields (setting, seconds, codes) --------------------------------------------------------
def crsae_models(p: Problem, Ts, two_sided):
    C, ch, K = p.H.shape[:3]
    for T in Ts:
        cfg = ModelConfig(kind="1d" if p.H.ndim == 3 else "2d", channels=ch, num_filters=C, kernel_size=K,
                          num_layers=T, L=p.L, sigma=1.0, threshold_mode="fixed", lam_init=p.lam,
                          two_sided=two_sided)
        yield T, CRsAE(cfg, p.H).eval()


def export_variant(model, path, variant):
    """Export ``model``; ``variant`` names an alternative operator form from bench/speed_variants.py."""
    if variant is None:
        write_export(to_onnx(model, outputs="codes"), path)
        return
    import crsae.model.fista as fista
    from speed_variants import ORIGINAL, VARIANTS
    fista.analysis, fista.synthesis = VARIANTS[variant][:2]
    try:
        write_export(to_onnx(model, outputs="codes"), path)
    finally:
        fista.analysis, fista.synthesis = ORIGINAL


def run_crsae(p: Problem, Ts, two_sided, threads, tmp: Path, variants=()):
    torch.set_num_threads(threads)
    yt = torch.from_numpy(p.y)
    for T, model in crsae_models(p, Ts, two_sided):
        for variant in (None, *variants):
            if variant and p.name != "1d" and variant.startswith("1d-as-2d"):
                continue
            path = tmp / f"{p.name}_T{T}_{variant}.onnx"
            export_variant(model, path, variant)
            enc = Encoder(path, device="cpu", threads=threads)     # the default call batch (crsae.serving.runtime)
            secs, x = measure(lambda: enc.encode(p.y))
            yield ("crsae onnxruntime" + (f" [{variant}]" if variant else ""), f"T={T}", secs, x,
                   f"{enc.provider}, {enc.call_batch(p.y.shape)} per call")

        def run_torch():
            with torch.no_grad():
                return model._encode(yt).numpy()
        secs, x = measure(run_torch)
        yield "crsae torch", f"T={T}", secs, x, "torch eager CPU"


def plain_fista(p: Problem, tol: float, max_iter: int = 20000) -> np.ndarray:
    """Textbook FISTA in torch float32, stopped when ||x_k - x_{k-1}|| <= tol ||x_k||."""
    y, H = torch.from_numpy(p.y), torch.from_numpy(p.H)
    L = p.L
    with torch.no_grad():
        x = torch.zeros_like(analysis(y, H))
        z, t = x.clone(), 1.0
        for _ in range(max_iter):
            g = analysis(synthesis(z, H, p.size) - y, H)
            u = z - g / L
            x_new = F.relu(u - p.lam / L) if p.nonneg else torch.sign(u) * F.relu(u.abs() - p.lam / L)
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = x_new + (t - 1) / t_new * (x_new - x)
            done = float((x_new - x).norm()) <= tol * float(x_new.norm())
            x, t = x_new, t_new
            if done:
                break
    return x.numpy()


def run_fista(p: Problem, tols, threads):
    torch.set_num_threads(threads)
    for tol in tols:
        secs, x = measure(lambda: plain_fista(p, tol))
        yield "FISTA to tol (torch)", f"tol={tol:g}", secs, x, "torch eager CPU"


def run_alphacsc(p: Problem, lgcd_tols, lbfgs_iters):
    from alphacsc.update_z_multi import update_z_multi
    X = p.y.astype(np.float64)
    D = p.H.astype(np.float64)
    for tol in lgcd_tols:
        secs, out = measure(lambda: update_z_multi(X, D, p.lam, solver="lgcd",
                                                   solver_kwargs={"tol": tol}, n_jobs=1))
        yield "alphacsc LGCD", f"tol={tol:g}", secs, out[0], "numpy/numba"
    for it in lbfgs_iters:
        secs, out = measure(lambda: update_z_multi(X, D, p.lam, solver="l-bfgs",
                                                   solver_kwargs={"max_iter": it, "tol": 1e-12}, n_jobs=1))
        yield "alphacsc L-BFGS", f"iter={it}", secs, out[0], "scipy"


def run_sporco(p: Problem, iters, rho, threads):
    import sporco.fft
    from sporco.admm import cbpdn
    sporco.fft.pyfftw_threads = threads                # SPORCO's default is every CPU, whatever OMP_NUM_THREADS says
    K = p.H.shape[-1]
    if p.H.ndim == 3:                                   # 1-D: S (N, n), D (K, C), X (N, 1, n, C)
        S = p.y[:, 0, :].T.astype(np.float64)
        D = p.H[:, 0, :].T.astype(np.float64)
        N = S.shape[0]
        w = np.ones((N, 1, 1, 1))
        w[N - K + 1:] = 1e6
        dimN = 1
    else:                                               # 2-D: S (Hh, Ww, n), D (K, K, C), X (Hh, Ww, 1, n, C)
        S = p.y[:, 0].transpose(1, 2, 0).astype(np.float64)
        D = p.H[:, 0].transpose(1, 2, 0).astype(np.float64)
        Hh, Ww = S.shape[:2]
        w = np.ones((Hh, Ww, 1, 1, 1))
        w[Hh - K + 1:] = 1e6
        w[:, Ww - K + 1:] = 1e6
        dimN = 2
    for it in iters:
        opt = cbpdn.ConvBPDN.Options({"Verbose": False, "FastSolve": True, "MaxMainIter": it, "RelStopTol": 0.0,
                                      "rho": rho, "AutoRho": {"Enabled": False}, "L1Weight": w,
                                      "NonNegCoef": p.nonneg})

        def solve():
            b = cbpdn.ConvBPDN(D, S, p.lam, opt, dimN=dimN)
            b.solve()
            return b.getcoef()
        secs, Y = measure(solve)
        if dimN == 1:
            x = Y[:N - K + 1, 0].transpose(1, 2, 0)                     # (n, C, M)
        else:
            x = Y[:Hh - K + 1, :Ww - K + 1, 0].transpose(2, 3, 0, 1)   # (n, C, Hc, Wc)
        fft = f"pyFFTW, {threads} thread(s)" if sporco.fft.have_pyfftw else "numpy FFT"
        yield "SPORCO ConvBPDN", f"iter={it} rho={rho:g}", secs, np.ascontiguousarray(x), fft


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
    x32, _, iters32, _ = reference_fista(p, args.ref_iters, args.ref_threads, torch.float32)
    x, f, iters, change = reference_fista(p, args.ref_iters64, args.ref_threads, torch.float64, x32)
    iters += iters32
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, f=f, iters=iters, change=change)
    return x, f, iters, change, False


def bench(p: Problem, args, tmp: Path):
    print(f"\n== {p.name}: y {p.y.shape}, H {p.H.shape}, lam {p.lam:g}, L {p.L:.4g}, "
          f"{'non-negative' if p.nonneg else 'two-sided'} codes, {THREADS} thread(s)", flush=True)
    t0 = time.perf_counter()
    x_ref, f_ref, iters, change, cached = reference(p, args)
    print(f"reference FISTA float64: F = {f_ref:.10g} after {iters} iterations (last relative change {change:.1e}, "
          f"{'cached' if cached else f'{time.perf_counter() - t0:.0f} s'})", flush=True)
    q_ref = p.quality(x_ref)
    density = float((np.abs(x_ref) > 0).mean())
    runs = []
    two_sided = not p.nonneg
    gens = [run_crsae(p, args.T1d if p.name == "1d" else args.T2d, two_sided, THREADS, tmp,
                      [v for v in args.ort_variants.split(",") if v]),
            run_fista(p, args.fista_tols1d if p.name == "1d" else args.fista_tols2d, THREADS)]
    if p.name == "1d" and not args.skip_alphacsc:
        gens.append(run_alphacsc(p, args.lgcd_tols, args.lbfgs_iters))
    if not args.skip_sporco:
        rho = args.rho1d if p.name == "1d" else args.rho2d
        gens.append(run_sporco(p, args.sporco_iters1d if p.name == "1d" else args.sporco_iters2d, rho, THREADS))
    for gen in gens:
        for method, setting, secs, x, provider in gen:
            f = p.objective(x)
            runs.append({"method": method, "setting": setting, "seconds": secs, "objective": f,
                         "loadavg_1m": os.getloadavg()[0],
                         "quality": p.quality(x), "nonzeros": int((np.abs(x) > 0).sum()), "provider": provider})
            print(f"  {method:<22}{setting:<20}{secs:>9.3f} s  F {f:.8g}  {p.quality_name} {runs[-1]['quality']:.4f}",
                  flush=True)
    p.f_star = min([f_ref] + [r["objective"] for r in runs])
    for r in runs:
        r["rel_gap"] = p.gap(r["objective"])
    q_target = q_ref - args.quality_slack
    summary = []
    for method in dict.fromkeys(r["method"] for r in runs):
        mine = [r for r in runs if r["method"] == method]
        row = {"method": method}
        for g in GAPS:
            ok = [r for r in mine if r["rel_gap"] <= g]
            best = min(ok, key=lambda r: r["seconds"]) if ok else None
            row[f"time_gap_{g:g}"] = best["seconds"] if best else None
            row[f"setting_gap_{g:g}"] = best["setting"] if best else None
        ok = [r for r in mine if r["quality"] >= q_target]
        best = min(ok, key=lambda r: r["seconds"]) if ok else None
        row["time_quality"] = best["seconds"] if best else None
        row["setting_quality"] = best["setting"] if best else None
        row["best_gap"] = min(r["rel_gap"] for r in mine)
        summary.append(row)
    ort = next(r for r in summary if r["method"] == "crsae onnxruntime")
    for row in summary:
        for g in GAPS:
            a, b = row[f"time_gap_{g:g}"], ort[f"time_gap_{g:g}"]
            row[f"ratio_to_crsae_ort_gap_{g:g}"] = a / b if a and b else None
    return {"workload": p.name, "shape": list(p.y.shape), "dictionary": list(p.H.shape), "lam": p.lam, "L": p.L,
            "nonneg": p.nonneg, "f_star": p.f_star, "reference": {"objective": f_ref, "iterations": iters,
                                                                  "last_rel_change": change},
            "optimum_density": density, "quality_name": p.quality_name, "quality_at_optimum": q_ref,
            "quality_target": q_target, "extra": {k: getattr(p, k) for k in ("sigma", "noisy_psnr") if hasattr(p, k)},
            "runs": runs, "summary": summary}


def fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def print_table(res):
    print(f"\n{res['workload']}: y {tuple(res['shape'])}, lam {res['lam']:g}, F* {res['f_star']:.8g}, "
          f"optimum density {res['optimum_density']:.2e}, {res['quality_name']} at optimum "
          f"{res['quality_at_optimum']:.4f} (target {res['quality_target']:.4f}); {THREADS} thread(s)")
    print("| method | time to gap 1e-2 (s) [setting] | time to gap 1e-3 (s) [setting] | time to quality (s) "
          "[setting] | best gap | ratio to crsae ORT at 1e-2 | at 1e-3 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in res["summary"]:
        cells = []
        for key in ("gap_0.01", "gap_0.001"):
            t, s = r[f"time_{key}"], r[f"setting_{key}"]
            cells.append(f"{fmt(t)} [{s}]" if t is not None else "not reached")
        tq = r["time_quality"]
        cells.append(f"{fmt(tq)} [{r['setting_quality']}]" if tq is not None else "not reached")
        print(f"| {r['method']} | {cells[0]} | {cells[1]} | {cells[2]} | {r['best_gap']:.1e} | "
              f"{fmt(r['ratio_to_crsae_ort_gap_0.01'], '.2f')} | {fmt(r['ratio_to_crsae_ort_gap_0.001'], '.2f')} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="1d,2d")
    ap.add_argument("--signals", type=int, default=100)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "BSD68"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lam1d", type=float, default=0.1)
    ap.add_argument("--lam2d", type=float, default=0.2)
    ap.add_argument("--T1d", type=lambda s: [int(v) for v in s.split(",")], default=[5, 10, 20, 30, 40, 50, 75, 100])
    ap.add_argument("--T2d", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20, 50, 100, 150, 200, 300, 400])
    ap.add_argument("--fista-tols1d", type=lambda s: [float(v) for v in s.split(",")], default=[1e-2, 1e-3, 1e-4])
    ap.add_argument("--fista-tols2d", type=lambda s: [float(v) for v in s.split(",")], default=[1e-2, 3e-3, 1e-3])
    ap.add_argument("--lgcd-tols", type=lambda s: [float(v) for v in s.split(",")],
                    default=[1e-1, 3e-2, 1e-2, 1e-3])
    ap.add_argument("--lbfgs-iters", type=lambda s: [int(v) for v in s.split(",") if v], default=[10, 30, 100])
    ap.add_argument("--sporco-iters1d", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20, 30, 40, 50, 100])
    ap.add_argument("--sporco-iters2d", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20, 30, 50, 100, 200])
    ap.add_argument("--rho1d", type=float, default=None, help="SPORCO's fixed rho (default 50 lam + 1)")
    ap.add_argument("--rho2d", type=float, default=None, help="SPORCO's fixed rho (default 50 lam + 1)")
    ap.add_argument("--quality-slack", type=float, default=None,
                    help="quality target = quality at the optimum minus this (default 0.01 F1, 0.1 dB)")
    ap.add_argument("--ref-iters", type=int, default=3000)
    ap.add_argument("--ref-iters64", type=int, default=200)
    ap.add_argument("--ref-threads", type=int, default=2)
    ap.add_argument("--skip-sporco", action="store_true")
    ap.add_argument("--skip-alphacsc", action="store_true")
    ap.add_argument("--ort-variants", default="",
                    help="also time these operator forms of the export (bench/speed_variants.py), e.g. synth-as-conv")
    ap.add_argument("--out", default="sparse_coding.json")
    args = ap.parse_args()
    args.rho1d = args.rho1d if args.rho1d is not None else 50 * args.lam1d + 1
    args.rho2d = args.rho2d if args.rho2d is not None else 50 * args.lam2d + 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.workloads.split(","):
            if name == "2d" and not Path(args.data).is_dir():
                print(f"2-D workload skipped: {args.data} is absent (pass --data FOLDER of natural images, "
                      "e.g. shared/data/BSD68)")
                continue
            slack = args.quality_slack if args.quality_slack is not None else (0.01 if name == "1d" else 0.1)
            args_q = argparse.Namespace(**{**vars(args), "quality_slack": slack})
            p = workload_1d(args) if name == "1d" else workload_2d(args)
            res = bench(p, args_q, Path(tmp))
            res["sporco_rho"] = args.rho1d if name == "1d" else args.rho2d
            results.append(res)
            print_table(res)
    write_json(args.out, {"threads": THREADS, "versions": versions(), "args": vars(args), "workloads": results})


if __name__ == "__main__":
    main()
