"""Configuration as plain data: what a model is (:class:`ModelConfig`) and how it is trained (:class:`TrainConfig`).

Both are frozen dataclasses whose fields are JSON-friendly, so a checkpoint or an ONNX file stores them verbatim
and ``ModelConfig(**saved)`` rebuilds exactly the model that was saved. Values are checked once, here, at
construction; the modules that use them trust them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from crsae.errors import ConfigError

KINDS = ("1d", "2d")
THRESHOLD_MODES = ("em", "bias", "fixed", "affine")
INPUT_SCALINGS = ("none", "unit_interval")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _positive_float(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value \
            or value == float("inf"):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")


def _choice(name: str, value, options) -> None:
    if value not in options:
        raise ConfigError(f"{name} must be one of {', '.join(options)}, got {value!r}")


class _PlainData:
    """Round-trips a frozen dataclass through a plain dict (checkpoints, ONNX metadata)."""

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} keys {unknown}; is this file from a newer crsae?")
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig(_PlainData):
    """Hyperparameters of a CRsAE (see ``docs/math.md``).

    The encoder solves ``argmin_x 1/2 ||y - Hx||^2 + sum_c lam_c sigma^2 ||x_c||_1`` with ``num_layers`` FISTA
    steps; the per-filter threshold is ``b_c = lam_c sigma^2 / L`` (modes ``em`` and ``fixed``), a free bias
    (mode ``bias``), or affine in the noise level, ``b_c = beta_c + gamma_c sigma`` with both learned (mode
    ``affine``, beyond the paper: docs/math.md, "Thresholds affine in sigma").
    """

    kind: str = "1d"                # "1d" (time series) or "2d" (images)
    channels: int = 1               # input channels (electrodes, colour planes)
    num_filters: int = 4            # C, number of dictionary filters
    kernel_size: int = 20           # K, taps per filter (K x K in 2-D)
    stride: int = 1                 # s, code-grid stride (2-D only; s > 1 uses the shift-and-average trick)
    num_layers: int = 50            # T, unrolled FISTA steps
    L: Optional[float] = None       # step constant, L >= ||H||_2^2; None: power iteration at build time
    L_margin: float = 1.05          # safety factor applied to the power-iteration estimate
    sigma: float = 1.0              # noise standard deviation the thresholds refer to
    threshold_mode: str = "em"      # "em" (EM lambda), "bias" (free bias by backprop), "fixed" (lambda not learned),
                                    # "affine" (b = beta + gamma sigma, both by backprop)
    lam_init: float = 1.0           # initial lambda_c, also the Gamma prior mean r / delta
    delta: float = 1.0              # Gamma prior rate; its shape is r = delta * lam_init
    two_sided: bool = True          # soft threshold (True) or one-sided ReLU giving non-negative codes (False)
    tied: bool = True               # tied H, or untied H / We (analysis) / Wd (synthesis), all initialised from H
    input_scaling: str = "none"     # "none", or "unit_interval" for 8-bit images divided by 255

    def __post_init__(self):
        _choice("kind", self.kind, KINDS)
        for name in ("channels", "num_filters", "kernel_size", "stride", "num_layers"):
            _positive_int(name, getattr(self, name))
        if self.kind == "1d" and self.stride != 1:
            raise ConfigError(f"stride {self.stride} is for 2-D models only; use stride 1 for kind 1d")
        if self.stride > self.kernel_size:
            raise ConfigError(f"stride {self.stride} is larger than kernel_size {self.kernel_size}; "
                              "use a stride of at most the kernel size")
        if self.L is not None:
            _positive_float("L", self.L)
        _positive_float("L_margin", self.L_margin)
        if self.L_margin < 1:
            raise ConfigError(f"L_margin must be at least 1, got {self.L_margin!r}")
        _positive_float("sigma", self.sigma)
        _choice("threshold_mode", self.threshold_mode, THRESHOLD_MODES)
        _positive_float("lam_init", self.lam_init)
        _positive_float("delta", self.delta)
        _choice("input_scaling", self.input_scaling, INPUT_SCALINGS)

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions: 1 or 2."""
        return 1 if self.kind == "1d" else 2

    @property
    def prior_shape(self) -> float:
        """Gamma prior shape r = delta * lam_init (prior mean lam_init)."""
        return self.delta * self.lam_init

    @property
    def min_size(self) -> int:
        """Smallest signal length or image side: K, and 3s - 1 for 2-D stride s > 1 (the stride trick reflect-pads
        up to 3s - 2 samples, and reflection needs more samples than that)."""
        return self.kernel_size if self.stride == 1 else max(self.kernel_size, 3 * self.stride - 1)

    @property
    def chunk_halo(self) -> int:
        """1-D chunking halo (T + 1)(K - 1): see export/CONTRACT.md."""
        return (self.num_layers + 1) * (self.kernel_size - 1) if self.kind == "1d" else 0


@dataclass(frozen=True)
class TrainConfig(_PlainData):
    """How to train: the two-stage M-step of docs/math.md, with its optimiser defaults."""

    epochs: int = 20                # passes over the training set
    batch_size: int = 32            # examples per step
    lr: float = 1e-2                # Adam learning rate for the dictionary (stage 1)
    adam_eps: float = 1e-3          # Adam epsilon for the dictionary
    lr_decay: float = 0.7           # learning rate multiplied by this ...
    lr_step: int = 10               # ... every lr_step epochs
    lam_lr: Optional[float] = None  # Adam learning rate for lambda (stage 2, EM mode); None: lam_init / 200
                                    # (0.1 for the paper's images, lam_init 20: Adam steps are absolute, so the
                                    # rate follows lambda's scale)
    supervised: bool = False        # target = clean signal (denoising) instead of the input itself
    renormalize: bool = True        # rescale each filter to unit l2 norm after every step
    seed: int = 0                   # makes data order, crops, noise and initialisation repeatable

    def __post_init__(self):
        for name in ("epochs", "batch_size", "lr_step"):
            _positive_int(name, getattr(self, name))
        for name in ("lr", "adam_eps", "lr_decay"):
            _positive_float(name, getattr(self, name))
        if self.lam_lr is not None:
            _positive_float("lam_lr", self.lam_lr)
        if self.lr_decay > 1:
            raise ConfigError(f"lr_decay must be at most 1, got {self.lr_decay!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
