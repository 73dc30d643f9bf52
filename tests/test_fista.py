import numpy as np
import pytest
import torch

from crsae.config import ModelConfig
import torch.nn.functional as F

from crsae.model.fista import estimate_L, momentum_schedule, norm_bound, soft_threshold, synthesis, unrolled_fista
from crsae.model.autoencoder import CRsAE
from reference import dense_operator, fista, spectral_norm2, synthesis as reference_synthesis

CASES = {
    "1d": (ModelConfig(kind="1d", num_filters=3, kernel_size=5, num_layers=25, lam_init=0.5), (37,)),
    "1d-multichannel-one-sided": (ModelConfig(kind="1d", channels=3, num_filters=2, kernel_size=4, num_layers=15,
                                              lam_init=0.5, two_sided=False), (23,)),
    "2d": (ModelConfig(kind="2d", num_filters=3, kernel_size=3, num_layers=12, lam_init=0.5), (9, 11)),
    "2d-strided": (ModelConfig(kind="2d", num_filters=3, kernel_size=4, stride=2, num_layers=15, lam_init=0.5),
                   (13, 14)),
    "2d-strided-rgb-untied": (ModelConfig(kind="2d", channels=3, num_filters=2, kernel_size=5, stride=3,
                                          num_layers=10, lam_init=0.5, tied=False), (14, 12)),
}


@pytest.mark.parametrize("case", CASES)
def test_encoder_matches_float64_fista(case, rng):
    config, size = CASES[case]
    model = CRsAE(config, seed=3)
    if not config.tied:
        with torch.no_grad():
            model.We.add_(0.1 * torch.randn_like(model.We))
    y = rng.standard_normal((2, config.channels) + size).astype(np.float32)
    codes = model.encode(torch.from_numpy(y)).detach().numpy()
    H = model.H.detach().double().numpy()
    We = model.analysis_filters.detach().double().numpy()
    b = model.thresholds().detach().double().numpy()
    for i in range(2):
        ref = fista(y[i].astype(np.float64), H, b, float(model.L), config.num_layers, config.stride,
                    config.two_sided, We=We)
        assert codes[i].shape == ref.shape
        np.testing.assert_allclose(codes[i], ref, rtol=0, atol=2e-5 * max(1.0, np.abs(ref).max()))
        assert np.count_nonzero(ref) > 0


@pytest.mark.slow
def test_fista_objective_decreases_with_T(rng):
    H = torch.from_numpy(rng.standard_normal((3, 1, 6)).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal((1, 1, 80)).astype(np.float32))
    lam, sigma = 2.0, 0.5
    objective = []
    for T in (1, 3, 10, 30, 100, 300):
        model = CRsAE(ModelConfig(kind="1d", num_filters=3, kernel_size=6, num_layers=T, lam_init=lam, sigma=sigma), H)
        with torch.no_grad():
            y_hat, x = model(y)
        objective.append(float(0.5 * ((y - y_hat) ** 2).sum() + lam * sigma ** 2 * x.abs().sum()))
    assert all(b <= a + 1e-4 for a, b in zip(objective, objective[1:])), objective
    assert objective[-1] < 0.9 * objective[0]


@pytest.mark.parametrize("shape,size,stride", [((3, 1, 5), (30,), 1), ((2, 2, 4), (17,), 1),
                                               ((3, 1, 3, 3), (8, 9), 1), ((2, 1, 4, 4), (12, 11), 2)])
def test_power_iteration_L_bounds_true_norm(shape, size, stride, rng):
    H = torch.from_numpy(rng.standard_normal(shape))
    true = np.linalg.norm(dense_operator(H.numpy(), size, stride), 2) ** 2
    L = estimate_L(H, size, stride=stride, margin=1.02)
    assert true <= L <= 1.03 * true


