"""What one layer of the exported encoder costs under onnxruntime: the paper's layer against the accelerated
encoder's (issue 18; ``crsae export --encoder accelerated``), on bench/sparse_coding.py's workloads. Run by hand
(either venv):

    taskset -c 0 .venv/bin/python bench/layer_cost.py --threads 1 --workloads 1d,2d --rev before=COMMIT

Per workload:
- Every form is exported at the same T (default: the accelerated encoder's layers to gap 1e-2, bench/README.md) and
  run by ``crsae.serving.runtime.Encoder`` with its defaults (cache-sized calls), all forms interleaved in one run
  (bench/common.py's protocol): median and range per form, and the per-round ratio to the paper's encoder, which at
  equal T is the per-layer cost ratio (the first layer and the final select are in both sides' time).
  ``--rev NAME=COMMIT`` adds the accelerated encoder as exported by that git commit's crsae (a ``git archive`` of
  it, exported in a subprocess), so that a change to the layer is timed against the previous form in one run.
- Nodes per layer by op type: (nodes at T - nodes at T0) / (T - T0), T0 = 3, and the same split by the largest
  tensor a node reads or writes at the workload's call batch (shape inference on concrete shapes): ``codes``
  (>= half the codes: a pass over the codes), ``signal`` (>= half the signal), ``small`` (per-example /
  per-filter values only), ``conv`` and ``view`` (Reshape, Squeeze, Unsqueeze, Shape, Expand).
- With ``--profile``: PROFILED_CALLS calls of the call batch (after a warm-up call) under
  ``SessionOptions.enable_profiling`` (the runtime's session options otherwise), node time summed by op type and by
  class, as above.
- The machine's load and a matmul probe (bench/common.py) before and after; the largest code difference of each
  accelerated form from the current one.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (add_workload_options, describe_state, interleaved, machine_state, pin_threads,  # noqa: E402
                    protocol, ratio_stats, versions, write_json)

THREADS = pin_threads(1)

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

import sparse_coding as sc  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_T = {"1d": 24, "2d": 38}      # the accelerated encoder's layers to gap 1e-2 (bench/fista_variants.py)
T0 = 3                                # the short export that per-layer node counts are differenced against
PROFILED_CALLS = 5
VIEWS = {"Reshape", "Squeeze", "Unsqueeze", "Shape", "Expand", "Identity", "Flatten"}

# Runs under PYTHONPATH=<a crsae tree>: the workload's tied model, exported with one encoder (sys.argv: the
# problem's .npz, T, encoder, step, output path). The config is sparse_coding.export_crsae's.
EXPORT = """
import sys
import numpy as np
from crsae.config import ModelConfig
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import to_onnx, write_export
z = np.load(sys.argv[1])
H, T, encoder, step = z["H"], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
cfg = ModelConfig(kind="1d" if H.ndim == 3 else "2d", channels=H.shape[1], num_filters=H.shape[0],
                  kernel_size=H.shape[2], num_layers=T, L=float(z["L"]), sigma=1.0, threshold_mode="fixed",
                  lam_init=float(z["lam"]), two_sided=not bool(z["nonneg"]))
