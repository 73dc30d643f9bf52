"""crsae/serving/denoise.py and ``crsae denoise IN OUT``: the shipped image model by default (package data), images
at their depth, a folder to a folder, --sigma on the 0-255 scale or auto, the checks of ``crsae infer``."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from crsae.cli import app
from crsae.errors import ModelFormatError
from crsae.serving import denoise as denoise_mod
from crsae.serving.runtime import Encoder

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["denoise", *map(str, args)])


@pytest.fixture
def noisy_png(tmp_path):
    rng = np.random.default_rng(3)
    r, c = np.mgrid[0:40, 0:45]
    clean = 120 + 60 * np.sin(r / 5.0) * np.cos(c / 7.0)
    pixels = np.clip(np.rint(clean + 25 * rng.standard_normal(clean.shape)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "noisy.png")
    return tmp_path / "noisy.png"


def expected(model, png: Path, **kw) -> np.ndarray:
    """What crsae infer writes for an 8-bit image: the reconstruction of pixels / 255, rounded back to 8 bits."""
    pixels = np.asarray(Image.open(png), np.float32)[None, None] / 255
    out = Encoder(model, device="cpu").reconstruct(pixels, **kw)[0, 0]
    return np.clip(np.rint(out.astype(np.float64) * 255), 0, 255).astype(np.uint8)


def test_the_shipped_model_is_the_packages_copy_of_export_models():
    assert denoise_mod.shipped_model() == ROOT / "crsae" / "models" / "image2d.onnx"
    assert denoise_mod.shipped_model().read_bytes() == (ROOT / "export" / "models" / "image2d.onnx").read_bytes()


def test_one_image_with_the_shipped_model(noisy_png, tmp_path):
    done = invoke(noisy_png, tmp_path / "clean.png")
    assert done.exit_code == 0, done.output
    assert "wrote" in done.output and "(1 image)" in done.output
    out = Image.open(tmp_path / "clean.png")
    assert out.mode == "L" and out.size == (45, 40)
    np.testing.assert_array_equal(np.asarray(out), expected(denoise_mod.shipped_model(), noisy_png))


def test_a_folder_to_a_folder_keeps_each_depth(noisy_png, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    noisy_png.rename(folder / "a.png")
    wide = (np.asarray(Image.open(folder / "a.png"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(folder / "b.png")                                        # 16-bit grayscale
    done = invoke(folder, tmp_path / "out", "--json")
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert Image.open(tmp_path / "out" / "b.png").mode.startswith("I;16")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")),
                                  expected(denoise_mod.shipped_model(), folder / "a.png"))


def test_sigma_with_the_shipped_model_uses_its_noise_input_export(noisy_png, tmp_path):
    assert denoise_mod.shipped_model(noise_input=True) == ROOT / "crsae" / "models" / "image2d_sigma.onnx"
    for value, noise_sigma in (("25", 25 / 255), ("auto", "auto")):
        done = invoke(noisy_png, tmp_path / "c.png", "--sigma", value)
        assert done.exit_code == 0, done.output
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c.png")),
                                      expected(denoise_mod.SHIPPED_NOISE_MODEL, noisy_png, noise_sigma=noise_sigma))


def test_sigma_with_a_frozen_model_is_refused(noisy_png, tmp_path):
    (tmp_path / "clean.png").write_bytes(b"keep")
    done = invoke(noisy_png, tmp_path / "clean.png", "--sigma", "25", "--model", denoise_mod.SHIPPED_MODEL)
    assert done.exit_code == 1 and "(exported without --noise-input)" in done.output, done.output
    assert (tmp_path / "clean.png").read_bytes() == b"keep"


def test_sigma_on_the_255_scale_and_auto(tiny_exports, noisy_png, tmp_path):
    model = tiny_exports["m2_sigma"].onnx
    for value, noise_sigma in (("25", 25 / 255), ("auto", "auto")):
        done = invoke(noisy_png, tmp_path / "c.png", "--model", model, "--sigma", value)
        assert done.exit_code == 0, done.output
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c.png")),
                                      expected(model, noisy_png, noise_sigma=noise_sigma))


@pytest.mark.parametrize("args,match", [
    (["--sigma", "-5"], "--sigma must be a number >= 0 or auto"),
    (["--sigma", "loud"], "--sigma must be a number >= 0 or auto"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_options_are_one_line_errors_and_leave_the_output_alone(noisy_png, tmp_path, args, match):
    (tmp_path / "clean.png").write_bytes(b"keep")
    done = invoke(noisy_png, tmp_path / "clean.png", *args)
    assert done.exit_code == 1 and done.output.startswith("error: ") and match in done.output, done.output
    assert (tmp_path / "clean.png").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.png", "noisy.png"]       # no temporaries


@pytest.mark.parametrize("make,out,match", [
    (lambda d: np.save(d / "x.npy", np.zeros((8, 8), np.float32)) or d / "x.npy", "o.png", "not an image or a folder"),
    (lambda d: d / "noisy.png", "o.npy", "must be an image file"),
    (lambda d: d, "o.png", "must be a new folder"),
    (lambda d: d / "missing.png", "o.png", "does not exist"),
])
def test_bad_paths_are_refused(noisy_png, tmp_path, make, out, match):
    done = invoke(make(tmp_path), tmp_path / out)
    assert done.exit_code == 1 and match in done.output and not (tmp_path / out).exists(), done.output


def test_a_model_without_reconstruction_or_of_1d_is_refused(tiny_exports, noisy_png, tmp_path):
    for name, match in (("m1", "model is 1-D"),):
        done = invoke(noisy_png, tmp_path / "o.png", "--model", tiny_exports[name].onnx)
        assert done.exit_code == 1 and match in done.output and not (tmp_path / "o.png").exists(), done.output


def test_an_install_without_the_shipped_model_names_the_option(monkeypatch, noisy_png, tmp_path):
    monkeypatch.setattr(denoise_mod, "SHIPPED_MODEL", tmp_path / "absent" / "image2d.onnx")
    with pytest.raises(ModelFormatError, match="missing from this install; pass --model"):
        denoise_mod.denoise(noisy_png, tmp_path / "o.png")
    done = invoke(noisy_png, tmp_path / "o.png")
    assert done.exit_code == 1 and "pass --model" in done.output


def test_denoise_never_imports_torch(noisy_png, tmp_path):
    code = ("import sys; from crsae.serving.denoise import denoise; "
            f"denoise({str(noisy_png)!r}, {str(tmp_path / 'o.png')!r}, device='cpu'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.png").is_file()
