"""scikit-learn estimators: ``ConvDictionaryLearning1D`` (time series) and ``ConvDictionaryLearning2D`` (images).

They follow scikit-learn's ``DictionaryLearning``: ``fit(X)`` learns a dictionary (here a CRsAE, trained by the
two-stage M-step of docs/math.md), ``transform(X)`` returns the sparse codes, ``inverse_transform(codes)`` the
signals they synthesise, and the learned state ends in ``_`` (``dictionary_``, ``lambda_``, ``thresholds_``,
``L_``, ``sigma_``, ``n_iter_``, ``loss_curve_``, ``n_features_in_``). The constructor only stores its
parameters, which are validated in ``fit``; ``get_params`` / ``set_params``, ``clone``, ``Pipeline`` and
``GridSearchCV`` (which uses ``score``: the negative mean squared reconstruction error) work as for any
scikit-learn estimator.

- The name: what ``fit`` does is dictionary learning (scikit-learn's ``SparseCoder`` takes a fixed dictionary and
  does not learn), with convolutional filters; 1-D and 2-D are two classes because the input rank cannot tell
  them apart ((n_samples, channels, n_times) and (n_samples, height, width) are both rank 3) and because their
  defaults differ (the paper's settings for images).
- Parameters have the names they have everywhere else in crsae (``ModelConfig``, ``TrainConfig``, the CLI options,
  the ONNX metadata): ``num_filters``, ``kernel_size``, ``num_layers``, ``two_sided``, ``tied``, ``epochs``, ...;
  scikit-learn's own names only where scikit-learn has the concept: ``random_state`` (-> the training seed),
  ``verbose``, and the fitted ``n_iter_`` (epochs run).
- ``transform`` runs the exported ONNX encoder under onnxruntime (``crsae.Encoder``), exactly what ships: the
  first call after ``fit`` exports the model (validated against torch, as ``crsae export`` does) and keeps the
  export and its session until the next ``fit`` (``device`` and ``threads`` may change in between).
- Convolutional: ``transform`` takes signals (images) of any length (size) of at least ``kernel_size``, not only
  the fitted one, so ``n_features_in_`` (X.shape[1], as scikit-learn sets it) is not enforced on other lengths.
- ``save(path)`` writes a crsae checkpoint (``crsae export``, ``crsae info`` read it) and the validated ONNX model
  beside it; ``load(path)`` reads it back, and also wraps any crsae checkpoint (``crsae train``, ``crsae build``).

Importing this module needs scikit-learn (``pip install 'crsae[sklearn]'``) but not torch; ``fit``, ``save`` and
``load`` need torch (``crsae[train]``), ``transform`` and ``score`` onnxruntime (``crsae[cpu]``).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from crsae import extras

extras.require("sklearn", what="crsae's scikit-learn estimators")

from sklearn.base import BaseEstimator, TransformerMixin, _fit_context  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from sklearn.utils._param_validation import Interval, StrOptions  # noqa: E402
from sklearn.utils.validation import check_array, check_is_fitted, validate_data  # noqa: E402

__all__ = ["ConvDictionaryLearning1D", "ConvDictionaryLearning2D"]

_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]
_POSITIVE = [Interval(Real, 0, None, closed="neither")]


class _ConvDictionaryLearning(TransformerMixin, BaseEstimator):
    """What the 1-D and 2-D estimators share; they differ in input rank and defaults."""

    _kind = "1d"
    _default_sigma: float | None = None          # None: estimated from X (see ``fit``)

    _parameter_constraints: dict = {
        "num_filters": _POSITIVE_INT,
        "kernel_size": _POSITIVE_INT,
        "num_layers": _POSITIVE_INT,
        "L": [*_POSITIVE, None],
        "sigma": [*_POSITIVE, None],
        "threshold_mode": [StrOptions({"em", "bias", "fixed", "affine"})],
        "lam_init": [*_POSITIVE, None],
        "delta": [*_POSITIVE, None],
        "two_sided": ["boolean"],
        "tied": ["boolean"],
        "epochs": _POSITIVE_INT,
        "batch_size": _POSITIVE_INT,
        "lr": _POSITIVE,
        "adam_eps": _POSITIVE,
        "lam_lr": [*_POSITIVE, None],
        "lr_decay": [Interval(Real, 0, 1, closed="right")],
        "lr_step": _POSITIVE_INT,
        "noise_sigma": [Interval(Real, 0, None, closed="left")],
        "noise_sigma_max": [*_POSITIVE, None],
        "dictionary_init": [StrOptions({"patches", "random"}), "array-like"],
        "random_state": ["random_state"],
        "device": [StrOptions({"cpu", "cuda"})],
        "threads": [*_POSITIVE_INT, None],
        "verbose": ["verbose"],
    }

    # --- input -----------------------------------------------------------------------------------------------
    @property
    def _ndim(self) -> int:
        return 1 if self._kind == "1d" else 2

    def _batch(self, X, *, fitting: bool) -> np.ndarray:
        """X as float32 (n_samples, channels, *size); remembers at fit whether X had a channel axis."""
        if fitting:
            X = validate_data(self, X, allow_nd=True, dtype=np.float32)
        else:
            X = check_array(X, allow_nd=True, dtype=np.float32, estimator=self)
        plain, with_channels = (2, 3) if self._ndim == 1 else (3, 4)
        if X.ndim not in (plain, with_channels):
            raise ValueError(f"{type(self).__name__} takes X of shape {self._shapes()}, got an array of shape "
                             f"{X.shape}")
        if fitting:
            self._channel_axis = X.ndim == with_channels
        return np.ascontiguousarray(X if X.ndim == with_channels else X[:, None])

    def _shapes(self) -> str:
        if self._ndim == 1:
            return "(n_samples, n_times) or (n_samples, channels, n_times)"
        return "(n_samples, height, width) or (n_samples, channels, height, width)"

    # --- fit -------------------------------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the dictionary, lambda and thresholds from X (unsupervised; with ``noise_sigma`` > 0, denoising:
        fresh noise of that std is added to X every epoch and X is the target; with ``noise_sigma_max`` too, blind
        denoising: each batch's noise std is drawn from [noise_sigma, noise_sigma_max] and the encoder thresholds
        at it).

        Parameters
        ----------
        X : array of shape (n_samples, n_times) or (n_samples, channels, n_times) (1-D), (n_samples, height,
            width) or (n_samples, channels, height, width) (2-D)
        y : ignored

        Returns
        -------
        self
        """
        signals = self._batch(X, fitting=True)
        top = self.noise_sigma_max
        if top is not None and not top > self.noise_sigma:
            raise ValueError(f"noise_sigma_max must be above noise_sigma ({self.noise_sigma:.4g}: "
                             f"each batch's noise std is drawn from [noise_sigma, noise_sigma_max]), got {top!r}; "
                             "raise it or pass None for one noise level")
        extras.require("torch", what=f"{type(self).__name__}.fit")
        from crsae.config import ModelConfig, TrainConfig
        from crsae.model.autoencoder import CRsAE
        from crsae.training.datasets import ArrayData
        from crsae.training.mstep import Trainer
        from crsae.training.run import prior_1d

        size = signals.shape[2:]
        K, stride = self.kernel_size, getattr(self, "stride", 1)
        min_size = K if stride == 1 else max(K, 3 * stride - 1)
        if min(size) < min_size:
            raise ValueError(f"X has {min(size)} feature(s) per {'signal' if self._ndim == 1 else 'image side'} "
                             f"but kernel_size {K} needs at least {min_size}; pass longer signals (larger "
                             "images) or a smaller kernel_size")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        noise = self.noise_sigma if top is None else (self.noise_sigma + top) / 2    # a drawn range: its middle
        sigma = self.sigma or noise or self._default_sigma or _estimate_sigma(signals)
        lam_init, delta = self.lam_init, self.delta
        if self._ndim == 1:
            lam_init, delta = prior_1d(size[0] - K + 1, sigma, lam_init=lam_init, delta=delta)
        else:                                          # the paper's image settings, as crsae train
            lam_init, delta = lam_init or 20.0, delta or 100.0
        config = ModelConfig(kind=self._kind, channels=signals.shape[1], num_filters=self.num_filters,
                             kernel_size=K, stride=stride, num_layers=self.num_layers, L=self.L, sigma=float(sigma),
                             threshold_mode=self.threshold_mode, lam_init=float(lam_init), delta=float(delta),
                             two_sided=self.two_sided, tied=self.tied,
                             input_scaling=getattr(self, "input_scaling", "none"))
        train = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, adam_eps=self.adam_eps,
                            lr_decay=self.lr_decay, lr_step=self.lr_step, lam_lr=self.lam_lr,
                            supervised=self.noise_sigma > 0 or top is not None, seed=seed)
        geometry = max(256, size[0]) if self._ndim == 1 else tuple(size)
        model = CRsAE(config, self._initial_dictionary(signals, seed), seed=seed, L_geometry=geometry)
        trainer = Trainer(model, train, device=self.device)
        data = ArrayData(signals, noise_sigma=self.noise_sigma, noise_sigma_max=top)
        trainer.fit(data, on_epoch=self._report if self.verbose else None)
        self._set_fitted(trainer.model.cpu(), trainer.history, train.to_dict())
        return self

    def _initial_dictionary(self, signals: np.ndarray, seed: int):
        """The starting filters: ``dictionary_init`` as given, random patches of X, or None (random Gaussian)."""
        init = self.dictionary_init
        if isinstance(init, str) and init == "random":
            return None
        if not isinstance(init, str):
            return np.asarray(init, dtype=np.float32)
        rng = np.random.default_rng(seed)
        K, n, size = self.kernel_size, signals.shape[0], signals.shape[2:]
        patches = []
        for _ in range(self.num_filters):                   # alphacsc's "chunk" start: pieces of the data
            i = rng.integers(n)
            starts = [rng.integers(s - K + 1) for s in size]
            index = (i, slice(None)) + tuple(slice(s, s + K) for s in starts)
            patch = signals[index].astype(np.float64)
            patch = patch - patch.mean()
            if not np.linalg.norm(patch) > 1e-6 * (1 + np.abs(signals).max()):     # flat data: add noise
                patch = patch + rng.standard_normal(patch.shape)
            patches.append(patch)
        return np.stack(patches).astype(np.float32)          # (C, channels, K[, K]); CRsAE rescales to unit norm

    def _report(self, record):
        print(f"[{type(self).__name__}] epoch {record.epoch}: loss {record.loss:.4g}"
              + (f"  lambda loss {record.lam_loss:.4g}" if record.lam_loss is not None else ""), file=sys.stderr)

    def _set_fitted(self, model, history, train_config: dict | None) -> None:
        """The fitted state, as numpy arrays (no torch objects), from a trained or loaded CRsAE."""
        cfg = model.config
        state = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
        self._model_config, self._weights, self._train_config = cfg.to_dict(), state, train_config
        self._history = [r if isinstance(r, dict) else r.to_dict() for r in history]
        self.dictionary_ = state["H"]
        self.analysis_filters_ = state["H"] if cfg.tied else state["We"]
        self.synthesis_filters_ = state["H"] if cfg.tied else state["Wd"]
        self.lambda_ = state["lam"] if cfg.threshold_mode in ("em", "fixed") else None
        self.thresholds_ = model.thresholds().detach().cpu().numpy().copy()
        self.L_ = float(cfg.L)
        self.sigma_ = float(cfg.sigma)
        self.n_iter_ = len(self._history)
        self.loss_curve_ = [float(r["loss"]) for r in self._history]
        self._runtime = _Runtime()

    def _torch_model(self):
        """The fitted CRsAE rebuilt from the fitted state (torch)."""
        import torch
        from crsae.model.checkpoint import model_from_state
        return model_from_state({"model_config": self._model_config,
                                 "model": {k: torch.from_numpy(v.copy()) for k, v in self._weights.items()}})

    # --- transform -------------------------------------------------------------------------------------------
    def transform(self, X):
        """Sparse codes of X by the exported encoder (onnxruntime).

        Returns
        -------
        codes : float32 array of shape (n_samples, num_filters, n_times - kernel_size + 1) (1-D) or
            (n_samples, num_filters, (height - K) // stride + 1, (width - K) // stride + 1) (2-D)
        """
        check_is_fitted(self)
        return self._run(self._batch(X, fitting=False), "codes")

    def inverse_transform(self, codes):
        """The signals the codes synthesise, ``sum_c Wd_c * x_c`` (the decoder; torch-free).

        Returns
        -------
        X : float32 array of X's layout (with a channel axis if X had one at fit): n_times = code length +
            kernel_size - 1; 2-D: (code size - 1) * stride + kernel_size per side, which is the image size for
            stride 1 and up to stride - 1 pixels less otherwise (those no code reaches).
        """
        from scipy.signal import convolve
        check_is_fitted(self)
        codes = check_array(codes, allow_nd=True, dtype=np.float64, estimator=self, input_name="codes")
        W = self.synthesis_filters_.astype(np.float64)                # (C, channels, K[, K])
        C, ch, s = W.shape[0], W.shape[1], self._model_config["stride"]
        if codes.ndim != self._ndim + 2 or codes.shape[1] != C:
            raise ValueError(f"codes have shape {codes.shape}; expected (n_samples, {C}, ...) as transform "
                             "returns them")
        if s > 1:                                                      # strided synthesis: zero-stuff the codes
            up = np.zeros(codes.shape[:2] + tuple((n - 1) * s + 1 for n in codes.shape[2:]))
            up[(slice(None), slice(None)) + (slice(None, None, s),) * self._ndim] = codes
            codes = up
        out = np.stack([sum(convolve(codes[:, c], W[c, j][None], mode="full") for c in range(C))
                        for j in range(ch)], axis=1)
        out = out.astype(np.float32)
        return out if self._channel_axis else out[:, 0]

    def score(self, X, y=None):
        """Negative mean squared error of the autoencoder's reconstruction of X (higher is better): what
        ``GridSearchCV`` maximises by default."""
        check_is_fitted(self)
        signals = self._batch(X, fitting=False)
        reconstruction = self._run(signals, "reconstruction")
        return -float(np.mean((reconstruction.astype(np.float64) - signals) ** 2))

    def _run(self, signals: np.ndarray, output: str) -> np.ndarray:
        encoder = self._runtime.encoder(self, device=self.device, threads=self.threads)
        return encoder.run(signals, [output])[output]

    def _export(self, checkpoint_sha256: str = ""):
        """The fitted model as a validated ONNX model (both outputs), and the torch model it was checked on."""
        from crsae.errors import ExportValidationError
        from crsae.exporter.onnx_export import to_onnx, validate_onnx
        from crsae.exporter.retrace import export_retraced, forget
        model = self._torch_model()
        proto = export_retraced(model, outputs="both", checkpoint_sha256=checkpoint_sha256)
        try:
            validate_onnx(proto, model, check_step=False)
        except ExportValidationError:                  # the cached trace did not fit this model: trace it
            forget(model)
            proto = to_onnx(model, outputs="both", checkpoint_sha256=checkpoint_sha256)
            validate_onnx(proto, model, check_step=False)
        return proto, model

    # --- save / load -----------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write a crsae checkpoint at ``path`` (``crsae export`` / ``info`` read it) and the validated ONNX model
        beside it (``path`` with suffix .onnx, and its .json sidecar). Returns (checkpoint, onnx)."""
        check_is_fitted(self)
        extras.require("torch", "onnx", what=f"{type(self).__name__}.save")
        from crsae.exporter.onnx_export import write_export
        from crsae.model.checkpoint import file_sha256, save_checkpoint
        path = Path(path)
        onnx_path = path.with_suffix(".onnx")
        if onnx_path == path:
            raise ValueError(f"save writes a checkpoint and {onnx_path.name} beside it; pass a path ending in .pt")
        fitted = {"n_features_in_": int(self.n_features_in_), "channel_axis": bool(self._channel_axis)}
        estimator = {"class": type(self).__name__, "params": _plain(self.get_params(deep=False)), "fitted": fitted}
        save_checkpoint(path, self._torch_model(), train_config=self._train_config, epoch=self.n_iter_,
                        history=self._history, estimator=estimator)
        proto, _ = self._export(checkpoint_sha256=file_sha256(path))
        write_export(proto, onnx_path)
        self._runtime.onnx = proto.SerializeToString()
        return path, onnx_path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """The estimator saved at ``path``, fitted; or any crsae checkpoint (``crsae train``, ``crsae build``) of
        this kind as a fitted estimator whose ``transform`` runs that model. The ONNX model beside it is used when
        it was exported from this very checkpoint (its checkpoint_sha256), else the model is exported again."""
        extras.require("torch", "onnx", what=f"{cls.__name__}.load")
        import onnx
        from crsae.model.checkpoint import file_sha256, model_from_state, read_checkpoint
        path = Path(path)
        state = read_checkpoint(path)
        model = model_from_state(state)
        cfg = model.config
        if cfg.kind != cls._kind:
            other = "ConvDictionaryLearning2D" if cfg.kind == "2d" else "ConvDictionaryLearning1D"
            raise ValueError(f"{path} holds a {cfg.kind} model; load it with {other}")
        saved = state.get("estimator") or {}
        if saved.get("params"):
            estimator = cls(**saved["params"])
        else:                                          # a plain crsae checkpoint: the parameters it was made with
            names = cls._get_param_names()
            params = {k: v for k, v in cfg.to_dict().items() if k in names}
            params.update({k: v for k, v in (state.get("train_config") or {}).items() if k in names})
            estimator = cls(**params)
        fitted = saved.get("fitted", {"n_features_in_": cfg.channels, "channel_axis": True})
        estimator.n_features_in_ = fitted["n_features_in_"]
        estimator._channel_axis = fitted["channel_axis"]
        estimator._set_fitted(model, state.get("history") or [], state.get("train_config"))
        onnx_path = path.with_suffix(".onnx")
        if onnx_path.is_file():
            proto = onnx.load(onnx_path)
            meta = {p.key: p.value for p in proto.metadata_props}
            if meta.get("checkpoint_sha256") == f'"{file_sha256(path)}"' and \
                    meta.get("outputs") == '["codes", "reconstruction"]':
                estimator._runtime.onnx = proto.SerializeToString()
        return estimator

    # --- scikit-learn tags -----------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = self._ndim == 1         # (n_samples, n_times)
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]    # the encoder computes in float32
        tags.non_deterministic = False
        return tags


class _Runtime:
    """The fitted model's ONNX export and its onnxruntime session, made on first use and kept until the next fit.

    A mutable holder, so that ``transform`` leaves the estimator's ``__dict__`` unchanged; it pickles the export
    (bytes) without the session.
    """

    def __init__(self):
        self.onnx: bytes | None = None
        self._encoder, self._key, self._folder = None, None, None

    def __getstate__(self):
        return {"onnx": self.onnx}

    def __setstate__(self, state):
        self.__init__()
        self.onnx = state["onnx"]

    def encoder(self, estimator: _ConvDictionaryLearning, *, device: str, threads: int | None):
        from crsae.serving.runtime import Encoder
        if self.onnx is None:
            extras.require("torch", "onnx", what=f"the first {type(estimator).__name__}.transform after fit")
            self.onnx = estimator._export()[0].SerializeToString()
        if self._encoder is None or self._key != (device, threads):
            if self._folder is None:
                self._folder = tempfile.TemporaryDirectory(prefix="crsae-estimator-")   # removed with this object
                (Path(self._folder.name) / "model.onnx").write_bytes(self.onnx)
            self._encoder = Encoder(Path(self._folder.name) / "model.onnx", device=device, threads=threads)
            self._key = (device, threads)
        return self._encoder


def _estimate_sigma(signals: np.ndarray) -> float:
    """Noise std of X by the median absolute deviation of its first differences along the last axis (Donoho's
    finest-scale estimate; white noise of std sigma has differences of std sigma sqrt 2)."""
    d = np.diff(signals.reshape(-1, signals.shape[-1])[:, :4096], axis=-1).ravel()[:2 ** 20] / math.sqrt(2)
    sigma = float(np.median(np.abs(d - np.median(d)))) / 0.6745 if d.size else 0.0
    if not sigma > 0:
        sigma = float(np.std(signals))
    return sigma if sigma > 0 and math.isfinite(sigma) else 1.0


def _plain(params: dict) -> dict:
    """Parameters as plain data for a checkpoint (torch.load(weights_only=True)): arrays become lists; a
    RandomState instance cannot be stored and becomes None."""
    out = {}
    for key, value in params.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.random.RandomState):
            value = None
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


class ConvDictionaryLearning1D(_ConvDictionaryLearning):
    """Convolutional dictionary learning of time series with a CRsAE (unrolled FISTA encoder, EM lambda).

    Parameters
    ----------
    num_filters : int, C
    kernel_size : int, K taps per filter
    num_layers : int, T unrolled FISTA steps of the encoder
    L : float or None, step constant L >= ||H||_2^2; None: power iteration at fit
    sigma : float or None, the noise std the thresholds b = lam sigma^2 / L refer to; None: ``noise_sigma`` if it
        is set (the middle of [noise_sigma, noise_sigma_max] in blind training), else estimated from X (median
        absolute deviation of its first differences)
    threshold_mode : "em" (lambda learned by the EM loss), "fixed" (lambda = lam_init), "bias" (free thresholds),
        "affine" (b = beta + gamma sigma, both learned: docs/math.md, "Thresholds affine in sigma")
    lam_init, delta : float or None, the initial lambda (the Gamma prior's mean) and the prior's rate; None: the
        universal threshold sqrt(2 log M) / sigma and M / lam_init (M = n_times - K + 1), as ``crsae train``
    two_sided : bool, soft threshold (True) or one-sided ReLU, non-negative codes (False)
    tied : bool, tied (H) or untied (H, analysis We, synthesis Wd) filters
    epochs, batch_size, lr, adam_eps, lam_lr, lr_decay, lr_step : the M-step's settings (``TrainConfig``)
    noise_sigma : float, std of Gaussian noise added to X each epoch (denoising: X is the target); 0: unsupervised
    noise_sigma_max : float or None, blind training: each batch's noise std is drawn uniformly from
        [noise_sigma, noise_sigma_max] (above noise_sigma) and the encoder thresholds at it (not in "bias" mode,
        whose thresholds ignore sigma), as ``crsae train --noise-sigma-max``; None: one noise level
    dictionary_init : "patches" (random pieces of X), "random" (Gaussian) or an array (C, channels, K)
    random_state : int, RandomState or None, the seed of the initial dictionary, batch order and noise
    device : "cpu" or "cuda", for training (torch) and for transform (onnxruntime's provider)
    threads : int or None, onnxruntime CPU threads for transform (None: every core)
    verbose : int, print one line per epoch to stderr

    Attributes
    ----------
    dictionary_ : (C, channels, K) the learned filters H
    analysis_filters_, synthesis_filters_ : (C, channels, K) We and Wd (H itself when tied)
    lambda_ : (C,) lambda per filter (None in "bias" and "affine" modes)
    thresholds_ : (C,) the encoder's thresholds b
    L_, sigma_ : the step constant and noise std of the model
    n_iter_ : epochs run; loss_curve_ : the reconstruction loss of each epoch
    n_features_in_ : X.shape[1] at fit (n_times, or channels for 3-D X)

    Examples
    --------
    >>> from crsae.estimator import ConvDictionaryLearning1D
    >>> coder = ConvDictionaryLearning1D(num_filters=3, kernel_size=30, random_state=0).fit(X)  # doctest: +SKIP
    >>> codes = coder.transform(X)                  # (n_samples, 3, n_times - 29), by onnxruntime  # doctest: +SKIP
    """

    _kind = "1d"

    def __init__(self, num_filters=4, *, kernel_size=20, num_layers=50, L=None, sigma=None, threshold_mode="em",
                 lam_init=None, delta=None, two_sided=True, tied=True, epochs=15, batch_size=32, lr=1e-2,
                 adam_eps=1e-3, lam_lr=None, lr_decay=0.7, lr_step=10, noise_sigma=0.0, noise_sigma_max=None,
                 dictionary_init="patches", random_state=None, device="cpu", threads=None, verbose=0):
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.num_layers = num_layers
        self.L = L
        self.sigma = sigma
        self.threshold_mode = threshold_mode
        self.lam_init = lam_init
        self.delta = delta
        self.two_sided = two_sided
        self.tied = tied
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.adam_eps = adam_eps
        self.lam_lr = lam_lr
        self.lr_decay = lr_decay
        self.lr_step = lr_step
        self.noise_sigma = noise_sigma
        self.noise_sigma_max = noise_sigma_max
        self.dictionary_init = dictionary_init
        self.random_state = random_state
        self.device = device
        self.threads = threads
        self.verbose = verbose


class ConvDictionaryLearning2D(_ConvDictionaryLearning):
    """Convolutional dictionary learning of images with a CRsAE; defaults are the paper's (64 filters 7x7, stride
    5, T = 30, L = 10, lambda 20, delta 100, sigma 0.078 unless ``noise_sigma`` is set).

    X is (n_samples, height, width) or (n_samples, channels, height, width), on the scale the thresholds assume
    (the paper's: [0, 1]). Parameters and attributes are those of :class:`ConvDictionaryLearning1D`, with filters
    (C, channels, K, K), plus

    stride : int, the code-grid stride s (s > 1: the shift-and-average reconstruction in ``score`` and in the
        exported ``reconstruction``)
    input_scaling : "none", or "unit_interval" when X holds 8-bit images divided by 255: recorded in the export,
        so that ``crsae infer`` scales image files the same way
    lam_init, delta : float, the initial lambda and the Gamma prior's rate (None: 20 and 100)
    """

    _kind = "2d"
    _default_sigma = 0.078
    _parameter_constraints: dict = {
        **_ConvDictionaryLearning._parameter_constraints,
        "stride": _POSITIVE_INT,
        "input_scaling": [StrOptions({"none", "unit_interval"})],
    }

    def __init__(self, num_filters=64, *, kernel_size=7, stride=5, num_layers=30, L=10.0, sigma=None,
                 threshold_mode="em", lam_init=20.0, delta=100.0, two_sided=True, tied=True, input_scaling="none",
                 epochs=10, batch_size=1, lr=1e-2, adam_eps=1e-3, lam_lr=None, lr_decay=0.7, lr_step=10,
                 noise_sigma=0.0, noise_sigma_max=None, dictionary_init="patches", random_state=None, device="cpu",
                 threads=None, verbose=0):
        self.num_filters = num_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.num_layers = num_layers
        self.L = L
        self.sigma = sigma
        self.threshold_mode = threshold_mode
        self.lam_init = lam_init
        self.delta = delta
        self.two_sided = two_sided
        self.tied = tied
        self.input_scaling = input_scaling
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.adam_eps = adam_eps
        self.lam_lr = lam_lr
        self.lr_decay = lr_decay
        self.lr_step = lr_step
        self.noise_sigma = noise_sigma
        self.noise_sigma_max = noise_sigma_max
        self.dictionary_init = dictionary_init
        self.random_state = random_state
        self.device = device
        self.threads = threads
        self.verbose = verbose