options = {} if encoder == "paper" else {"encoder": "accelerated", "step": step}
write_export(to_onnx(CRsAE(cfg, H).eval(), outputs="codes", **options), sys.argv[5])
"""


def tree_of(rev: str, tmp: Path) -> Path:
    """The crsae package of git commit ``rev`` of this repository, unpacked under ``tmp`` (PYTHONPATH for it), with
    the contract file its ``crsae/contract.json`` links to."""
    out = tmp / f"rev-{rev}"
    if not out.is_dir():
        out.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "crsae", "export/contract.json"],
                                 capture_output=True)
        if archive.returncode:
            sys.exit(f"error: git archive {rev} failed ({archive.stderr.decode().strip()}); pass a commit of "
                     f"{REPO}")
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def export(problem_npz: Path, T: int, encoder: str, step: float, tree: Path, path: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(tree)}          # run in ``tree``: ``python -c`` puts the cwd first
    done = subprocess.run([sys.executable, "-c", EXPORT, str(problem_npz), str(T), encoder, str(step), str(path)],
                          env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"error: exporting the {encoder} encoder with the crsae of {tree} failed ({last}); check that "
                 "this commit has the accelerated encoder (--rev)")
    return path


def output_sizes(path: Path, shape: tuple[int, ...]) -> tuple[onnx.ModelProto, dict]:
    """(the model, {tensor name: element count} of its inputs, initializers and node outputs at input ``shape``),
    by shape inference."""
    proto = onnx.load(str(path))
    del proto.graph.value_info[:]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    for d, n in zip(dims, shape):
        d.Clear()
        d.dim_value = n
    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    sizes = {i.name: int(np.prod(i.dims)) for i in proto.graph.initializer}
    for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        ds = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in ds):
            sizes[v.name] = int(np.prod([d.dim_value for d in ds]))
    return proto, sizes


def classify(op: str, size: int | None, codes: int, signal: int) -> str:
    if op in ("Conv", "ConvTranspose") or op.startswith("NchwcConv") or op == "FusedConv":
        return "conv"
    if op in VIEWS:
        return "view"
    if size is None:
        return "unknown"
    return "codes" if size >= codes // 2 else "signal" if size >= signal // 2 else "small"


def node_counts(path: Path, shape, codes: int, signal: int) -> tuple[dict, dict]:
    """(nodes by op type, nodes by output class) of the exported graph at input ``shape``."""
    proto, sizes = output_sizes(path, shape)
    ops = collections.Counter(n.op_type for n in proto.graph.node)
    classes = collections.Counter(classify(n.op_type, max(sizes.get(t, 0) for t in [*n.input, *n.output]) or None,
                                           codes, signal) for n in proto.graph.node)
    return dict(ops), dict(classes)


def per_layer(long: dict, short: dict, T: int) -> dict:
    return {k: (long.get(k, 0) - short.get(k, 0)) / (T - T0) for k in sorted(set(long) | set(short))
            if long.get(k, 0) != short.get(k, 0)}


def profile(path: Path, batch: np.ndarray, codes: int, signal: int, tmp: Path) -> dict:
    """Node time of PROFILED_CALLS calls (after a warm-up call) by op type and by class (``classify``), ms per
    call and shares."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = THREADS
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp / f"profile_{path.stem}")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(1 + PROFILED_CALLS):
        session.run(None, {"signal": batch})
    events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("name") == "model_run"][1:]
    start = runs[0]["ts"]
    by_op, by_class = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < start:
            continue
        op, a = e["args"]["op_name"], e["args"]
        shapes = [next(iter(s.values())) for s in a.get("input_type_shape", []) + a.get("output_type_shape", [])]
        size = max((int(np.prod(s)) for s in shapes), default=0) or None
        ms = e["dur"] / 1e3 / len(runs)
        by_op[op] += ms
        by_class[classify(op, size, codes, signal)] += ms
    total = sum(by_op.values())
    return {"call_ms": sum(r["dur"] for r in runs) / 1e3 / len(runs), "node_ms": total,
            "by_op_ms": dict(by_op.most_common()), "by_class_ms": dict(by_class.most_common()),
            "by_class_share": {k: v / total for k, v in by_class.most_common()}}


