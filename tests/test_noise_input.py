"""The optional ``noise_sigma`` input (``crsae export --noise-input``, export/CONTRACT.md): thresholds
b = lam sigma^2 / L set per item at inference, or from the graph's own noise estimate, in the exporter
(crsae/exporter/onnx_export.py), the runtime (crsae/serving/runtime.py) and ``crsae infer --noise-sigma``."""

import json

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from crsae import contract
from crsae.cli import app
from crsae.config import ModelConfig
from crsae.errors import ConfigError, ModelFormatError
from crsae.exporter.onnx_export import ExportGraph, to_onnx
from crsae.model.autoencoder import CRsAE
from crsae.model.noise import estimate_noise_sigma
from crsae.serving.runtime import Encoder

runner = CliRunner()


def rebuilt_at(model: CRsAE, sigma: float, dtype=torch.float32) -> CRsAE:
    """The same weights in a model built at noise level ``sigma`` (so its frozen thresholds are lam sigma^2 / L)."""
    other = CRsAE(model.config.replace(sigma=sigma), model.H.detach().numpy(), lam=model.lam.detach().numpy(),
                  normalize=False)
    return other.to(dtype)


def frozen_outputs(model: CRsAE, signal: np.ndarray, sigma: float, dtype=torch.float32) -> dict:
    with torch.no_grad():
        codes, recon = ExportGraph(rebuilt_at(model, sigma, dtype), ("codes", "reconstruction"))(
            torch.from_numpy(signal).to(dtype))
    return {"codes": codes.numpy(), "reconstruction": recon.numpy()}


@pytest.fixture(scope="module")
def m2(tiny_exports):
    return tiny_exports["m2"], tiny_exports["m2_sigma"]


def test_the_export_takes_noise_sigma_per_item_and_says_so(m2):
    _, noisy = m2
    proto = onnx.load(noisy.onnx)
    assert [i.name for i in proto.graph.input] == ["signal", "noise_sigma"]
    dims = proto.graph.input[1].type.tensor_type
    assert dims.elem_type == onnx.TensorProto.FLOAT and [d.dim_param for d in dims.shape.dim] == ["batch"]
    sidecar = json.loads(noisy.sidecar.read_text())
    assert sidecar["noise_sigma_input"] is True
    assert Encoder(noisy.onnx, device="cpu").noise_input


def test_exports_without_the_option_are_as_before(m2):
    frozen, _ = m2
    assert "noise_sigma_input" not in json.loads(frozen.sidecar.read_text())
    assert [i.name for i in onnx.load(frozen.onnx).graph.input] == ["signal"]
    assert not Encoder(frozen.onnx, device="cpu").noise_input


def test_at_its_own_sigma_it_equals_the_frozen_export(m2, rng):
    frozen, noisy = m2
    y = rng.random((3, 1, 23, 19)).astype(np.float32)
    want = Encoder(frozen.onnx, device="cpu").run(y)
    encoder = Encoder(noisy.onnx, device="cpu")
    for sigma in (None, frozen.config.sigma, [frozen.config.sigma] * 3):
        got = encoder.run(y, noise_sigma=sigma)
        for name in ("codes", "reconstruction"):
            assert np.abs(got[name] - want[name]).max() <= 1e-6 * max(1.0, np.abs(want[name]).max()), name


def test_at_other_sigmas_it_equals_the_model_built_there(m2, rng):
    """Per item: onnxruntime float32 within the contract's tolerance; the torch graph in float64 to 1e-12."""
    _, noisy = m2
    model = noisy.model()
    y = rng.random((3, 1, 23, 19)).astype(np.float32)
    sigmas = [0.3, 1.7, 0.05]
    got = Encoder(noisy.onnx, device="cpu").run(y, noise_sigma=sigmas)
    graph64 = ExportGraph(model.to(torch.float64), ("codes", "reconstruction"))
    with torch.no_grad():
        got64 = graph64(torch.from_numpy(y).double(), torch.tensor(sigmas, dtype=torch.float64))
    for i, sigma in enumerate(sigmas):
        want = frozen_outputs(noisy.model(), y[i:i + 1], sigma)
        want64 = frozen_outputs(noisy.model(), y[i:i + 1], sigma, torch.float64)
        for k, name in enumerate(("codes", "reconstruction")):
            atol = contract.atol(want[name], noisy.config.num_layers)
            assert np.abs(got[name][i:i + 1] - want[name]).max() <= atol, (sigma, name)
            np.testing.assert_allclose(got64[k][i:i + 1].numpy(), want64[name], rtol=0, atol=1e-12)
    assert not np.allclose(got["codes"][0], got["codes"][1])             # the levels really differ


