"""Start-up cost of the ``crsae`` command: wall seconds of ``crsae --help``, ``crsae info MODEL`` and ``crsae infer``
on a tiny file, each in a fresh interpreter, for one or more source trees, plus whether torch was imported.

    .venv/bin/python bench/startup.py                        # this checkout
    git worktree add /tmp/crsae-before 66cb401               # the tree before the torch-free serving package
    .venv/bin/python bench/startup.py --tree /tmp/crsae-before --tree .

Each tree runs with the same interpreter (PYTHONPATH=TREE); runs are interleaved across trees and commands, median
and range of --repeats; writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import versions, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import sys, runpy; sys.argv = ['crsae'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('crsae.cli', run_name='__main__')\n"
         "finally:\n    sys.stderr.write('\\ntorch imported: %s\\n' % ('torch' in sys.modules))\n")


def timed(tree: Path, args: list[str], cwd: Path) -> tuple[float, bool]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"crsae {' '.join(args)} failed in {tree}:\n{done.stderr[-2000:]}")
    return seconds, "torch imported: True" in done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", type=Path, help="source tree to time (default: this checkout)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    model = ROOT / "export" / "models" / "spikes1d.onnx"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.save(work / "tiny.npy", np.random.default_rng(0).standard_normal((2, 1, 300)).astype(np.float32))
        commands = {"--help": ["--help"], "info": ["info", str(model)],
                    "infer": ["infer", str(model), "tiny.npy", "-o", "codes.npy", "--quiet"]}
        times = {(tree, name): [] for tree in trees for name in commands}
        torch_seen = {}
        for _ in range(args.repeats):                 # interleaved, so a change of machine load hits every tree
            for tree in trees:
                for name, argv in commands.items():
                    seconds, torch_imported = timed(tree, argv, work)
                    times[tree, name].append(seconds)
                    torch_seen[tree, name] = torch_imported
        for (tree, name), seconds in times.items():
            rows.append({"tree": str(tree), "command": name, "median_s": statistics.median(seconds),
                         "min_s": min(seconds), "max_s": max(seconds), "torch_imported": torch_seen[tree, name],
                         "load_1min": os.getloadavg()[0]})
            print(f"{tree.name:<20} crsae {name:<7} median {rows[-1]['median_s']:.2f} s "
                  f"(range {min(seconds):.2f}-{max(seconds):.2f}), torch imported: {torch_seen[tree, name]}")
    path = write_json("startup.json", {"versions": versions(), "repeats": args.repeats, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
