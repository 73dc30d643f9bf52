"""The package as users install it: ``python -m build`` makes a wheel and an sdist, and the wheel installed into a
fresh venv with only the CPU-inference extra (``crsae[cpu]``: onnxruntime, no torch) runs ``crsae info`` and
``crsae infer`` on a shipped model, with results equal to the golden vectors, and ``crsae denoise`` with the image
model the wheel ships."""

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "export"

pytestmark = pytest.mark.slow


def clean_env() -> dict:
    """This process's environment without PYTHONPATH: a developer's PYTHONPATH (a worktree, another checkout)
    would make pip in the fresh venv find crsae already there and install nothing, and let the venv's crsae
    import the checkout instead of the wheel."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """Run a command (in ``clean_env()`` unless ``env`` is given); fail the test with its output if it fails."""
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env() if env is None else env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built from a copy of the tracked tree (the checkout stays untouched)."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", out, ROOT)
    wheels, sdists = list(out.glob("crsae-*.whl")), list(out.glob("crsae-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return wheels[0], sdists[0]


def test_wheel_and_sdist_hold_the_package_and_the_contract(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("crsae/__init__.py", "crsae/contract.json", "crsae/serving/runtime.py", "crsae/model/fista.py",
                   "crsae/training/mstep.py", "crsae/exporter/onnx_export.py", "crsae/experiments/denoise.py"):
        assert module in names
    for name in ("image2d.onnx", "image2d_sigma.onnx"):
        assert zipfile.ZipFile(wheel).read(f"crsae/models/{name}") == (EXPORT / "models" / name).read_bytes()
    contract = json.loads(zipfile.ZipFile(wheel).read("crsae/contract.json"))
    assert contract == json.loads((EXPORT / "contract.json").read_text())
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    plain = [line for line in requires if "extra ==" not in line]
    assert not any("torch" in line or "onnxruntime" in line for line in plain), plain
    assert any("onnxruntime-gpu" in line and "extra == \"gpu\"" in line for line in requires)
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("crsae/contract.json") for n in archive.getnames())


def test_wheel_in_a_fresh_venv_infers_without_torch(dist, tmp_path):
    wheel, _ = dist
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, crsae = venv / "bin" / "python", venv / "bin" / "crsae"
    run(python, "-m", "pip", "install", "-q", f"{wheel}[cpu]")
    env = clean_env()
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert probe.returncode != 0, "torch is importable in the CPU-inference venv"
    assert run(crsae, "--version", cwd=tmp_path, env=env).stdout.strip().startswith("crsae ")
    index = json.loads((EXPORT / "golden" / "index.json").read_text())
    case = next(c for c in index["cases"] if c["name"] == "spikes1d")
    info = json.loads(run(crsae, "info", EXPORT / case["model"], "--json", cwd=tmp_path, env=env).stdout)
    assert info["format"] == "crsae-onnx" and info["kind"] == "1d"
    run(crsae, "infer", EXPORT / case["model"], EXPORT / case["input"], "-o", tmp_path / "codes.npy", "--quiet",
        cwd=tmp_path, env=env)
    reference = np.load(EXPORT / case["outputs"]["codes"])
    assert np.abs(np.load(tmp_path / "codes.npy") - reference).max() <= case["atol"]["codes"]
    image = next(c for c in index["cases"] if c["name"] == "image2d")            # crsae denoise: the shipped model
    from PIL import Image
    pixels = np.clip(np.rint(np.load(EXPORT / image["input"])[0, 0] * 255), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "noisy.png")
    run(crsae, "denoise", "noisy.png", "clean.png", cwd=tmp_path, env=env)
    from crsae.serving.runtime import Encoder
    want = Encoder(EXPORT / image["model"], device="cpu").reconstruct(pixels[None, None].astype(np.float32) / 255)
    want = np.clip(np.rint(want[0, 0].astype(np.float64) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "clean.png")), want)
    train = subprocess.run([crsae, "train", "--quiet"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert train.returncode == 1 and train.stderr.startswith("error: crsae train needs torch")
