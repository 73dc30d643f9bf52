"""crsae/model/autoencoder.py: CRsAE, its lambda loss, stride trick, thresholds and gradient projection."""

import numpy as np
import pytest
import torch

from crsae.config import ModelConfig
from crsae.errors import ShapeError
from crsae.model.autoencoder import CRsAE
from reference import fista, spectral_norm2, synthesis


def test_lambda_loss_minimised_at_closed_form(rng):
    model = CRsAE(ModelConfig(kind="1d", num_filters=3, kernel_size=5, lam_init=2.0, delta=0.5))
    x = torch.from_numpy(rng.laplace(size=(4, 3, 50)).astype(np.float32) * (rng.random((4, 3, 50)) < 0.2))
    best = model.closed_form_lambda(x)
    with torch.no_grad():
        model.lam.copy_(best)
        at_best = float(model.lambda_loss(x))
        for factor in (0.8, 0.95, 1.05, 1.25):
            model.lam.copy_(best * factor)
            assert float(model.lambda_loss(x)) > at_best
    model.lam.data.copy_(best)
    model.lam.grad = None
    model.lambda_loss(x).backward()
    assert torch.allclose(model.lam.grad, torch.zeros(3), atol=1e-2)


def test_stride_trick_averages_shifted_reconstructions(rng):
    config = ModelConfig(kind="2d", num_filters=2, kernel_size=4, stride=2, num_layers=8, lam_init=0.3)
    model = CRsAE(config, seed=1)
    y = rng.standard_normal((1, 1, 10, 11)).astype(np.float32)
    y_hat, codes = model(torch.from_numpy(y))
    assert y_hat.shape == (1, 1, 10, 11) and codes.shape[0] == 4
    H, b = model.H.detach().double().numpy(), model.thresholds().detach().double().numpy()
    s, K, out = 2, 4, np.zeros((1, 10, 11))
    top, bottom = s, (-(10 + s - K)) % s + s
    left, right = s, (-(11 + s - K)) % s + s
    for r in range(s):
        for c in range(s):
            padded = np.pad(y[0].astype(np.float64), ((0, 0), (top - r, bottom + r), (left - c, right + c)),
                            mode="reflect")
            x = fista(padded, H, b, float(model.L), 8, s)
            rec = synthesis(x, H, padded.shape[1:], s)
            out += rec[:, top - r:top - r + 10, left - c:left - c + 11]
    np.testing.assert_allclose(y_hat.detach().numpy()[0], out / 4, atol=2e-5)


@pytest.mark.slow
def test_known_answer_sparse_recovery(rng):
    """Synthesise y = H x0 with a sparse x0; a long, lightly thresholded encoder recovers x0."""
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=8, num_layers=800, lam_init=1e-3), seed=5)
    x0 = np.zeros((1, 2, 93), dtype=np.float32)
    x0[0, 0, [5, 40, 80]] = [1.5, -2.0, 1.0]
    x0[0, 1, [20, 60]] = [2.0, 1.2]
    y = model.decode(torch.from_numpy(x0)).detach()
    x = model.encode(y).detach().numpy()
    assert np.abs(x - x0).max() < 0.05


def test_decode_is_adjoint_of_encode_analysis(rng):
    from crsae.model.fista import analysis, synthesis as synth
    H = torch.from_numpy(rng.standard_normal((3, 2, 4, 4)))
    x = torch.from_numpy(rng.standard_normal((1, 3, 4, 5)))
    y = torch.from_numpy(rng.standard_normal((1, 2, 13, 16)))
    lhs = float((synth(x, H, (13, 16), 3) * y).sum())
    rhs = float((x * analysis(y, H, 3)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10)


@pytest.mark.parametrize("shape,match", [((2, 30), "dimensions"), ((1, 2, 30), "channels"), ((1, 1, 3), "smaller"),
                                         ((1, 1, 30, 2), "dimensions")])
def test_bad_signal_shapes_are_refused(shape, match):
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3))
    with pytest.raises(ShapeError, match=match):
        model.encode(torch.zeros(shape))


def test_nan_signal_is_refused():
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3))
    y = torch.zeros(1, 1, 20)
    y[0, 0, 3] = float("nan")
    with pytest.raises(ShapeError, match="NaN"):
        model(y)


def test_model_from_user_dictionary(tmp_path, rng):
    filters = rng.standard_normal((4, 1, 9)).astype(np.float32)
    np.save(tmp_path / "d.npy", filters)
    config = ModelConfig(kind="1d", num_filters=4, kernel_size=9, num_layers=10, L=20.0, threshold_mode="fixed",
                         lam_init=3.0, sigma=0.5)
    model = CRsAE.from_dictionary(tmp_path / "d.npy", config)
    unit = filters / np.linalg.norm(filters.reshape(4, -1), axis=1)[:, None, None]
    np.testing.assert_allclose(model.H.detach().numpy(), unit, atol=1e-6)
    assert float(model.L) == 20.0
    np.testing.assert_allclose(model.thresholds().detach().numpy(), 3.0 * 0.25 / 20.0, rtol=1e-6)
    with pytest.raises(ShapeError, match="dictionary has shape"):
        CRsAE(config.replace(num_filters=3), filters)


