"""``CRsAESorter``: fit templates on a recording, then sort it (or another recording of the same probe) in chunks
through the exported ONNX encoder, into a spikeinterface Sorting; ``export_phy`` writes a Phy folder.

fit (needs torch): preprocess (crsae.sorting.recording), learn the templates (crsae.sorting.templates: k-means
of thresholded snippets; templates the lasso splits a unit over joined, ``split_cofiring``; then CRsAE's EM),
export the one-sided CRsAE encoder to ONNX (validated against torch).

Motion (``motion``, off by default): a spikeinterface ``correct_motion`` preset applied after the reference, in
fit and sort alike (crsae.sorting.recording); a recording's drift is estimated once (seeded) and kept in memory
by its fingerprint, so fitting and sorting one recording share it; a recording sorted later gets its own. The
corrected traces are interpolated by kriging with a ``motion_sigma_um`` wide kernel: 30 um, where the presets' 20
um smooths a drifted spike enough that, whitened, it codes at ~0.6 of its template and leaks into its neighbours'
codes; at 40 um and more the kriging system amplifies noise into spurious clusters (README, "Spike sorting").

sort (onnxruntime only): the same preprocessing with the fitted whitening matrix; blocks of ``block_seconds``
with a halo of the contract's ``chunk_halo`` on each side go through ``Encoder.run_long``, so the codes equal the
whole-recording codes; a spike of unit c is a local maximum of its code ``x_c`` (one-sided, so >= 0) summed over
+-``max_shift_ms`` (a spike's code spreads over a few samples after T steps), at least ``refractory_ms`` from a
larger one, whose amplitude is above ``amplitude_threshold``. Its time is the code index plus the template's
``nbefore`` (the trough); its amplitude is (that sum + lambda_c) / ``||template_c||``: the lasso shrinks an isolated
spike's code by its lambda (x = <h_c, y> - lambda_c for a unit-norm filter, sigma = 1), so this is the scaling of
the unit's mean waveform that the spike has (about 1), as Phy's ``amplitudes.npy`` holds. Without the lambda a
faint unit's spikes (template norm 9, lambda 4) would code at about 0.55 of their size and a threshold on the
code would cut half of them.

Channels (``channels``): "all" codes with one model whose filters span every channel (its cost per sample is
2 T x units x channels x K multiply-adds, so it grows with units x channels). "local" (needs the probe geometry)
also exports, from the same trained filters, one model per block of ``group_channels`` channels along the probe:
the units whose peak channel the block holds, plus the guests (units whose ``radius_um`` neighbourhood reaches
the group's channels, so that their spikes are explained there rather than leaking into the owners' codes), on
the union of the owners' neighbourhoods. Each unit is reported by the block that owns it; its code scale there
is its template norm on the group's channels. A loaded "local" sorter sorts either way (``params.replace``).

Rank (``rank``, default 3): after EM the trained filters are replaced by their rank-r SVD truncations (each
H_c ~ sum_j u_cj v_cj^T, spatial x temporal, renormalised; L again from their norm bound), so the model is a CRsAE
whose dictionary is that low-rank one, and model.onnx computes it through the factors (``factored_fista``: U r
(channels + K) multiply-adds per sample and step instead of U channels K, the temporal part as block-Toeplitz
matrix products at about twice its count), validated against the torch model on the
same filters. The truncation's relative error per unit is ``info["rank_error"]``; ``with_rank`` re-exports a
fitted sorter at another rank (None: the trained filters) without fitting again; ``model()`` is the CRsAE that
model.onnx exports (saved with ``save_checkpoint``, an ordinary crsae checkpoint: how export/models/spikes32.pt
was made).

The saved sorter (``save`` / ``load``) is a folder: ``model.onnx`` (+ its contract sidecar ``model.json``; and
``group<i>.onnx`` + ``.json`` when local), ``sorter.json`` (parameters, unit and channel ids, sampling rate, the
groups) and ``sorter.npz`` (whitening matrix, templates in microvolts and in the whitened space, the trained
filters before the truncation and the k-means templates, whitened).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from crsae.errors import ConfigError, DataError
from crsae.simulate import spike_signal
from crsae.sorting import recording as rec_mod

MOTION_SIGMA_UM = 30.0
FORMAT_VERSION = 2                   # 2: amplitudes and thresholds count the lasso's lambda


@dataclass(frozen=True)
class SorterParams:
    """Every setting of fit and sort. Defaults suit 20-40 kHz extracellular probes."""

    # preprocessing (crsae.sorting.recording)
    freq_min: float = 300.0
    freq_max: float = 6000.0
    reference: str = "median"            # common reference: "median", "average" or "none"
    decimate: int = 2                    # code at fs / decimate (after the band-pass; used while fs / decimate is at
                                         # least 2.4 x freq_max): 4x less work per second, spike times to +-1 sample
    motion: Optional[str] = None         # motion correction after the reference: a spikeinterface correct_motion
                                         # preset ("dredge_fast", "rigid_fast", ...; needs the probe); None: none
    motion_sigma_um: float = MOTION_SIGMA_UM  # width of the kriging kernel that interpolates the corrected traces
                                         # (module doc; the presets' is 20 um); sorters saved without it keep 20
    # templates
    ms_before: float = 0.8               # template samples before the trough
    ms_after: float = 1.2                # and after it
    fit_seconds: float = 60.0            # seconds of recording (from the start) the templates are learned on
    detect_threshold: float = 5.0        # troughs below -this robust noise stds give the k-means snippets
    max_snippets: int = 20000            # at most this many snippets are clustered
    clusters: Optional[int] = None       # k-means k; None: 3 x num_units, or 2 x channels when num_units is None
    num_units: Optional[int] = None      # expected units (a hint for k only: merging decides the count)
    pca_components: int = 12
    merge_similarity: float = 0.9        # merge templates whose best-shift cosine similarity exceeds this
    split_similarity: float = 0.8        # and, of the templates more similar than this, those whose spikes the lasso
    split_cofiring: Optional[float] = 0.1  # splits: over this fraction of one's spikes have one of the other's
                                         # within refractory_ms (a trial sort of the fitted part; None: no check)
    split_seconds: float = 30.0          # the trial sort codes at most this many seconds (from the fit's start)
    max_shift_ms: float = 0.2            # shifts tried when comparing and aligning templates
    min_spikes: int = 20                 # clusters with fewer snippets are dropped
    # channels of a unit's filter (see "Channels" in the module docstring)
    channels: str = "all"                # "all": one model, every filter spans every channel; "local": a model per
                                         # block of the probe, filters on their units' neighbourhoods (needs a probe)
    radius_um: float = 60.0              # local: a unit's neighbourhood, channels within this of its peak channel
    group_channels: int = 16             # local: channels per block (the probe cut along its length)
    # CRsAE
    num_layers: int = 20                 # T unrolled FISTA steps
    rank: Optional[int] = 3              # the dictionary: the rank-r SVD truncation of the trained filters (spatial x
                                         # temporal), which the all-channel model codes through its factors (fewer
                                         # multiply-adds; local group models through full convolutions); None: the
                                         # trained filters as they are
    lam: float = 4.0                     # lambda sigma^2 with sigma = 1 (whitened noise): the lasso's code threshold
    em: bool = True                      # learn lambda by EM (else it stays at lam)
    delta: float = 1000.0                # Gamma prior rate on lambda: strong, keeps lambda near lam
    epochs: int = 2                      # EM passes over the training windows (0: k-means templates as they are)
    window: int = 3000                   # training window (samples)
    max_windows: int = 64                # at most this many windows per epoch
    batch_size: int = 8
    lr: float = 1e-3                     # Adam learning rate for the templates
    # detection
    amplitude_threshold: float = 0.6     # a spike's amplitude ((code + lambda) / template norm) must exceed this
    refractory_ms: float = 1.0           # one spike per unit within +-this
    # running
    block_seconds: float = 10.0          # sort reads and codes the recording this many seconds at a time
    chunk: int = 32768                   # run_long chunk (codes)
    seed: int = 0

    def __post_init__(self):
        for name in ("freq_min", "freq_max", "ms_before", "ms_after", "fit_seconds", "detect_threshold", "lam",
                     "delta", "lr", "amplitude_threshold", "refractory_ms", "block_seconds", "radius_um",
                     "split_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
        for name in ("decimate", "max_snippets", "pca_components", "min_spikes", "num_layers", "window", "max_windows",
                     "batch_size", "chunk", "group_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("clusters", "num_units", "rank"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ConfigError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        if not 0 <= self.max_shift_ms < self.ms_before + self.ms_after:
            raise ConfigError(f"max_shift_ms must be non-negative and under the template length, got "
                              f"{self.max_shift_ms!r}")
        if self.channels not in ("all", "local"):
            raise ConfigError(f"channels must be 'all' or 'local', got {self.channels!r}")
        if self.motion is not None:
            if not isinstance(self.motion, str):
                raise ConfigError(f"motion must be None or a correct_motion preset name, got {self.motion!r}")
            rec_mod.check_motion(self.motion)
        if isinstance(self.motion_sigma_um, bool) or not isinstance(self.motion_sigma_um, (int, float)) \
                or not 0 < self.motion_sigma_um < float("inf"):
            raise ConfigError(f"motion_sigma_um must be a positive number of micrometres, got {self.motion_sigma_um!r}")
        for name in ("merge_similarity", "split_similarity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
                raise ConfigError(f"{name} must be a number in [-1, 1], got {value!r}")
        if self.split_cofiring is not None and (isinstance(self.split_cofiring, bool)
                                                or not isinstance(self.split_cofiring, (int, float))
                                                or not 0 < self.split_cofiring <= 1):
            raise ConfigError(f"split_cofiring must be None or a fraction in (0, 1], got {self.split_cofiring!r}")

    def replace(self, **changes) -> "SorterParams":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown sorter parameters {unknown}; known: {sorted(known)}")
        return SorterParams(**{**asdict(self), **changes})

    def samples(self, fs: float) -> tuple[int, int]:
        """(nbefore, nafter) at sampling rate fs."""
        return int(round(self.ms_before * 1e-3 * fs)), int(round(self.ms_after * 1e-3 * fs))

    def decimation(self, fs: float) -> int:
        """The decimation used at sampling rate fs: ``decimate``, or 1 when fs / decimate < 2.4 x freq_max."""
        return self.decimate if fs / self.decimate >= 2.4 * min(self.freq_max, 0.45 * fs) else 1


class CRsAESorter:
    """Template learning and sorting with CRsAE (module docstring).

    >>> sorter = CRsAESorter(num_units=10).fit(recording, "runs/sorter")   # torch: learns and exports
    >>> sorting = sorter.sort(recording)                                   # onnxruntime only
    >>> export_phy(sorting, recording, "phy", sorter=sorter)
    """

    def __init__(self, params: SorterParams | None = None, **changes):
        self.params = (params or SorterParams()).replace(**changes)
        self.folder: Path | None = None
        self.info: dict | None = None
        self._arrays: dict | None = None
        self._tmp = None
        self._encoders: dict = {}
        self._motions: dict = {}             # motion estimates (params.motion) by recording fingerprint
        self.timings: dict | None = None     # the last sort's seconds per stage: wall (name_s) and CPU (name_cpu_s)

    # --- fit --------------------------------------------------------------------------------------------------
    def fit(self, recording, folder: str | os.PathLike | None = None, *, log: Callable[[str], None] | None = None):
        """Learn the templates on the first ``fit_seconds`` of ``recording`` and export the encoder to
        ``folder`` (a temporary folder when None; ``save`` copies it). Returns self."""
        from crsae import extras
        from crsae.sorting import templates as tmpl
        extras.require("torch", "onnx", "onnxscript", what="fitting a sorter")
        log = log or (lambda line: None)
        p = self.params
        fs = float(recording.get_sampling_frequency()) if hasattr(recording, "get_sampling_frequency") else 0.0
        q = p.decimation(fs) if fs > 0 else 1
        nbefore, nafter = p.samples(fs / q) if fs > 0 else (1, 1)                    # model samples
        rec_mod.check_recording(recording, min_seconds=(nbefore + nafter) * 4 * q / fs if fs > 0 else 0.0)
        if p.channels == "local" and not recording.has_probe():
            raise ConfigError("channels='local' needs the probe geometry and this recording has none; attach a "
                              "probe (recording.set_probe, or crsae sort --probe FILE) or use channels='all'")
        K = nbefore + nafter
        if K < 3:
            raise ConfigError(f"templates of {p.ms_before} + {p.ms_after} ms are {K} samples at {fs:g} Hz; "
                              "use longer templates")
        rank = _coding_rank(p.rank, recording.get_num_channels(), K)
        if rank is None and p.rank is not None:
            log(f"rank {p.rank}: the filters' largest rank is min(channels, template samples) = "
                f"{min(recording.get_num_channels(), K)}, so the encoder codes with the trained filters (exact)")
        start = time.perf_counter()
        stages = {}

        def stage(name, since):
            stages[name] = time.perf_counter() - since
            return time.perf_counter()

        filt = self._filtered(recording, fs, log=log)
        t = stage("motion", start) if p.motion is not None else start
        W = rec_mod.whitening_matrix(filt, seed=p.seed)
        white = rec_mod.whitened(filt, W, decimate=q)
        t = stage("whitening_matrix", t)
        n = min(white.get_num_samples(0), int(p.fit_seconds * fs / q))                # model samples
        traces = white.get_traces(segment_index=0, start_frame=0, end_frame=n).astype(np.float32)
        t = stage("preprocess", t)
        scale = float(np.median(tmpl.robust_std(traces)))
        fs_model = fs / q
        log(f"fit: {n / fs_model:.1f} s of {recording.get_num_channels()} channels at {fs:g} Hz (coded at "
            f"{fs_model:g} Hz), whitened noise std "
            f"{scale:.2f} (median over channels)")
        peaks = tmpl.detect_troughs(traces, p.detect_threshold, nbefore, nafter)
        if len(peaks) < p.min_spikes:
            raise DataError(f"only {len(peaks)} troughs below -{p.detect_threshold:g} noise stds in the first "
                            f"{n / fs_model:.1f} s; lower detect_threshold or fit on a longer recording")
        rng = np.random.default_rng(p.seed)
        chosen = np.sort(rng.choice(len(peaks), size=min(len(peaks), p.max_snippets), replace=False))
        waves = tmpl.snippets(traces, peaks[chosen], nbefore, nafter)
        channels = recording.get_num_channels()
        k = p.clusters or (3 * p.num_units if p.num_units else 2 * channels)
        max_shift = int(round(p.max_shift_ms * 1e-3 * fs_model))
        means, labels = tmpl.cluster_templates(waves, clusters=k, pca_components=p.pca_components,
                                               merge_similarity=p.merge_similarity, max_shift=max_shift,
                                               min_spikes=p.min_spikes, seed=p.seed)
        t = stage("clustering", t)
        log(f"templates: {len(peaks)} troughs, {len(waves)} snippets, k-means k = {k} -> {len(means)} units")
        merges = []
        if p.split_cofiring is not None and len(means) > 1:
            groups, merges = _cofiring_groups(traces, means, p, rank, fs_model, max_shift)
            if merges:
                means, labels = tmpl.merge_clusters(waves, labels, groups, max_shift)
                log(f"co-firing: {len(merges)} pairs split by the lasso merged -> {len(means)} units ("
                    + ", ".join(f"{m['units'][0]}+{m['units'][1]}: similarity {m['similarity']:.2f}, co-firing "
                                f"{m['cofiring']:.2f}" for m in merges) + ")")
            t = stage("cofiring", t)
        norms = np.linalg.norm(means.reshape(len(means), -1), axis=1)
        filters = np.transpose(means / norms[:, None, None], (0, 2, 1)).astype(np.float32)   # (C, channels, K)
        model, train_s = tmpl.train_dictionary(traces, filters, num_layers=p.num_layers, lam=p.lam,
                                               delta=p.delta, em=p.em, window=p.window, epochs=p.epochs,
                                               batch_size=p.batch_size, lr=p.lr, max_windows=p.max_windows,
                                               seed=p.seed, log=log)
        t = stage("training", t)
        trained = model.H.detach().numpy().astype(np.float32)                                # (C, channels, K)
        model, rank_error = _factored(model, rank)
        learned, norms = _template_norms(model, means)
        folder = self._make_folder(folder)
        self._export(model, folder / "model.onnx", rank)
        if rank is not None:
            log(f"rank {rank}: filters {100 * float(np.mean(rank_error)):.1f}% off their trained values (relative "
                f"Frobenius error, mean; worst {100 * float(np.max(rank_error)):.1f}%)")
        groups = None
        if p.channels == "local":
            groups = self._export_groups(model, recording.get_channel_locations()[:, :2], norms, folder)
            log(f"local: {len(groups)} group models, {np.mean([len(g['channels']) for g in groups]):.1f} channels "
                f"and {np.mean([len(g['units']) for g in groups]):.1f} units each (mean)")
        t = stage("export", t)
        # templates in microvolts at the full rate, on the filtered (unwhitened) recording: mean snippets of the
        # clusters (k-means, before EM)
        full_before, full_after = p.samples(fs)
        templates_uV = tmpl.mean_snippets(filt, peaks[chosen] * q, labels, len(norms), full_before, full_after)
        t = stage("templates_uV", t)
        self._arrays = {"W": W, "templates_uV": templates_uV, "templates_white": (learned * norms[:, None, None]),
                        "norms": norms.astype(np.float32), "filters_trained": trained,
                        "means_white": means.astype(np.float32)}
        self.info = {"format_version": FORMAT_VERSION, "params": asdict(self.params), "sampling_frequency": fs,
                     "decimation": q, "model_sampling_frequency": fs_model, "nbefore": nbefore,
                     "nafter": nafter, "templates_nbefore": full_before, "num_channels": channels,
                     "channel_ids": [_plain(c) for c in recording.get_channel_ids()],
                     "unit_ids": list(range(len(norms))), "lam": model.lam.detach().numpy().tolist(),
                     "L": float(model.L), "groups": groups,
                     "rank_error": None if rank_error is None else rank_error.tolist(),
                     "fit": {"seconds_of_recording": n / fs_model, "troughs": int(len(peaks)),
                             "snippets": int(len(waves)), "kmeans_k": int(k), "units": int(len(norms)),
                             "cofiring_merges": merges,
                             "train_seconds": train_s, "stages": stages,
                             "fit_seconds": time.perf_counter() - start}}
        self.folder = folder
        self._write_info(folder)
        log(f"fit: {len(norms)} units in {time.perf_counter() - start:.1f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) + ")")
        return self

    def _make_folder(self, folder: str | os.PathLike | None) -> Path:
        """``folder`` created, or a temporary folder this sorter owns (removed with it) when None."""
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crsae-sorter-")
            folder = self._tmp.name
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _export(self, model, path: Path, rank: int | None) -> None:
        """The all-channel encoder: traced (through the filters' factors with ``rank``), validated against the torch
        model on white noise and on a signal of its own units' spikes (``crsae.simulate.spike_signal``), written."""
        import warnings
        from crsae.exporter.onnx_export import to_onnx, validate_onnx, write_export
        proto = to_onnx(model, outputs="codes", rank=rank)
        H, lam = model.H.detach().numpy(), model.lam.detach().numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                # StepConstantWarning: L is re-estimated after training
            validate_onnx(proto, model, signals=[spike_signal(H, lam, H.shape[1], seed=self.params.seed)])
        write_export(proto, path)

    def with_rank(self, rank: int | None, folder: str | os.PathLike | None = None) -> "CRsAESorter":
        """This fitted sorter with another encoder rank (None: the full trained filters), without fitting again:
        the trained filters (kept in sorter.npz) truncated to ``rank``, renormalised, exported to ``folder`` (a
        temporary folder when None) and validated; the same whitening, templates and detection."""
        self._require_fitted()
        if self.params.channels == "local":
            raise ConfigError("with_rank re-exports the all-channel model; this sorter codes with channels='local'")
        params = self.params.replace(rank=rank)                                 # checks rank
        model, rank, rank_error = self._coded_model(params)
        info = self.info
        other = CRsAESorter(params)
        other._motions = self._motions                                          # the same recordings' estimates
        folder = other._make_folder(folder)
        other._export(model, folder / "model.onnx", rank)
        learned, norms = _template_norms(model, self._arrays["means_white"])
        other._arrays = {**self._arrays, "templates_white": learned * norms[:, None, None],
                         "norms": norms.astype(np.float32)}
        other.info = {**info, "params": asdict(params), "L": float(model.L), "groups": None,
                      "rank_error": None if rank_error is None else rank_error.tolist()}
        other.folder = folder
        other._write_info(folder)
        return other

    def model(self):
        """The CRsAE the all-channel encoder codes with (needs torch): the trained filters (sorter.npz) truncated to
        the sorter's rank and renormalised, its lambda (C,) and L; ``model.onnx`` is its export (``to_onnx(model,
        rank=...)``), and its checkpoint (``crsae.model.checkpoint.save_checkpoint``) is an ordinary crsae model,
        whose filters (C, channels, K) code the whitened, decimated recording (``preprocess``)."""
        self._require_fitted()
        return self._coded_model(self.params)[0]

    def _coded_model(self, params: SorterParams):
        """(the CRsAE of ``params``' rank built from the trained filters, the rank the encoder codes with (None:
        the trained filters), the truncation's relative errors (C,) or None)."""
        from crsae.config import ModelConfig
        from crsae.model.autoencoder import CRsAE
        from crsae.sorting.templates import step_constant
        if "filters_trained" not in self._arrays:
            raise DataError(f"{self.folder} was saved before sorters kept their trained filters; fit it again")
        trained = self._arrays["filters_trained"]
        C, channels, K = trained.shape
        rank = _coding_rank(params.rank, channels, K)
        config = ModelConfig(kind="1d", channels=channels, num_filters=C, kernel_size=K, num_layers=params.num_layers,
                             sigma=1.0, threshold_mode="em" if params.em else "fixed", lam_init=params.lam,
                             delta=params.delta, two_sided=False, L=step_constant(trained))
        model, rank_error = _factored(CRsAE(config, trained, lam=np.asarray(self.info["lam"], np.float32),
                                            normalize=False), rank)
        return model, rank, rank_error

    def _export_groups(self, model, locations: np.ndarray, norms: np.ndarray, folder: Path) -> list[dict]:
        """channels='local': the trained filters cut to each group's channels and units (templates.local_groups),
        renormalised, with their own L, exported as ``group<i>.onnx``. Every group model has the largest group's
        shape (channels padded with zeros, here and in ``sort``; units padded with a 1e-3 spike on channel 0 under
        lambda 1e6, whose code is always 0: CRsAE refuses all-zero filters), so one dynamo trace serves all of them
        (``with_weights``), each then validated against its torch model, also on a signal of its own units' spikes
        (``crsae.simulate.spike_signal``: on white noise alone its codes are almost all 0, which would pass a model
        with another L). A unit's code scale in a group is its template norm on the group's channels. Returns the
        groups (JSON: channels, units, owned, norms, file)."""
        import warnings
        from crsae.exporter.onnx_export import to_onnx, validate_onnx, with_weights, write_export
        from crsae.model.autoencoder import CRsAE
        from crsae.sorting import templates as tmpl
        p = self.params
        H = model.H.detach().numpy().astype(np.float64)                                     # (C, channels, K)
        groups = tmpl.local_groups(H, locations, radius_um=p.radius_um, group_channels=p.group_channels)
        lam = model.lam.detach().numpy()
        units = max(len(g["units"]) for g in groups)
        channels = max(len(g["channels"]) for g in groups)
        proto = template = None
        for i, group in enumerate(groups):
            sub = H[group["units"]][:, group["channels"]]
            kept = np.linalg.norm(sub.reshape(len(sub), -1), axis=1)                       # ||h_c on the group||
            filters = np.zeros((units, channels, H.shape[2]), np.float32)
            filters[:len(sub), :sub.shape[1]] = sub / np.maximum(kept, 1e-12)[:, None, None]
            L = tmpl.step_constant(filters[:len(sub)])
            filters[len(sub):, 0, 0] = 1e-3                                              # padding units
            group_lam = np.full(units, 1e6, np.float32)
            group_lam[:len(sub)] = lam[group["units"]]
            config = model.config.replace(channels=channels, num_filters=units, L=L)
            member = CRsAE(config, filters, lam=group_lam, normalize=False)
            if proto is None:
                proto, template = to_onnx(member, outputs="codes"), member
            group_proto = with_weights(proto, template, member)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")            # StepConstantWarning: L is from norm_bound
                validate_onnx(group_proto, member,
                              signals=[spike_signal(filters[:len(sub)], group_lam[:len(sub)], len(group["channels"]),
                                                     seed=p.seed + i)])
            write_export(group_proto, folder / f"group{i}.onnx")
            group.update(norms=(norms[group["units"]] * kept).tolist(), file=f"group{i}.onnx")
        return groups

    def _write_info(self, folder: Path) -> None:
        (folder / "sorter.json").write_text(json.dumps(self.info, indent=2) + "\n")
        np.savez(folder / "sorter.npz", **self._arrays)

    # --- save / load ------------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> Path:
        """Copy the fitted sorter (model.onnx, model.json, sorter.json, sorter.npz) into ``folder``."""
        import shutil
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if folder.resolve() != self.folder.resolve():
            groups = [Path(g["file"]).stem for g in self.info.get("groups") or []]
            for name in ["model", *groups]:
                for suffix in (".onnx", ".json"):
                    shutil.copy2(self.folder / (name + suffix), folder / (name + suffix))
            for name in ("sorter.json", "sorter.npz"):
                shutil.copy2(self.folder / name, folder / name)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "CRsAESorter":
        """A sorter saved by ``fit`` or ``save``; DataError when the folder is not one."""
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(f"sorter {folder} {'is a file' if folder.exists() else 'does not exist'}; pass the "
                            "sorter folder a fit wrote (crsae sort's OUTDIR/sorter)")
        missing = [n for n in ("model.onnx", "sorter.json", "sorter.npz") if not (folder / n).is_file()]
        if missing:
            raise DataError(f"{folder} is not a saved crsae sorter (missing {', '.join(missing)}); "
                            "make one with CRsAESorter.fit or crsae sort")
        try:
            info = json.loads((folder / "sorter.json").read_text())
            arrays = dict(np.load(folder / "sorter.npz"))
        except (ValueError, OSError) as err:
            raise DataError(f"{folder}/sorter.json or sorter.npz is corrupt ({err})") from None
        if info.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{folder} holds a sorter of format {info.get('format_version')!r}; this crsae reads "
                            f"format {FORMAT_VERSION}: fit it again (CRsAESorter.fit, or crsae sort without --sorter)")
        # saved before ranks: full filters; before motion_sigma_um: the presets' 20 um
        sorter = cls(SorterParams(**{"rank": None, "motion_sigma_um": 20.0, **info["params"]}))
        sorter.folder, sorter.info, sorter._arrays = folder, info, arrays
        return sorter

    # --- sort -------------------------------------------------------------------------------------------------
    @property
    def templates(self) -> np.ndarray:
        """Templates in microvolts on the filtered recording, at its full rate: (units, samples, channels), trough
        at ``info["templates_nbefore"]``."""
        self._require_fitted()
        return self._arrays["templates_uV"]

    @property
    def unit_ids(self) -> list:
        self._require_fitted()
        return self.info["unit_ids"]

    def preprocess(self, recording, *, whiten: bool = True):
        """``recording`` through the fitted preprocessing (band-pass, reference, motion correction when
        ``params.motion`` is set, and the fitted whitening)."""
        self._require_fitted()
        self._check_compatible(recording)
        filt = self._filtered(recording, self.info["sampling_frequency"])
        return rec_mod.whitened(filt, self._arrays["W"], decimate=self.info["decimation"]) if whiten else filt

    def _filtered(self, recording, fs: float, log: Callable[[str], None] | None = None):
        """Band-pass and reference, then (``params.motion``) motion correction. The motion of a recording is
        estimated once and kept by its fingerprint (sizes, channel ids, samples at a few places), so a fit, the
        sort of the same recording and ``preprocess`` share one estimate; another recording gets its own, so it is
        registered to its own mean position, not the fitted one's."""
        p = self.params
        filt = rec_mod.filtered(recording, freq_min=p.freq_min, freq_max=min(p.freq_max, 0.45 * fs),
                                reference=p.reference)
        if p.motion is None:
            return filt
        rec_mod.check_motion(p.motion, recording)
        key = (p.motion, p.freq_min, p.freq_max, p.reference, _fingerprint(recording))
        if key not in self._motions:
            start = time.perf_counter()
            self._motions[key] = rec_mod.estimate_motion(filt, p.motion, seed=p.seed)
            if log is not None:
                shift = np.concatenate([np.ravel(d) for d in self._motions[key].displacement])
                log(f"motion ({p.motion}): drift {shift.min():.1f} to {shift.max():.1f} um, estimated in "
                    f"{time.perf_counter() - start:.1f} s")
        return rec_mod.motion_corrected(filt, self._motions[key], p.motion, sigma_um=p.motion_sigma_um)

    def encoder(self, threads: int | None = None, file: str = "model.onnx"):
        """The onnxruntime Encoder of ``file`` in the sorter's folder (the all-channel model by default, or a
        group's ``group<i>.onnx``), kept open per (file, threads)."""
        from crsae.serving.runtime import Encoder
        if (file, threads) not in self._encoders:
            self._encoders[(file, threads)] = Encoder(self.folder / file, device="cpu", threads=threads)
        return self._encoders[(file, threads)]

    def sort(self, recording, *, threads: int | None = None, progress: Callable[[int, int], None] | None = None,
             return_amplitudes: bool = False):
        """Spikes of every fitted unit in ``recording``: a spikeinterface NumpySorting (units = the fitted
        templates, ids 0..C-1), and with ``return_amplitudes`` also the amplitudes (float32, one per spike in
        ``sorting.to_spike_vector()`` order). ``progress(done, total)`` counts samples over all segments."""
        from spikeinterface.core import NumpySorting
        from spikeinterface.core.base import minimum_spike_dtype
        self._require_fitted()
        p, info = self.params, self.info
        fs, q = info["sampling_frequency"], info["decimation"]
        fs_model = fs / q
        K = info["nbefore"] + info["nafter"]
        rec_mod.check_recording(recording, min_seconds=K / fs_model)
        timings = self.timings = {f"{stage}{kind}": 0.0 for stage in ("preprocess", "encoder", "detect")
                                  for kind in ("_s", "_cpu_s")}
        start = _clock()
        white = self.preprocess(recording)                            # lazy, but a motion estimate is made here
        _add(timings, "preprocess", start, _clock())
        groups = info.get("groups") if p.channels == "local" else None
        if p.channels == "local" and not groups:
            raise ConfigError("this sorter was fitted with channels='all' and has no group models; fit it again "
                              "with channels='local' (crsae sort --channels local)")
        halo = self.encoder(threads).metadata["chunk_halo"]
        distance = max(1, int(round(p.refractory_ms * 1e-3 * fs_model)))
        block = max(int(p.block_seconds * fs_model), 4 * K)
        total = sum(recording.get_num_samples(s) for s in range(recording.get_num_segments()))
        done = 0
        spikes, amplitudes = [], []
        for segment in range(recording.get_num_segments()):
            N = white.get_num_samples(segment)                        # model samples
            M = N - K + 1                                             # codes of the whole segment
            for a in range(0, M, block):
                b = min(M, a + block)
                lo, hi = max(0, a - halo - distance), min(N, b + K - 1 + halo + distance)
                start = _clock()
                traces = white.get_traces(segment_index=segment, start_frame=lo, end_frame=hi)
                _add(timings, "preprocess", start, _clock())
                rows, amps = self._detect_block(traces, groups, threads, timings)   # code index in window, unit
                index = rows[:, 0] + lo                               # code index in the segment
                keep = (index >= a) & (index < b)
                rows, index, amps = rows[keep], index[keep], amps[keep]
                found = np.zeros(len(rows), dtype=minimum_spike_dtype)
                found["sample_index"] = (index + info["nbefore"]) * q
                found["unit_index"] = rows[:, 1]
                found["segment_index"] = segment
                spikes.append(found)
                amplitudes.append(amps)
                if progress is not None:
                    progress(min(total, done + q * (N if b == M else b)), total)
            done += recording.get_num_samples(segment)
        spikes = np.concatenate(spikes) if spikes else np.zeros(0, dtype=minimum_spike_dtype)
        amplitudes = np.concatenate(amplitudes) if amplitudes else np.zeros(0, np.float32)
        order = np.lexsort((spikes["unit_index"], spikes["sample_index"], spikes["segment_index"]))
        sorting = NumpySorting(spikes[order], fs, np.array(info["unit_ids"]))
        return (sorting, amplitudes[order]) if return_amplitudes else sorting

    def _detect_block(self, traces: np.ndarray, groups, threads, timings: dict):
        """Spikes of whitened traces (N, channels): one encoder over all channels, or every group's encoder on
        its channels, keeping the units it owns (global unit indices). Returns detect's (rows, amplitudes);
        adds the seconds of the encoders and of detection to ``timings``."""
        if not groups:
            start = _clock()
            codes = self.encoder(threads).run_long(np.ascontiguousarray(traces.T, dtype=np.float32), "codes",
                                                   chunk=self.params.chunk)
            middle = _clock()
            found = self.detect(codes)
            _add(timings, "encoder", start, middle)
            _add(timings, "detect", middle, _clock())
            return found
        all_rows, all_amps = [], []
        for group in groups:
            start = _clock()
            encoder = self.encoder(threads, group["file"])
            window = np.zeros((encoder.metadata["channels"], len(traces)), np.float32)   # zero-padded channels
            window[:len(group["channels"])] = traces[:, group["channels"]].T
            codes = encoder.run_long(window, "codes", chunk=self.params.chunk)
            middle = _clock()
            rows, amps = self.detect(codes[:group["owned"]], norms=np.asarray(group["norms"][:group["owned"]]),
                                     units=group["units"][:group["owned"]])
            _add(timings, "encoder", start, middle)
            _add(timings, "detect", middle, _clock())
            rows[:, 1] = np.asarray(group["units"])[rows[:, 1]]
            all_rows.append(rows)
            all_amps.append(amps)
        return np.concatenate(all_rows), np.concatenate(all_amps)

    def detect(self, codes: np.ndarray, amplitude_threshold: float | None = None, *,
               norms: np.ndarray | None = None, units=None):
        """Spikes in one-sided codes (C, M) of the encoder (module docstring): ((n, 2) int rows (code index,
        unit), (n,) float32 amplitudes), sorted by unit then index; ``amplitude_threshold`` defaults to the
        params', ``norms`` (C,) (the units' template norms along their filters) to the all-channel model's,
        ``units`` (C,) (the fitted units the code rows are, for their lambda) to 0..C-1.
        A code index i is the spike at sample ``(i + info["nbefore"]) * info["decimation"]``."""
        self._require_fitted()
        p, fs_model = self.params, self.info["model_sampling_frequency"]
        norms = (self._arrays["norms"] if norms is None else norms).astype(np.float64)
        lam = np.asarray(self.info["lam"], np.float64)[slice(None) if units is None else np.asarray(units)]
        threshold = p.amplitude_threshold if amplitude_threshold is None else amplitude_threshold
        distance = max(1, int(round(p.refractory_ms * 1e-3 * fs_model)))
        width = int(round(p.max_shift_ms * 1e-3 * fs_model))
        rows, sums = _code_peaks(codes, _code_thresholds(norms, lam, threshold), distance, width)
        return rows, ((sums + lam[rows[:, 1]]) / norms[rows[:, 1]]).astype(np.float32)

    @property
    def dictionary(self) -> np.ndarray:
        """The encoder's unit-norm filters (C, channels, K) in the whitened, decimated space (with
        ``info["lam"]`` and ``info["L"]``: the lasso the exported encoder unrolls)."""
        self._require_fitted()
        white = self._arrays["templates_white"] / self._arrays["norms"][:, None, None]
        return np.ascontiguousarray(np.transpose(white, (0, 2, 1)), dtype=np.float32)

    # --- checks -----------------------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if self.info is None:
            raise ConfigError("this sorter is not fitted; call fit(recording) or CRsAESorter.load(folder) first")

    def _check_compatible(self, recording) -> None:
        rec_mod.check_recording(recording)
        info = self.info
        if recording.get_num_channels() != info["num_channels"]:
            raise DataError(f"recording has {recording.get_num_channels()} channels but the sorter was fitted on "
                            f"{info['num_channels']}; sort recordings of the same probe")
        fs = float(recording.get_sampling_frequency())
        if abs(fs - info["sampling_frequency"]) > 1e-6 * info["sampling_frequency"]:
            raise DataError(f"recording is sampled at {fs:g} Hz but the sorter was fitted at "
                            f"{info['sampling_frequency']:g} Hz; resample it or fit again")


