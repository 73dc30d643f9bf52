"""CRsAE: the constrained recurrent sparse autoencoder of Tolooshams, Dey & Ba (IEEE TNNLS 2021, arXiv:1904.08827).

Encoder: T unrolled FISTA steps (``crsae.model.fista``), a residual network whose T layers share H.
Decoder: ``y_hat = H x_T``, tied to the encoder's dictionary (``Wd x_T`` for the untied variant).
Thresholds ``b_c`` are ``lam_c sigma^2 / L`` (modes ``em``, ``fixed``), a free bias (mode ``bias``) or
``beta_c + gamma_c sigma`` (mode ``affine``, beyond the paper: learned thresholds affine in the noise level).
2-D models with stride s > 1 reconstruct with the shift-and-average trick: the image is reflect-padded at all s^2
offsets, each copy is encoded and decoded, cropped back and the s^2 reconstructions are averaged.

Shapes: ``y`` (B, channels, N) or (B, channels, Hh, Ww); ``H`` (C, channels, K) or (C, channels, K, K);
codes (B, C, N - K + 1) or (B, C, (Hh - K) // s + 1, (Ww - K) // s + 1).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crsae.config import ModelConfig
from crsae.readers import load_array
from crsae.errors import ConfigError, ShapeError
from crsae.model.fast_fista import synthesis_train, unrolled_fista_train
from crsae.model.fista import accelerated_fista, estimate_L, norm_bound, synthesis, unrolled_fista


CODE_BLOCK_BYTES = 8 << 20     # the stride trick encodes its shifted copies in blocks of at most this many code bytes


def default_L_geometry(config: ModelConfig):
    """Signal size on which L is estimated when none is given: long enough for ||H||_2^2 to settle."""
    if config.kind == "1d":
        return max(256, 16 * config.kernel_size)
    side = max(64, 8 * config.kernel_size)
    return (side, side)


def stride_pads(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of the stride trick: before = s; after rounds (size + s + after - K) up to a
    multiple of s, plus s."""
    return stride, (-(size + stride - kernel_size)) % stride + stride


def _filter_tensor(name: str, value, shape: tuple[int, ...]) -> torch.Tensor:
    """``value`` as a float32 tensor of ``shape`` with finite entries, else ShapeError."""
    W = torch.as_tensor(np.array(value, dtype=np.float32))
    if tuple(W.shape) != shape:
        raise ShapeError(f"{name} has shape {tuple(W.shape)} but the config needs {shape} "
                         "(num_filters, channels, kernel_size...)")
    if not torch.isfinite(W).all():
        raise ShapeError(f"{name} holds NaN or Inf; pass finite filters")
    zero = [int(c) for c in torch.nonzero(W.flatten(1).abs().amax(dim=1) == 0).flatten()]
    if zero:
        raise ShapeError(f"{name} filter{'s' if len(zero) > 1 else ''} {', '.join(map(str, zero[:10]))} "
                         f"{'are' if len(zero) > 1 else 'is'} all zeros ({len(zero)} of {shape[0]}); a zero filter "
                         "codes nothing and leaves L undefined: drop it or pass a learned dictionary")
    return W


