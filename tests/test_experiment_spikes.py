"""crsae experiment spikes: the FISTA baseline, the spikeinterface scoring, and a shrunk run end to end."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("spikeinterface")
pytest.importorskip("sklearn")

from spikeinterface.core import NumpySorting  # noqa: E402

from crsae.errors import ConfigError  # noqa: E402
from crsae.experiments.spikes import Settings, fista_to_tolerance, objective_value, run, score  # noqa: E402
from crsae.model.fista import unrolled_fista  # noqa: E402

FS = 30000.0
TINY = dict(train_seconds=8.0, test_seconds=4.0, epochs=1, inference_layers=(10,), repeats=1, sweep_points=6)


@pytest.fixture(scope="module")
def shrunk_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spikes")
    return run(Settings(**TINY), folder, log=lambda message: None), folder


def sorting(trains):
    samples = np.concatenate(trains)
    labels = np.concatenate([np.full(len(t), u) for u, t in enumerate(trains)])
    order = np.argsort(samples, kind="stable")
    return NumpySorting.from_samples_and_labels([samples[order]], [labels[order]], FS,
                                                unit_ids=np.arange(len(trains)))


def test_score_counts_misses_and_false_detections_through_spikeinterface():
    truth = sorting([np.arange(1000, 101000, 1000), np.arange(1500, 101500, 1000)])       # 100 + 100 spikes
    found = sorting([np.arange(1003, 51003, 1000),                                    # half of unit 0, 0.1 ms late
                     np.concatenate([np.arange(1500, 101500, 1000), np.arange(1700, 21700, 1000)])])  # + 20 false
    result = score(truth, found, 0.4)
    assert result["missed"] == pytest.approx(100 * 50 / 200)
    assert result["false"] == pytest.approx(100 * 20 / 170)
    assert result["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert result["precision"] == pytest.approx((1.0 + 100 / 120) / 2)
    assert result["well_detected"] == 1 and result["detections"] == 170
    assert result["match"] == {"0": "0", "1": "1"}
    late = score(truth, sorting([np.arange(1030, 101030, 1000), np.arange(1500, 101500, 1000)]), 0.4)
    assert late["per_unit"]["0"]["recall"] == 0.0                    # 1 ms late: outside +-0.4 ms


@pytest.mark.slow
def test_fista_to_tolerance_solves_the_encoders_multichannel_problem():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((3, 2, 10))
    H /= np.linalg.norm(H.reshape(3, -1), axis=1)[:, None, None]
    y = rng.standard_normal((2, 400))
    weights, L = np.array([1.0, 2.0, 1.5]), 12.0
    x, iterations, F = fista_to_tolerance(y, H, weights, L, tol=1e-12, check=10, max_iter=5000)
    x_long = unrolled_fista(torch.tensor(y)[None], torch.tensor(H), torch.tensor(H), torch.tensor(weights / L),
                            L, 3000, two_sided=False)[0].numpy()          # 3000 steps of the unrolled encoder
    assert iterations < 5000
    assert x.shape == (3, 391) and x.min() >= 0
    np.testing.assert_allclose(x, x_long, atol=1e-4)
    assert objective_value(y, H, weights, x) == pytest.approx(F, rel=1e-9)


@pytest.mark.slow
def test_shrunk_run_finds_units_far_better_than_chance(shrunk_run):
    results, _ = shrunk_run
    crsae, fista = results["best"]["CRsAE (onnxruntime)"], results["best"]["FISTA to tolerance"]
    assert crsae["well_detected"] >= 2                                 # of 5 units; two are under 30 uV at 5 uV noise
    assert crsae["accuracy"] > results["chance"]["accuracy"] + 0.3
    assert abs(crsae["accuracy"] - fista["accuracy"]) < 0.15           # same problem, T steps against its optimum
    assert all(len(curve) == TINY["sweep_points"] for name, curve in results["curves"].items()
               if not name.startswith("circus-omp"))
    assert results["timing"]["fista_converged"]
    assert 0 < results["objective"]["crsae_relative_gap"] < 0.1
    assert results["timing"]["onnxruntime_run_long_s"] > 0 and results["timing"]["speedup_codes"] > 0
    shallow, trained = results["depths"]
    assert (shallow["T"], trained["T"]) == (10, 20)
    assert 0 <= trained["relative_gap"] < shallow["relative_gap"]     # more unrolled steps: closer to the optimum


@pytest.mark.slow
def test_shrunk_run_writes_results_and_figures(shrunk_run):
    results, folder = shrunk_run
    saved = json.loads((folder / "results.json").read_text())
    assert set(saved) >= {"settings", "environment", "recording", "fit", "timing", "objective", "depths", "best",
                          "chance", "curves"}
    assert saved["settings"]["num_layers"] == 20
    assert len(saved["recording"]["test_spikes"]) == 5
    for name in ("waveforms.png", "miss_false.png"):
        with Image.open(folder / name) as image:
            assert image.format == "PNG" and min(image.size) > 100


@pytest.mark.parametrize("changes, message", [
    (dict(num_units=0), "num_units must be a positive integer"),
    (dict(fs=8000.0), "too low for spikes"),
    (dict(sweep_min=1.0, sweep_max=0.5), "sweep_min 1.0 must be below"),
    (dict(epochs=-1), "epochs must be a non-negative integer"),
    (dict(noise_uV=0.0), "noise_uV must be a positive finite number"),
    (dict(inference_layers=(0,)), "inference_layers must be positive"),
])
def test_settings_reject_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**changes)


def test_full_settings_are_the_reported_size():
    full = Settings.full(seed=3)
    assert (full.num_channels, full.num_units, full.train_seconds, full.test_seconds, full.seed) == \
        (8, 8, 60.0, 10.0, 3)


def test_cli_rejects_bad_options_in_one_line(tmp_path):
    from typer.testing import CliRunner
    from crsae.cli import app
    result = CliRunner().invoke(app, ["experiment", "spikes", "-o", str(tmp_path / "out"), "--epochs", "-1"])
    assert result.exit_code == 1
    assert "error: epochs must be a non-negative integer, got -1" in result.output
    assert not (tmp_path / "out" / "results.json").exists()