def _fingerprint(recording) -> tuple:
    """What identifies a recording's samples cheaply: rate, channel ids, segment sizes and a hash of 8 windows
    of 256 samples per segment."""
    import hashlib
    digest = hashlib.sha1()
    sizes = []
    for segment in range(recording.get_num_segments()):
        n = recording.get_num_samples(segment)
        sizes.append(n)
        for a in np.linspace(0, max(0, n - 256), 8).astype(int):
            digest.update(np.ascontiguousarray(recording.get_traces(segment_index=segment, start_frame=int(a),
                                                                    end_frame=int(min(n, a + 256)))).tobytes())
    return (float(recording.get_sampling_frequency()), tuple(str(c) for c in recording.get_channel_ids()),
            tuple(sizes), digest.hexdigest())


def _clock() -> tuple[float, float]:
    """(wall, process CPU) seconds now: on a shared machine the wall time also counts the other jobs."""
    return time.perf_counter(), time.process_time()


def _add(timings: dict, stage: str, start: tuple[float, float], stop: tuple[float, float]) -> None:
    """Add a stage's wall and CPU seconds between two ``_clock`` readings to ``timings``."""
    timings[f"{stage}_s"] += stop[0] - start[0]
    timings[f"{stage}_cpu_s"] += stop[1] - start[1]


