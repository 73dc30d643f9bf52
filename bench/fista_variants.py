"""Steps to a relative gap for variants of the encoder's FISTA (issue 18, "be ahead for real"): how many layers T
each variant needs on bench/sparse_coding.py's workloads, before any of them is exported. Counts, not times: a
variant's layer costs the same two convolutions as the paper's (restart adds one inner product per example), so
fewer layers is the speed-up. Run by hand, in the peers venv (it reuses sparse_coding's workloads and cached F*):

    taskset -c 0 bench/.venv-peers/bin/python bench/fista_variants.py --threads 1 --workloads 1d

Variants (torch float32, codes as in crsae.model.fista.unrolled_fista):
- ``paper``: step 1/L, L = 1.01 ||H||^2, FISTA's momentum (t_k - 1) / t_{k+1} (the exported encoder);
- ``restart``: the same, momentum reset per example when (z_k - x_k) . (x_k - x_{k-1}) > 0 (O'Donoghue and Candes'
  gradient restart), which ONNX can express with a Where on a per-example scalar;
- ``step s``: step s / L (a "tighter L"; convergence is only guaranteed for s <= 1 / 1.01);
- ``restart + step s``; ``a = 4``: Chambolle and Dossal's momentum (k - 1) / (k + a), a = 4;
- ``accelerated s``: the export option ``crsae export --encoder accelerated --step s``
  (crsae.model.fista.accelerated_fista): step s / L, a step that raises the objective is rejected and the momentum
  restarted, per example (docs/math.md, "Accelerated encoder"); the run also counts its rejected steps.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pin_threads, protocol, versions, write_json  # noqa: E402
from common import add_reference_options, add_workload_options  # noqa: E402

THREADS = pin_threads(1)

import argparse  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import sparse_coding as sc  # noqa: E402
from crsae.model.fista import accelerated_steps, analysis, soft_threshold, synthesis  # noqa: E402

VARIANTS = {"paper": {}, "restart": {"restart": True}, "step 1.5": {"step": 1.5},
            "restart + step 1.5": {"step": 1.5, "restart": True}, "step 1.9": {"step": 1.9},
            "restart + step 1.9": {"step": 1.9, "restart": True}, "a = 4": {"a": 4.0},
            "accelerated 1.5": {"accelerated": 1.5}, "accelerated 1.9": {"accelerated": 1.9},
            "accelerated 1.99": {"accelerated": 1.99}}


def accelerated_layers_to_gaps(p, gaps, T_max, step) -> tuple[dict, int]:
    """({gap: first T}, rejected steps summed over the examples up to the last T counted) for the export's
    accelerated encoder, its layers run one by one (``accelerated_steps``)."""
    torch.set_num_threads(THREADS)
    y, H = torch.from_numpy(p.y), torch.from_numpy(p.H)
    b = torch.full((H.shape[0],), p.lam / p.L)
    found, rejected, x_prev = {}, 0, None
    with torch.no_grad():
        for k, x in enumerate(accelerated_steps(y, H, b, p.L, T_max, step=step, two_sided=not p.nonneg)):
            if x_prev is not None:          # a rejected step leaves x_k = x_{k-1} exactly
                rejected += int(((x == x_prev).flatten(1).all(dim=1)).sum())
            gap = p.gap(p.objective(x.numpy()))
            found.update({g: k + 1 for g in gaps if gap <= g and g not in found})
            if len(found) == len(gaps):
                break
            x_prev = x
    return found, rejected


def layers_to_gaps(p, gaps, T_max, *, step=1.0, restart=False, a=None) -> dict:
    """{gap: the first T whose x_T reaches it} for one variant (a gap never reached is absent)."""
    torch.set_num_threads(THREADS)
    y, H = torch.from_numpy(p.y), torch.from_numpy(p.H)
    L = p.L / step
    b = torch.full((H.shape[0],), p.lam / L)
    We_L, bias = H / L, (-b if p.nonneg else None)
    x_prev = z = None
    t = torch.ones(y.shape[0], dtype=torch.float64)
    found = {}
    with torch.no_grad():
        for k in range(T_max):
            u = analysis(y, We_L, 1, bias) if k == 0 else z + analysis(y - synthesis(z, H, p.size), We_L, 1, bias)
            x = F.relu(u) if p.nonneg else soft_threshold(u, b)
            gap = p.gap(p.objective(x.numpy()))
            found.update({g: k + 1 for g in gaps if gap <= g and g not in found})
            if len(found) == len(gaps):
                break
            if k == 0:
                z, x_prev, t = x, x, (1 + torch.sqrt(1 + 4 * t * t)) / 2
                continue
            if a is None:
                t_new = (1 + torch.sqrt(1 + 4 * t * t)) / 2
                momentum = (t - 1) / t_new
            else:
                t_new, momentum = t, torch.full_like(t, k / (k + 1 + a))
            if restart:
                reset = ((z - x) * (x - x_prev)).flatten(1).sum(1).double() > 0
                momentum = torch.where(reset, torch.zeros_like(momentum), momentum)
                t_new = torch.where(reset, torch.ones_like(t_new), t_new)
            z = x + momentum.float().reshape(-1, *([1] * (x.dim() - 1))) * (x - x_prev)
            x_prev, t = x, t_new
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workloads", default="1d")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--gaps", type=lambda s: [float(v) for v in s.split(",")], default=[1e-2, 1e-3])
    ap.add_argument("--T-max", type=int, default=200)
    add_workload_options(ap)
    add_reference_options(ap)
    ap.add_argument("--out", default="fista_variants.json")
    args = ap.parse_args()
    rows = []
    for name in args.workloads.split(","):
        p = sc.workload_1d(args) if name == "1d" else sc.workload_2d(args)
        p.f_star = sc.reference(p, args)[1]
        for variant in args.variants.split(","):
            options, rejected = VARIANTS[variant], None
            if "accelerated" in options:
                found, rejected = accelerated_layers_to_gaps(p, args.gaps, args.T_max, options["accelerated"])
            else:
                found = layers_to_gaps(p, args.gaps, args.T_max, **options)
            rows.append({"workload": name, "variant": variant, "layers_to_gap": {f"{g:g}": found.get(g) for g in args.gaps}}
                        | ({} if rejected is None else {"rejected_steps": rejected, "examples": int(p.y.shape[0])}))
            print(f"{name} {variant:<20} " + "  ".join(f"gap {g:g}: T = {found.get(g, 'not reached')}"
                                                     for g in args.gaps)
                  + ("" if rejected is None else f"  ({rejected} rejected steps over {p.y.shape[0]} examples)"),
                  flush=True)
    write_json(args.out, {"threads": THREADS, "protocol": protocol(THREADS), "versions": versions(),
                          "args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
