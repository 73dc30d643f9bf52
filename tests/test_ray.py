"""crsae/serving/ray.py: the Ray Data pipeline on a local 2-CPU Ray instance gives what single-process infer gives."""

import json
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from crsae.cli import app
from crsae.errors import DataError, MissingDependencyError
from crsae.serving.infer import infer

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'crsae[ray]')")
from crsae.serving.ray import infer_files, list_sources  # noqa: E402  (after the importorskip)

runner = CliRunner()
CHUNK = 700                          # recordings longer than this run chunked, in both engines


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs, no dashboard, no usage reporting) for the module, shut down after it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 object_store_memory=128 * 1024 * 1024)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def models(tiny_exports):
    """The shared 1-D (m1) and 2-D (m2) exports with both outputs: {name: .onnx path}."""
    return {name: tiny_exports[name].onnx for name in ("m1", "m2")}


@pytest.fixture
def signals(tmp_path):
    """Array shards, a two-array archive, a long 1-D recording (.npy) and a raw int16 recording."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "signals"
    folder.mkdir()
    np.save(folder / "shard0.npy", rng.standard_normal((3, 1, 200)).astype(np.float32))
    np.save(folder / "shard1.npy", rng.standard_normal((5, 120)).astype(np.float32))
    np.savez(folder / "pair.npz", a=rng.standard_normal((2, 1, 50)).astype(np.float32),
             b=rng.standard_normal(80).astype(np.float32))
    np.save(folder / "long.npy", rng.standard_normal((1, 5000)).astype(np.float32))
    (rng.standard_normal((4000, 1)) * 1000).astype(np.int16).tofile(folder / "rec.bin")
    return folder


@pytest.fixture
def images(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((rng.random((20 + i, 23)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and (np.array_equal(a, b) or float(np.max(np.abs(a - b))) <= 1e-6)


@pytest.mark.slow
def test_ray_matches_single_process_infer(local_ray, models, signals, tmp_path):
    summary = infer_files(models["m1"], signals, tmp_path / "out", chunk=CHUNK, raw_dtype="int16")
    assert not summary.errors and summary.actors == 2 and not summary.gpu
    assert summary.providers == ["CPUExecutionProvider"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["long.npy", "pair.npz", "rec.npy", "shard0.npy", "shard1.npy"]
    for f in sorted(signals.iterdir()):
        suffix = ".npz" if f.suffix == ".npz" else ".npy"
        reference = tmp_path / f"ref.{f.stem}{suffix}"
        raw = {"raw_dtype": "int16"} if f.suffix == ".bin" else {}     # single-process infer refuses it elsewhere
        infer(models["m1"], f, reference, device="cpu", chunk=CHUNK, **raw)
        got = tmp_path / "out" / f"{f.stem}{suffix}"
        if suffix == ".npy":
            assert same(np.load(got), np.load(reference)), f.name
        else:
            with np.load(got) as g, np.load(reference) as r:
                assert g.files == r.files and all(same(g[k], r[k]) for k in r.files)
    assert np.load(tmp_path / "out" / "long.npy").shape == (2, 5000 - 5)


@pytest.mark.slow
def test_ray_both_outputs_as_npz(local_ray, models, signals, tmp_path):
    files = [signals / "shard0.npy", signals / "long.npy"]
    summary = infer_files(models["m1"], files, tmp_path / "out", outputs="both", chunk=CHUNK, actors=1)
    assert [r.output for r in summary.results] == ["shard0.npz", "long.npz"] and summary.actors == 1
    with np.load(tmp_path / "out" / "long.npz") as z:
        assert z["codes"].shape == (2, 4995) and z["reconstruction"].shape == (1, 5000)


@pytest.mark.slow
def test_ray_image_folder_matches_single_process(local_ray, models, images, tmp_path):
    from PIL import Image
    summary = infer_files(models["m2"], images, tmp_path / "out", outputs="reconstruction")
    assert [r.output for r in summary.results] == ["im0.png", "im1.png", "im2.png"]
    infer(models["m2"], images, tmp_path / "ref", device="cpu")          # the single-process image folder output
    for name in ("im0.png", "im1.png", "im2.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / name)),
                              np.asarray(Image.open(tmp_path / "ref" / name)))
    infer_files(models["m2"], images / "im1.png", tmp_path / "codes")    # codes of an image, as .npy
    infer(models["m2"], images / "im1.png", tmp_path / "im1.codes.npy", device="cpu")
    assert same(np.load(tmp_path / "codes" / "im1.npy"), np.load(tmp_path / "im1.codes.npy"))


@pytest.mark.slow
def test_ray_reports_failed_files_and_keeps_the_others(local_ray, models, signals, tmp_path):
    (signals / "corrupt.npy").write_bytes(b"not a numpy file")
    np.save(signals / "nan.npy", np.full((1, 1, 60), np.nan, dtype=np.float32))
    summary = infer_files(models["m1"], signals, tmp_path / "out", chunk=CHUNK)   # no --raw-dtype: rec.bin fails too
    failed = {os.path.basename(r.input): r.error for r in summary.errors}
    assert set(failed) == {"corrupt.npy", "nan.npy", "rec.bin"}
    assert "not a readable .npy" in failed["corrupt.npy"] and "NaN" in failed["nan.npy"]
    assert "--raw-dtype" in failed["rec.bin"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        ["errors.json", "long.npy", "pair.npz", "shard0.npy", "shard1.npy"]
    listed = json.loads((tmp_path / "out" / "errors.json").read_text())
    assert {os.path.basename(e["input"]) for e in listed} == set(failed)
    reference = tmp_path / "ref.npy"
    infer(models["m1"], signals / "shard1.npy", reference, device="cpu")
    assert same(np.load(tmp_path / "out" / "shard1.npy"), np.load(reference))


def test_list_sources(signals, tmp_path):
    with pytest.raises(DataError, match="share the name 'long'"):
        list_sources([signals / "long.npy", signals])
    with pytest.raises(DataError, match="does not exist"):
        list_sources([tmp_path / "missing.npy"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .npy/.npz"):
        list_sources(tmp_path / "empty")
    assert [p.name for p in list_sources(signals)] == ["long.npy", "pair.npz", "rec.bin", "shard0.npy", "shard1.npy"]


def test_missing_ray_names_the_extra(models, signals, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                       # import ray now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'crsae\[ray\]'"):
        infer_files(models["m1"], signals, tmp_path / "out")
    result = runner.invoke(app, ["infer", str(models["m1"]), str(signals), "-o", str(tmp_path / "out"),
                                 "--engine", "ray"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "crsae[ray]" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_engine_ray(local_ray, models, signals, tmp_path):
    (signals / "corrupt.npy").write_bytes(b"not a numpy file")
    result = runner.invoke(app, ["infer", str(models["m1"]), str(signals / "shard0.npy"), str(signals / "corrupt.npy"),
                                 str(signals / "long.npy"), "-o", str(tmp_path / "out"), "--engine", "ray",
                                 "--chunk", str(CHUNK), "--quiet"])
    assert result.exit_code == 1
    assert "provider: CPUExecutionProvider (2 CPU actors)" in result.output
    assert "wrote 2 of 3 files" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 3 inputs failed") and "errors.json" in last
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["errors.json", "long.npy", "shard0.npy"]
    ok = runner.invoke(app, ["infer", str(models["m1"]), str(signals / "shard0.npy"), "-o", str(tmp_path / "ok"),
                             "--engine", "ray", "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert "wrote 1 of 1 files" in ok.output and not (tmp_path / "ok" / "errors.json").exists()


@pytest.mark.parametrize("args,match", [
    (["missing.npy", "-o", "out", "--engine", "ray"], "does not exist"),
    (["shard0.npy", "-o", "out.npy", "--engine", "ray"], "is a file; with --engine ray the output is a folder"),
    (["shard0.npy", "-o", "full", "--engine", "ray"], "already exists and is not empty"),
    (["shard0.npy", "-o", "out", "--engine", "ray", "--events", "ev.csv"], "--events works with --engine local"),
    (["shard0.npy", "long.npy", "-o", "out.npy"], "--engine local takes one input, got 2"),
    (["shard0.npy", "-o", "out", "--engine", "ray", "--actors", "0"], "--actors must be at least 1"),
])
def test_cli_engine_ray_bad_input_is_one_line_error_without_output(models, signals, tmp_path, monkeypatch, args,
                                                                   match):
    monkeypatch.chdir(signals)
    (signals / "full").mkdir()
    (signals / "full" / "x").write_text("keep")
    before = sorted(p.name for p in signals.iterdir())
    result = runner.invoke(app, ["infer", str(models["m1"])] + args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and match in result.output and result.output.count("\n") == 1
    assert sorted(p.name for p in signals.iterdir()) == before


def test_cli_engine_ray_refuses_non_crsae_model(signals, tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"junk")
    result = runner.invoke(app, ["infer", str(tmp_path / "x.onnx"), str(signals), "-o", str(tmp_path / "out"),
                                 "--engine", "ray"])
    assert result.exit_code == 1 and result.output.startswith("error: ") and "ONNX" in result.output
    assert not (tmp_path / "out").exists()