def test_soft_threshold_values():
    u = torch.tensor([[[-3.0, -1.0, 0.0, 0.5, 2.0]]])
    b = torch.tensor([1.0])
    assert soft_threshold(u, b).tolist() == [[[-2.0, 0.0, 0.0, 0.0, 1.0]]]
    identity = torch.ones(1, 1, 1)                          # one layer with H = [1], L = 1: x_1 = threshold(u)
    assert unrolled_fista(u, identity, identity, b, 1.0, 1, two_sided=False).tolist() == [[[0.0, 0.0, 0.0, 0.0, 1.0]]]
    assert unrolled_fista(u, identity, identity, b, 1.0, 1).tolist() == [[[-2.0, 0.0, 0.0, 0.0, 1.0]]]


@pytest.mark.parametrize("two_sided", [True, False])
def test_encoder_gradients_reach_filters_and_thresholds(two_sided, rng):
    """The bias mode learns b through the encoder: gradients w.r.t. y, H and b match finite differences."""
    y = torch.from_numpy(rng.standard_normal((2, 1, 15)))
    H = torch.from_numpy(rng.standard_normal((2, 1, 4)))
    b = torch.tensor([0.3, 0.2], dtype=torch.float64)
    L = estimate_L(H, (15,)) * 1.1
    for arg in range(3):
        def f(v, arg=arg):
            args = [y, H, b]
            args[arg] = v
            return unrolled_fista(args[0], args[1], args[1], args[2], L, 6, two_sided=two_sided)
        assert torch.autograd.gradcheck(f, ([y, H, b][arg].clone().requires_grad_(),), eps=1e-7, atol=1e-5)


def test_momentum_schedule_starts_at_zero_and_grows():
    m = momentum_schedule(50)
    assert m[0] == 0.0
    assert m[1] == pytest.approx((1.618033988749895 - 1) / ((1 + np.sqrt(1 + 4 * 1.618033988749895 ** 2)) / 2))
    assert all(b > a for a, b in zip(m[1:], m[2:])) and m[-1] < 1


# --- the accelerated encoder (beyond the paper; docs/math.md, "Accelerated encoder") ---------------------------
def _lasso(y, H, x, rho):
    """Phi(x) = 1/2 ||y - H x||^2 + rho ||x||_1 per example, float64: (B,)."""
    from crsae.model.fista import synthesis
    y, H, x = y.double(), H.double(), x.double()
    r = y - synthesis(x, H, y.shape[2:])
    return 0.5 * (r * r).flatten(1).sum(1) + rho * x.abs().flatten(1).sum(1)


def _problem(kind, seed=0, correlated=False):
    """(y, H, L) for a small 1-D or 2-D lasso; ``correlated``: filters that differ by a little noise (an
    ill-conditioned dictionary: ||H||_2^2 far above 1)."""
    g = torch.Generator().manual_seed(seed)
    shape = (6, 1, 15) if kind == "1d" else (8, 1, 5, 5)
    H = torch.randn(shape, generator=g)
    if correlated:
        H = H[:1] + 0.05 * H
    H = H / H.flatten(1).norm(dim=1).reshape(-1, *([1] * (H.dim() - 1)))
    y = torch.randn((4, 1, 300) if kind == "1d" else (3, 1, 32, 32), generator=g)
    return y, H, estimate_L(H, y.shape[2:], margin=1.01)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("two_sided", [True, False])
def test_accelerated_encoder_lowers_the_lasso_objective_more_than_the_paper_at_equal_T(kind, two_sided):
    from crsae.model.fista import accelerated_fista
    y, H, L = _problem(kind)
    lam = 0.3
    b = torch.full((H.shape[0],), lam / L)
    for T in (5, 10, 20, 40):
        paper = _lasso(y, H, unrolled_fista(y, H, H, b, L, T, two_sided=two_sided), lam)
        fast = _lasso(y, H, accelerated_fista(y, H, b, L, T, step=1.9, two_sided=two_sided), lam)
        assert (fast <= paper * (1 + 1e-6)).all(), (T, fast.tolist(), paper.tolist())
    # measured, T = 10: the accelerated codes are closer to the optimum (F* from 2000 paper steps, float64)
    best = _lasso(y, H, unrolled_fista(y.double(), H.double(), H.double(), b.double(), L, 2000,
                                       two_sided=two_sided), lam)
    gap_paper = (_lasso(y, H, unrolled_fista(y, H, H, b, L, 10, two_sided=two_sided), lam) / best - 1).max()
    gap_fast = (_lasso(y, H, accelerated_fista(y, H, b, L, 10, step=1.9, two_sided=two_sided), lam) / best - 1).max()
    assert gap_fast < 0.75 * gap_paper