def test_auto_uses_each_items_own_estimate(m2, rng):
    _, noisy = m2
    y = (0.5 + np.array([0.05, 0.2])[:, None, None, None] * rng.standard_normal((2, 1, 30, 26))).astype(np.float32)
    got = Encoder(noisy.onnx, device="cpu").run(y, noise_sigma="auto")
    estimates = estimate_noise_sigma(torch.from_numpy(y)).numpy()
    assert np.allclose(estimates, [0.05, 0.2], rtol=0.15)
    for i in range(2):
        want = frozen_outputs(noisy.model(), y[i:i + 1], float(estimates[i]))
        assert np.abs(got["codes"][i:i + 1] - want["codes"]).max() <= contract.atol(want["codes"], 4)
    mixed = Encoder(noisy.onnx, device="cpu").run(y, noise_sigma=["auto", 0.3])
    np.testing.assert_array_equal(mixed["codes"][0], got["codes"][0])


def test_one_sided_1d_model_at_another_sigma(tiny_exports, rng):
    spikes = tiny_exports["spikes_sigma"]
    y = rng.standard_normal((2, 1, 90)).astype(np.float32)
    got = Encoder(spikes.onnx, device="cpu").run(y, noise_sigma=0.6)
    want = frozen_outputs(spikes.model(), y, 0.6)
    for name in ("codes", "reconstruction"):
        assert np.abs(got[name] - want[name]).max() <= contract.atol(want[name], spikes.config.num_layers)
    assert got["codes"].min() >= 0
    long = rng.standard_normal((1, 3000)).astype(np.float32)
    encoder = Encoder(spikes.onnx, device="cpu", threads=1)
    whole = encoder.encode(long[None], noise_sigma=0.6)[0]
    assert np.abs(encoder.run_long(long, chunk=400, noise_sigma=0.6) - whole).max() <= 1e-5 * max(1, whole.max())
    with pytest.raises(ConfigError, match="per chunk"):
        encoder.run_long(long, noise_sigma="auto")


def test_a_free_bias_model_refuses_the_option():
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3, threshold_mode="bias"))
    with pytest.raises(ConfigError, match="free biases"):
        to_onnx(model, noise_input=True)
    with pytest.raises(ConfigError, match="free biases"):
        model.thresholds_at(torch.tensor([1.0]))


@pytest.mark.parametrize("value,match", [
    (-0.1, "number >= 0"), (float("nan"), "number >= 0"), ("loud", "number >= 0"), ([0.1, 0.2], "2 values for 3"),
    (True, "number >= 0")])
def test_bad_noise_sigma_values_are_refused(m2, rng, value, match):
    _, noisy = m2
    with pytest.raises(ConfigError, match=match):
        Encoder(noisy.onnx, device="cpu").run(rng.random((3, 1, 12, 12)).astype(np.float32), noise_sigma=value)


def test_a_frozen_model_refuses_a_noise_level_with_the_contract_message(m2, rng):
    frozen, _ = m2
    with pytest.raises(ConfigError) as err:
        Encoder(frozen.onnx, device="cpu").run(rng.random((1, 1, 12, 12)).astype(np.float32), noise_sigma=0.1)
    assert str(err.value) == contract.message("no_noise_input", model="m2.onnx", sigma="1")


def test_metadata_checks_of_the_optional_key():
    meta = {key: None for key in contract.contract()["metadata_keys"]}
    meta.update(format="crsae-onnx", contract_version=1, kind="2d", channels=1, num_filters=2, kernel_size=3,
                stride=1, num_layers=2, chunk_halo=0, min_size=3, outputs=["codes"], dtype="float32",
                threshold_mode="em")
    assert contract.check_metadata(dict(meta), "m") and not contract.has_noise_input(meta)
    assert contract.has_noise_input(dict(meta, noise_sigma_input=True))
    with pytest.raises(ModelFormatError, match="noise_sigma_input 'yes'"):
        contract.check_metadata(dict(meta, noise_sigma_input="yes"), "m")
    with pytest.raises(ModelFormatError, match="free biases have no sigma"):
        contract.check_metadata(dict(meta, noise_sigma_input=True, threshold_mode="bias"), "m")


def test_cli_infer_noise_sigma(m2, tmp_path, rng):
    frozen, noisy = m2
    y = rng.random((2, 1, 20, 20)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    for value in ("0.4", "auto"):
        done = runner.invoke(app, ["infer", str(noisy.onnx), str(tmp_path / "y.npy"), "-o", str(tmp_path / "c.npy"),
                                   "--quiet", "--noise-sigma", value])
        assert done.exit_code == 0, done.output
        want = Encoder(noisy.onnx, device="cpu").encode(y, noise_sigma=value if value == "auto" else float(value))
        np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), want)
    for model, value, match in [(frozen.onnx, "0.4", "frozen at sigma 1"), (noisy.onnx, "-1", "must be a number >= 0")]:
        done = runner.invoke(app, ["infer", str(model), str(tmp_path / "y.npy"), "-o", str(tmp_path / "bad.npy"),
                                   "--quiet", "--noise-sigma", value])
        assert done.exit_code == 1 and match in done.output and not (tmp_path / "bad.npy").exists(), done.output


