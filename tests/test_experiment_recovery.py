import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from crsae.cli import app
from crsae.errors import ConfigError
from crsae.experiments.recovery import Settings, run, to_db

runner = CliRunner()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick experiment shrunk: one SNR, both variants, 3 epochs of 4 steps."""
    folder = tmp_path_factory.mktemp("recovery")
    settings = Settings(snrs=(9.0,), num_signals=128, epochs=3, num_layers=30)
    return folder, run(settings, folder, log=lambda line: None)


@pytest.mark.slow
def test_recovery_error_falls_for_both_variants(quick):
    _, results = quick
    assert [r["variant"] for r in results["runs"]] == ["em", "fixed"]
    for r in results["runs"]:
        assert 0.4 <= max(r["initial_error"]) <= 0.5
        assert len(r["errors_per_epoch"]) == 3 and all(len(e) == 4 for e in r["errors_per_epoch"])
        assert r["final_max_error"] < 0.8 * max(r["initial_error"])
        assert r["final_max_error_db"] == pytest.approx(to_db(r["final_max_error"]))


@pytest.mark.slow
def test_em_lambda_moves_and_fixed_stays(quick):
    _, results = quick
    em, fixed = results["runs"]
    assert np.allclose(fixed["lam_final"], fixed["lam_init"])
    assert not np.allclose(em["lam_final"], em["lam_init"])


@pytest.mark.slow
def test_outputs_written(quick):
    folder, results = quick
    saved = json.loads((folder / "results.json").read_text())
    assert saved["settings"]["snrs"] == [9.0] and saved["runs"][0]["errors_per_epoch"] == \
        results["runs"][0]["errors_per_epoch"]
    for name in ("recovery_curves.png", "filters.png"):
        with Image.open(folder / name) as im:
            assert im.format == "PNG" and im.size[0] > 200


def test_to_db():
    assert to_db(0.1) == pytest.approx(-20.0)
    assert to_db(0.0) == pytest.approx(-200.0)


@pytest.mark.parametrize("changes, message", [
    (dict(snrs=()), "snrs is empty"),
    (dict(variants=("bias",)), "variants must be among em, fixed"),
    (dict(length=30), "shorter than twice kernel_size"),
    (dict(epochs=0), "epochs must be a positive integer"),
])
def test_settings_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        Settings(**changes)


def test_cli_bad_variant_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["experiment", "recovery", "-o", str(tmp_path / "out"), "--variant", "bogus"])
    assert result.exit_code == 2                                   # a usage error: --variant is a choice
    assert "'bogus' is not one of 'em', 'fixed'" in result.output
    assert not (tmp_path / "out" / "results.json").exists()


def test_full_settings_are_larger():
    full = Settings.full(epochs=2)
    assert full.epochs == 2 and full.num_filters > Settings().num_filters and full.length > Settings().length