def test_accelerated_encoder_with_step_one_and_no_rejection_is_the_papers_fista():
    from crsae.model.fista import accelerated_fista
    y, H, L = _problem("1d")
    b = torch.full((H.shape[0],), 0.3 / L)
    paper, same = unrolled_fista(y, H, H, b, L, 20), accelerated_fista(y, H, b, L, 20, step=1.0)
    assert (paper - same).abs().max() <= 1e-5 * paper.abs().max()


def test_safeguard_keeps_a_diverging_long_step_bounded():
    """Step 1.99 / L on an ill-conditioned dictionary with dense codes: FISTA's momentum with that step diverges
    (docs/math.md: the root below -1); the safeguard keeps every iterate's objective within (1 + 2^-10) of the
    least so far, falls back to the paper's step, and ends near the paper's objective (measured: 1.6% above it at
    T = 60, the layers spent before the fallback)."""
    from crsae.model.fista import SAFEGUARD_SLACK, accelerated_steps
    y, H, L = _problem("1d", seed=1, correlated=True)
    lam = 0.01                                                       # dense codes: no sparsity to the rescue
    b = torch.full((H.shape[0],), lam / L)
    plain = unrolled_fista(y, H, H, b * 1.99, L / 1.99, 60)           # the long step without the safeguard
    plain_phi = _lasso(y, H, plain, lam)
    start = _lasso(y, H, torch.zeros_like(plain), lam)
    assert (plain_phi > 1e3 * start).all()                           # it diverged
    phis = torch.stack([_lasso(y, H, x, lam) for x in accelerated_steps(y, H, b, L, 60, step=1.99)])   # (T, B)
    least = torch.cummin(torch.cat([start[None], phis]), dim=0).values[:-1]
    assert (phis <= least * (1 + SAFEGUARD_SLACK) * (1 + 1e-6)).all()
    paper = _lasso(y, H, unrolled_fista(y, H, H, b, L, 60), lam)
    assert (phis[-1] <= 1.05 * paper).all()


def _stated_accelerated(y, H, b, L, T, step, two_sided):
    """docs/math.md's accelerated encoder written as stated (x_k selected every layer, the momentum from x_k and
    x_{k-1}), float64: the iterates x_1 .. x_T and the layers whose step was rejected, per example (T, B)."""
    from crsae.model.fista import SAFEGUARD_SLACK, analysis, synthesis
    y, H, b = y.double(), H.double(), b.double()
    rho = L * b.reshape(1, -1)
    view = (-1,) + (1,) * (y.dim() - 1)
    phi = lambda x: (0.5 * (y - synthesis(x, H, y.shape[2:])) ** 2).flatten(1).sum(1) \
        + (rho * (x.abs() if two_sided else x).flatten(2).sum(2)).sum(1)
    x = torch.zeros_like(analysis(y, H))
    x_prev, z = x, x
    best, t, a = phi(x), torch.ones(y.shape[0], dtype=y.dtype), torch.full((y.shape[0],), float(step), dtype=y.dtype)
    xs, rejected = [], []
    for _ in range(T):
        u = z + a.reshape(view) / L * analysis(y - synthesis(z, H, y.shape[2:]), H)
        ab = (a.reshape(-1, 1) * b.reshape(1, -1)).reshape(*a.shape, -1, *([1] * (y.dim() - 2)))
        w = torch.sign(u) * torch.relu(u.abs() - ab) if two_sided else torch.relu(u - ab)
        f = phi(w)
        accept = f <= (1 + SAFEGUARD_SLACK) * best
        x_prev, x = x, torch.where(accept.reshape(view), w, x)
        best = torch.where(accept, torch.minimum(best, f), best)
        t_next = torch.where(accept, (1 + torch.sqrt(1 + 4 * t * t)) / 2, torch.ones_like(t))
        a = torch.where(accept, a, torch.ones_like(a))
        z = x + ((t - 1) / t_next).reshape(view) * (x - x_prev)
        t = t_next
        xs.append(x)
        rejected.append(~accept)
    return xs, torch.stack(rejected)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("two_sided", [True, False])
