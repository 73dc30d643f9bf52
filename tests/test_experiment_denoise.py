import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import require_shared_data
from crsae.cli import app
from crsae.errors import ConfigError, DataError
from crsae.experiments import denoise
from crsae.experiments.denoise import Settings

TINY = dict(num_filters=8, num_layers=8, stride=4, crop_size=48, crops_per_epoch=40, train_images=20,
            test_sigmas=(25.0,), test_images=3, test_crop=64, example_images=2)


def _invoke(*args):
    return CliRunner().invoke(app, ["experiment", "denoise", *map(str, args)])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = require_shared_data()
    output = tmp_path_factory.mktemp("denoise")
    result = _invoke(
        "--data", data, "--output", output, "--num-filters", "8", "--num-layers", "8", "--stride", "4",
        "--crop-size", "48", "--crops-per-epoch", "40", "--train-images", "20", "--test-images", "3",
        "--test-crop", "64", "--test-sigma", "25")
    assert result.exit_code == 0, result.output
    return output, result.output, json.loads((output / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.data
def test_denoise_every_variant_beats_the_noisy_input(tiny_run):
    _, _, results = tiny_run
    score = results["scores"]["25"]
    assert score["noisy_psnr"] == pytest.approx(20 * math.log10(255 / 25), abs=0.3)
    assert set(score["variants"]) == {"em-tied", "bias-tied", "fixed-tied", "em-untied"}
    for variant, v in score["variants"].items():
        assert v["psnr"] > score["noisy_psnr"] + 1, variant
        assert v["psnr_maxpeak"] > score["noisy_psnr_maxpeak"] + 1, variant
        assert v["psnr_maxpeak"] <= v["psnr"] + 1e-9, variant     # max(clean) <= 1, so the peak is at most 255
        assert len(v["psnr_per_image"]) == 3


@pytest.mark.slow
@pytest.mark.data
def test_denoise_reports_em_vs_bias_and_lambda_correlation(tiny_run):
    _, _, results = tiny_run
    score = results["scores"]["25"]
    em = np.array(score["variants"]["em-tied"]["psnr_per_image"])
    bias = np.array(score["variants"]["bias-tied"]["psnr_per_image"])
    assert score["em_minus_bias_db"] == pytest.approx(float((em - bias).mean()))
    assert score["em_wins"] == int((em > bias).sum())
    for variant in ("em-tied", "em-untied"):
        v = score["variants"][variant]
        assert -1 <= v["lam_correlation"] <= 1
        assert len(v["closed_form_lam"]) == 8 and min(v["closed_form_lam"]) > 0
    assert "lam_correlation" not in score["variants"]["bias-tied"]
    assert results["training_plan"].startswith("one model per variant, trained at sigma 25")
    fixed = next(t for t in results["training"] if t["variant"] == "fixed-tied")
    assert fixed["lam"] == [20.0] * 8 and len(fixed["losses"]) == 40


@pytest.mark.slow
@pytest.mark.data
def test_denoise_writes_figures_and_table(tiny_run):
    output, printed, _ = tiny_run
    for name in ("filters.png", "examples.png", "loss.png"):
        with Image.open(output / name) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert "| 25 | 25 | em-tied |" in printed and "em-tied minus bias-tied" in printed


@pytest.mark.slow
@pytest.mark.data
def test_denoise_keeps_every_trained_model(tiny_run):
    """Each trained model is a checkpoint that loads back with the lambdas the results report."""
    from crsae.model.checkpoint import load_model
    output, _, results = tiny_run
    for t in results["training"]:
        assert t["checkpoint"] == f"models/{t['variant']}_sigma25.pt"
        model = load_model(output / t["checkpoint"])
        assert model.config.num_filters == 8
        if "lam" in t:
            np.testing.assert_allclose(model.lam.detach().numpy(), t["lam"], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.data
def test_denoise_one_model_per_sigma(tmp_path):
    data = require_shared_data()
    settings = Settings(data=str(data), variants=("em-tied",), **{**TINY, "crops_per_epoch": 10,
                                                                  "test_sigmas": (15.0, 50.0)}, train_sigma=None)
    results = denoise.run(settings, tmp_path, log=lambda line: None)
    assert [t["train_sigma"] for t in results["training"]] == [15.0, 50.0]
    assert results["scores"]["50"]["variants"]["em-tied"]["train_sigma"] == 50.0
    assert "em_minus_bias_db" not in results["scores"]["50"]


def test_noisy_test_images_repeat_with_the_seed():
    clean = [np.full((1, 16, 16), 0.5, np.float32)]
    first, again = denoise.noisy_test_images(clean, 25, seed=3), denoise.noisy_test_images(clean, 25, seed=3)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[0].dtype == np.float32
    assert np.std(first[0] - clean[0]) == pytest.approx(25 / 255, rel=0.2)
    assert not np.array_equal(first[0], denoise.noisy_test_images(clean, 50, seed=3)[0])


def test_pearson_is_none_for_a_constant_vector():
    assert denoise.pearson(np.ones(4), np.arange(4.0)) is None
    assert denoise.pearson(np.arange(4.0), 2 * np.arange(4.0) + 1) == pytest.approx(1.0)


def test_full_settings_are_the_papers():
    full = Settings.full()
    assert (full.num_filters, full.kernel_size, full.stride, full.num_layers, full.crop_size) == (64, 7, 5, 30, 128)
    assert full.test_sigmas == (15.0, 25.0, 50.0) and full.train_sigma is None
    assert full.train_images is None and full.test_images is None and full.test_crop is None
    assert full.train_config().lam_lr == 0.1 and full.model_config("em", True).sigma == 0.078


def test_missing_data_folder_is_a_data_error(tmp_path):
    (tmp_path / "BSD68").mkdir()
    with pytest.raises(DataError, match="lacks CBSD432; pass --data the folder holding the CBSD432"):
        denoise.load_data(Settings(data=str(tmp_path)))


@pytest.mark.parametrize("changes, message", [
    (dict(variants=("em-tied", "lasso")), "variants must be among em-tied, bias-tied"),
    (dict(test_sigmas=(0.1, 300.0)), r"noise stds are on 0-255 images and must lie in \(0, 255\)"),
    (dict(test_crop=10), "test_crop 10 is smaller than 14"),
    (dict(example_images=9), "example_images 9 exceeds test_images 8"),
    (dict(num_layers=0), "num_layers must be a positive integer"),
])
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**changes)


def test_command_rejects_a_bad_variant_before_loading_data(tmp_path):
    result = _invoke("--output", tmp_path, "--data", tmp_path, "--variant", "lasso")
    assert result.exit_code == 2                                   # a usage error: --variant is a choice
    assert "'lasso' is not one of 'em-tied', 'bias-tied', 'fixed-tied', 'em-untied'" in result.output