def run_workload(p, T: int, forms: dict, args, tmp: Path) -> dict:
    print(f"\n== {p.name}: y {p.y.shape}, H {p.H.shape}, lam {p.lam:g}, L {p.L:.4g}, "
          f"{'non-negative' if p.nonneg else 'two-sided'} codes, T = {T}, {THREADS} thread(s)", flush=True)
    problem = tmp / f"{p.name}.npz"
    np.savez(problem, H=p.H, L=p.L, lam=p.lam, nonneg=p.nonneg)
    paths, counts = {}, {}
    for name, (encoder, tree) in forms.items():
        paths[name] = export(problem, T, encoder, args.step, tree, tmp / f"{p.name}_{name}_T{T}.onnx")
        short = export(problem, T0, encoder, args.step, tree, tmp / f"{p.name}_{name}_T{T0}.onnx")
        encoders = Encoder(paths[name], device="cpu", threads=THREADS)
        B = encoders.call_batch(p.y.shape)
        code_len = [n - p.H.shape[-1] + 1 for n in p.size]
        codes, signal = B * p.H.shape[0] * int(np.prod(code_len)), B * p.H.shape[1] * int(np.prod(p.size))
        shape = (B,) + p.y.shape[1:]
        ops_T, classes_T = node_counts(paths[name], shape, codes, signal)
        ops_0, classes_0 = node_counts(short, shape, codes, signal)
        counts[name] = {"call_batch": B, "nodes_total": sum(ops_T.values()),
                        "per_layer_by_op": per_layer(ops_T, ops_0, T),
                        "per_layer_by_class": per_layer(classes_T, classes_0, T)}
        c = counts[name]
        print(f"  {name}: {c['nodes_total']} nodes at T = {T}; per layer by class "
              + ", ".join(f"{k} {v:g}" for k, v in c["per_layer_by_class"].items())
              + "; by op " + ", ".join(f"{k} {v:g}" for k, v in c["per_layer_by_op"].items()), flush=True)
    runners = {name: Encoder(path, device="cpu", threads=THREADS) for name, path in paths.items()}
    state_before = machine_state(THREADS)
    print(f"  before: {describe_state(state_before)}", flush=True)
    timings, results, rounds = interleaved({name: (lambda e=e: e.encode(p.y)) for name, e in runners.items()},
                                           repeats=args.repeats)
    state_after = machine_state(THREADS)
    print(f"  after:  {describe_state(state_after)}", flush=True)
    rows = []
    for name, timing in timings.items():
        row = {"form": name, "encoder": forms[name][0], **timing.as_dict(), "per_layer_ms": 1e3 * timing.median / T,
               "ratio_to_paper": ratio_stats(rounds, name, "paper"), **counts[name]}
        if forms[name][0] != "paper" and "accelerated" in results:
            row["max_abs_diff_to_accelerated"] = float(np.abs(results[name] - results["accelerated"]).max())
        if args.profile:
            B = counts[name]["call_batch"]
            code_len = [n - p.H.shape[-1] + 1 for n in p.size]
            row["profile"] = profile(paths[name], p.y[:B], B * p.H.shape[0] * int(np.prod(code_len)),
                                     B * p.H.shape[1] * int(np.prod(p.size)), tmp)
        rows.append(row)
    print(f"\n| form | seconds, median [min - max] | ms per layer | time / paper's, per round | nodes per layer "
          f"(codes / signal / small / view / conv) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        q, c = r["ratio_to_paper"], r["per_layer_by_class"]
        print(f"| {r['form']} | {r['median_s']:.3f} [{r['min_s']:.3f} - {r['max_s']:.3f}] | {r['per_layer_ms']:.2f} | "
              f"{q['median']:.3f} [{q['min']:.3f} - {q['max']:.3f}] | "
              + " / ".join(f"{c.get(k, 0):g}" for k in ("codes", "signal", "small", "view", "conv")) + " |")
        if "profile" in r:
            pr = r["profile"]
            print("    profile: call %.1f ms; " % pr["call_ms"]
                  + ", ".join(f"{k} {100 * v:.1f}%" for k, v in pr["by_class_share"].items()))
        if "max_abs_diff_to_accelerated" in r:
            print(f"    max |codes - accelerated's| = {r['max_abs_diff_to_accelerated']:.2e}")
    return {"workload": p.name, "shape": list(p.y.shape), "dictionary": list(p.H.shape), "lam": p.lam, "L": p.L,
            "nonneg": p.nonneg, "T": T, "step": args.step, "state_before": state_before,
            "state_after": state_after, "rows": rows, "rounds": rounds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="1d,2d")
    add_workload_options(ap)
    ap.add_argument("--T", type=lambda s: dict((k, int(v)) for k, v in (kv.split("=") for kv in s.split(","))),
                    default=DEFAULT_T, help="layers per workload, e.g. 1d=24,2d=38 (equal for every form)")
    ap.add_argument("--step", type=float, default=1.9, help="the accelerated encoder's s")
    ap.add_argument("--rev", action="append", default=[], metavar="NAME=COMMIT",
                    help="also time the accelerated encoder as exported by this commit's crsae (repeatable)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="profile one call of each form (onnxruntime)")
    ap.add_argument("--note", default="", help="stored in the result file (e.g. what else ran on the machine)")
    ap.add_argument("--out", default="layer_cost.json")
    args = ap.parse_args()
    if args.repeats < 5:
        ap.error("--repeats must be at least 5 (the protocol's median and range)")
    if any("=" not in r for r in args.rev):
        ap.error("--rev takes NAME=COMMIT, e.g. --rev before=HEAD~1")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        forms = {"paper": ("paper", REPO), "accelerated": ("accelerated", REPO)}
        for r in args.rev:
            name, rev = r.split("=", 1)
            forms[f"accelerated@{name}"] = ("accelerated", tree_of(rev, tmp))
        for name in args.workloads.split(","):
            if name == "2d" and not Path(args.data).is_dir():
                sys.exit(f"error: {args.data} is absent (pass --data FOLDER of natural images, e.g. shared/data/BSD68)")
            p = sc.workload_1d(args) if name == "1d" else sc.workload_2d(args)
            results.append(run_workload(p, args.T[name], forms, args, tmp))
    write_json(args.out, {"threads": THREADS, "protocol": protocol(THREADS), "versions": versions(),
                          "args": vars(args), "note": args.note, "workloads": results})


if __name__ == "__main__":
    main()