def test_accelerated_steps_are_the_stated_algorithm_where_steps_are_rejected(kind, two_sided):
    """The encoder forms the momentum from w_{k-1} and w_k instead of selecting x_k every layer (docs/math.md,
    "Computation"); on an ill-conditioned dictionary where the long step is rejected, its iterates are those of the
    algorithm as stated, and no rejection follows a rejection (what that form relies on)."""
    from crsae.model.fista import accelerated_steps
    y, H, L = _problem(kind, seed=5, correlated=True)               # seed 5: rejections in all four cases
    b = torch.full((H.shape[0],), 0.01 / L)
    stated, rejected = _stated_accelerated(y, H, b, L, 40, 1.99, two_sided)
    assert rejected.any()                                            # the case the form must get right
    assert not (rejected[1:] & rejected[:-1]).any()                  # never two rejections in a row
    for k, x in enumerate(accelerated_steps(y, H, b, L, 40, step=1.99, two_sided=two_sided)):
        scale = float(stated[k].abs().max())
        assert float((x.double() - stated[k]).abs().max()) <= 1e-4 * scale, k


@pytest.mark.parametrize("step", [0.0, -1.0, 2.0, 2.5, float("nan"), float("inf"), True, "1.9"])
def test_check_step_refuses_values_outside_0_2(step):
    from crsae.errors import ConfigError
    from crsae.model.fista import check_step
    with pytest.raises(ConfigError, match=r"step must be a number in \(0, 2\)"):
        check_step(step)


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_2d_synthesis_equals_conv_transpose2d_and_the_reference(stride, rng):
    """Eager CPU synthesis runs torch's own transposed-convolution kernel, not the oneDNN one that
    F.conv_transpose2d picks: the same values up to float32 rounding and the same gradients; in float64 the dense
    reference's values. With stride > 1 the s - 1 trailing rows and columns no code reaches stay zero."""
    C, ch, K, code = 6, 2, 5, (7, 9)
    extra = stride - 1                                                     # samples past the last code's reach
    size = tuple((n - 1) * stride + K + extra for n in code)
    x = torch.from_numpy(rng.standard_normal((3, C) + code).astype(np.float32))
    H = torch.from_numpy(rng.standard_normal((C, ch, K, K)).astype(np.float32))

    def onednn(x, H):                                                      # the previous formulation
        return F.pad(F.conv_transpose2d(x, H, stride=stride), (0, extra, 0, extra))

    out, previous = synthesis(x, H, size, stride), onednn(x, H)
    assert out.shape == previous.shape == (3, ch) + size
    np.testing.assert_allclose(out.numpy(), previous.numpy(), rtol=0, atol=1e-6 * float(previous.abs().max()))
    exact = synthesis(x.double(), H.double(), size, stride).numpy()
    for i in range(3):
        np.testing.assert_allclose(exact[i], reference_synthesis(x[i].double().numpy(), H.double().numpy(), size,
                                                                 stride), rtol=1e-12, atol=1e-12)

    def grads(f):                                                          # d/dx, d/dH of ||f(x, H)||^2
        xg, Hg = x.double().requires_grad_(), H.double().requires_grad_()
        return torch.autograd.grad(f(xg, Hg).square().sum(), (xg, Hg))

    for g, r in zip(grads(lambda x, H: synthesis(x, H, size, stride)), grads(onednn)):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-10)


