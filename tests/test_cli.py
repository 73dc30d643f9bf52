"""crsae/cli.py: the crsae command end to end (infer, export, build, simulate, evaluate, train, info, demo); one-line
errors that leave no output behind."""

import csv
import json
import os
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import ort_runs, ort_cuda_runs
from crsae.cli import app
from crsae.model.checkpoint import save_checkpoint
from crsae.config import ModelConfig
from crsae.model.autoencoder import CRsAE
from crsae.serving.runtime import Encoder

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def exported(tiny_exports):
    """The shared 1-D (m1) and 2-D (m2) checkpoints exported with both outputs: {name: .onnx path}."""
    return {name: tiny_exports[name].onnx for name in ("m1", "m2")}


def test_export_validates_then_writes_the_model_and_its_sidecar(tiny_exports, tmp_path):
    """crsae export prints the parity records and what it wrote, and writes what export_checkpoint writes."""
    for name in ("m1", "m2"):
        tiny = tiny_exports[name]
        result = invoke("export", tiny.checkpoint, "-o", tmp_path / f"{name}.onnx", "--outputs", "both")
        assert result.exit_code == 0, result.output
        assert "parity codes" in result.output and "wrote" in result.output
        assert "parity reconstruction" in result.output
        assert f"wrote {tmp_path / f'{name}.onnx'} and {tmp_path / f'{name}.json'}" in result.output
        assert (tmp_path / f"{name}.onnx").read_bytes() == tiny.onnx.read_bytes()
        assert json.loads((tmp_path / f"{name}.json").read_text()) == json.loads(tiny.sidecar.read_text())


