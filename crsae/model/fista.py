"""The E-step of CRsAE: sparse coding by T unrolled FISTA steps (Tolooshams, Dey & Ba, arXiv:1904.08827).

Symbols, as in docs/math.md:

- ``y``  signal, (B, channels, N) in 1-D or (B, channels, Hh, Ww) in 2-D
- ``H``  dictionary, (C, channels, K) or (C, channels, K, K); ``We`` the analysis filters (= H when tied)
- ``x``, ``z``  codes, (B, C, N - K + 1) or (B, C, (Hh - K) // s + 1, (Ww - K) // s + 1)
- ``t``  FISTA momentum scalar; ``L`` >= ||H||_2^2 the step constant; ``b`` (C,) per-filter thresholds
- ``T``  number of unrolled steps

Analysis ``H^T y`` is a (strided) correlation, synthesis ``H x`` the matching transposed convolution.

``unrolled_fista`` is the paper's encoder (the default export); ``accelerated_fista`` is an option beyond the paper,
a longer step s/L kept monotone by a per-example objective test (docs/math.md, "Accelerated encoder").
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def analysis(y: torch.Tensor, W: torch.Tensor, stride: int = 1, bias: torch.Tensor | None = None) -> torch.Tensor:
    """H^T y (+ bias): (B, channels, *size) -> (B, C, *code_size), "valid" correlation with stride; bias (C,)."""
    conv = F.conv1d if W.dim() == 3 else F.conv2d
    return conv(y, W, bias, stride=stride)


def synthesis(x: torch.Tensor, W: torch.Tensor, size, stride: int = 1) -> torch.Tensor:
    """H x: (B, C, *code_size) -> (B, channels, *size), "full" synthesis.

    With stride s the transposed convolution covers ``(code - 1) s + K`` samples; the up to ``s - 1`` trailing
    samples that no code reaches are zero, which keeps ``synthesis`` the exact adjoint of ``analysis``.
    """
    if W.dim() == 3:
        # as a unit-height 2-D transposed convolution: the same values, and the exported graph then runs
        # onnxruntime 1.30's fast 2-D kernel (its 1-D ConvTranspose is ~15x slower; onnxruntime-node and -web are
        # at 1.30), at no cost under 1.32 or in torch, which lifts 1-D convolutions to 2-D internally anyway
        return F.conv_transpose2d(x.unsqueeze(2), W.unsqueeze(2)).squeeze(2)   # (B, channels, N)
    out = _conv_transpose2d(x, W, stride)                                  # (B, channels, <=Hh, <=Ww)
    if stride == 1:
        return out
    return F.pad(out, (0, size[1] - out.shape[-1], 0, size[0] - out.shape[-2]))  # (B, channels, Hh, Ww)


def _conv_transpose2d(x: torch.Tensor, W: torch.Tensor, stride: int) -> torch.Tensor:
    """``F.conv_transpose2d(x, W, stride=stride)``: (B, C, h, w) -> (B, channels, (h - 1) s + K, (w - 1) s + K).

    In eager CPU runs it calls torch's own kernel (im2col and one GEMM), which ``F.conv_transpose2d`` passes over
    for oneDNN's: from C = 64 channels to one, K = 7, that one is 5-8x slower (stride 1 and 5; 180 ms against
    35 ms for the 25 shifted copies of a 481 x 321 image), the same sums in another order. Traced for export it
    stays the standard op, so the ONNX graph keeps its ConvTranspose. Unit-height filters (1-D, ``unrolled_fista``)
    keep oneDNN's kernel: there it is the faster one (2.5x for 32 channels, 19 filters of 30 taps).
    """
    if x.device.type != "cpu" or torch.compiler.is_compiling() or x.shape[0] == 0 or W.shape[-2] == 1:
        return F.conv_transpose2d(x, W, stride=stride)                     # torch's kernel refuses B = 0
    return torch.ops.aten.slow_conv_transpose2d(x, W, W.shape[-2:], None, (stride, stride))


def soft_threshold(u: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Two-sided ReLU S_b(u) = relu(u - b) - relu(-u - b), computed as u - clip(u, -b, b); b (C,) or, per batch
    item, (B, C) broadcasts over (B, C, ...). Three passes over u (Max, Min, Sub in ONNX) instead of six."""
    b = _per_code(b, u)
    return u - torch.minimum(torch.maximum(u, -b), b)