SMALL_FILTERS = {                                              # name: (H, L geometry, stride)
    "1-tap": (lambda g: g.standard_normal((3, 1, 1)), (256,), 1),
    "2-tap": (lambda g: g.standard_normal((2, 1, 2)), (256,), 1),
    "near-identical": (lambda g: g.standard_normal((1, 1, 3)) + 1e-3 * g.standard_normal((4, 1, 3)), (256,), 1),
    "low-pass": (lambda g: 1 + 1e-2 * g.standard_normal((2, 1, 2)), (256,), 1),
    "high-pass": (lambda g: np.array([[[1.0, -1.0]]]) + 1e-2 * g.standard_normal((1, 1, 2)), (256,), 1),
    "multichannel": (lambda g: g.standard_normal((2, 3, 2)), (256,), 1),
    "2d 2x2 low-pass": (lambda g: 1 + 1e-2 * g.standard_normal((2, 1, 2, 2)), (64, 64), 1),
    "2d 3x3": (lambda g: g.standard_normal((3, 1, 3, 3)), (64, 64), 1),
    "2d 5x5 stride 2": (lambda g: g.standard_normal((3, 1, 5, 5)), (64, 64), 2),
    "2d 7x7 stride 5": (lambda g: g.standard_normal((8, 1, 7, 7)), (64, 64), 5),
}


@pytest.mark.parametrize("name", SMALL_FILTERS)
def test_estimate_L_with_its_default_margin_bounds_the_norm_on_any_signal_size(name):
    """Small and ill-conditioned filters (clustered top eigenvalues: slow power iteration): the power iteration
    (at most 500 steps) stays below the exact ||H||^2 on signals of any size, the polyphase spectral bound, but
    within 2% of it, so the default 1.05 margin gives an L that FISTA converges with on any input size."""
    make, geometry, stride = SMALL_FILTERS[name]
    for seed in range(3):
        H = torch.from_numpy(make(np.random.default_rng(seed)).astype(np.float32))
        exact = spectral_norm2(H.double().numpy(), stride)
        power = estimate_L(H, geometry, stride=stride, margin=1.0)
        assert 0.98 * exact <= power <= exact * (1 + 1e-9), (seed, power / exact)
        assert estimate_L(H, geometry, stride=stride) >= exact


@pytest.mark.parametrize("name", SMALL_FILTERS)
def test_norm_bound_is_an_upper_bound_within_its_tolerance(name):
    """norm_bound never falls below the exact ||H||^2 on signals of any size, where the power iteration is up to
    2% low, and exceeds it by at most its 0.1% (the reference on a fine grid, itself within 0.05% below)."""
    make, geometry, stride = SMALL_FILTERS[name]
    for seed in range(3):
        H = torch.from_numpy(make(np.random.default_rng(seed)).astype(np.float32))
        exact = spectral_norm2(H.double().numpy(), stride, n=8192 if H.ndim == 3 else 1024)
        bound = norm_bound(H, stride=stride)
        assert exact <= bound <= 1.0015 * exact, (seed, bound / exact)


def test_norm_bound_on_long_and_untied_filters(rng):
    """Long 1-D filters (a 45-tap spike template: the grid grows with the taps), several channels, and a bound
    that a tighter tolerance tightens; the finite-size operator never exceeds it."""
    for shape, stride in [((10, 1, 45), 1), ((3, 4, 12), 1), ((5, 2, 4, 4), 3)]:
        H = torch.from_numpy(rng.standard_normal(shape))
        exact = spectral_norm2(H.numpy(), stride, n=8192 if H.ndim == 3 else 1023)
        loose, tight = norm_bound(H, stride=stride, tol=1e-2), norm_bound(H, stride=stride, tol=1e-4)
        assert exact <= tight <= loose <= 1.0105 * exact and tight <= 1.0006 * exact, (shape, loose, tight, exact)
    H = rng.standard_normal((2, 1, 3, 3))
    dense = np.linalg.norm(dense_operator(H, (20, 20), 2), 2) ** 2
    assert dense <= norm_bound(torch.from_numpy(H), stride=2)


