"""crsae build / crsae.build_model: a dictionary from elsewhere becomes the same encoder, filters kept as given."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from crsae.cli import app  # noqa: E402
from crsae.errors import ConfigError  # noqa: E402
from crsae.model.build import build_model  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402

from reference import dense_operator, fista, synthesis  # noqa: E402

runner = CliRunner()
NORMS = np.array([0.77, 1.31, 2.08])          # as in a dictionary from the original CRsAE code: not unit norm
LAM = np.array([0.5, 1.2, 3.0])
SIGMA, T = 0.3, 12


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def filters():
    rng = np.random.default_rng(7)
    H = rng.standard_normal((3, 1, 9))
    return (H / np.linalg.norm(H, axis=-1, keepdims=True) * NORMS[:, None, None]).astype(np.float32)


def test_build_model_keeps_filters_and_estimates_L_on_them(filters):
    model = build_model(filters, lam=LAM, sigma=SIGMA, num_layers=T)
    np.testing.assert_array_equal(model.H.detach().numpy(), filters)
    np.testing.assert_allclose(model.lam.detach().numpy(), LAM, rtol=1e-6)
    assert model.config.threshold_mode == "fixed" and model.config.tied
    D = dense_operator(filters.astype(np.float64), (256,))                 # the power iteration's geometry
    largest = np.linalg.eigvalsh(D.T @ D)[-1]
    assert model.config.L == pytest.approx(1.05 * largest, rel=1e-4)
    normalized = build_model(filters, lam=1.0, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(normalized.H.detach().numpy(), axis=-1), 1.0, rtol=1e-6)


def test_faithful_import_through_the_cli_matches_a_reference(filters, tmp_path):
    """crsae build with non-unit filters and per-filter lambda, crsae export, onnxruntime: the codes of plain
    numpy FISTA with b_c = lam_c sigma^2 / L and L on the filters as given."""
    np.save(tmp_path / "H.npy", filters)
    np.save(tmp_path / "lam.npy", LAM)
    result = invoke("build", tmp_path / "H.npy", "-o", tmp_path / "m.pt", "--lam", tmp_path / "lam.npy",
                    "--sigma", SIGMA, "--num-layers", T, "--json")
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert invoke("export", tmp_path / "m.pt", "-o", tmp_path / "m.onnx", "--outputs", "both").exit_code == 0
    encoder = Encoder(tmp_path / "m.onnx", device="cpu")
    L = encoder.metadata["L"]
    assert L == pytest.approx(built["model_config"]["L"])
    b = LAM * SIGMA ** 2 / L
    np.testing.assert_allclose(encoder.metadata["thresholds"], b, rtol=1e-5)
    y = np.random.default_rng(1).standard_normal((2, 1, 80)).astype(np.float32)
    out = encoder.run(y)
    for i in range(2):
        ref = fista(y[i].astype(np.float64), filters.astype(np.float64), b, L, T)
        np.testing.assert_allclose(out["codes"][i], ref, atol=1e-4)
        np.testing.assert_allclose(out["reconstruction"][i], synthesis(ref, filters.astype(np.float64), (80,)),
                                   atol=1e-4)


def test_untied_thresholds_import_through_the_cli(filters, tmp_path):
    rng = np.random.default_rng(3)
    We = (filters + 0.2 * rng.standard_normal(filters.shape)).astype(np.float32)
    Wd = (filters * 1.5).astype(np.float32)
    for name, value in (("H", filters), ("We", We), ("Wd", Wd)):
        np.save(tmp_path / f"{name}.npy", value)
    result = invoke("build", tmp_path / "H.npy", "-o", tmp_path / "u.pt", "--thresholds", "0.05,0.1,0.2",
                    "--one-sided", "--analysis", tmp_path / "We.npy", "--synthesis", tmp_path / "Wd.npy",
                    "--num-layers", T)
    assert result.exit_code == 0, result.output
    assert invoke("export", tmp_path / "u.pt", "-o", tmp_path / "u.onnx", "--outputs", "both").exit_code == 0
    encoder = Encoder(tmp_path / "u.onnx", device="cpu")
    meta = encoder.metadata
    assert meta["tied"] is False and meta["two_sided"] is False and meta["threshold_mode"] == "bias"
    D = [dense_operator(W.astype(np.float64), (256,)) for W in (filters, We)]
    assert meta["L"] == pytest.approx(1.05 * max(np.linalg.eigvalsh(d.T @ d)[-1] for d in D), rel=1e-4)
    y = rng.standard_normal((1, 1, 70)).astype(np.float32)
    out = encoder.run(y)
    ref = fista(y[0].astype(np.float64), filters.astype(np.float64), [0.05, 0.1, 0.2], meta["L"], T,
                two_sided=False, We=We.astype(np.float64))
    np.testing.assert_allclose(out["codes"][0], ref, atol=1e-4)
    np.testing.assert_allclose(out["reconstruction"][0], synthesis(ref, Wd.astype(np.float64), (70,)), atol=1e-4)


@pytest.mark.parametrize("options, message", [
    (dict(lam=[1.0, 2.0]), "lam has 2 values but there are 3 filters"),
    (dict(), "pass exactly one of lam"),
    (dict(lam=1.0, thresholds=0.1), "pass exactly one of lam"),
])
def test_build_model_errors(filters, options, message):
    with pytest.raises(ConfigError, match=message):
        build_model(filters, **options)


def test_cli_build_errors_are_one_line(filters, tmp_path):
    np.save(tmp_path / "H.npy", filters)
    result = invoke("build", tmp_path / "H.npy", "-o", tmp_path / "m.pt", "--lam", "abc")
    assert result.exit_code == 1 and "error: --lam 'abc' is not a number" in result.output
    result = invoke("build", tmp_path / "H.npy", "-o", tmp_path / "m.pt", "--lam", "1,2")
    assert result.exit_code == 1 and "lam has 2 values but there are 3 filters" in result.output