def _per_code(b: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Thresholds b (C,) or (B, C) shaped to broadcast over codes u (B, C, *code)."""
    rows = b.shape[:1] if b.dim() == 2 else (1,)
    return b.reshape(*rows, -1, *([1] * (u.dim() - 2)))


def momentum_schedule(num_layers: int) -> list[float]:
    """FISTA's momentum factors (t_k - 1) / t_{k+1} for k = 1..T, with t_1 = 1.

    They depend on T only, so the exported graph holds them as constants.
    """
    factors, t = [], 1.0
    for _ in range(num_layers):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        factors.append((t - 1.0) / t_next)
        t = t_next
    return factors


def unrolled_fista(y: torch.Tensor, H: torch.Tensor, We: torch.Tensor, b: torch.Tensor, L: float | torch.Tensor,
                   num_layers: int, *, stride: int = 1, two_sided: bool = True) -> torch.Tensor:
    """T FISTA steps on ``argmin_x 1/2 ||y - H x||^2 + sum_c lam_c sigma^2 ||x_c||_1`` (b_c = lam_c sigma^2 / L).

    ::

        x_0 = 0, z_1 = 0, t_1 = 1
        x_k     = S_b(z_k + (1/L) We^T (y - H z_k))
        t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2
        z_{k+1} = x_k + ((t_k - 1) / t_{k+1}) (x_k - x_{k-1})

    computed as ``u = z + (1/L) We^T (y - H z)`` with 1/L folded into the analysis filters: the residual
    ``y - H z`` lives on the signal (C times smaller than the codes), so one step costs two convolutions and
    seven passes over the codes (two-sided: Add, Max, Min, Sub; momentum: Sub, Mul, Add) or five (one-sided:
    ``-b`` is the analysis convolution's bias, so ``x = relu(u)``). With ``We = H`` this is the tied CRsAE encoder.
    A 1-D signal runs as a unit-height 2-D one throughout (codes (B, C, 1, N - K + 1) inside, squeezed once at the
    end): the same sums, and onnxruntime then runs every layer on its NCHWc 2-D convolution kernels, 1.04-1.11x
    faster at one thread than 1-D codes between the layers in one call of 100 signals, more in cache-sized calls
    (bench/speed_variants.py, ``1d-codes-3d``; bench/README.md "Speed work").

    Parameters
    ----------
    y : Tensor of shape (B, channels, N) or (B, channels, Hh, Ww)
    H, We : Tensor of shape (C, channels, K) or (C, channels, K, K)
    b : Tensor of shape (C,), non-negative thresholds; or (B, C), one row per batch item (the noise level given at
        inference, ``CRsAE.thresholds_at``)
    L : step constant, L >= ||H||_2^2
    num_layers : T >= 1

    Returns
    -------
    x_T : Tensor of shape (B, C, N - K + 1) or (B, C, (Hh - K) // s + 1, (Ww - K) // s + 1)
    """
    if H.dim() == 3:                                                       # 1-D: unit-height 2-D throughout
        return unrolled_fista(y.unsqueeze(2), H.unsqueeze(2), We.unsqueeze(2), b, L, num_layers,
                              two_sided=two_sided).squeeze(2)
    We_L = We / L                                                          # 1/L folded into the analysis filters
    per_item = b.dim() == 2                                                # (B, C): not a conv bias
    bias = None if two_sided or per_item else -b                           # one-sided: u - b straight from the conv
    size = y.shape[2:]

    def gradient(z):                                                       # (1/L) We^T (y - H z) (- b), z = 0: None
        return analysis(y if z is None else y - synthesis(z, H, size, stride), We_L, stride, bias)

    return _unrolled(gradient, b, num_layers, two_sided)


def _unrolled(gradient, b: torch.Tensor, num_layers: int, two_sided: bool) -> torch.Tensor:
    """FISTA's loop around ``gradient(z)`` = (1/L) We^T (y - H z), minus b when one-sided with b (C,) (the
    analysis convolution's bias), with ``gradient(None)`` for z_1 = 0 (``unrolled_fista``, ``factored_fista``)."""
    per_item = b.dim() == 2
    momentum = momentum_schedule(num_layers)
    x_prev = z = None                                                      # x_0 = z_1 = 0
    for k in range(num_layers):
        u = gradient(None) if k == 0 else z + gradient(z)                  # u = z + (1/L) We^T (y - H z)
        if two_sided:
            x = soft_threshold(u, b)                                       # x_k, (B, C, *code)
        else:
            x = F.relu(u - _per_code(b, u) if per_item else u)
        if k + 1 < num_layers:
            z = x if k == 0 else x + momentum[k] * (x - x_prev)            # z_{k+1}; momentum[0] = 0
        x_prev = x
    return x


# --- factored filters (1-D): H_c = sum_j U_cj V_cj^T, spatial x temporal, rank r ------------------------------------
def factor_filters(H: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-``rank`` approximation of every 1-D filter H_c (channels x K), by its SVD (Eckart-Young):
    H_c ~ sum_{j<r} U[c, j] (x) V[c, j], U (C, r, channels) unit spatial vectors, V (C, r, K) temporal ones times the
    singular values; float64. ``filters_from_factors`` rebuilds (C, channels, K)."""
    u, s, vh = torch.linalg.svd(H.detach().double(), full_matrices=False)  # (C, ch, m), (C, m), (C, m, K)
    return u[:, :, :rank].transpose(1, 2).contiguous(), (s[:, :rank, None] * vh[:, :rank]).contiguous()


def filters_from_factors(U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """H (C, channels, K) = sum_j U[:, j, :, None] V[:, j, None, :] from U (C, r, channels), V (C, r, K)."""
    return torch.einsum("cjs,cjk->csk", U, V)


def factored_costs(C: int, channels: int, K: int, rank: int) -> dict[str, int]:
    """Multiply-adds per sample and FISTA step: ``full`` (two multichannel convolutions), ``factored`` (project on
    the C r spatial vectors and back, 2 C r channels, plus the C r temporal correlations both ways, 2 C r K),
    ``gram`` (the projection of the residual as U^T y - (U^T U) q: (C r)^2 instead of 2 C r channels) and
    ``blocks`` (``gram`` or ``factored``, the cheaper, with each temporal correlation as the two P x P
    block-Toeplitz products of ``factored_fista``, P = max(K - 1, 1): 2 P taps per row instead of K, about 2x)."""
    Cr, P = C * rank, max(K - 1, 1)
    gram, factored = Cr * Cr + 2 * Cr * K, 2 * Cr * (channels + K)
    return {"full": 2 * C * channels * K, "factored": factored, "gram": gram,
            "blocks": min(gram, factored) + 2 * Cr * (2 * P - K)}


def _toeplitz_blocks(V: torch.Tensor, P: int, direction: str) -> torch.Tensor:
    """The temporal filters V (C, r, K) as the weights of a grouped 2-D convolution over P-sample blocks (width 2,
    blocks b and b + 1; ``factored_fista``), for P >= K - 1:

    - ``analysis`` (C P, r P, 1, 2): out[(c, p), b] = sum_j,p',t V[c, j, t P + p' - p] in[(c, j, p'), b + t], the
      correlation sum_k V[c, j, k] e_cj[n + k] at n = b P + p;
    - ``synthesis`` (C r P, P, 1, 2), for blocks padded by one on each side: out[(c, j, p), b] =
      sum_p',t V[c, j, p - p' + (1 - t) P] in[(c, p'), b + t - 1], the convolution sum_k V[c, j, k] z_c[m - k].

    Taps outside 0..K-1 are 0 (V zero-padded to 3 P samples, then gathered)."""
    C, r, K = V.shape
    padded = F.pad(V, (P, 2 * P - K))                                      # padded[..., P + k] = V[..., k]
    p, s = torch.arange(P), torch.arange(2 * P)                            # s = t P + p', the tap in two blocks
    if direction == "analysis":
        taps = padded[:, :, s[None, :] - p[:, None] + P].reshape(C, r, P, 2, P)      # [c, j, p, t, p']
        return taps.permute(0, 2, 1, 4, 3).reshape(C * P, r * P, 1, 2)
    taps = padded[:, :, p[:, None] + 2 * P - s[None, :]].reshape(C, r, P, 2, P)      # [c, j, p, t, p']
    return taps.permute(0, 1, 2, 4, 3).reshape(C * r * P, P, 1, 2)


def factored_fista(y: torch.Tensor, U: torch.Tensor, V: torch.Tensor, b: torch.Tensor, L: float | torch.Tensor,
                   num_layers: int, *, two_sided: bool = True) -> torch.Tensor:
    """``unrolled_fista`` (tied, 1-D) with the filters given by their factors, H = ``filters_from_factors(U, V)``:
    the same iterates, computed as a projection of the signal on the C r spatial vectors (a 1 x 1 convolution over
    channels) and C r temporal correlations (C groups of r), and the transpose for H z::

        H^T r = sum_j V_cj (*) (U_cj^T r)        H z = sum_c,j U_cj (V_cj * z_c)

    The residual's projection U^T (y - H z) is ``U^T y - G q`` with q the temporal synthesis and G = U U^T
    (C r x C r; U^T y computed once) when (C r)^2 < 2 C r channels (``factored_costs``), else projected directly.

    The temporal correlations run as matrix products: every signal and code row is cut into blocks of P = K - 1
    samples (at least 1), held as (B, rows, P, blocks), sample b P + p at [..., p, b]; a correlation or
    convolution of length K then reaches at most one block further, so each is a grouped convolution of width 2
    over the blocks with P x P block-Toeplitz weights (``_toeplitz_blocks``), one GEMM of r P x 2 P per unit and
    block row instead of an r x K one per sample. That is about 2x the multiply-adds (2 P taps for K), and under
    onnxruntime at 1 thread 2.5-2.7x faster for C = 9, r = 3, K = 30. The analysis is linear, so
    (1/L) V^T U^T (y - H z) is formed as (1/L) V^T U^T y (once) minus (1/L) V^T (G q): the step's subtraction is on
    the C code rows, not the C r projected ones. The signal is zero-padded to whole blocks (one more block than
    the codes); codes past N - K + 1 are held at 0 (``start``), so that they add nothing to H z: the iterates are
    the paper's, in another order of sums. All convolutions are 2-D (onnxruntime's fast kernels; ``synthesis``).

    y (B, channels, N), U (C, r, channels), V (C, r, K), b (C,) or (B, C); returns x_T (B, C, N - K + 1).
    """
    C, r, channels = U.shape
    K, N = V.shape[-1], y.shape[-1]
    M, P = N - K + 1, max(K - 1, 1)
    blocks = (M + P - 1) // P                                              # code blocks; the signal has one more
    per_item = b.dim() == 2
    bias = None if two_sided or per_item else (-b).repeat_interleave(P)   # (C P,): -b_c on each of c's rows
    analysis_w = _toeplitz_blocks(V / L, P, "analysis")                    # (C P, r P, 1, 2), 1/L folded in
    synthesis_w = _toeplitz_blocks(V, P, "synthesis")                      # (C r P, P, 1, 2)
    project = U.reshape(C * r, channels, 1, 1)                             # U^T as a 1 x 1 convolution
    gram = C * r < 2 * channels
    y_blocks = F.pad(y, (0, (blocks + 1) * P - N)).reshape(-1, channels, blocks + 1, P).transpose(2, 3)
    Uy = F.conv2d(y_blocks, project)                                       # U^T y, (B, C r, P, blocks + 1)
    back = (U.reshape(C * r, channels) @ U.reshape(C * r, channels).T if gram    # G = U U^T, or U as a 1 x 1 conv
            else U.reshape(C * r, channels).T).reshape(-1, C * r, 1, 1)
    inside = torch.arange(blocks * P).reshape(blocks, P).T < M             # (P, blocks): n = b P + p < M

    def correlate(e, bias=None):                                           # (1/L) V^T e: (B, C r, P, blocks + 1)
        g = F.conv2d(e.reshape(-1, C * r * P, 1, blocks + 1), analysis_w, bias, groups=C)
        return g.reshape(-1, C, P, blocks)                                 # -> (B, C, P, blocks)

    # (1/L) H^T y (- b) once; codes past M held at 0: one-sided by a start far below any threshold (relu gives 0),
    # two-sided by a mask on every step
    start = correlate(Uy, bias)
    start = (torch.where(inside, start, -torch.finfo(y.dtype).max / 4) if not two_sided
             else start * inside.to(y.dtype))

    def gradient(z):                                                       # (1/L) H^T (y - H z) (- b)
        if z is None:
            return start
        q = F.conv2d(z.reshape(-1, C * P, 1, blocks), synthesis_w, padding=(0, 1), groups=C)
        q = q.reshape(-1, C * r, P, blocks + 1)                            # V * z, (B, C r, P, blocks + 1)
        mixed = F.conv2d(q, back) if gram else F.conv2d(F.conv2d(q, back), project)   # G q = U^T H z
        g = start - correlate(mixed)                                       # (1/L) V^T U^T (y - H z) (- b)
        return g if not two_sided else g * inside.to(y.dtype)

    x = _unrolled(gradient, b, num_layers, two_sided)                      # (B, C, P, blocks)
    return x.transpose(2, 3).reshape(-1, C, blocks * P)[..., :M]          # (B, C, N - K + 1)


def factored_synthesis(x: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """H x with H = ``filters_from_factors(U, V)``: codes (B, C, M) -> (B, channels, M + K - 1)."""
    C, r, channels = U.shape
    K = V.shape[-1]
    q = F.conv2d(F.pad(x.unsqueeze(2), (K - 1, K - 1)), V.flip(-1).reshape(C * r, 1, 1, K), groups=C)
    return F.conv2d(q, U.reshape(C * r, channels).T.reshape(channels, C * r, 1, 1)).squeeze(2)


ACCELERATED_STEP = 1.9          # default s of the accelerated encoder (bench/README.md: layers to a gap by s)
SAFEGUARD_SLACK = 2.0 ** -10    # the test's relative slack: far above float32 rounding of Phi (see the docstring)


def check_step(step: float) -> float:
    """``step`` as a float if it is a valid s of the accelerated encoder, 0 < s < 2, else ConfigError."""
    from crsae.errors import ConfigError
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) \
            or not 0.0 < step < 2.0:
        raise ConfigError(f"step must be a number in (0, 2), got {step!r}; the safeguard's restart step descends "
                          "only for s/L < 2/||H||^2 (docs/math.md, 'Accelerated encoder'), e.g. --step 1.9")
    return float(step)


def accelerated_steps(y: torch.Tensor, H: torch.Tensor, b: torch.Tensor, L: float | torch.Tensor, num_layers: int,
                      *, step: float = ACCELERATED_STEP, stride: int = 1, two_sided: bool = True):
    """The iterates x_1 .. x_T of ``accelerated_fista`` (same arguments), one per layer, for a layer sweep.

    A layer carries the codes over their step factor, ``v_k = w_k / a_k``, with ``S_{a b}(z + a g) = a S_b(z / a + g)``
    (a > 0): the threshold is the paper's b (one-sided with b (C,), -b is the analysis convolution's bias), a_k
    scales the synthesis on the signal (``H w_k = a_k H v_k``) and the l1 term is a scalar's product
    (``||w_c||_1 = a_k ||v_c||_1``). The momentum step ``z_{k+1} = p + e_k (1 + m_k) (w_k - p)`` from the previous
    candidate ``p = w_{k-1}`` (e_k = 1 accepted, 0 rejected) is kept over a_{k+1} as
    ``z_{k+1} / a_{k+1} = alpha v_{k-1} + c v_k``, c = e_k (1 + m_k), alpha = -m_k accepted (a_{k+1} = a_k; where
    a_{k-1} != a_k, m_k = 0) and a_{k-1} rejected (a_{k+1} = 1): two Mul and an Add on the codes, no select. It is
    the stated momentum step because a rejected step is never followed by another (docs/math.md, "Accelerated
    encoder"): after an accepted w_{k-1}, p = x_{k-1}; after a rejected one, m_k = 0 and z_{k+1} = w_k. Only x_T is
    selected. The per-example scalars (objective, test, t, a) are (B, 1, ...) tensors that broadcast over the codes
    and the signal, with no reshape, and the objective is kept doubled, ``2 Phi``. P_k = min(P_{k-1}, Phi(w_k))
    needs no select: a rejected Phi(w_k) exceeds P_{k-1} >= 0. A 1-D signal runs as a unit-height 2-D one, as in
    ``unrolled_fista``.
    """
    if H.dim() == 3:                                                       # 1-D: unit-height 2-D throughout
        for x in accelerated_steps(y.unsqueeze(2), H.unsqueeze(2), b, L, num_layers, step=step, two_sided=two_sided):
            yield x.squeeze(2)
        return
    H_L = H / L                                                            # 1/L folded into the analysis filters
    size = y.shape[2:]
    code_axes = tuple(range(2, y.dim()))
    per_item = b.dim() == 2                                                # (B, C): not a conv bias
    bias = None if two_sided or per_item else -b                           # one-sided: u - b straight from the conv
    rho2 = _per_code(2.0 * L * b, y)                                       # 2 lam_c sigma^2, (B or 1, C, 1, ...)
    best = (y * y).sum(dim=(1,) + code_axes, keepdim=True)                 # 2 P_0 = 2 Phi(0) = ||y||^2, (B, 1, ...)
    t = torch.ones_like(best)                                              # t_1 = 1, per example
    a = torch.full_like(best, step)                                        # a_1 = s: the step is a / L
    z = v_p = a_p = None                                                   # z_1 = 0; v_0 = w_0 = 0
    r_p = r_z = y                                                          # y - H w_0, y - H z_1
    for k in range(num_layers):
        g = analysis(r_z, H_L, stride, bias)                               # (1/L) H^T (y - H z_k) (- b), (B, C, *code)
        u = g if k == 0 else z + g                                         # z_k / a_k + g
        if two_sided:
            v = soft_threshold(u, b)                                       # v_k = w_k / a_k
        else:
            v = F.relu(u - _per_code(b, u) if per_item else u)
        l1 = ((v.abs() if two_sided else v).sum(dim=code_axes, keepdim=True) * rho2).sum(dim=1, keepdim=True)
        q = y - a * synthesis(v, H, size, stride)                          # y - H w_k, (B, channels, *size)
        phi = (q * q).sum(dim=(1,) + code_axes, keepdim=True) + a * l1     # 2 Phi(w_k), (B, 1, ...)
        accept = phi <= (1.0 + SAFEGUARD_SLACK) * best                     # the safeguard, per example
        # x_k: w_k, or x_{k-1} = w_{k-1} (rejected; w_{k-1} was accepted). In the export only x_T's Where remains.
        x = a * torch.where(accept, v, 0.0) if k == 0 else torch.where(accept, a, a_p) * torch.where(accept, v, v_p)
        best = torch.minimum(best, phi)                                    # P_k (rejected: phi > P_{k-1})
        t_next = 0.5 + torch.sqrt(0.25 + t * t)                            # (1 + sqrt(1 + 4 t^2)) / 2 if accepted
        a_next = torch.where(accept, a, 1.0)                               # rejected: the step 1/L from now on
        if k + 1 < num_layers:
            m = (t - 1.0) / t_next                                         # m_k if accepted
            c = torch.where(accept, 1.0 + m, 0.0)                          # e_k (1 + m_k)
            if k == 0:
                z, r_z = c * v, y + c * (q - y)                            # w_0 = 0; m_1 = 0 (t_1 = 1)
            else:                                                          # z_{k+1} / a_{k+1}; y - H z_{k+1}
                z, r_z = torch.where(accept, -m, a_p) * v_p + c * v, r_p + c * (q - r_p)
        v_p, a_p, r_p = v, a, q
        t, a = torch.where(accept, t_next, 1.0), a_next                    # rejected: restart
        yield x


def accelerated_fista(y: torch.Tensor, H: torch.Tensor, b: torch.Tensor, L: float | torch.Tensor, num_layers: int,
                      *, step: float = ACCELERATED_STEP, stride: int = 1, two_sided: bool = True) -> torch.Tensor:
    """T steps of FISTA with the longer step s/L, kept monotone per example (beyond the paper; docs/math.md,
    "Accelerated encoder"), on the tied model's lasso ``Phi(x) = 1/2 ||y - H x||^2 + sum_c lam_c sigma^2 ||x_c||_1``
    (``lam_c sigma^2 = L b_c``)::

        x_0 = 0, z_1 = 0, t_1 = 1, a_1 = s, P_0 = Phi(0) = ||y||^2 / 2
        w_k = S_{a_k b}(z_k + (a_k/L) H^T (y - H z_k))                     step a_k / L
        if Phi(w_k) <= (1 + eps) P_{k-1}:   x_k = w_k,      t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,
                                            a_{k+1} = a_k,  P_k = min(P_{k-1}, Phi(w_k))
        else (reject, restart, fall back):  x_k = x_{k-1},  t_{k+1} = 1,  a_{k+1} = 1,  P_k = P_{k-1}
        z_{k+1} = x_k + ((t_k - 1) / t_{k+1}) (x_k - x_{k-1})

    P_k is the least objective accepted so far and eps = 2^-10 (``SAFEGUARD_SLACK``) a slack far above float32
    rounding of Phi, so that runtimes summing in another order take the same decisions as torch. So
    Phi(x_k) <= (1 + eps) min_{j<k} Phi(x_j) <= (1 + eps) Phi(0): the codes cannot diverge; an example whose long
    step once raised the objective continues with the paper's step 1/L; and for L > ||H||_2^2 / 2 (the step 1/L
    below 2/||H||_2^2) the step after a restart (from x_k itself, no momentum) always passes the test, so a
    rejection is never followed by another. The test, t and a are per example (a Where on a (B, 1, ...) scalar:
    no data-dependent control flow, so ONNX expresses it). The layer computes w_k / a_k, thresholded at the paper's
    b (one-sided: the analysis convolution's bias, as in the paper's layer), and forms the momentum step from
    w_{k-1} and w_k with no select on the codes, which is the step above because no rejection follows a rejection
    (``accelerated_steps``; below L = ||H||_2^2 / 2 the paper's step itself diverges), and ``y - H z_{k+1}``
    likewise on the signal; so a layer costs two convolutions (the synthesis is of w_k, which the objective needs)
    and, over the paper's layer, the l1 term's reduction over the codes (two-sided after an Abs), passes over the
    signal and ~20 nodes on per-example scalars. With s = 1 and every step accepted it is the paper's FISTA.

    Parameters
    ----------
    y : Tensor of shape (B, channels, N) or (B, channels, Hh, Ww)
    H : Tensor of shape (C, channels, K) or (C, channels, K, K), the tied dictionary (analysis = synthesis)
    b : Tensor of shape (C,) or (B, C), the paper's thresholds lam_c sigma^2 / L (the step a/L uses a b)
    L : step constant, L >= ||H||_2^2
    num_layers : T >= 1
    step : s, 0 < s < 2 (``check_step``)

    Returns
    -------
    x_T : Tensor of shape (B, C, N - K + 1) or (B, C, (Hh - K) // s + 1, (Ww - K) // s + 1)
    """
    for x in accelerated_steps(y, H, b, L, num_layers, step=step, stride=stride, two_sided=two_sided):
        pass
    return x


def norm_bound(H: torch.Tensor, *, stride: int = 1, tol: float = 1e-3) -> float:
    """An upper bound on ||H||_2^2 on signals of any size, at most ``tol`` (relative) above it (docs/math.md,
    "The step constant L").

    The strided synthesis is block-diagonalised by the code-frequency transform: ||H||_2^2 = sup_w lam_max(G(w)),
    G(w) = B(w)^* B(w), where B(w)[(r, i), c] = P_{c,i,r}(w) = sum_j H[c, i, j s + r] e^{-i j.w} is the transform of
    the r-th polyphase component (r, j in {0..s-1}^d, {0..J-1}^d, J = ceil(K / s)). lam_max is taken on the
    m^d-point grid of w, as the top eigenvalue of B^* B (C x C) or of B B^* (s^d channels square), the smaller;
    half the grid suffices, as G(-w) = conj(G(w)) for real H.
    The grid cannot miss much: for the unit v attaining the sup at w*, q(t) = v^* G(w* + t delta) v is a
    nonnegative sum of exponentials of frequency at most sigma = d (J - 1) pi / m when delta reaches the nearest
    grid point, q'(0) = 0 at the maximum and |q''| <= sigma^2 q(0) (Bernstein), so the grid's largest value is at
    least (1 - sigma^2 / 2) times the sup; m is chosen so that sigma^2 / 2 <= tol / (1 + tol) and that value is
    divided by (1 - sigma^2 / 2).

    Parameters
    ----------
    H : Tensor of shape (C, channels, K) or (C, channels, K, K)
    stride : code stride s
    tol : relative excess allowed over ||H||_2^2, > 0

    Returns
    -------
    bound : float, ||H||_2^2 <= bound <= (1 + tol) ||H||_2^2 (and 1e-9 more, for float64 rounding)
    """
    W = H.detach().to(torch.float64).cpu().numpy()
    C, ch, K, d, s = W.shape[0], W.shape[1], W.shape[-1], W.ndim - 2, stride
    J = -(-K // s)                                                      # taps per polyphase component
    padded = np.zeros((C, ch) + (J * s,) * d)
    padded[(slice(None), slice(None)) + (slice(0, K),) * d] = W
    if d == 1:                                    # [c, i, j, r] -> [c, (i, r), j]
        poly = padded.reshape(C, ch, J, s).transpose(0, 1, 3, 2).reshape(C, ch * s, J)
    else:                                         # [c, i, j1, r1, j2, r2] -> [c, (i, r1, r2), j1, j2]
        poly = padded.reshape(C, ch, J, s, J, s).transpose(0, 1, 3, 5, 2, 4).reshape(C, ch * s * s, J, J)
    slack = tol / (1 + tol)                                             # sigma^2 / 2 <= slack
    m = max(1, math.ceil(d * (J - 1) * math.pi / math.sqrt(2 * slack)))
    w = 2 * math.pi * np.arange(m) / m
    E = np.exp(-1j * np.outer(np.arange(J), w))                         # (J, m): e^{-i j w}
    half = m // 2 + 1                                                   # w_1 in [0, pi]: the rest by symmetry
    best = 0.0
    rows = max(1, 2 ** 22 // (C * poly.shape[1] * m)) if d == 2 else half  # frequency rows per block (memory)
    inner = np.einsum("cakl,lq->cakq", poly, E) if d == 2 else None     # (C, R, J, m): transform along w2
    for start in range(0, half, rows):
        stop = min(start + rows, half)
        if d == 1:
            P = np.einsum("caj,jf->fac", poly, E[:, :half])             # (m/2 + 1, R, C)
        else:                                                           # (rows m, R, C)
            P = np.einsum("cakq,kp->pqac", inner, E[:, start:stop]).reshape(-1, poly.shape[1], C)
        Ph = P.conj().transpose(0, 2, 1)
        gram = Ph @ P if C <= P.shape[1] else P @ Ph                    # (f, C, C) or (f, R, R), Hermitian
        best = max(best, float(np.linalg.eigvalsh(gram)[:, -1].max()))
    sigma2_half = (d * (J - 1) * math.pi / m) ** 2 / 2
    return best / (1 - sigma2_half) * (1 + 1e-9)                       # float64 rounding (1-tap: exact)


def estimate_L(H: torch.Tensor, size, *, stride: int = 1, margin: float = 1.05, max_iter: int = 500,
               tol: float = 1e-7, seed: int = 0) -> float:
    """Largest eigenvalue of H^T H on the given geometry, by power iteration, times ``margin``.

    Parameters
    ----------
    H : Tensor of shape (C, channels, K) or (C, channels, K, K)
    size : signal length (1-D) or (height, width) (2-D) of the geometry the encoder will run on
    stride : 2-D code stride
    margin : safety factor >= 1 (the Rayleigh quotient approaches ||H||_2^2 from below)

    Returns
    -------
    L : float, ``margin * ||H||_2^2``
    """
    size = tuple(size) if isinstance(size, (tuple, list)) else (int(size),)
    Hd = H.detach().to(torch.float64, copy=True)
    generator = torch.Generator().manual_seed(seed)
    code_size = [(n - Hd.shape[-1]) // stride + 1 for n in size]
    u = torch.randn(1, Hd.shape[0], *code_size, generator=generator, dtype=torch.float64)
    u /= u.norm()
    eig = 0.0
    for _ in range(max_iter):
        v = analysis(synthesis(u, Hd, size, stride), Hd, stride)           # H^T H u
        new_eig = float((u * v).sum())                                     # Rayleigh quotient, ||u|| = 1
        u = v / v.norm()
        if abs(new_eig - eig) <= tol * abs(new_eig):
            eig = new_eig
            break
        eig = new_eig
    return margin * eig