def _template_norms(model, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(learned, norms): the model's filters as (C, K, channels) and each unit's template norm in the whitened
    space along its filter, (C,), from the mean snippets ``means`` (C, K, channels): the codes' scale of an
    average spike."""
    learned = np.transpose(model.H.detach().numpy().astype(np.float32), (0, 2, 1))
    norms = np.array([max(float(np.sum(m * h)), 1e-6) for m, h in zip(means, learned)])
    return learned, norms


def _coding_rank(rank: int | None, channels: int, K: int) -> int | None:
    """The rank the encoder codes with: None (the trained filters) when ``rank`` is None or at least
    min(channels, K), a filter's largest rank (its truncation is then the filter itself, and the factored graph
    would only cost more: e.g. the default 3 on a one- or two-channel recording); else ``rank``."""
    return None if rank is None or rank >= min(channels, K) else rank


def _factored(model, rank: int | None):
    """(the model with the rank-``rank`` SVD truncations of its filters, renormalised, and L from their norm bound;
    (C,) relative Frobenius errors of the truncation), or (model, None) for rank None."""
    if rank is None:
        return model, None
    from crsae.model.autoencoder import CRsAE
    from crsae.model.fista import factor_filters, filters_from_factors
    from crsae.sorting.templates import step_constant
    H = model.H.detach().double()
    low = filters_from_factors(*factor_filters(H, rank))                                 # (C, channels, K)
    error = ((H - low).flatten(1).norm(dim=1) / H.flatten(1).norm(dim=1)).numpy()
    low = (low / low.flatten(1).norm(dim=1)[:, None, None]).float().numpy()
    config = model.config.replace(L=step_constant(low))
    return CRsAE(config, low, lam=model.lam.detach().numpy(), normalize=False), error


def _cofiring_groups(traces: np.ndarray, means: np.ndarray, p: SorterParams, rank: int | None, fs_model: float,
                     max_shift: int) -> tuple[list[list[int]], list[dict]]:
    """Templates the lasso splits a unit over (``split_similarity``, ``split_cofiring``).

    k-means may keep two templates of one unit (e.g. before and after a drift) below ``merge_similarity``; the
    lasso then spreads that unit's spikes over both atoms, so neither code gives its spike train, and both may miss
    a spike whose code falls below their thresholds. A trial sort of the first ``split_seconds`` of the fitted
    traces (N, channels) with the k-means templates ``means`` (C, K, channels) as unit-norm filters (the sorter's
    lambda, T and ``rank``; torch, in chunks of 2^16 codes with a halo of T (K - 1) samples each side; detection as
    ``CRsAESorter.detect`` at half ``amplitude_threshold``, since a split spike gives each atom about half of its
    amplitude) counts, for each pair more similar than ``split_similarity`` (best shift within +-``max_shift``),
    the spikes of one with a spike of the other within ``refractory_ms``, over the smaller spike count (both at
    least 10); two units fire that way by chance at about 2 rate x refractory_ms (1% at 5 Hz and 1 ms). Pairs above
    ``split_cofiring`` are joined (union-find). Returns (groups: lists of unit indices covering 0..C-1, the joined
    pairs with their similarity and co-firing)."""
    import torch
    from crsae.model.fista import factor_filters, factored_fista
    from crsae.sorting import templates as tmpl
    C, K = means.shape[:2]
    norms = np.linalg.norm(means.reshape(C, -1), axis=1)
    filters = np.transpose(means / norms[:, None, None], (0, 2, 1)).astype(np.float32)   # (C, channels, K)
    model, _ = tmpl.train_dictionary(traces, filters, num_layers=p.num_layers, lam=p.lam, delta=p.delta, em=p.em,
                                     window=p.window, epochs=0, batch_size=p.batch_size, lr=p.lr,
                                     max_windows=p.max_windows, seed=p.seed)
    model, _ = _factored(model, rank)
    _, norms = _template_norms(model, means)
    traces = traces[:max(int(p.split_seconds * fs_model), 2 * K)]
    N = len(traces)
    M, halo, chunk = N - K + 1, p.num_layers * (K - 1), 1 << 16
    codes = np.zeros((C, M), np.float32)
    with torch.no_grad():
        b = model.thresholds()
        U, V = [a.float() for a in factor_filters(model.H, rank)] if rank is not None else (None, None)
        for a in range(0, M, chunk):
            lo, hi = max(0, a - halo), min(N, a + chunk + K - 1 + halo)
            y = torch.from_numpy(np.ascontiguousarray(traces[lo:hi].T, dtype=np.float32))[None]
            x = (factored_fista(y, U, V, b, model.L, p.num_layers, two_sided=False) if U is not None
                 else model.encode(y))[0].numpy()
            codes[:, a:a + chunk] = x[:, a - lo:a - lo + min(chunk, M - a)]
    distance = max(1, int(round(p.refractory_ms * 1e-3 * fs_model)))
    width = int(round(p.max_shift_ms * 1e-3 * fs_model))
    rows, _ = _code_peaks(codes, _code_thresholds(norms, model.lam.detach().numpy().astype(np.float64),
                                                  p.amplitude_threshold / 2), distance, width)
    trains = [rows[rows[:, 1] == c, 0] for c in range(C)]                  # sorted code indices per unit
    parent = list(range(C))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    merges = []
    for i in range(C):
        for j in range(i + 1, C):
            small = min(len(trains[i]), len(trains[j]))
            if small < 10:
                continue
            similarity = tmpl.shift_similarity(means[i], means[j], max_shift)
            if similarity <= p.split_similarity:
                continue
            a, other = trains[i], trains[j]
            k = np.searchsorted(other, a)
            near = np.zeros(len(a), bool)
            for index in (k - 1, k):
                ok = (index >= 0) & (index < len(other))
                near[ok] |= np.abs(other[index[ok]] - a[ok]) <= distance
            cofiring = float(near.sum()) / small
            if cofiring > p.split_cofiring:
                merges.append({"units": [i, j], "similarity": similarity, "cofiring": cofiring,
                               "spikes": [len(trains[i]), len(trains[j])]})
                if root(i) != root(j):
                    parent[root(j)] = root(i)
    roots = [root(i) for i in range(C)]
    groups = [[i for i in range(C) if roots[i] == r] for r in sorted(set(roots))]
    return groups, merges


def _code_thresholds(norms: np.ndarray, lam: np.ndarray, amplitude_threshold: float) -> np.ndarray:
    """(C,) thresholds on the summed codes for spikes of amplitude (code + lambda) / norm above
    ``amplitude_threshold`` (module docstring): amplitude_threshold x norm - lambda, at least 0 (a nonzero code)."""
    return np.maximum(amplitude_threshold * norms - lam, 0.0)


def _code_peaks(codes: np.ndarray, thresholds: np.ndarray, distance: int, width: int):
    """Events of one-sided codes (C, M): the codes summed over +-``width`` samples (a spike's code spreads over
    neighbouring samples while FISTA has not converged, the more so as templates are smooth), local maxima of that
    sum within +-distance above the unit's threshold. Returns ((n, 2) int rows (code index, unit), (n,) sums)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d
    codes = codes.astype(np.float32)
    summed = uniform_filter1d(codes, size=2 * width + 1, axis=1, mode="constant") * (2 * width + 1)
    score = summed + 1e-3 * codes                         # a plateau of the sum peaks where the code itself does
    peak = maximum_filter1d(score, size=2 * distance + 1, axis=1, mode="constant")
    unit, index = np.nonzero((score >= peak) & (summed > thresholds[:, None].astype(np.float32)))
    order = np.lexsort((index, unit))
    unit, index = unit[order], index[order]
    # exact ties left: keep the first of detections closer than `distance` within a unit
    gap = np.diff(index, prepend=-10 * distance - 1)
    keep = (gap > distance) | (np.diff(unit, prepend=-1) != 0)
    unit, index = unit[keep], index[keep]
    return np.column_stack([index, unit]).astype(np.int64), summed[unit, index]


