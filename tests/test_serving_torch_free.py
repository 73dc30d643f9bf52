"""Inference needs no torch: the serving package, ``crsae infer``, ``info``, ``denoise`` and ``evaluate`` on an
.onnx run with torch unimportable.

Each check runs in a fresh interpreter where ``sys.modules["torch"] = None`` makes any ``import torch`` fail, so a
torch import anywhere on these paths fails the test (not only one that stays in ``sys.modules``).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "export" / "models" / "spikes1d.onnx"
BLOCK_TORCH = "import sys; sys.modules['torch'] = None\n"


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


# the crsae command in a subprocess whose torch import fails; it checks torch stayed unimported on exit
RUN_CLI = ("from crsae.cli import app\n"
           "import sys\n"
           "try:\n"
           "    app(sys.argv[1:])\n"
           "except SystemExit as done:\n"
           "    assert sys.modules['torch'] is None\n"
           "    raise\n")

def test_importing_the_serving_package_loads_no_torch(tmp_path):
    done = run_python(
        "import crsae, crsae.cli, crsae.readers, crsae.metrics, crsae.simulate\n"
        "import crsae.serving.runtime, crsae.serving.infer, crsae.serving.events, crsae.serving.chunking\n"
        "import crsae.serving.providers, crsae.serving.ray, crsae.serving.triton\n"
        "crsae.Encoder, crsae.infer\n"
        "assert sys.modules['torch'] is None\n"
        "print('ok')", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_cli_info_and_infer_run_without_torch(tmp_path):
    signal = np.random.default_rng(0).standard_normal((2, 1, 300)).astype(np.float32)
    np.save(tmp_path / "signal.npy", signal)
    info = subprocess.run([sys.executable, "-c", BLOCK_TORCH + RUN_CLI, "info", str(MODEL), "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["format"] == "crsae-onnx"
    infer = subprocess.run([sys.executable, "-c", BLOCK_TORCH + RUN_CLI, "infer", str(MODEL), "signal.npy", "-o",
                            "codes.npy", "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert infer.returncode == 0, infer.stderr
    assert np.load(tmp_path / "codes.npy").shape == (2, 3, 300 - 30 + 1)


def test_cli_evaluate_and_denoise_on_onnx_run_without_torch(tmp_path):
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    pixels = (np.random.default_rng(0).random((40, 44)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "imgs" / "a.png")
    image_model = ROOT / "export" / "models" / "image2d.onnx"
    evaluate = subprocess.run([sys.executable, "-c", BLOCK_TORCH + RUN_CLI, "evaluate", str(image_model), "--data",
                               "imgs", "--threads", "1", "--json"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
    assert evaluate.returncode == 0, evaluate.stderr
    assert json.loads(evaluate.stdout)["images"] == 1
    denoise = subprocess.run([sys.executable, "-c", BLOCK_TORCH + RUN_CLI, "denoise", "imgs/a.png", "clean.png",
                              "--sigma", "25"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert denoise.returncode == 0, denoise.stderr
    assert np.asarray(Image.open(tmp_path / "clean.png")).shape == (40, 44)


def test_train_without_torch_is_one_line_error_naming_the_extra(tmp_path):
    code = "from crsae.cli import app\napp(['train', '--quiet'])\n"
    done = run_python(code, tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: crsae train needs torch")
    assert "pip install 'crsae[train]'" in lines[0]
    assert not (tmp_path / "runs").exists()