def test_infer_npy_and_events(exported, tmp_path, rng):
    models = exported
    y = rng.standard_normal((3, 1, 200)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    result = invoke("infer", models["m1"], tmp_path / "y.npy", "-o", tmp_path / "codes.npy", "--events",
                    tmp_path / "ev.csv", "--sampling-rate", 1000, "--quiet")
    assert result.exit_code == 0, result.output
    assert "provider: CPUExecutionProvider" in result.output
    assert np.load(tmp_path / "codes.npy").shape == (3, 2, 195)
    rows = list(csv.DictReader(open(tmp_path / "ev.csv")))
    assert rows and set(rows[0]) == {"signal", "sample", "time_s", "filter", "amplitude"}
    assert float(rows[0]["time_s"]) == pytest.approx(int(rows[0]["sample"]) / 1000)


def test_infer_npz_both_outputs(exported, tmp_path, rng):
    models = exported
    np.savez(tmp_path / "in.npz", a=rng.standard_normal((2, 1, 50)).astype(np.float32),
             b=rng.standard_normal((80,)).astype(np.float32))
    result = invoke("infer", models["m1"], tmp_path / "in.npz", "-o", tmp_path / "out.npz", "--outputs", "both",
                    "--quiet")
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out.npz") as z:
        assert z["a.codes"].shape == (2, 2, 45) and z["b.reconstruction"].shape == (1, 1, 80)


def test_infer_raw_recording_in_chunks_equals_whole(exported, tmp_path, rng):
    models = exported
    data = (rng.standard_normal((5000, 1)) * 1000).astype(np.int16)
    data.tofile(tmp_path / "rec.bin")
    result = invoke("infer", models["m1"], tmp_path / "rec.bin", "-o", tmp_path / "codes.npy", "--raw-dtype",
                    "int16", "--chunk", 700, "--quiet")
    assert result.exit_code == 0, result.output
    whole = Encoder(models["m1"], device="cpu").encode(data.T[None].astype(np.float32))[0]
    got = np.load(tmp_path / "codes.npy")
    assert got.shape == whole.shape and np.abs(got - whole).max() <= 1e-5 * max(1, np.abs(whole).max())


def test_infer_image_folder_writes_denoised_images(exported, tmp_path, rng):
    from PIL import Image
    models = exported
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray((rng.random((20 + i, 23)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"im{i}.png")
    result = invoke("infer", models["m2"], tmp_path / "imgs", "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["im0.png", "im1.png"]
    assert Image.open(tmp_path / "out" / "im1.png").size == (23, 21)


@pytest.mark.parametrize("setup,args,match", [
    (None, ["missing.npy", "-o", "o.npy"], "does not exist"),
    ("x.txt", ["x.txt", "-o", "o.npy"], "unknown file type"),
    ("short.npy", ["short.npy", "-o", "o.npy"], "smaller than"),
    ("nan.npy", ["nan.npy", "-o", "o.npy"], "NaN or Inf"),
    ("twoch.npy", ["twoch.npy", "-o", "o.npy"], "channels"),
    ("ok.npy", ["ok.npy", "-o", "nowhere/o.npy"], "does not exist"),
    ("ok.npy", ["ok.npy", "-o", "o.npy", "--device", "cuda"], "onnxruntime-gpu"),
])
def test_infer_bad_input_is_one_line_error_without_output(exported, tmp_path, setup, args, match):
    if "cuda" in args and ort_cuda_runs():
        pytest.skip("onnxruntime runs CUDA here: test_infer_device_cuda_where_onnxruntime_runs_it checks it")
    models = exported
    arrays = {"short.npy": np.zeros((1, 1, 3)), "nan.npy": np.full((1, 1, 30), np.nan),
              "twoch.npy": np.zeros((1, 2, 30)), "ok.npy": np.zeros((1, 1, 30))}
    if setup == "x.txt":
        (tmp_path / "x.txt").write_text("hi")
    elif setup:
        np.save(tmp_path / setup, arrays[setup].astype(np.float32))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        before = set(os.listdir(tmp_path))
        result = invoke("infer", models["m1"], *args)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and match in lines[0], result.output
    assert set(os.listdir(tmp_path)) == before


def test_infer_device_cuda_where_onnxruntime_runs_it(exported, tmp_path):
    if not ort_cuda_runs():
        pytest.skip("onnxruntime runs no CUDA here: test_infer_bad_input_is_one_line_error_without_output checks "
                    "the error")
    y = np.random.default_rng(0).standard_normal((2, 1, 60)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    result = invoke("infer", exported["m1"], tmp_path / "y.npy", "-o", tmp_path / "o.npy", "--device", "cuda")
    assert result.exit_code == 0, result.output
    assert "provider: CUDAExecutionProvider" in result.output
    cpu = Encoder(exported["m1"], device="cpu").encode(y)
    assert np.abs(np.load(tmp_path / "o.npy") - cpu).max() <= 1e-4


def test_infer_refuses_non_crsae_model(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x00garbage")
    np.save(tmp_path / "y.npy", np.zeros((1, 1, 30), np.float32))
    result = invoke("infer", tmp_path / "m.onnx", tmp_path / "y.npy", "-o", tmp_path / "o.npy")
    assert result.exit_code == 1 and "error:" in result.output and not (tmp_path / "o.npy").exists()


def test_export_refuses_bad_checkpoint(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"junk")
    result = invoke("export", tmp_path / "c.pt", "-o", tmp_path / "m.onnx")
    assert result.exit_code == 1 and "not a readable crsae checkpoint" in result.output
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


@pytest.mark.slow
def test_export_warns_when_the_dictionary_outgrew_L(tmp_path, rng):
    """||H||^2 > L (here an L given too small) still exports, with a one-line warning naming the fix."""
    filters = rng.standard_normal((4, 1, 9)).astype(np.float32)
    np.save(tmp_path / "d.npy", filters)
    model = CRsAE(ModelConfig(kind="1d", num_filters=4, kernel_size=9, num_layers=10, lam_init=0.5), filters)
    norm = model.dictionary_norm()
    assert norm <= float(model.L) <= 1.06 * norm
    for L, warned in ((None, False), (0.5 * norm, True)):
        extra = [] if L is None else ["--L", L]
        assert invoke("build", tmp_path / "d.npy", "-o", tmp_path / "m.pt", "--lam", 0.5, "--normalize",
                      *extra).exit_code == 0                 # the unit-norm filters of `model`
        result = invoke("export", tmp_path / "m.pt", "-o", tmp_path / "m.onnx")
        assert result.exit_code == 0 and (tmp_path / "m.onnx").is_file()
        assert ("warning: the dictionary's ||H||^2 = " in result.output) == warned, result.output
        if warned:
            assert f"exceeds the step constant L = {0.5 * norm:.4g}" in result.output and "again with --L" in result.output


def test_build_from_dictionary_then_info(tmp_path, rng):
    np.save(tmp_path / "d.npy", rng.standard_normal((5, 1, 11)).astype(np.float32))
    result = invoke("build", tmp_path / "d.npy", "-o", tmp_path / "m.pt", "--lam", 2.0, "--sigma", 0.1,
                    "--num-layers", 20)
    assert result.exit_code == 0, result.output
    info = json.loads(invoke("info", tmp_path / "m.pt", "--json").output)
    assert info["model_config"]["num_filters"] == 5 and info["model_config"]["threshold_mode"] == "fixed"
    bad = invoke("build", tmp_path / "d.npy", "-o", tmp_path / "m2.pt", "--num-layers", 0, "--lam", 1.0)
    assert bad.exit_code == 1 and "num_layers must be a positive integer" in bad.output
    assert not (tmp_path / "m2.pt").exists()


def test_simulate_writes_ground_truth(tmp_path):
    result = invoke("simulate", "-o", tmp_path / "s.npz", "--num-signals", 4, "--length", 100)
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "s.npz") as z:
        assert z["signals"].shape == (4, 1, 100) and z["dictionary"].shape == (4, 1, 20)
        assert z["events"].shape == (4 * 4 * 3, 4)


@pytest.mark.slow
def test_export_float16_and_info_on_onnx(tiny_exports, tmp_path):
    result = invoke("export", tiny_exports["m1"].checkpoint, "-o", tmp_path / "h.onnx", "--dtype", "float16")
    assert result.exit_code == 0, result.output
    info = json.loads(invoke("info", tmp_path / "h.onnx", "--json").output)
    assert info["dtype"] == "float16" and info["atol_per_layer"] == 1e-4 and info["atol_floor"] == 5e-3 and info["outputs"] == ["codes"]


def test_evaluate_reports_psnr(tiny_exports, tmp_path, rng):
    from PIL import Image
    checkpoint = tiny_exports["m2"].checkpoint
    (tmp_path / "imgs").mkdir()
    Image.fromarray((rng.random((30, 32)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / "a.png")
    result = invoke("evaluate", checkpoint, "--data", tmp_path / "imgs", "--noise-sigma", 0.1, "--json")
    assert result.exit_code == 0, result.output
    score = json.loads(result.output)
    assert score["images"] == 1 and 15 < score["noisy_psnr"] < 25 and np.isfinite(score["denoised_psnr"])
    bad = invoke("evaluate", checkpoint, "--data", tmp_path / "missing")
    assert bad.exit_code == 1 and "is not a folder" in bad.output


def test_evaluate_scores_a_checkpoint_and_its_export_alike(tiny_exports, tmp_path, rng):
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray((rng.random((30, 32)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / name)
    scores = [json.loads(invoke("evaluate", path, "--data", tmp_path / "imgs", "--noise-sigma", 0.1, "--threads", 1,
                                "--json").output) for path in (tiny_exports["m2"].checkpoint, tiny_exports["m2"].onnx)]
    assert scores[0]["noisy_psnr"] == scores[1]["noisy_psnr"]               # the same noisy images
    assert scores[0]["denoised_psnr"] == pytest.approx(scores[1]["denoised_psnr"], abs=1e-3)
    one_d = invoke("evaluate", tiny_exports["m1"].onnx, "--data", tmp_path / "imgs")
    assert one_d.exit_code == 1 and "is a 1-D model" in one_d.output


def test_train_variants_from_cli(tmp_path):
    result = invoke("train", "-o", tmp_path / "v.pt", "--num-signals", 16, "--length", 100, "--num-layers", 4,
                    "--epochs", 1, "--untied", "--threshold-mode", "bias", "--one-sided", "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads(invoke("info", tmp_path / "v.pt", "--json").output)
    config = info["model_config"]
    assert (config["tied"], config["threshold_mode"], config["two_sided"]) == (False, "bias", False)
    assert info["epoch"] == 1 and info["data"]["nonnegative"] is True


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    result = invoke("demo", "--workdir", tmp_path, "--epochs", 2)
    assert result.exit_code == 0, result.output
    assert "recovery error (max over filters)" in result.output
    assert result.output.count("-> OK") == 2 and "FAIL" not in result.output
    assert (tmp_path / "model.onnx").is_file() and (tmp_path / "model.json").is_file()


def test_cli_static_shape_and_tensorrt_device(tmp_path):
    save_checkpoint(tmp_path / "m.pt", CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3)))
    ok = runner.invoke(app, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "s.onnx"), "--static-shape",
                             "2,1,40"])
    assert ok.exit_code == 0, ok.output
    assert Encoder(tmp_path / "s.onnx", device="cpu").static_shape == (2, 1, 40)
    bad = runner.invoke(app, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "b.onnx"), "--static-shape",
                              "2x1x40"])
    assert bad.exit_code == 1 and "comma-separated" in bad.output and not (tmp_path / "b.onnx").exists()
    np.save(tmp_path / "y.npy", np.zeros((2, 1, 40), np.float32))
    trt = runner.invoke(app, ["infer", str(tmp_path / "s.onnx"), str(tmp_path / "y.npy"), "-o",
                              str(tmp_path / "o.npy"), "--device", "tensorrt"])
    if ort_runs("TensorrtExecutionProvider"):
        assert trt.exit_code == 0, trt.output
        assert "provider: TensorrtExecutionProvider" in trt.output and (tmp_path / "o.npy").is_file()
    else:                 # no TensorRT provider, or one listed that does not load: refused, nothing written
        assert trt.exit_code == 1 and "TensorRT" in trt.output and not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("args, match", [
    (["--encoder", "accelerated", "--step", "2.5"], r"error: step must be a number in \(0, 2\), got 2.5"),
    (["--step", "1.5"], "error: --step sets the accelerated encoder's step"),
    (["--encoder", "accelerated", "--dtype", "float16"], "error: the accelerated encoder compares objective values"),
])
def test_export_bad_encoder_options_are_one_line_errors_without_output(args, match, tmp_path):
    save_checkpoint(tmp_path / "c.pt", CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3)))
    result = invoke("export", tmp_path / "c.pt", "-o", tmp_path / "m.onnx", *args)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and re.match(match, result.output)
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]


def test_export_unknown_encoder_is_a_usage_error(tmp_path):
    save_checkpoint(tmp_path / "c.pt", CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3)))
    result = invoke("export", tmp_path / "c.pt", "-o", tmp_path / "m.onnx", "--encoder", "fast")
    assert result.exit_code == 2 and "fast" in result.output
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]