class CRsAE(nn.Module):
    """Convolutional dictionary learning autoencoder with an unrolled-FISTA encoder.

    Parameters
    ----------
    config : ModelConfig
    dictionary : array or Tensor of shape (C, channels, K) or (C, channels, K, K), optional
        Initial filters H (renormalised to unit norm unless ``normalize`` is False); random Gaussian filters
        when omitted.
    lam : float or array of shape (C,), optional
        Initial lambda_c (default ``config.lam_init``); ignored in ``bias`` mode unless ``bias`` is omitted.
    bias : float or array of shape (C,), optional
        Initial thresholds b_c for ``bias`` mode (default ``lam_init sigma^2 / L``); in ``affine`` mode the
        intercepts beta_c (default 0).
    slope : float or array of shape (C,), optional
        ``affine`` mode: initial slopes gamma_c (default ``lam_init sigma / L``, so that b at the model's sigma
        starts at the EM model's ``lam_init sigma^2 / L``).
    L_geometry : int or (int, int), optional
        Signal size for the power-iteration estimate of L when ``config.L`` is None.
    seed : int
        Seed of the random dictionary and of the power iteration.
    analysis, synthesis : array of H's shape, optional
        Untied models only: the analysis filters We and synthesis filters Wd (default: copies of H).
    normalize : bool
        Rescale H (and the given We, Wd) to unit-norm filters (default); False keeps the filters as given, so a
        dictionary imported from another tool is the same model here (``crsae.model.build.build_model``).

    After construction ``config.L`` holds the L in use (estimated if it was None).
    """

    def __init__(self, config: ModelConfig, dictionary=None, *, lam=None, bias=None, slope=None, L_geometry=None,
                 seed: int = 0, analysis=None, synthesis=None, normalize: bool = True):
        super().__init__()
        C, ch, K = config.num_filters, config.channels, config.kernel_size
        shape = (C, ch) + (K,) * config.ndim
        if config.tied and (analysis is not None or synthesis is not None):
            raise ConfigError("analysis and synthesis filters are for untied models; set tied=False to use them")
        if dictionary is None:
            H = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
            normalize = True
        else:
            H = _filter_tensor("dictionary", dictionary, shape)
        banks = [H] + [H.clone() if W is None else _filter_tensor(name, W, shape)
                       for name, W in (("analysis", analysis), ("synthesis", synthesis)) if not config.tied]
        if normalize:
            banks = [W / W.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, *([1] * (W.dim() - 1)))
                     for W in banks]
        self.H = nn.Parameter(banks[0].contiguous())
        if not config.tied:
            self.We = nn.Parameter(banks[1].contiguous())                   # analysis filters
            self.Wd = nn.Parameter(banks[2].contiguous())                   # synthesis filters
        if config.L is None:                   # ||H||_2^2 (and We's, untied) on the filters as they now are
            geometry = L_geometry if L_geometry is not None else default_L_geometry(config)
            distinct = banks[:1] if config.tied or analysis is None else banks[:2]
            config = config.replace(L=max(estimate_L(W, geometry, stride=config.stride, margin=config.L_margin,
                                                     seed=seed) for W in distinct))
        self.config = config
        self.register_buffer("L", torch.tensor(float(config.L)))
        lam = self._per_filter("lam", config.lam_init if lam is None else lam)
        if config.threshold_mode == "bias":
            b = lam * config.sigma ** 2 / config.L if bias is None else self._per_filter("bias", bias)
            self.bias = nn.Parameter(b)
        elif config.threshold_mode == "affine":
            self.bias = nn.Parameter(torch.zeros(config.num_filters) if bias is None
                                     else self._per_filter("bias", bias))          # beta_c
            self.slope = nn.Parameter(lam * config.sigma / config.L if slope is None
                                      else self._per_filter("slope", slope))       # gamma_c
        else:
            self.lam = nn.Parameter(lam, requires_grad=config.threshold_mode == "em")

    def _per_filter(self, name, value) -> torch.Tensor:
        C = self.config.num_filters
        arr = np.broadcast_to(np.asarray(value, dtype=np.float32), (C,)) if np.ndim(value) == 0 \
            else np.asarray(value, dtype=np.float32)
        if arr.shape != (C,):
            raise ShapeError(f"{name} has shape {arr.shape} but there are {C} filters; pass one value per filter")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or (name == "lam" and np.any(arr <= 0)):
            raise ConfigError(f"{name} must be finite and {'positive' if name == 'lam' else 'non-negative'}, "
                              f"got {arr.tolist()}")
        return torch.tensor(arr.copy())

    @classmethod
    def from_dictionary(cls, path_or_array, config: ModelConfig, **kwargs) -> "CRsAE":
        """Build a model from filters learned by any tool (a .npy file or an array), without training."""
        array = load_array(path_or_array) if isinstance(path_or_array, (str, Path)) else path_or_array
        return cls(config, np.asarray(array), **kwargs)

    # --- weights ------------------------------------------------------------------------------------------
    @property
    def analysis_filters(self) -> torch.Tensor:
        """We: (C, channels, K[, K]), equal to H when tied."""
        return self.H if self.config.tied else self.We

    @property
    def synthesis_filters(self) -> torch.Tensor:
        """Wd: (C, channels, K[, K]), equal to H when tied."""
        return self.H if self.config.tied else self.Wd

    def thresholds(self) -> torch.Tensor:
        """b: (C,), the per-filter thresholds the encoder applies (at the model's sigma)."""
        mode = self.config.threshold_mode
        if mode == "bias":
            return self.bias
        if mode == "affine":
            return self.bias + self.slope * self.config.sigma
        return self.lam * self.config.sigma ** 2 / self.L

    def thresholds_at(self, sigma: torch.Tensor) -> torch.Tensor:
        """b at other noise levels, one row per batch item: sigma (B,) -> (B, C); b = lam_c sigma^2 / L
        (``threshold_mode`` em or fixed: the thresholds the model would have, were it built at each sigma) or
        beta_c + gamma_c sigma (affine). A free bias (``bias`` mode) has no sigma to change, so ConfigError.
        """
        mode = self.config.threshold_mode
        if mode == "bias":
            raise ConfigError("this model's thresholds are free biases (threshold_mode bias), which no noise level "
                              "sets; use a model trained with threshold_mode em, fixed or affine")
        if mode == "affine":
            sigma = sigma.to(self.slope.dtype).reshape(-1, 1)
            return self.bias + self.slope * sigma
        sigma = sigma.to(self.lam.dtype).reshape(-1, 1)
        return self.lam * (sigma * sigma) / self.L

    @torch.no_grad()
    def dictionary_norm(self) -> float:
        """||H||_2^2 now (the larger of H's and We's when untied) on signals of any size, as an upper bound at most
        0.1% above it (``norm_bound``): FISTA needs it <= L, which training can break by moving the filters after L
        was set. (A power iteration would approach it from below, up to 1.6% low: a grown norm could pass.)"""
        banks = [self.H] if self.config.tied else [self.H, self.We]
        return max(norm_bound(W, stride=self.config.stride) for W in banks)

    @torch.no_grad()
    def renormalize(self) -> None:
        """Rescale every filter of H (and We, Wd) to unit l2 norm."""
        for W in self._filter_banks():
            W /= W.flatten(1).norm(dim=1).clamp_min(1e-12).reshape(-1, *([1] * (W.dim() - 1)))

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Remove from each filter's gradient its component along the filter, g_c <- g_c - <g_c, h_c> h_c / ||h_c||^2:
        the gradient on the unit sphere that ``renormalize`` keeps the filters on. Renormalising after the step
        discards the radial part anyway, but Adam scales each coordinate separately and would turn that part into a
        tangent step that need not descend."""
        for W in self._filter_banks():
            if W.grad is not None:
                w, g = W.flatten(1), W.grad.flatten(1)                     # (C, channels * K[*K])
                radial = (g * w).sum(dim=1, keepdim=True) / (w * w).sum(dim=1, keepdim=True).clamp_min(1e-24) * w
                W.grad -= radial.reshape(W.shape)

    def _filter_banks(self) -> tuple[torch.Tensor, ...]:
        return (self.H,) + (() if self.config.tied else (self.We, self.Wd))

    @torch.no_grad()
    def clamp_thresholds(self, minimum: float = 1e-6) -> None:
        """Keep lam_c > 0 (EM mode), b_c >= 0 (bias mode), beta_c, gamma_c >= 0 (affine) after an optimiser step."""
        if self.config.threshold_mode in ("bias", "affine"):
            self.bias.clamp_(min=0.0)
            if self.config.threshold_mode == "affine":
                self.slope.clamp_(min=0.0)
        else:
            self.lam.clamp_(min=minimum)

    # --- input checks (the public entry points) ----------------------------------------------------------
    def check_signal(self, y: torch.Tensor) -> None:
        """Raise ShapeError unless y is (B, channels, N) / (B, channels, Hh, Ww), large enough and finite."""
        cfg = self.config
        if not isinstance(y, torch.Tensor):
            raise ShapeError(f"signal must be a torch.Tensor, got {type(y).__name__}")
        if y.dim() != cfg.ndim + 2:
            axes = "(batch, channels, length)" if cfg.ndim == 1 else "(batch, channels, height, width)"
            raise ShapeError(f"signal has {y.dim()} dimensions {tuple(y.shape)}; a {cfg.kind} model takes {axes}")
        if y.shape[1] != cfg.channels:
            raise ShapeError(f"signal has {y.shape[1]} channels but the model has {cfg.channels}; "
                             "pass data with the model's channel count")
        if min(y.shape[2:]) < cfg.min_size:
            raise ShapeError(f"signal size {tuple(y.shape[2:])} is smaller than {cfg.min_size} "
                             f"(kernel_size {cfg.kernel_size}); pass longer signals or larger images")
        if not torch.isfinite(y).all():
            raise ShapeError("signal holds NaN or Inf; clean or interpolate those samples first")

    # --- the autoencoder ---------------------------------------------------------------------------------
    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Sparse codes x_T of y: (B, channels, *size) -> (B, C, *code_size). See ``crsae.model.fista.unrolled_fista``."""
        self.check_signal(y)
        return self._encode(y)

    def decode(self, x: torch.Tensor, size=None) -> torch.Tensor:
        """Reconstruction H x (Wd x if untied): (B, C, *code_size) -> (B, channels, *size).

        ``size`` (2-D with stride > 1) is the image size to synthesise; by default the smallest that fits.
        """
        cfg = self.config
        if x.dim() != cfg.ndim + 2 or x.shape[1] != cfg.num_filters:
            raise ShapeError(f"codes have shape {tuple(x.shape)}; expected (batch, {cfg.num_filters}, ...)")
        if size is None:
            size = tuple((n - 1) * cfg.stride + cfg.kernel_size for n in x.shape[2:])
        return self._decode(x, tuple(size))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Autoencoder pass.

        Returns
        -------
        y_hat : Tensor of shape (B, channels, *size), the reconstruction (shift-averaged for 2-D stride > 1)
        x : codes used to build it, (B, C, *code_size); for 2-D stride s > 1, the codes of the s^2 padded copies,
            (s^2 B, C, *padded_code_size), copy-major
        """
        self.check_signal(y)
        return self._forward(y)

    def _encode(self, y: torch.Tensor, fast: bool = False, b: torch.Tensor | None = None,
                step: float | None = None) -> torch.Tensor:
        """``b``: thresholds (B, C) per item (``thresholds_at``) or (C,) for all, instead of the model's own.
        ``step``: s of the accelerated encoder (``crsae.model.fista.accelerated_fista``, beyond the paper; tied
        models, inference only); None, the paper's encoder."""
        cfg = self.config
        b = self.thresholds() if b is None else b
        if step is not None:
            return accelerated_fista(y, self.H, b, self.L, cfg.num_layers, step=step, stride=cfg.stride,
                                     two_sided=cfg.two_sided)
        encoder = unrolled_fista_train if fast else unrolled_fista       # fast: training path, same math
        return encoder(y, self.H, self.analysis_filters, b, self.L, cfg.num_layers, stride=cfg.stride,
                       two_sided=cfg.two_sided)

    def _decode(self, x: torch.Tensor, size, fast: bool = False) -> torch.Tensor:
        return (synthesis_train if fast else synthesis)(x, self.synthesis_filters, size, self.config.stride)

    def _forward(self, y: torch.Tensor, fast: bool = False,
                 b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``fast``: the training path (``crsae.model.fast_fista``, hand-written backward), equal up to rounding.
        ``b``: thresholds (C,) or (B, C) instead of the model's own (e.g. ``thresholds_at`` a batch's noise)."""
        if self.config.kind == "2d" and self.config.stride > 1:
            return self._shift_and_average(y, fast, b)
        x = self._encode(y, fast, b)
        return self._decode(x, y.shape[2:], fast), x

    def _shift_and_average(self, y: torch.Tensor, fast: bool = False, b: torch.Tensor | None = None,
                           step: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The stride trick (docs/math.md, "2-D stride trick"): (B, ch, Hh, Ww) -> (B, ch, Hh, Ww), codes.
        ``b``: thresholds (B, C) per item (each item's row serves its s^2 copies) or (C,), as in ``_encode``;
        ``step``: the accelerated encoder, as in ``_encode`` (each copy is its own example)."""
        s, K = self.config.stride, self.config.kernel_size
        B, _, Hh, Ww = y.shape
        top, bottom = stride_pads(Hh, K, s)
        left, right = stride_pads(Ww, K, s)
        shifts = [(r, c) for r in range(s) for c in range(s)]
        padded = torch.cat([F.pad(y, (left - c, right + c, top - r, bottom + r), mode="reflect")
                            for r, c in shifts])                           # (s^2 B, ch, Hh + top + bottom, ...)
        if b is not None and b.dim() == 2:
            b = b.repeat(s * s, 1)                                         # (s^2 B, C), copy-major
        xs, y_hats = [], []
        for block in self._copy_blocks(padded):                            # the copies are independent
            xs.append(self._encode(padded[block], fast, b if b is None or b.dim() == 1 else b[block], step))
            y_hats.append(self._decode(xs[-1], padded.shape[2:], fast))
        x = xs[0] if len(xs) == 1 else torch.cat(xs)                       # (s^2 B, C, Hc, Wc)
        y_hat = y_hats[0] if len(y_hats) == 1 else torch.cat(y_hats)       # (s^2 B, ch, Hh + top + bottom, ...)
        crops = [y_hat[i * B:(i + 1) * B, :, top - r:top - r + Hh, left - c:left - c + Ww]
                 for i, (r, c) in enumerate(shifts)]                       # s^2 x (B, ch, Hh, Ww)
        return torch.stack(crops).mean(dim=0), x

    def _copy_blocks(self, padded: torch.Tensor) -> list[slice]:
        """The stride trick's s^2 B padded copies (s^2 B, ch, Hp, Wp) in blocks whose codes take at most
        CODE_BLOCK_BYTES, encoded one block at a time; one block when traced for export (symbolic sizes).

        Encoded all at once, a full-size image's codes (481 x 321 at s = 5, C = 64: 41 MB) pass glibc's largest
        mmap threshold (32 MiB): every one of the ~10 code-sized temporaries of each FISTA step is then a fresh
        mmap, page-faulted on first touch (3.2 million page faults, ~5 s of system time per image).
        """
        if torch.compiler.is_compiling():
            return [slice(None)]
        K, s = self.config.kernel_size, self.config.stride
        per_copy = self.config.num_filters * padded.element_size() * math.prod((n - K) // s + 1
                                                                               for n in padded.shape[2:])
        step = max(1, CODE_BLOCK_BYTES // per_copy)
        # an empty batch (a distributed run's empty last shard) still passes through once
        return [slice(start, start + step) for start in range(0, padded.shape[0], step)] or [slice(None)]

    # --- M-step, stage 2 ---------------------------------------------------------------------------------
    def lambda_loss(self, x: torch.Tensor, *, l1: torch.Tensor | None = None) -> torch.Tensor:
        """EM-inspired lambda loss, per example, averaged over the batch (codes are held fixed)::

            sum_c [ lam_c ||x_c||_1 + delta lam_c - (Ne + r - 1) log lam_c ],   r = delta * lam_init

        x : Tensor of shape (B, C, *code_size); Ne = prod(code_size) entries per filter.
        l1 : Tensor of shape (C,), the batch mean of ||x_c||_1 when computed elsewhere (over all processes of a
            distributed run); by default from x.
        Its minimiser is ``closed_form_lambda(x)``.
        """
        cfg = self.config
        Ne = math.prod(x.shape[2:])
        if l1 is None:
            l1 = x.detach().abs().flatten(2).sum(dim=2).mean(dim=0)        # (C,) mean over the batch
        lam = self.lam
        return (lam * l1 + cfg.delta * lam - (Ne + cfg.prior_shape - 1) * torch.log(lam)).sum()

    def closed_form_lambda(self, x: torch.Tensor) -> torch.Tensor:
        """The M-step's lam_c = (Ne + r - 1) / (||x_c||_1 + delta), batch-averaged l1: (C,)."""
        cfg = self.config
        Ne = math.prod(x.shape[2:])
        l1 = x.detach().abs().flatten(2).sum(dim=2).mean(dim=0)
        return (Ne + cfg.prior_shape - 1) / (l1 + cfg.delta)

    def extra_repr(self) -> str:
        c = self.config
        return (f"kind={c.kind}, channels={c.channels}, filters={c.num_filters}, K={c.kernel_size}, "
                f"stride={c.stride}, T={c.num_layers}, L={c.L:.4g}, mode={c.threshold_mode}, "
                f"two_sided={c.two_sided}, tied={c.tied}")