def test_cli_export_noise_input_refuses_a_bias_model(tmp_path):
    from crsae.model.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "bias.pt", CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3,
                                                            threshold_mode="bias")))
    done = runner.invoke(app, ["export", str(tmp_path / "bias.pt"), "-o", str(tmp_path / "m.onnx"), "--noise-input"])
    assert done.exit_code == 1 and "free biases" in done.output and not (tmp_path / "m.onnx").exists()


def test_affine_thresholds_follow_their_learned_law(tiny_exports, rng, tmp_path):
    """threshold_mode affine: at noise_sigma s the graph thresholds at beta + gamma s (not lam s^2 / L); the
    metadata says affine with no lambda, and the frozen thresholds are those at the model's sigma."""
    affine = tiny_exports["m2_affine"]
    model = affine.model()
    with torch.no_grad():                                    # an intercept, so the law is not a pure slope
        model.bias.fill_(0.01)
    meta = json.loads(affine.sidecar.read_text())
    assert (meta["threshold_mode"], meta["lam"]) == ("affine", None)
    np.testing.assert_allclose(meta["thresholds"], (model.slope * 0.2).detach().numpy(), rtol=1e-6)
    proto = to_onnx(model, outputs="both", noise_input=True)
    path = tmp_path / "m2_affine_intercept.onnx"
    onnx.save(proto, path)
    y = rng.random((2, 1, 21, 18)).astype(np.float32)
    sigmas = [0.05, 0.4]
    got = Encoder(path, device="cpu").run(y, noise_sigma=sigmas)
    for i, sigma in enumerate(sigmas):
        b = model.thresholds_at(torch.tensor([sigma]))
        np.testing.assert_allclose(b.detach().numpy()[0], 0.01 + model.slope.detach().numpy() * sigma, rtol=1e-6)
        with torch.no_grad():
            want = model._shift_and_average(torch.from_numpy(y[i:i + 1]), b=b)[0].numpy()
        assert np.abs(got["reconstruction"][i:i + 1] - want).max() <= contract.atol(want, model.config.num_layers)
    assert not np.allclose(got["codes"][0], got["codes"][1])


def test_cli_evaluate_gives_a_noise_input_model_the_test_sigma(m2, tmp_path, rng):
    """``crsae evaluate`` on a ``--noise-input`` export thresholds at the test noise by default (``given``), at
    each image's estimate with ``--thresholds auto``, at the model's sigma with ``frozen`` (then equal to the plain
    export); it says which, and a model without the input refuses ``given`` / ``auto`` with one line."""
    from PIL import Image
    frozen, noisy = m2
    (tmp_path / "imgs").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray((rng.random((30, 32)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / name)

    def score(model, *extra):
        done = runner.invoke(app, ["evaluate", str(model), "--data", str(tmp_path / "imgs"), "--noise-sigma", "0.3",
                                   "--threads", "1", "--json", *extra])
        assert done.exit_code == 0, done.output
        return json.loads(done.output)
    given, auto, held = score(noisy.onnx), score(noisy.onnx, "--thresholds", "auto"), score(noisy.onnx, "--thresholds",
                                                                                             "frozen")
    plain = score(frozen.onnx)
    assert (given["thresholds"], auto["thresholds"], held["thresholds"], plain["thresholds"]) == \
        ("given", "auto", "frozen", "frozen")
    assert held["denoised_psnr"] == pytest.approx(plain["denoised_psnr"], abs=1e-3)
    assert abs(given["denoised_psnr"] - held["denoised_psnr"]) > 1e-3       # sigma 0.3 is not the model's 1
    from crsae.metrics import denoise_score
    from crsae.readers import load_images
    encoder = Encoder(noisy.onnx, device="cpu", threads=1)
    want = denoise_score(lambda y: encoder.reconstruct(y, noise_sigma=0.3), load_images(tmp_path / "imgs", 1, None),
                         0.3, min_size=encoder.min_size, channels=1)
    assert given["denoised_psnr"] == pytest.approx(want.denoised_psnr, abs=1e-3)
    bad = runner.invoke(app, ["evaluate", str(frozen.onnx), "--data", str(tmp_path / "imgs"), "--thresholds", "given"])
    lines = [line for line in bad.output.splitlines() if line.startswith("error:")]
    assert bad.exit_code == 1 and len(lines) == 1 and "export it with --noise-input" in lines[0], bad.output
