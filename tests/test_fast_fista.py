"""The training path (crsae.model.fast_fista): its hand-written backward gives the gradients of the model's math.

Compared in float64 with plain autograd through a straightforward encoder written here from docs/math.md, and,
for the whole model (stride trick, decoder, thresholds -> lambda or bias), with autograd through the inference
path ``unrolled_fista``.
"""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from crsae.config import ModelConfig, TrainConfig
from crsae.model.autoencoder import CRsAE
from crsae.model.fast_fista import synthesis_train, unrolled_fista_train
from crsae.model.fista import estimate_L
from crsae.training.mstep import Trainer

RTOL = 1e-10          # float64: max |fast - reference| / max |reference| per gradient


def reference_encoder(y, H, We, b, L, T, stride, two_sided):
    """docs/math.md's FISTA loop, verbatim: x_k = S_b(z_k + (1/L) We^T (y - H z_k)), FISTA momentum."""
    conv, convT = (F.conv1d, F.conv_transpose1d) if H.dim() == 3 else (F.conv2d, F.conv_transpose2d)
    bb = b.reshape(1, -1, *([1] * (H.dim() - 2)))
    size = y.shape[2:]

    def synth(z):
        out = convT(z, H, stride=stride)
        return F.pad(out, sum(((0, n - m) for n, m in zip(reversed(size), reversed(out.shape[2:]))), ()))

    x_prev = torch.zeros_like(conv(y, We, stride=stride))
    z, t = x_prev, 1.0
    for _ in range(T):
        u = z + conv(y - synth(z), We, stride=stride) / L
        x = torch.relu(u - bb) - (torch.relu(-u - bb) if two_sided else 0)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x + (t - 1) / t_next * (x - x_prev)
        x_prev, t = x, t_next
    return x_prev


# (W shape (C, channels, K[, K]), signal size, stride)
GEOMETRIES = {
    "1d": ((3, 1, 5), (41,), 1),
    "1d-multichannel": ((2, 3, 4), (29,), 1),
    "1d-filter-longer-than-block": ((2, 1, 37), (90,), 1),  # 1-D blocks of 16 codes: four sample blocks overlap
    "2d-stride1": ((3, 1, 3, 3), (10, 9), 1),
    "2d-stride2": ((3, 1, 4, 4), (13, 14), 2),
    "2d-K7-stride3": ((2, 2, 7, 7), (23, 20), 3),          # three polyphase blocks per axis
    "2d-K4-stride4": ((2, 1, 4, 4), (16, 13), 4),          # one block per axis, trailing samples unreached
    "2d-paper-K7-stride5": ((4, 1, 7, 7), (31, 34), 5),
    "1d-one-block": ((2, 1, 4), (12,), 1),                  # 9 codes, one block: its patches must not alias r_k
    "2d-stride2-one-code-row": ((2, 1, 4, 4), (5, 9), 2),   # a single code row
}


