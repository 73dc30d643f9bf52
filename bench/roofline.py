"""Roofline of the exported encoder (issue 6, item 3): FLOPs per call, achieved GFLOP/s of onnxruntime and torch
beside this CPU's measured float32 matrix-product rate (same run, same threads; onnxruntime through
``crsae.serving.runtime.Encoder`` with its default call batch, torch eager on the whole batch), how the time grows with T, with
signal size and with batch, and memory. Run by hand (either venv):

    .venv/bin/python bench/roofline.py --threads 1,2

FLOPs counted: the convolutions only, 2 FLOPs (one multiply-add) per tap per output; per encoder call
``(2 (T - 1) + 1) * 2 * B * C * channels * K^d * P`` (P = code positions per filter; the first step has only
(1/L) H^T y, each later step one synthesis H z and one analysis H^T r). Thresholds and momentum (7 passes
over the codes per step two-sided, 5 one-sided: crsae/fista.py) are not counted; they are memory-bound and reported as a share.
Workloads (those of bench/sparse_coding.py): 1-D 10 filters x 45 taps, N = 5000, one-sided; 2-D 64 filters 7x7,
stride 1, 128 x 128, two-sided. Memory: in a fresh process, the peak resident set (VmHWM, reset after building the session
and the input) during one call, minus the resident set before it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (describe_state, interleaved, machine_state, matmul_peak, pin_threads, protocol,  # noqa: E402
                    versions, write_json)

pin_threads(1)                      # before numpy / torch: the largest of --threads


import argparse  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from crsae.config import ModelConfig  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402

KINDS = {
    "1d": dict(kind="1d", num_filters=10, kernel_size=45, two_sided=False, lam_init=0.1, sigma=1.0,
               threshold_mode="fixed"),
    "2d": dict(kind="2d", num_filters=64, kernel_size=7, two_sided=True, lam_init=0.2, sigma=1.0,
               threshold_mode="fixed"),
}
BASE = {"1d": dict(T=50, B=16, size=(5000,)), "2d": dict(T=30, B=4, size=(128, 128))}
SWEEPS = {
    "1d": {"T": [10, 25, 50, 100], "size": [(1250,), (2500,), (5000,), (10000,)], "B": [4, 8, 16, 32]},
    "2d": {"T": [10, 20, 30, 60], "size": [(64, 64), (128, 128), (192, 192), (256, 256)], "B": [1, 2, 4, 8]},
}


VARIANT = None                      # --variant: an operator form from bench/speed_variants.py for the ORT export


def model_for(kind, T):
    cfg = ModelConfig(num_layers=T, **KINDS[kind])
    return CRsAE(cfg, seed=0).eval()


def conv_flops(kind, T, B, size):
    cfg = KINDS[kind]
    K, C = cfg["kernel_size"], cfg["num_filters"]
    P = int(np.prod([n - K + 1 for n in size]))
    per_conv = 2.0 * B * C * K ** len(size) * P
    return (2 * (T - 1) + 1) * per_conv, B * C * P


def memprobe(path, kind, B, size, threads):
    """Run in a fresh process: peak RSS (MiB) after building the session and after one call."""
    code = f"""