def test_bias_mode_thresholds_and_renormalize():
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, threshold_mode="bias", L=4.0), bias=[0.1, 0.2])
    assert model.thresholds().tolist() == pytest.approx([0.1, 0.2])
    with torch.no_grad():
        model.H.mul_(3.0)
        model.bias.sub_(1.0)
    model.renormalize()
    model.clamp_thresholds()
    assert torch.allclose(model.H.flatten(1).norm(dim=1), torch.ones(2))
    assert model.thresholds().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("tied", [True, False])
def test_project_gradients_keeps_only_the_tangent_part(tied):
    model = CRsAE(ModelConfig(kind="1d", num_filters=3, kernel_size=5, num_layers=4, tied=tied), seed=2)
    y = torch.randn(2, 1, 40, generator=torch.Generator().manual_seed(0))
    model(y)[0].pow(2).sum().backward()
    banks = [model.H] if tied else [model.H, model.We, model.Wd]
    before = [W.grad.clone() for W in banks]
    model.project_gradients()
    for W, g0 in zip(banks, before):
        w, g, g0 = W.detach().flatten(1), W.grad.flatten(1), g0.flatten(1)
        assert torch.allclose((g * w).sum(dim=1), torch.zeros(3), atol=1e-5)        # no radial part left
        unit = w / w.norm(dim=1, keepdim=True)
        expected = g0 - (g0 * unit).sum(dim=1, keepdim=True) * unit                # tangent part unchanged
        assert torch.allclose(g, expected, atol=1e-5)
        assert (g0 * w).sum(dim=1).abs().max() > 1e-3                             # there was a radial part


@pytest.mark.parametrize("per_item", [False, True])
def test_stride_trick_in_blocks_equals_all_copies_at_once(per_item, monkeypatch, rng):
    """Large images encode their s^2 B shifted copies a block at a time (autoencoder.CODE_BLOCK_BYTES): the same
    reconstruction and codes as all copies in one batch, the previous formulation, with per-item thresholds too."""
    import crsae.model.autoencoder as autoencoder
    config = ModelConfig(kind="2d", num_filters=3, kernel_size=4, stride=2, num_layers=6, lam_init=0.3)
    model = CRsAE(config, seed=2)
    y = torch.from_numpy(rng.standard_normal((2, 1, 13, 10)).astype(np.float32))          # 8 copies
    b = model.thresholds_at(torch.tensor([0.05, 0.3])) if per_item else None
    with torch.no_grad():
        whole_y_hat, whole_x = model._shift_and_average(y, b=b)
        per_copy = whole_x[0].numel() * whole_x.element_size()
        monkeypatch.setattr(autoencoder, "CODE_BLOCK_BYTES", 3 * per_copy)              # blocks of 3, 3 and 2
        blocks = []
        encode = model._encode
        monkeypatch.setattr(model, "_encode", lambda y, *a, **k: blocks.append(y.shape[0]) or encode(y, *a, **k))
        y_hat, x = model._shift_and_average(y, b=b)
    assert blocks == [3, 3, 2]
    assert x.shape == whole_x.shape == (8, 3, 8, 6) and y_hat.shape == y.shape
    torch.testing.assert_close(x, whole_x, rtol=0, atol=1e-6)
    torch.testing.assert_close(y_hat, whole_y_hat, rtol=0, atol=1e-6)
    assert not torch.equal(whole_x[:4], whole_x[4:])                       # the two images' copies differ


@pytest.mark.parametrize("tied", [True, False])
def test_dictionary_norm_bounds_the_exact_norm_from_above(tied):
    """What export's StepConstantWarning compares with L: never below ||H||_2^2 (nor We's, untied) on signals of
    any size, at most 0.1% above it; on these filters the power iteration it replaced reads over 1% low."""
    from crsae.model.autoencoder import default_L_geometry
    from crsae.model.fista import estimate_L
    H = np.random.default_rng(0).standard_normal((8, 1, 7, 7)).astype(np.float32)
    model = CRsAE(ModelConfig(kind="2d", num_filters=8, kernel_size=7, stride=5, num_layers=2, L=10.0,
                              tied=tied), H)
    if not tied:
        with torch.no_grad():
            model.We.mul_(1.5)                                          # the analysis bank is the larger
    W = model.H if tied else model.We
    exact = spectral_norm2(W.detach().double().numpy(), 5, n=1020)
    assert exact <= model.dictionary_norm() <= 1.0015 * exact
    assert estimate_L(W, default_L_geometry(model.config), stride=5, margin=1.0) < 0.99 * exact
