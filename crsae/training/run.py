"""A training run as ``crsae train`` performs it: data, defaults, initial dictionary, trainer, recovery report.

Defaults follow the paper: images use 64 filters 7x7, stride 5, T = 30, L = 10, lambda_init 20, delta 100,
supervised; 1-D simulations use 4 filters of 20 taps, T = 50, L by power iteration, and start from the true
dictionary perturbed to a recovery error in [0.4, 0.5].

1-D lambda prior: lambda_init = sqrt(2 log M) / sigma (the universal threshold for M code entries per filter) and
delta = M / lambda_init, so the Gamma prior's shape r = delta lambda_init = M weighs as much as one window's codes.
The EM fixed point (M + r - 1) / (||x_c||_1 + delta) then stays below 2 lambda_init. A weak prior (the paper's
images have r = 2000 against ~700 code entries per copy; delta = 0.01 here would give r < 1) lets lambda run away
on spiky data: the Laplace fit of a few large events wants lambda ~ M / ||x_c||_1, several times the universal
threshold, which shrinks the codes, which raises lambda further, and the dictionary error grows again (measured:
at 7 dB, 0.017 after 6 epochs -> 0.036 after 20 with delta 0.01).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crsae.config import ModelConfig, TrainConfig
from crsae.readers import load_array
from crsae.training.distributed import Distributed
from crsae.errors import ConfigError, ShapeError
from crsae.model.autoencoder import CRsAE
from crsae.metrics import filter_errors, perturb_dictionary
from crsae.training.datasets import Source, build_source, spec_for_path
from crsae.training.mstep import Trainer

DEFAULTS = {
    "1d": dict(num_filters=4, kernel_size=20, stride=1, num_layers=50, L=None, delta=None, epochs=15, batch_size=32),
    "2d": dict(num_filters=64, kernel_size=7, stride=5, num_layers=30, L=10.0, lam_init=20.0, delta=100.0,
               sigma=0.078, epochs=10, batch_size=1),
}
SOURCE_DEFAULTS = dict(noise_sigma=25 / 255, noise_sigma_max=None, crop_size=128, crops_per_epoch=400, max_images=None,
                       channels=1, num_signals=512, length=500, events_per_filter=3, snr_db=16.0)


@dataclass
class Run:
    trainer: Trainer
    source: Source
    output: Path
    initial_error: np.ndarray | None
    note: str | None = None          # what a resume changed (the schedule), for the user

    @property
    def final_error(self) -> np.ndarray | None:
        if self.source.truth is None:
            return None
        return filter_errors(self.source.truth, self.trainer.model.H.detach().cpu().numpy())

    def fit(self, on_batch=None, on_epoch_done=None):
        def on_epoch(record):
            extra = {}
            if self.source.truth is not None:
                extra["max_recovery_error"] = float(self.final_error.max())
            record.extra.update(extra)
            if on_epoch_done is not None:
                on_epoch_done(record)
            return extra
        return self.trainer.fit(self.source.data, checkpoint=self.output, on_batch=on_batch, on_epoch=on_epoch)


def start_run(*, output: os.PathLike, data: str | None = None, device: str = "cpu", seed: int = 0,
              model: dict | None = None, train: dict | None = None, source: dict | None = None,
              init_dictionary: os.PathLike | None = None, dist: Distributed | None = None) -> Run:
    """Build data, model and trainer from CLI-style options.

    ``model`` holds ModelConfig fields, ``train`` TrainConfig fields (plus ``supervised``), ``source`` the keys of
    SOURCE_DEFAULTS; a missing or None value means "the default for this kind of data". ``dist``: this process's
    place in a torchrun run (every process builds the same data and model from the seed).
    """
    model = _given(model)
    train = _given(train)
    source = {**SOURCE_DEFAULTS, **_given(source)}
    _check_source(source)
    two_sided, tied = model.get("two_sided", True), model.get("tied", True)
    initial_source = None if init_dictionary is None else _read_initial(init_dictionary, model)    # before the data
    if data is None:
        if source["noise_sigma_max"] is not None:
            raise ConfigError("--noise-sigma-max draws the noise added to --data images or arrays, but the default "
                              "data is a simulation with its own noise (--snr-db); pass --data or drop "
                              "--noise-sigma-max")
        spec = {"source": "simulate", "num_signals": source["num_signals"], "length": source["length"],
                "num_filters": model.get("num_filters", DEFAULTS["1d"]["num_filters"]),
                "kernel_size": model.get("kernel_size", DEFAULTS["1d"]["kernel_size"]),
                "events_per_filter": source["events_per_filter"], "snr_db": source["snr_db"], "seed": seed,
                "nonnegative": not two_sided}
    else:
        spec = spec_for_path(data, channels=source["channels"], crop_size=source["crop_size"],
                             crops_per_epoch=source["crops_per_epoch"], noise_sigma=source["noise_sigma"],
                             max_images=source["max_images"], noise_sigma_max=source["noise_sigma_max"])
    src = build_source(spec)
    defaults = DEFAULTS[src.kind]
    pick = lambda name: model.get(name, defaults.get(name))  # noqa: E731
    kernel = pick("kernel_size")
    if src.truth is not None and "num_filters" not in model:
        num_filters, kernel = src.truth.shape[0], src.truth.shape[-1]
    else:
        num_filters = pick("num_filters")
    sigma = model.get("sigma") or src.sigma or defaults.get("sigma", 0.078)
    if src.kind == "1d":
        lam_init, delta = prior_1d(_signal_length(src) - kernel + 1, sigma, lam_init=model.get("lam_init"),
                                   delta=model.get("delta"))
    else:
        lam_init = model.get("lam_init") or defaults["lam_init"]
        delta = pick("delta")
    config = ModelConfig(kind=src.kind, channels=src.channels, num_filters=num_filters, kernel_size=kernel,
                         stride=pick("stride") if src.kind == "2d" else 1, num_layers=pick("num_layers"),
                         L=pick("L"), sigma=sigma, threshold_mode=model.get("threshold_mode", "em"),
                         lam_init=lam_init, delta=delta, two_sided=two_sided, tied=tied,
                         input_scaling="unit_interval" if spec["source"] == "images" else "none")
    _check_size(src, config)
    initial, initial_error, start = None, None, {}
    if init_dictionary is not None:
        initial, start = _initial_filters(init_dictionary, initial_source, config)
    elif src.truth is not None:
        initial = perturb_dictionary(src.truth, seed=seed + 1)
    if initial is not None and src.truth is not None:
        initial_error = filter_errors(src.truth, initial)
    supervised = train.pop("supervised", None)
    if supervised is None:
        supervised = spec["source"] in ("simulate", "npz", "images") or bool(spec.get("noise_sigma")) \
            or spec.get("noise_sigma_max") is not None
    geometry = _geometry(src)
    if not supervised:
        src.data = _unsupervised(src.data)
    tconf = TrainConfig(**{"epochs": defaults["epochs"], "batch_size": defaults["batch_size"], **train},
                        supervised=supervised, seed=seed)
    net = CRsAE(config, initial, seed=seed, L_geometry=geometry, **start)
    spec["supervised"] = supervised
    return Run(Trainer(net, tconf, device=device, data_spec=spec, dist=dist), src, Path(output), initial_error)


def _read_initial(path: os.PathLike, model: dict):
    """``--init-dictionary`` read and checked as far as the model options allow, before any data is built: ``dct``
    (its filters need 2 taps), a .npy array (float32) or a crsae checkpoint's CRsAE (a tied run cannot start from
    an untied one). DataError, ShapeError or ConfigError otherwise; ``_initial_filters`` checks the rest against
    the model config."""
    if str(path) == "dct":
        kernel = model.get("kernel_size")
        if kernel is not None and kernel < 2:
            raise ConfigError(f"--init-dictionary dct needs filters of at least 2 taps, got --kernel-size {kernel}; "
                              "pass a larger --kernel-size or another start")
        return "dct"
    if Path(path).suffix != ".pt":
        return load_array(path)
    from crsae.model.checkpoint import load_model
    source = load_model(path)
    if model.get("tied", True) and not source.config.tied:
        raise ConfigError(f"--init-dictionary {path} is an untied model (three filter banks) but this run is tied; "
                          "pass --untied, or its synthesis filters as a .npy file")
    return source


def _initial_filters(path: os.PathLike, loaded, config: ModelConfig) -> tuple[np.ndarray, dict]:
    """``--init-dictionary``: (H, extra CRsAE arguments) to start a new run from, ``loaded`` by ``_read_initial``.
    ``dct`` is the overcomplete DCT
    (``crsae.model.dictionaries``). A .npy array is H, (C, channels, K[, K]). A crsae checkpoint (.pt) gives its
    filter banks (untied: ``analysis`` We and ``synthesis`` Wd too) and, when its thresholds are lambdas (em, fixed), ``lam``: an em model then starts from the checkpoint's
    lambda, an affine one from slopes ``lam sigma / L`` (its thresholds at the model's sigma those of the
    checkpoint), a bias one from ``lam sigma^2 / L``. The optimiser, schedule and data are the new run's.
    ShapeError or ConfigError when the filters do not fit ``config``."""
    want = (config.num_filters, config.channels) + (config.kernel_size,) * config.ndim
    if str(path) == "dct":
        from crsae.model.dictionaries import overcomplete_dct
        if config.kernel_size < 2:
            raise ConfigError(f"--init-dictionary dct needs filters of at least 2 taps, got --kernel-size "
                              f"{config.kernel_size}; pass a larger --kernel-size or another start")
        return overcomplete_dct(config.num_filters, config.channels, config.kernel_size, config.ndim), {}
    if not hasattr(loaded, "config"):                                       # a .npy array
        initial = loaded
        if initial.shape != want:
            raise ShapeError(f"--init-dictionary {path} has shape {initial.shape} but the model's filters are "
                             f"{want} (num_filters, channels, kernel_size...); pass matching filters or set "
                             "--num-filters / --kernel-size")
        return initial, {}
    source = loaded
    have = source.config
    if tuple(source.H.shape) != want or have.stride != config.stride:
        raise ShapeError(f"--init-dictionary {path} holds filters {tuple(source.H.shape)} at stride {have.stride} "
                         f"but the model's are {want} at stride {config.stride}; set --num-filters / "
                         "--kernel-size / --stride to the checkpoint's")
    start = {}
    if not config.tied:
        start.update(analysis=source.analysis_filters.detach().numpy(),
                     synthesis=source.synthesis_filters.detach().numpy())
    if have.threshold_mode in ("em", "fixed"):
        start["lam"] = source.lam.detach().numpy()
    return source.H.detach().numpy(), start


def resume_run(checkpoint: os.PathLike, output: os.PathLike, *, device: str, epochs: int | None,
               dist: Distributed | None = None, lr_step: int | None = None,
               lr_decay: float | None = None, lr: float | None = None) -> Run:
    """Continue a checkpointed run, with any number of processes; ``epochs`` may extend it, ``lr``, ``lr_step``
    and ``lr_decay`` change its schedule from the checkpoint's epoch on (``Trainer.change_schedule``; the change
    is in ``Run.note``). Writes further checkpoints to ``output``."""
    trainer = Trainer.resume(checkpoint, device=device, dist=dist)
    note = trainer.change_schedule(lr_step=lr_step, lr_decay=lr_decay, lr=lr)
    spec = dict(trainer.data_spec or {})
    if not spec:
        raise ConfigError(f"{checkpoint} does not record its data; it cannot be resumed")
    supervised = spec.pop("supervised", True)
    src = build_source(spec)
    if not supervised:
        src.data = _unsupervised(src.data)
    if epochs is not None:
        trainer.config = trainer.config.replace(epochs=epochs)
    return Run(trainer, src, Path(output), None, note)


def prior_1d(code_length: int, sigma: float, *, lam_init: float | None = None,
             delta: float | None = None) -> tuple[float, float]:
    """The 1-D lambda prior of the module doc, for the values not given: lam_init = sqrt(2 log M) / sigma (the
    universal threshold, M code entries per filter) and delta = M / lam_init (prior shape r = M)."""
    lam_init = lam_init or math.sqrt(2 * math.log(max(code_length, 2))) / sigma
    return lam_init, delta or max(code_length, 1) / lam_init


def _check_source(source: dict) -> None:
    """Refuse bad data options by their CLI names before any data is built."""
    noise = source["noise_sigma"]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not math.isfinite(noise) or noise < 0:
        raise ConfigError(f"--noise-sigma must be a finite number >= 0, got {noise!r}")
    top = source["noise_sigma_max"]
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, float)) or not math.isfinite(top)
                            or top <= noise):
        raise ConfigError(f"--noise-sigma-max must be a finite number above --noise-sigma ({noise:.4g}: the noise "
                          f"std is drawn per batch from [--noise-sigma, --noise-sigma-max]), got {top!r}")
    for key in ("crop_size", "crops_per_epoch", "num_signals", "length", "events_per_filter"):
        value = source[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be a positive integer, got {value!r}")
    if source["max_images"] is not None and source["max_images"] < 1:
        raise ConfigError(f"--max-images must be at least 1, got {source['max_images']!r}")
    if source["channels"] not in (1, 3):
        raise ConfigError(f"--channels must be 1 (grayscale) or 3 (RGB), got {source['channels']!r}")
    snr = source.get("snr_db", source.get("snr"))
    if snr is not None and not math.isfinite(snr):
        raise ConfigError(f"--snr-db must be a finite number of dB, got {snr!r}")


def _given(options: dict | None) -> dict:
    """The options that were set (None means "use the default")."""
    return {k: v for k, v in (options or {}).items() if v is not None}


def _check_size(src: Source, config: ModelConfig) -> None:
    size = getattr(src.data, "crop_size", None) or min(src.data.clean.shape[2:])
    if size < config.min_size:
        raise ShapeError(f"training signals of size {size} are smaller than {config.min_size} "
                         f"(kernel_size {config.kernel_size}); pass longer signals or a smaller --kernel-size")


class _unsupervised:
    """Wraps a data source so that the target is the input itself."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def batches(self, epoch, batch_size, seed):
        for y, _, sigma in self.data.batches(epoch, batch_size, seed):
            yield y, y, sigma


def _signal_length(src: Source) -> int:
    return int(src.data.clean.shape[-1])


def _geometry(src: Source):
    if src.kind == "1d":
        return max(256, _signal_length(src))
    side = getattr(src.data, "crop_size", None) or int(src.data.clean.shape[-1])
    return (side, side)