import numpy as np, resource
from crsae.serving.runtime import Encoder
enc = Encoder({str(path)!r}, device='cpu', threads={threads}, batch_size={B})
y = np.random.default_rng(0).standard_normal(({B}, 1) + {tuple(size)!r}).astype(np.float32)
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return float(line.split()[1]) / 1024
open('/proc/self/clear_refs', 'w').write('5')        # reset the peak RSS (VmHWM) to the current RSS
a = status('VmRSS')
enc.encode(y)
b = status('VmHWM')
print(a, b)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def point(kind, T, B, size, threads, tmp, cache):
    if T not in cache:
        path = Path(tmp) / f"{kind}_T{T}.onnx"
        model = model_for(kind, T)
        if VARIANT and not (kind != "1d" and VARIANT.startswith("1d-as-2d")):
            import crsae.model.fista as fista
            from speed_variants import ORIGINAL, VARIANTS
            fista.analysis, fista.synthesis = VARIANTS[VARIANT][:2]
            try:
                write_export(to_onnx(model, outputs="codes"), path)
            finally:
                fista.analysis, fista.synthesis = ORIGINAL
        else:
            write_export(to_onnx(model, outputs="codes"), path)
        cache[T] = (model, path)
    model, path = cache[T]
    enc = Encoder(path, device="cpu", threads=threads)      # the default call batch, as crsae infer runs it
    y = np.random.default_rng(0).standard_normal((B, 1) + tuple(size)).astype(np.float32)
    yt = torch.from_numpy(y)
    torch.set_num_threads(threads)

    def run_torch():
        with torch.no_grad():
            return model._encode(yt).numpy()
    timings, results, _ = interleaved({"ort": lambda: enc.encode(y), "torch": run_torch})
    t_ort, t_torch = timings["ort"].median, timings["torch"].median
    x_ort, x_torch = results["ort"], results["torch"]
    flops, code_entries = conv_flops(kind, T, B, size)
    return {"kind": kind, "T": T, "B": B, "size": list(size), "threads": threads, "conv_gflop": flops / 1e9,
            "ort_examples_per_call": enc.call_batch(y.shape), "ort_s": t_ort, "torch_s": t_torch, "ort_gflops": flops / t_ort / 1e9,
            "torch_gflops": flops / t_torch / 1e9, "code_entries": code_entries,
            "ort_timing": timings["ort"].as_dict(), "torch_timing": timings["torch"].as_dict(),
            "max_abs_diff": float(np.abs(x_ort - x_torch).max()), "path": str(path),
            "loadavg_1m": __import__("os").getloadavg()[0]}


