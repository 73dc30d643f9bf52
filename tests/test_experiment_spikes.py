"""crsae experiment spikes: the scoring rule, the FISTA baseline, and a shrunk run end to end."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from crsae.errors import ConfigError
from crsae.experiments.spikes import Settings, count_matches, fista_to_tolerance, run, score
from crsae.model.fista import unrolled_fista

TINY = dict(train_seconds=4.0, test_seconds=3.0, num_layers=30, epochs=2, window=1000, batch_size=8,
            inference_layers=(10,), repeats=1, sweep_points=8, chunk=20000, fista_max_iter=3000)


@pytest.fixture(scope="module")
def shrunk_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spikes")
    return run(Settings(**TINY), folder, log=lambda message: None), folder


def test_count_matches_is_one_to_one_within_tolerance():
    true = np.array([100, 200, 300, 400])
    detected = np.array([95, 103, 212, 299, 301, 500])
    assert count_matches(true, detected, 10) == 2           # 95 (or 103) -> 100 and 299 (or 301) -> 300
    assert count_matches(true, detected, 12) == 3           # and 212 -> 200; 400 has no detection near it
    assert count_matches(true, np.array([], dtype=int), 5) == 0


def test_score_assigns_clusters_to_neurons_by_best_permutation():
    spikes = [np.array([10, 50, 90]), np.array([30, 70])]
    result = score([np.array([31, 69, 120]), np.array([11, 50, 91])], spikes, 2)
    assert result["assignment"] == [1, 0]
    assert result["missed"] == pytest.approx(0.0)
    assert result["false"] == pytest.approx(100 / 6)
    assert result["f1"] == pytest.approx(2 * 5 / (6 + 5))


@pytest.mark.slow
def test_fista_to_tolerance_solves_the_encoders_problem():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((3, 1, 10))
    H /= np.linalg.norm(H, axis=2, keepdims=True)
    y = rng.standard_normal(400)
    weights, L = np.array([1.0, 2.0, 1.5]), 8.0
    x, iterations, _ = fista_to_tolerance(y, H, weights, L, tol=1e-12, check=10, max_iter=5000)
    x_long = unrolled_fista(torch.tensor(y)[None, None], torch.tensor(H), torch.tensor(H), torch.tensor(weights / L),
                            L, 3000, two_sided=False)[0].numpy()          # 3000 steps of the unrolled encoder
    assert iterations < 5000
    assert x.shape == (3, 391) and x.min() >= 0
    np.testing.assert_allclose(x, x_long, atol=1e-4)


@pytest.mark.slow
def test_shrunk_run_detects_spikes_far_better_than_chance(shrunk_run):
    results, _ = shrunk_run
    crsae = results["best"]["CRsAE (onnxruntime)"]
    assert crsae["f1"] > 0.6
    assert crsae["f1"] > results["chance"]["f1"] + 0.5
    assert 0 <= crsae["missed"] < 50 and 0 <= crsae["false"] < 50
    assert results["best"]["threshold + PCA + k-means"]["f1"] > 0.6
    assert all(len(curve) == TINY["sweep_points"] for curve in results["curves"].values())
    assert results["timing"]["fista_converged"]
    assert results["objective"]["crsae_relative_gap"] < 1e-2          # T steps land near the convex optimum
    assert results["timing"]["onnxruntime_run_long_s"] > 0 and results["timing"]["speedup_codes"] > 0
    shallow, trained = results["depths"]
    assert (shallow["T"], trained["T"]) == (10, 30)
    assert 0 <= trained["relative_gap"] < shallow["relative_gap"]     # more unrolled steps: closer to the optimum


@pytest.mark.slow
def test_shrunk_run_writes_results_and_figures(shrunk_run):
    results, folder = shrunk_run
    saved = json.loads((folder / "results.json").read_text())
    assert set(saved) >= {"settings", "environment", "recording", "training", "filter_error", "timing", "objective",
                          "depths", "best", "chance", "curves"}
    assert saved["settings"]["num_layers"] == 30
    assert len(saved["filter_error"]["learned"]) == 4
    for name in ("waveforms.png", "miss_false.png", "trace.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG" and min(image.size) > 100


@pytest.mark.parametrize("changes, message", [
    (dict(num_neurons=5), "num_neurons must be 1 to 4"),
    (dict(rates_hz=(10.0, 10.0)), "one positive rate per neuron"),
    (dict(kernel_size=10), "use at least 1 ms of taps"),
    (dict(sweep_min=5.0, sweep_max=2.0), "sweep_min 5.0 must be below"),
    (dict(train_seconds=0.5), "fewer than one batch"),
    (dict(inference_layers=(0,)), "inference_layers must be positive"),
])
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**changes)


def test_full_settings_are_the_reported_size():
    full = Settings.full(seed=3)
    assert (full.num_layers, full.train_seconds, full.test_seconds, full.seed) == (200, 60.0, 60.0, 3)


def test_cli_rejects_bad_options_in_one_line(tmp_path):
    from typer.testing import CliRunner
    from crsae.cli import app
    result = CliRunner().invoke(app, ["experiment", "spikes", "-o", str(tmp_path / "out"), "--epochs", "0"])
    assert result.exit_code == 1
    assert "error: epochs must be a positive integer, got 0" in result.output
    assert not (tmp_path / "out" / "results.json").exists()
