"""Seconds per training step: the current path (plain autograd through ``unrolled_fista``) against the training path
(``crsae.model.fast_fista``: hand-written backward, 2-D strided convolutions as matrix products), interleaved in
one run. Run by hand:

    .venv/bin/python bench/train_speed.py                       # 1 and 2 threads, every workload, 7 repeats
    .venv/bin/python bench/train_speed.py --threads 1 --repeats 5 --workloads 2d-paper

One step is ``Trainer.step``: forward through encoder and decoder (2-D: the stride trick's s^2 shifted copies),
loss, backward, projected Adam step and renormalisation, and the EM lambda step. Workloads:
- ``2d-paper``: the paper's images, 64 filters 7x7, stride 5, T = 30, L = 10, one 128x128 crop a step (25 shifted
  copies), EM lambda, tied, supervised (noisy input, clean target);
- ``1d-spikes``: ``crsae experiment spikes --full``'s model, 4 filters x 30 taps, T = 200, one-sided, EM lambda,
  16 windows of 2000 samples a step;
- ``1d-train``: ``crsae train``'s 1-D defaults, 4 filters x 20 taps, T = 50, two-sided, 32 signals of 500 samples.
Both paths start from the same model; each repeat times one step of each, alternating which goes first, so load
from other processes falls on both alike. Printed: median [min - max] seconds per step, the speed-up of the
medians, and the load average (``os.getloadavg``) before and after each workload. Results go to
bench/results/train_speed.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_name, pin_threads, versions, write_json  # noqa: E402

pin_threads(2)

import argparse  # noqa: E402
import copy  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from crsae.config import ModelConfig, TrainConfig  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.training.mstep import Trainer  # noqa: E402


def workloads() -> dict:
    """name -> (ModelConfig, TrainConfig, input shape, L geometry)."""
    return {
        "2d-paper": (ModelConfig(kind="2d", num_filters=64, kernel_size=7, stride=5, num_layers=30, L=10.0,
                                 sigma=0.078, lam_init=20.0, delta=100.0),
                     TrainConfig(batch_size=1, lr=1e-2, supervised=True), (1, 1, 128, 128), None),
        "1d-spikes": (ModelConfig(kind="1d", num_filters=4, kernel_size=30, num_layers=200, lam_init=7.0,
                                  delta=1000.0, two_sided=False),
                      TrainConfig(batch_size=16, lr=2e-4, adam_eps=1e-5), (16, 1, 2000), 2000),
        "1d-train": (ModelConfig(kind="1d", num_filters=4, kernel_size=20, num_layers=50, lam_init=3.0,
                                 delta=150.0),
                     TrainConfig(batch_size=32), (32, 1, 500), 500),
    }


def run(name: str, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    config, tconf, shape, geometry = workloads()[name]
    model = CRsAE(config, seed=0, L_geometry=geometry)
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(shape, generator=gen) if config.kind == "2d" else \
        torch.randn(shape, generator=gen) * (torch.rand(shape, generator=gen) < 0.01)
    noisy = clean + 0.1 * torch.randn(shape, generator=gen)
    trainers = {"current": Trainer(copy.deepcopy(model), tconf, fast=False),
                "new": Trainer(copy.deepcopy(model), tconf, fast=True)}
    load_before = os.getloadavg()
    for trainer in trainers.values():                                  # warm-up
        trainer.step(noisy, clean)
    times = {path: [] for path in trainers}
    for rep in range(repeats):
        for path in (("current", "new") if rep % 2 == 0 else ("new", "current")):
            start = time.perf_counter()
            trainers[path].step(noisy, clean)
            times[path].append(time.perf_counter() - start)
    result = {"workload": name, "threads": threads, "repeats": repeats,
              "load_before": load_before, "load_after": os.getloadavg()}
    for path, ts in times.items():
        result[path] = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "all_s": ts}
    result["speedup"] = result["current"]["median_s"] / result["new"]["median_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per path (default 7)")
    parser.add_argument("--workloads", default="2d-paper,1d-spikes,1d-train")
    parser.add_argument("--out", default="train_speed.json", help="file name under bench/results")
    args = parser.parse_args()
    rows = []
    print(f"{cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}")
    print("| workload | threads | current s/step | new s/step | speed-up | load avg (1 min) before / after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for threads in (int(t) for t in args.threads.split(",")):
        for name in args.workloads.split(","):
            r = run(name, threads, args.repeats)
            rows.append(r)
            c, n = r["current"], r["new"]
            print(f"| {name} | {threads} | {c['median_s']:.3f} [{c['min_s']:.3f} - {c['max_s']:.3f}] "
                  f"| {n['median_s']:.3f} [{n['min_s']:.3f} - {n['max_s']:.3f}] | {r['speedup']:.2f}x "
                  f"| {r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} |", flush=True)
    path = write_json(args.out, {"versions": versions(), "results": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