def linear_fit(xs, ts):
    """Least-squares t = a + b x; returns b, a, and the largest relative deviation from the line."""
    xs, ts = np.asarray(xs, float), np.asarray(ts, float)
    b, a = np.polyfit(xs, ts, 1)
    return float(b), float(a), float(np.max(np.abs(a + b * xs - ts) / ts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--kinds", default="1d,2d")
    ap.add_argument("--sweeps", default="T,size,B", help="axes swept around the base point (T, size, B; none of them: the base point only)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="only the memory probes (writes roofline_memory.json)")
    ap.add_argument("--variant", default=None, help="export form from bench/speed_variants.py, e.g. 1d-as-2d")
    ap.add_argument("--out", default="roofline.json")
    args = ap.parse_args()
    global VARIANT
    VARIANT = args.variant
    if args.memory_only:
        threads = int(args.threads.split(",")[0])
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for kind in args.kinds.split(","):
                base = BASE[kind]
                path = Path(tmp) / f"{kind}.onnx"
                write_export(to_onnx(model_for(kind, base["T"]), outputs="codes"), path)
                for B in SWEEPS[kind]["B"]:
                    before, after = memprobe(path, kind, B, base["size"], threads)
                    _, entries = conv_flops(kind, base["T"], B, base["size"])
                    rows.append({"kind": kind, "T": base["T"], "B": B, "size": list(base["size"]),
                                 "threads": threads, "rss_before_call_mib": before, "rss_peak_in_call_mib": after,
                                 "call_mib": after - before, "codes_mib": entries * 4 / 2 ** 20,
                                 "input_mib": B * int(np.prod(base["size"])) * 4 / 2 ** 20})
                    r = rows[-1]
                    print(f"| {kind} | {B} | {'x'.join(map(str, base['size']))} | T={base['T']} | "
                          f"{r['input_mib']:.1f} | {r['codes_mib']:.1f} | {r['call_mib']:.1f} | "
                          f"{r['call_mib'] / r['codes_mib']:.1f} |", flush=True)
        write_json("roofline_memory.json", {"versions": versions(), "threads": threads, "rows": rows})
        return
    threads_list = [int(t) for t in args.threads.split(",")]
    out = {"versions": versions(), "protocol": protocol(max(threads_list)), "provider": "CPUExecutionProvider",
           "peaks": {}, "states": {}, "points": [], "fits": [], "memory": []}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {k: {} for k in KINDS}
        for threads in threads_list:
            state = machine_state(threads)
            print(f"before: {describe_state(state)}", flush=True)
            peak = matmul_peak(threads)
            out["peaks"][threads] = peak
            out["states"].setdefault(threads, {})["before"] = state
            print(f"\n{threads} thread(s): float32 matmul 2048^3: torch {peak['torch_gflops']:.1f} GFLOP/s, numpy "
                  f"{peak['numpy_gflops']:.1f} GFLOP/s (peak taken: {peak['peak_gflops']:.1f})", flush=True)
            for kind in args.kinds.split(","):
                base = BASE[kind]
                seen = {}
                axes = {axis: values for axis, values in SWEEPS[kind].items() if axis in args.sweeps.split(",")}
                for axis, values in axes.items() or {"T": [base["T"]]}.items():
                    pts = []
                    for v in values:
                        setting = {**base, axis: v}
                        key = (setting["T"], setting["B"], tuple(setting["size"]))
                        if key not in seen:
                            seen[key] = point(kind, setting["T"], setting["B"], setting["size"], threads, tmp,
                                              caches[kind])
                            r = seen[key]
                            r["pct_peak_ort"] = 100 * r["ort_gflops"] / peak["peak_gflops"]
                            r["pct_peak_torch"] = 100 * r["torch_gflops"] / peak["peak_gflops"]
                            out["points"].append(r)
                            print(f"  {kind} T={r['T']:<4} B={r['B']:<3} size={'x'.join(map(str, r['size'])):<8} "
                                  f"{r['conv_gflop']:8.2f} GFLOP  ORT {r['ort_s']:.4f} s {r['ort_gflops']:6.1f} GFLOP/s "
                                  f"({r['pct_peak_ort']:4.1f}% of peak)  torch {r['torch_s']:.4f} s "
                                  f"{r['torch_gflops']:6.1f} GFLOP/s ({r['pct_peak_torch']:4.1f}%)", flush=True)
                        pts.append(seen[key])
                    xs = [p[axis] if axis != "size" else int(np.prod(p["size"])) for p in pts]
                    for engine in ("ort", "torch") if len(pts) > 1 else ():
                        b, a, dev = linear_fit(xs, [p[f"{engine}_s"] for p in pts])
                        out["fits"].append({"kind": kind, "threads": threads, "axis": axis, "engine": engine,
                                            "slope_s": b, "intercept_s": a, "max_rel_dev": dev})
                out["states"][threads]["after"] = machine_state(threads)
                print(f"after {kind}: {describe_state(out['states'][threads]['after'])}", flush=True)
                if threads == threads_list[0] and not args.no_memory:
                    for B in SWEEPS[kind]["B"]:
                        model, path = caches[kind][base["T"]]
                        before, after = memprobe(path, kind, B, base["size"], threads)
                        _, entries = conv_flops(kind, base["T"], B, base["size"])
                        out["memory"].append({"kind": kind, "T": base["T"], "B": B, "size": list(base["size"]),
                                              "rss_after_session_mib": before, "rss_peak_after_call_mib": after,
                                              "call_mib": after - before, "codes_mib": entries * 4 / 2 ** 20})
                        m = out["memory"][-1]
                        print(f"  memory {kind} B={B}: +{m['call_mib']:.1f} MiB during a call "
                              f"(codes alone {m['codes_mib']:.1f} MiB)", flush=True)
    for p in out["points"]:
        p.pop("path", None)
    print("\n| workload | threads | T | B | size | GFLOP/call | ORT s | ORT GFLOP/s | % of matmul peak | torch s | "
          "torch GFLOP/s | % of peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in out["points"]:
        print(f"| {r['kind']} | {r['threads']} | {r['T']} | {r['B']} | {'x'.join(map(str, r['size']))} | "
              f"{r['conv_gflop']:.2f} | {r['ort_s']:.4f} | {r['ort_gflops']:.1f} | {r['pct_peak_ort']:.1f} | "
              f"{r['torch_s']:.4f} | {r['torch_gflops']:.1f} | {r['pct_peak_torch']:.1f} |")
    print("\nlinear fits t = a + b x (max relative deviation of the points from the line):")
    for f in out["fits"]:
        print(f"  {f['kind']} {f['threads']}t {f['engine']:<5} vs {f['axis']:<4}: slope {f['slope_s']:.3e} s/unit, "
              f"intercept {f['intercept_s']:.3e} s, max dev {100 * f['max_rel_dev']:.1f}%")
    print("\n".join(f"peak {t} thread(s): {p['peak_gflops']:.1f} GFLOP/s" for t, p in out["peaks"].items()))
    out["variant"] = args.variant
    write_json(args.out, out)


if __name__ == "__main__":
    main()