def test_spectral_norm2_bounds_and_nears_the_dense_operator_norm(rng):
    """The reference itself: its bound is never below the dense norm on a finite size and approached by it."""
    for shape, size, stride in [((2, 1, 3), (120,), 1), ((2, 1, 3, 3), (26, 26), 2)]:
        H = rng.standard_normal(shape)
        dense = np.linalg.norm(dense_operator(H, size, stride), 2) ** 2
        assert 0.97 * spectral_norm2(H, stride) <= dense <= spectral_norm2(H, stride) * (1 + 1e-9)


# --- factored filters (the sorter's rank-r encoder) ------------------------------------------------------------
@pytest.mark.parametrize("C, channels, K, rank, two_sided", [
    (5, 8, 12, 2, False),            # C r < 2 channels: the residual projected through G = U U^T
    (6, 4, 10, 4, False),            # C r >= 2 channels: projected directly
    (3, 1, 30, 1, True),             # one channel: every filter is rank 1
    (4, 16, 9, 3, True),
    (3, 2, 2, 1, False),             # K = 2: blocks of one sample
    (2, 3, 1, 1, True),              # K = 1
])
def test_factored_fista_equals_the_full_encoder_on_the_same_filters(C, channels, K, rank, two_sided):
    """The block-Toeplitz form gives the full encoder's codes, on lengths whose codes fill their last block, leave
    it part empty, or are one sample long."""
    from crsae.model.fista import factor_filters, factored_fista, factored_synthesis, filters_from_factors
    g = torch.Generator().manual_seed(0)
    U, V = factor_filters(torch.randn(C, channels, K, generator=g, dtype=torch.float64), rank)
    H = filters_from_factors(U, V)                                         # rank-r filters, (C, channels, K)
    assert U.shape == (C, rank, channels) and V.shape == (C, rank, K)
    assert torch.linalg.matrix_rank(H[0]).item() == rank
    L = 1.05 * estimate_L(H, 256)
    P = max(K - 1, 1)
    for N in (80, K - 1 + 3 * P, K):
        codes = torch.relu(torch.randn(2, C, N - K + 1, generator=g, dtype=torch.float64) - 1)
        y = 3 * synthesis(codes, H, (N,)) + torch.randn(2, channels, N, generator=g, dtype=torch.float64)
        for b in (torch.full((C,), 0.05, dtype=torch.float64),
                  0.1 * torch.rand(2, C, generator=g, dtype=torch.float64)):
            want = unrolled_fista(y, H, H, b, L, 20, two_sided=two_sided)
            got = factored_fista(y, U, V, b, L, 20, two_sided=two_sided)
            assert got.shape == want.shape == (2, C, N - K + 1)
            assert (want != 0).float().mean() > 0.01                       # codes, not all zeros
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    N = 80
    want = torch.relu(torch.randn(2, C, N - K + 1, generator=g, dtype=torch.float64) - 1)
    torch.testing.assert_close(factored_synthesis(want, U, V), synthesis(want, H, (N,)), rtol=0, atol=1e-12)


def test_factor_filters_is_the_best_rank_r_approximation():
    from crsae.model.fista import factor_filters, filters_from_factors
    H = torch.randn(3, 6, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errors = [float((H - filters_from_factors(*factor_filters(H, r))).norm()) for r in range(1, 7)]
    assert all(a > b for a, b in zip(errors, errors[1:])) and errors[-1] < 1e-12   # full rank 6: exact
    s = torch.linalg.svdvals(H)                                             # (3, 6): Eckart-Young
    assert abs(errors[1] ** 2 - float((s[:, 2:] ** 2).sum())) < 1e-9