def _max_rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("two_sided", [True, False], ids=["two-sided", "one-sided"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_encoder_gradients_match_autograd_through_reference(geometry, tied, two_sided):
    shape, size, stride = GEOMETRIES[geometry]
    gen = torch.Generator().manual_seed(1)
    H = torch.randn(shape, generator=gen, dtype=torch.float64)
    H /= H.flatten(1).norm(dim=1).reshape(-1, *([1] * (H.dim() - 1)))
    L = estimate_L(H, size, stride=stride)
    y = torch.randn((2, shape[1]) + size, generator=gen, dtype=torch.float64)
    We = H if tied else H + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
    first = (F.conv1d if H.dim() == 3 else F.conv2d)(y, We, stride=stride) / L           # u_1
    b = first.abs().median() * (0.3 + 0.4 * torch.rand(shape[0], generator=gen, dtype=torch.float64))
    T = 15
    weights = None
    grads = []
    for encoder in (reference_encoder, unrolled_fista_train):
        leaves = [t.clone().requires_grad_() for t in ((y, H, b) if tied else (y, H, We, b))]
        yy, HH, bb = leaves[0], leaves[1], leaves[-1]
        WW = HH if tied else leaves[2]
        if encoder is reference_encoder:
            x = encoder(yy, HH, WW, bb, L, T, stride, two_sided)
        else:
            x = encoder(yy, HH, WW, bb, L, T, stride=stride, two_sided=two_sided)
        if weights is None:
            weights = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            assert 0.05 < float((x != 0).double().mean()) < 0.95      # the threshold is active, not all-or-none
        loss = (weights * x).sum() + 0.5 * (x ** 2).sum()
        grads.append((x.detach(), torch.autograd.grad(loss, leaves)))
    (x_ref, g_ref), (x_fast, g_fast) = grads
    assert _max_rel(x_fast, x_ref) < RTOL
    for name, a, r in zip(("y", "H", "We", "b") if not tied else ("y", "H", "b"), g_fast, g_ref):
        assert _max_rel(a, r) < RTOL, name


@pytest.mark.parametrize("geometry", ["1d", "2d-stride2", "2d-paper-K7-stride5"])
def test_synthesis_gradients_match_autograd(geometry):
    shape, size, stride = GEOMETRIES[geometry]
    gen = torch.Generator().manual_seed(2)
    W = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    code = [(n - shape[-1]) // stride + 1 for n in size]
    x = torch.randn([3, shape[0]] + code, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.randn((3, shape[1]) + size, generator=gen, dtype=torch.float64)
    from crsae.model.fista import synthesis
    results = []
    for synth in (synthesis, synthesis_train):
        out = synth(x, W, size, stride)
        results.append((out.detach(), torch.autograd.grad(((out - target) ** 2).sum(), (x, W))))
    (o_ref, g_ref), (o_fast, g_fast) = results
    assert _max_rel(o_fast, o_ref) < RTOL
    for a, r in zip(g_fast, g_ref):
        assert _max_rel(a, r) < RTOL


MODELS = {
    "1d-em-two-sided": (ModelConfig(kind="1d", num_filters=3, kernel_size=6, num_layers=20, lam_init=0.6), (45,)),
    "1d-bias-one-sided-untied": (ModelConfig(kind="1d", channels=2, num_filters=3, kernel_size=5, num_layers=20,
                                             lam_init=0.6, two_sided=False, tied=False, threshold_mode="bias"),
                                 (40,)),
    "2d-stride1-em-untied": (ModelConfig(kind="2d", num_filters=3, kernel_size=3, num_layers=12, lam_init=0.5,
                                         tied=False), (11, 12)),
    "2d-stride5-em-tied": (ModelConfig(kind="2d", num_filters=4, kernel_size=7, stride=5, num_layers=12, L=10.0,
                                       sigma=0.3, lam_init=20.0), (20, 22)),
    "2d-stride5-bias-untied": (ModelConfig(kind="2d", num_filters=4, kernel_size=7, stride=5, num_layers=12, L=10.0,
                                           sigma=0.3, lam_init=20.0, threshold_mode="bias", tied=False), (19, 18)),
    "2d-stride3-em-one-sided-rgb": (ModelConfig(kind="2d", channels=3, num_filters=3, kernel_size=5, stride=3,
                                                num_layers=10, lam_init=0.5, two_sided=False), (14, 15)),
    "2d-stride5-affine-tied": (ModelConfig(kind="2d", num_filters=4, kernel_size=7, stride=5, num_layers=12, L=10.0,
                                           sigma=0.3, lam_init=20.0, threshold_mode="affine"), (20, 22)),
    "1d-affine-one-sided": (ModelConfig(kind="1d", num_filters=3, kernel_size=6, num_layers=20, lam_init=0.6,
                                        two_sided=False, threshold_mode="affine"), (45,)),
}
PARAMETERS = {"em": {"H", "lam"}, "bias": {"H", "bias"}, "affine": {"H", "bias", "slope"}}


def _model_pair(case):
    config, size = MODELS[case]
    model = CRsAE(config, seed=3)
    with torch.no_grad():
        if not config.tied:
            model.We.add_(0.1 * torch.randn_like(model.We))
            model.Wd.add_(0.1 * torch.randn_like(model.Wd))
        if config.threshold_mode == "affine":          # an intercept away from its start at 0, as sparse as em
            model.slope.mul_(0.7)
            model.bias.copy_(0.2 * model.slope * config.sigma)
    return model, size


@pytest.mark.parametrize("case", MODELS)
@pytest.mark.parametrize("scale", [None, 0.8], ids=["own-sigma", "batch-sigma"])
def test_model_gradients_match_plain_autograd_float64(case, scale):
    """The whole training loss (stride trick, decoder, b = lam sigma^2 / L, the bias, or beta + gamma sigma):
    every parameter's gradient and the codes agree with autograd through ``unrolled_fista`` to RTOL in float64;
    also with the thresholds of a batch's own sigma (blind training: ``CRsAE.thresholds_at``)."""
    model, size = _model_pair(case)
    model = model.double()
    if scale is not None and model.config.threshold_mode == "bias":
        pytest.skip("a free bias has no sigma")
    sigma = None if scale is None else scale * model.config.sigma
    gen = torch.Generator().manual_seed(4)
    y = torch.randn((2, model.config.channels) + size, generator=gen, dtype=torch.float64)
    target = y + 0.1 * torch.randn(y.shape, generator=gen, dtype=torch.float64)
    results = []
    for fast in (False, True):
        model.zero_grad(set_to_none=True)
        b = None if sigma is None else model.thresholds_at(torch.tensor([sigma], dtype=torch.float64)).reshape(-1)
        y_hat, x = model._forward(y, fast=fast, b=b)
        loss = 0.5 * ((target - y_hat) ** 2).mean()
        loss.backward()
        results.append((y_hat.detach(), x.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                                     if p.grad is not None}))
    (yh_ref, x_ref, g_ref), (yh_fast, x_fast, g_fast) = results
    assert 0.05 < float((x_ref != 0).double().mean()) < 0.95
    assert _max_rel(yh_fast, yh_ref) < RTOL and _max_rel(x_fast, x_ref) < RTOL
    expected = PARAMETERS[model.config.threshold_mode] | (set() if model.config.tied else {"We", "Wd"})
    assert set(g_fast) == set(g_ref) == expected
    for name in expected:
        assert _max_rel(g_fast[name], g_ref[name]) < RTOL, name


@pytest.mark.parametrize("case", ["1d-em-two-sided", "2d-stride5-em-tied", "2d-stride5-bias-untied"])
def test_fast_training_step_matches_plain_step_float32(case):
    """Trainer's default (fast) step moves the parameters as the plain autograd step does, up to float32
    rounding, and the plain path stays available (``Trainer(fast=False)``)."""
    model, size = _model_pair(case)
    y = torch.from_numpy(np.random.default_rng(5).standard_normal((2, model.config.channels) + size)
                         .astype(np.float32))
    trainers = [Trainer(copy.deepcopy(model), TrainConfig(lr=1e-3), fast=fast) for fast in (False, True)]
    assert trainers[1].fast and Trainer(copy.deepcopy(model), TrainConfig()).fast
    losses = [t.step(y, y) for t in trainers]
    assert losses[0][0] == pytest.approx(losses[1][0], rel=1e-5)
    for (name, p), q in zip(trainers[0].model.named_parameters(), trainers[1].model.parameters()):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name
