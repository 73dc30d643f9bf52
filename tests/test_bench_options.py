"""bench/common.py's shared options: sparse_coding.py and fista_variants.py run the same workloads and reuse the
same cached reference F*, so their workload and reference options must parse to the same values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("signals", "crops", "data", "seed", "lam1d", "lam2d", "ref_iters", "ref_iters64")

# Import a bench script and print what its parser makes of the arguments, without running the benchmark.
PARSE = """
import argparse, importlib, json, sys
def parse_and_stop(self, *args, **kwargs):
    print(json.dumps(vars(parse(self, *args, **kwargs))))
    raise SystemExit(0)
parse, argparse.ArgumentParser.parse_args = argparse.ArgumentParser.parse_args, parse_and_stop
script, sys.argv = sys.argv[1], sys.argv[1:]
sys.path.insert(0, "bench")
importlib.import_module(script).main()
"""


def parsed(script: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PARSE, script, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("args", [(), ("--signals", "7", "--crops", "2", "--data", "/elsewhere", "--seed", "3",
                                       "--lam1d", "0.25", "--lam2d", "0.5", "--ref-iters", "10", "--ref-iters64", "4")])
def test_sparse_coding_and_fista_variants_share_workload_and_reference_options(args):
    sparse, variants = parsed("sparse_coding", *args), parsed("fista_variants", *args)
    assert {k: sparse[k] for k in SHARED} == {k: variants[k] for k in SHARED}
    if not args:
        assert {k: sparse[k] for k in SHARED} == {
            "signals": 100, "crops": 4, "data": str(ROOT.parent / "shared" / "data" / "BSD68"), "seed": 0,
            "lam1d": 0.1, "lam2d": 0.2, "ref_iters": 3000, "ref_iters64": 200}
    else:
        assert sparse["data"] == "/elsewhere" and sparse["ref_iters"] == 10 and sparse["lam2d"] == 0.5
    assert (sparse["workloads"], variants["workloads"]) == ("1d,2d", "1d")          # their own options stay theirs