def _plain(value):
    """A channel id as a JSON value."""
    return value.item() if hasattr(value, "item") else value


def export_phy(sorting, recording, folder: str | os.PathLike, *, sorter: CRsAESorter | None = None,
               amplitudes: np.ndarray | None = None, copy_binary: bool = True, remove_if_exists: bool = False,
               threads: int = 1) -> Path:
    """A Phy (template-gui) folder from spikeinterface's exporter: the SortingAnalyzer of ``sorting`` on the
    filtered recording (the sorter's preprocessing without whitening, when given, so Phy shows band-passed
    microvolts), sparse templates, no PC features; ``amplitudes`` (CRsAE's, from ``sort(...,
    return_amplitudes=True)``) become ``amplitudes.npy`` instead of spikeinterface's peak amplitudes."""
    rec_mod.spikeinterface()
    from spikeinterface.core import create_sorting_analyzer
    from spikeinterface.exporters import export_to_phy
    folder = Path(folder)
    if not recording.has_probe():
        # Phy places channels by their positions: a raw file has none, so a linear probe (20 um pitch) stands in
        from probeinterface import generate_linear_probe
        probe = generate_linear_probe(num_elec=recording.get_num_channels(), ypitch=20)
        probe.set_device_channel_indices(np.arange(recording.get_num_channels()))
        recording = recording.clone()                  # set_probe works in place: leave the caller's alone
        recording.set_probe(probe)
    shown = sorter.preprocess(recording, whiten=False) if sorter is not None else recording
    if sorting.get_num_segments() != 1:
        raise DataError(f"Phy takes one segment; this sorting has {sorting.get_num_segments()} (sort each "
                        "segment on its own: recording.select_segments([i]))")
    if sorting.to_spike_vector().size == 0:
        raise DataError("the sorting has no spikes; Phy needs at least one")
    vector = sorting.to_spike_vector()
    if amplitudes is not None:
        amplitudes = np.asarray(amplitudes, dtype=np.float64)
        if amplitudes.shape != (len(vector),):
            raise DataError(f"{len(amplitudes)} amplitudes for {len(vector)} spikes; pass the ones sort returned "
                            "with this sorting")
    counts = np.bincount(vector["unit_index"], minlength=len(sorting.unit_ids))
    if (counts == 0).any():
        # Phy gets the units that fired (spikeinterface's exporter indexes clusters by unit_index, so empty units
        # would shift the labels); the amplitudes follow the re-indexed spike vector, ordered by (sample, unit)
        kept = np.flatnonzero(counts)
        sorting = sorting.select_units(list(np.asarray(sorting.unit_ids)[kept]))
        if amplitudes is not None:
            remap = np.full(len(counts), -1)
            remap[kept] = np.arange(len(kept))
            old = np.lexsort((remap[vector["unit_index"]], vector["sample_index"]))
            new_vector = sorting.to_spike_vector()
            new = np.lexsort((new_vector["unit_index"], new_vector["sample_index"]))
            ordered = np.empty_like(amplitudes)
            ordered[new] = amplitudes[old]
            amplitudes = ordered
    job = {"n_jobs": threads, "progress_bar": False}
    analyzer = create_sorting_analyzer(sorting, shown, sparse=True, format="memory", job_kwargs=job)
    analyzer.compute("random_spikes", max_spikes_per_unit=200, seed=0)
    ms_before = sorter.params.ms_before if sorter is not None else 1.0
    ms_after = sorter.params.ms_after if sorter is not None else 1.5
    analyzer.compute("templates", ms_before=ms_before, ms_after=ms_after, **job)
    analyzer.compute("template_similarity")
    export_to_phy(analyzer, folder, compute_pc_features=False, compute_amplitudes=amplitudes is None,
                  copy_binary=copy_binary, remove_if_exists=remove_if_exists, verbose=False,
                  use_relative_path=True, **job)
    if amplitudes is not None:
        np.save(folder / "amplitudes.npy", amplitudes[:, None])
    return folder
