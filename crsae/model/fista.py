"""The E-step of CRsAE: sparse coding by T unrolled FISTA steps (Tolooshams, Dey & Ba, arXiv:1904.08827).

Symbols, as in docs/math.md:

- ``y``  signal, (B, channels, N) in 1-D or (B, channels, Hh, Ww) in 2-D
- ``H``  dictionary, (C, channels, K) or (C, channels, K, K); ``We`` the analysis filters (= H when tied)
- ``x``, ``z``  codes, (B, C, N - K + 1) or (B, C, (Hh - K) // s + 1, (Ww - K) // s + 1)
- ``t``  FISTA momentum scalar; ``L`` >= ||H||_2^2 the step constant; ``b`` (C,) per-filter thresholds
- ``T``  number of unrolled steps

Analysis ``H^T y`` is a (strided) correlation, synthesis ``H x`` the matching transposed convolution.
"""

from __future__ import annotations

import math

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
    stays the standard op, so the ONNX graph keeps its ConvTranspose.
    """
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.conv_transpose2d(x, W, stride=stride)
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
    We_L = We / L                                                          # 1/L folded into the analysis filters
    per_item = b.dim() == 2                                                # (B, C): not a conv bias
    bias = None if two_sided or per_item else -b                           # one-sided: u - b straight from the conv
    size = y.shape[2:]
    momentum = momentum_schedule(num_layers)
    x_prev = z = None                                                      # x_0 = z_1 = 0
    for k in range(num_layers):
        if k == 0:
            u = analysis(y, We_L, stride, bias)                            # z_1 = 0: u = (1/L) We^T y
        else:
            u = z + analysis(y - synthesis(z, H, size, stride), We_L, stride, bias)
        if two_sided:
            x = soft_threshold(u, b)                                       # x_k, (B, C, *code)
        else:
            x = F.relu(u - _per_code(b, u) if per_item else u)
        if k + 1 < num_layers:
            z = x if k == 0 else x + momentum[k] * (x - x_prev)            # z_{k+1}; momentum[0] = 0
        x_prev = x
    return x


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
