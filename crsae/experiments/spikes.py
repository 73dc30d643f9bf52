"""Spike sorting on a generated recording (issue 5, item 3; the paper's spike-sorting experiment), on the same
foundation as ``crsae sort``: spikeinterface's ground truth and scoring, crsae.sorting's templates and detection.

1. Recording: spikeinterface's ``generate_ground_truth_recording`` (its probe, templates, Poisson trains with a
   refractory period, Gaussian noise of ``noise_uV``); the first ``train_seconds`` to learn on, the rest (the test
   part) scored and timed.
2. Templates: ``CRsAESorter.fit`` on the training part (band-pass, common reference, whitening, decimation;
   k-means of thresholded snippets, then CRsAE's EM: crsae.sorting).
3. Codes of the whole test part (whitened, decimated: ``sorter.preprocess``), two ways, for the same convex problem
   ``1/2 ||y - Hx||^2 + sum_c lam_c ||x_c||_1, x >= 0`` (the sorter's H, lambda, L):
   - the exported encoder under onnxruntime (``Encoder.run_long``, the engine of ``crsae sort``), T unrolled steps,
     and the same H, lambda unrolled to each of ``inference_layers``;
   - FISTA to tolerance (float64 FFT convolutions, adaptive restart), the fixed point of the E-step.
4. Spikes from codes by the sorter's own rule (``CRsAESorter.detect``), over a sweep of its amplitude threshold
   ((a spike's summed code + its unit's lambda) / the unit's template norm), each point a spikeinterface Sorting.
5. Baselines: spikeinterface's circus-omp given the sorter's templates on the same filtered test part; chance (as
   many spikes per unit as CRsAE's best point, at uniformly random times).
6. Scores: ``compare_sorter_to_ground_truth`` (``delta_time`` = tolerance, Hungarian matching of units): mean
   accuracy, precision, recall, well-detected units (accuracy >= 0.8), and the paper's pair, % of true spikes missed
   (1 - matched / true) and % of detections false (1 - matched / detections), summed over units.

Times are the process's CPU seconds (``time.process_time``; everything runs on one thread), the fastest of
``repeats``: on a shared machine the wall time also counts the other jobs (in the run that changed this, one
encoder's wall time went from 26 s to 372 s between two depths as the load moved). Wall seconds are kept beside.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from crsae.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """The quick run by default (a few minutes on one CPU core); ``Settings.full()`` for the reported run."""

    # --- the recording (spikeinterface's generator)
    num_channels: int = 4                   # probe contacts (spikeinterface's 2-column probe, 20 um pitch)
    num_units: int = 5                      # ground-truth units
    fs: float = 30000.0                     # sampling rate (Hz)
    noise_uV: float = 5.0                   # std of the generator's Gaussian noise (its templates are tens of uV)
    firing_rate_hz: float = 15.0            # mean rate of every unit (the generator's default)
    train_seconds: float = 20.0             # part the templates are learned on
    test_seconds: float = 10.0              # part scored and timed (the "long recording")
    # --- the sorter (crsae.sorting.SorterParams)
    num_layers: int = 20                    # T unrolled FISTA steps of the exported encoder
    epochs: int = 2                         # CRsAE EM passes after k-means
    # --- codes, detection, scoring, timing
    delta_time_ms: float = 0.4              # a detection matches a true spike within +-this (spikeinterface's default)
    sweep_min: float = 0.1                  # amplitude thresholds (CRsAESorter.detect), geometric sweep
    sweep_max: float = 1.2
    sweep_points: int = 12
    fista_tol: float = 1e-6                 # FISTA stops when F changed by < tol * F over fista_check iterations
    fista_check: int = 10
    fista_max_iter: int = 20000             # FISTA's iteration cap (results say whether it was hit)
    chunk: int = 32768                      # run_long chunk (codes)
    inference_layers: tuple = (10, 50)      # also code with the fitted H, lambda unrolled to these T
    repeats: int = 2                        # timings: the fastest of this many runs
    seed: int = 0

    @classmethod
    def full(cls, **changes) -> "Settings":
        """The reported run: 8 channels, 8 units, a minute to learn on, 10 s (about 3400 spikes) to score and time,
        one timing each (FISTA's take minutes of CPU at this size)."""
        sizes = dict(num_channels=8, num_units=8, train_seconds=60.0, test_seconds=10.0,
                     inference_layers=(10, 50, 100), repeats=1)
        return cls(**{**sizes, **changes})

    def __post_init__(self):
        for name in ("num_channels", "num_units", "num_layers", "sweep_points", "fista_check", "fista_max_iter",
                     "chunk", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ConfigError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        for name in ("fs", "noise_uV", "firing_rate_hz", "train_seconds", "test_seconds", "delta_time_ms",
                     "sweep_min", "sweep_max", "fista_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
        if self.fs < 15000:
            raise ConfigError(f"fs {self.fs:g} Hz is too low for spikes; use at least 15000 Hz")
        if self.sweep_min >= self.sweep_max:
            raise ConfigError(f"sweep_min {self.sweep_min} must be below sweep_max {self.sweep_max}")
        if any(isinstance(T, bool) or not isinstance(T, int) or T < 1 for T in self.inference_layers):
            raise ConfigError(f"inference_layers must be positive integers, got {self.inference_layers!r}")

    @property
    def thresholds(self) -> np.ndarray:
        """The amplitude-threshold sweep (``CRsAESorter.detect``'s): (sweep_points,)."""
        return np.geomspace(self.sweep_min, self.sweep_max, self.sweep_points)


# --- the recording ----------------------------------------------------------------------------------------------
def make_recording(s: Settings):
    """(train recording, test recording, test ground truth Sorting, true templates (units, samples, channels) in
    uV, their trough sample) cut from one ``generate_ground_truth_recording`` of train + test seconds."""
    from spikeinterface.core import generate_ground_truth_recording
    rec, gt = generate_ground_truth_recording(
        durations=[s.train_seconds + s.test_seconds], sampling_frequency=s.fs, num_channels=s.num_channels,
        num_units=s.num_units, seed=s.seed, generate_sorting_kwargs=dict(firing_rates=s.firing_rate_hz,
                                                                         refractory_period_ms=4.0),
        noise_kwargs=dict(noise_levels=s.noise_uV, strategy="on_the_fly"))
    split, end = int(s.train_seconds * s.fs), rec.get_num_samples(0)
    templates = np.asarray(rec._kwargs["templates"], dtype=np.float32)
    return (rec.frame_slice(0, split), rec.frame_slice(split, end), gt.frame_slice(split, end), templates,
            int(rec._kwargs["nbefore"]))


# --- the convex problem and its solvers ------------------------------------------------------------------------
def _spectra(H: np.ndarray, n_fft: int) -> np.ndarray:
    from scipy import fft
    return fft.rfft(H.astype(np.float64), n_fft, axis=-1)                          # (C, channels, F)


def fista_to_tolerance(traces: np.ndarray, H: np.ndarray, weights: np.ndarray, L: float, *, tol: float,
                       check: int, max_iter: int):
    """Solve ``min_{x >= 0} 1/2 ||y - Hx||^2 + sum_c w_c ||x_c||_1`` by FISTA with adaptive (gradient) restart
    (O'Donoghue & Candes 2015), float64, from x = 0, with step 1/L; multichannel convolutions by FFT (scipy.fft,
    one worker). Stops when the objective F changed by less than ``tol * F`` over the last ``check`` iterations.

    traces (channels, N); H (C, channels, K); weights (C,) = lam_c sigma^2.
    Returns (codes (C, N - K + 1), iterations, F)."""
    from scipy import fft
    y = traces.astype(np.float64)
    (channels, N), (C, _, K) = y.shape, H.shape
    M, n_fft = N - K + 1, fft.next_fast_len(N)        # a full convolution of length N never wraps
    Hf = _spectra(H, n_fft)                                                       # (C, channels, F)
    b = (weights / L)[:, None]                                                    # (C, 1)

    def synthesis_f(x):                                                           # H x in frequency: (channels, F)
        return np.einsum("cf,cif->if", fft.rfft(x, n_fft, axis=1), Hf)

    def analysis(spectrum):                                                       # H^T of (channels, F): (C, M)
        return fft.irfft(np.einsum("if,cif->cf", spectrum, Hf.conj()), n_fft, axis=1)[:, :M]

    def objective(x):
        residual = y - fft.irfft(synthesis_f(x), n_fft, axis=1)[:, :N]
        return float(0.5 * np.sum(residual ** 2) + np.sum(weights @ x))

    c = analysis(fft.rfft(y, n_fft, axis=1)) / L                                  # (1/L) H^T y, (C, M)
    x = np.zeros((C, M))
    z, t = x, 1.0
    F_prev = objective(x)
    for k in range(1, max_iter + 1):
        x_new = np.maximum(z - analysis(synthesis_f(z)) / L + c - b, 0.0)         # prox-gradient step at z
        if np.vdot(z - x_new, x_new - x) > 0:                                     # momentum points uphill: restart
            t = 1.0
        t_next = (1 + (1 + 4 * t * t) ** 0.5) / 2
        z = x_new + ((t - 1) / t_next) * (x_new - x)
        x, t = x_new, t_next
        if k % check == 0:
            F = objective(x)
            if abs(F_prev - F) <= tol * abs(F):
                return x, k, F
            F_prev = F
    return x, max_iter, objective(x)


def objective_value(traces: np.ndarray, H: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> float:
    """F(x) = 1/2 ||y - Hx||^2 + sum_c w_c ||x_c||_1 in float64; traces (channels, N), H (C, channels, K),
    codes (C, N - K + 1)."""
    from scipy import fft
    N = traces.shape[1]
    n_fft = fft.next_fast_len(N)
    recon = fft.irfft(np.einsum("cf,cif->if", fft.rfft(codes.astype(np.float64), n_fft, axis=1),
                                _spectra(H, n_fft)), n_fft, axis=1)[:, :N]
    return float(0.5 * np.sum((traces - recon) ** 2) + np.sum(weights * np.abs(codes).sum(axis=1)))


def encoder_at_depth(sorter, num_layers: int, folder: Path):
    """An onnxruntime Encoder (1 thread) of the sorter's H, lambda and L unrolled to ``num_layers`` steps."""
    from crsae.config import ModelConfig
    from crsae.exporter.onnx_export import to_onnx, write_export
    from crsae.model.autoencoder import CRsAE
    from crsae.serving.runtime import Encoder
    H, info = sorter.dictionary, sorter.info
    C, channels, K = H.shape
    config = ModelConfig(kind="1d", channels=channels, num_filters=C, kernel_size=K, num_layers=num_layers,
                         sigma=1.0, threshold_mode="fixed", two_sided=False, L=info["L"])
    model = CRsAE(config, H, lam=np.asarray(info["lam"], dtype=np.float32), normalize=False)
    path = folder / f"spikes-T{num_layers}.onnx"
    write_export(to_onnx(model, outputs="codes"), path)
    return Encoder(path, device="cpu", threads=1)


def timed(fn, repeats: int):
    """(fn()'s result, fastest CPU seconds, fastest wall seconds) over ``repeats`` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return result, min(cpu), min(wall)


# --- detection and scoring ------------------------------------------------------------------------------------
def codes_to_sorting(sorter, codes: np.ndarray, threshold: float):
    """The sorter's spikes in codes (C, M) of one segment at one amplitude threshold: a NumpySorting."""
    from spikeinterface.core import NumpySorting
    rows, _ = sorter.detect(codes, threshold)
    info = sorter.info
    samples = (rows[:, 0] + info["nbefore"]) * info["decimation"]
    order = np.argsort(samples, kind="stable")
    return NumpySorting.from_samples_and_labels([samples[order]], [rows[order, 1]], info["sampling_frequency"],
                                                unit_ids=np.array(info["unit_ids"]))


def score(gt, sorting, delta_time_ms: float) -> dict:
    """``compare_sorter_to_ground_truth`` of ``sorting`` against ``gt``: the means over ground-truth units of
    accuracy, precision and recall, well-detected units, and the paper's totals (module docstring, step 6)."""
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    cmp = compare_sorter_to_ground_truth(gt, sorting, delta_time=delta_time_ms, exhaustive_gt=True)
    perf = cmp.get_performance().astype(float)
    counts = cmp.count_score
    matched, true = float(counts.tp.sum()), float(counts.num_gt.sum())
    detections = float(sum(len(sorting.get_unit_spike_train(u)) for u in sorting.unit_ids))
    return {"accuracy": float(perf.accuracy.mean()), "precision": float(perf.precision.mean()),
            "recall": float(perf.recall.mean()),
            "well_detected": len(cmp.get_well_detected_units(well_detected_score=0.8)),
            "missed": 100 * (1 - matched / true) if true else 0.0,
            "false": 100 * (1 - matched / detections) if detections else 0.0,
            "f1": 2 * matched / (detections + true) if detections + true else 0.0,
            "detections": int(detections),
            "match": {str(g): (None if t == -1 else str(t)) for g, t in cmp.hungarian_match_12.items()},
            "per_unit": {str(u): row for u, row in perf[["accuracy", "precision", "recall"]].to_dict("index").items()}}


def sweep(sorter, codes: np.ndarray, gt, s: Settings) -> list[dict]:
    """``score`` of the sorter's detection in ``codes`` at every amplitude threshold of the sweep."""
    return [{"threshold": float(th), **score(gt, codes_to_sorting(sorter, codes, th), s.delta_time_ms)}
            for th in s.thresholds]


def best(curve: list[dict]) -> dict:
    """The sweep point with the highest mean accuracy."""
    return max(curve, key=lambda point: point["accuracy"])


def chance_sorting(sorting_like, length: int, seed: int):
    """As many spikes per unit as the sorting ``sorting_like`` has, at uniformly random samples."""
    from spikeinterface.core import NumpySorting
    rng = np.random.default_rng(seed)
    units = sorting_like.unit_ids
    trains = [np.sort(rng.integers(0, length, len(sorting_like.get_unit_spike_train(u)))) for u in units]
    samples = np.concatenate(trains)
    labels = np.concatenate([np.full(len(t), u) for t, u in zip(trains, units)])
    order = np.argsort(samples, kind="stable")
    return NumpySorting.from_samples_and_labels([samples[order]], [labels[order]], sorting_like.sampling_frequency,
                                                unit_ids=np.asarray(units))


def circus_omp(sorter, test, repeats: int):
    """spikeinterface's circus-omp given the sorter's templates, on the filtered test part, 1 job.
    Returns (Sorting, fastest CPU seconds, fastest wall seconds); its time includes the filtering, which it
    computes as it reads (the encoder's times do not: its input is the preprocessed test part)."""
    from spikeinterface.core import NumpySorting, Templates
    from spikeinterface.sortingcomponents.matching import find_spikes_from_templates
    info = sorter.info
    templates = Templates(templates_array=sorter.templates, sampling_frequency=info["sampling_frequency"],
                          nbefore=info["templates_nbefore"], probe=test.get_probe(), is_in_uV=True)
    filtered = sorter.preprocess(test, whiten=False)
    spikes, cpu_s, wall_s = timed(lambda: find_spikes_from_templates(
        filtered, templates, method="circus-omp", job_kwargs=dict(n_jobs=1, chunk_duration="1s", progress_bar=False)),
        repeats)
    order = np.argsort(spikes["sample_index"], kind="stable")
    sorting = NumpySorting.from_samples_and_labels(
        [spikes["sample_index"][order]], [np.asarray(info["unit_ids"])[spikes["cluster_index"][order]]],
        info["sampling_frequency"], unit_ids=np.array(info["unit_ids"]))
    return sorting, cpu_s, wall_s


# --- figures ----------------------------------------------------------------------------------------------------
def plot_curves(curves: dict, chance: dict, folder):
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for i, (name, curve) in enumerate(curves.items()):
        style = "o-" if len(curve) > 1 else "s"
        ax.plot([p["false"] for p in curve], [p["missed"] for p in curve], style, ms=4, color=f"C{i}", label=name)
    ax.plot([chance["false"]], [chance["missed"]], "kx", label="chance (CRsAE's counts)")
    ax.set_xlabel("% detections false")
    ax.set_ylabel("% true spikes missed")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, folder, "miss_false.png")


def plot_waveforms(true: np.ndarray, true_nbefore: int, learned: np.ndarray, learned_nbefore: int, match: dict,
                   fs: float, folder):
    """Each ground-truth unit's template on its largest channel (the generator's, unfiltered), and the learned
    template matched to it (on the band-passed recording: smaller and narrower)."""
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    J = len(true)
    fig, axes = plt.subplots(1, J, figsize=(2.4 * J, 2.6), sharey=True)
    for j, ax in enumerate(np.atleast_1d(axes)):
        channel = int(np.abs(true[j]).max(axis=0).argmax())
        ax.plot((np.arange(true.shape[1]) - true_nbefore) / fs * 1e3, true[j, :, channel], "k", lw=2, label="true")
        unit = match.get(str(j))
        if unit is not None:
            ax.plot((np.arange(learned.shape[1]) - learned_nbefore) / fs * 1e3, learned[int(unit), :, channel],
                    "C0", label="learned")
        ax.set_title(f"unit {j} (channel {channel})", fontsize=9)
        ax.set_xlabel("ms")
    np.atleast_1d(axes)[0].set_ylabel("uV")
    labelled = max(np.atleast_1d(axes), key=lambda ax: len(ax.get_lines()))      # one with both lines
    labelled.legend(fontsize=8)
    return save_figure(fig, folder, "waveforms.png")


# --- the experiment ---------------------------------------------------------------------------------------------
def run(settings: Settings, output: Path, *, log=print) -> dict:
    """Generate, fit, code, detect, score and time; writes output/results.json, miss_false.png and
    waveforms.png; returns the results."""
    from crsae.experiments.report import environment, output_folder, write_results
    from crsae.sorting import CRsAESorter
    s, folder = settings, output_folder(output)
    train, test, gt, true_templates, true_nbefore = make_recording(s)
    log(f"recording: spikeinterface generator, {s.num_channels} channels, {s.num_units} units, "
        f"{s.train_seconds:g} s train + {s.test_seconds:g} s test at {s.fs:g} Hz, noise {s.noise_uV:g} uV, "
        f"{[len(gt.get_unit_spike_train(u)) for u in gt.unit_ids]} test spikes per unit")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        sorter = CRsAESorter(num_units=s.num_units, fit_seconds=s.train_seconds, epochs=s.epochs,
                             num_layers=s.num_layers, seed=s.seed,
                             rank=None).fit(train, tmp / "sorter", log=log)   # the trained filters, as measured
        fit_s = time.perf_counter() - start
        H = sorter.dictionary.astype(np.float64)                                  # (C, channels, K)
        weights = np.asarray(sorter.info["lam"], dtype=np.float64)                # lam_c sigma^2, sigma = 1
        L = float(sorter.info["L"])
        traces = np.ascontiguousarray(sorter.preprocess(test).get_traces(segment_index=0).T, dtype=np.float32)

        (codes_fista, iterations, F_fista), fista_s, fista_wall_s = timed(
            lambda: fista_to_tolerance(traces, H, weights, L, tol=s.fista_tol, check=s.fista_check,
                                       max_iter=s.fista_max_iter), s.repeats)
        log(f"FISTA to tolerance: {fista_s:.2f} s CPU, {iterations} iterations")

        def encoder_row(encoder, T):
            codes, run_s, run_wall_s = timed(lambda: encoder.run_long(traces, "codes", chunk=s.chunk), s.repeats)
            _, detect_s, _ = timed(lambda: codes_to_sorting(sorter, codes, sorter.params.amplitude_threshold), 1)
            curve = sweep(sorter, codes, gt, s)                                  # detection: the same for FISTA
            point = best(curve)
            log(f"onnxruntime T {T}: run_long {run_s:.2f} s CPU, best accuracy {point['accuracy']:.3f}")
            return codes, curve, {"T": T, "run_long_s": run_s, "run_long_wall_s": run_wall_s,
                                  "speedup": fista_s / run_s, "detect_s": detect_s,
                                  "speedup_detection": (fista_s + detect_s) / (run_s + detect_s),
                                  "relative_gap": objective_value(traces, H, weights, codes) / F_fista - 1,
                                  **{key: point[key] for key in ("accuracy", "precision", "recall", "well_detected",
                                                                 "f1", "missed", "false", "threshold")}}

        codes_ort, crsae_curve, trained_row = encoder_row(sorter.encoder(threads=1), s.num_layers)
        depths = sorted([encoder_row(encoder_at_depth(sorter, T, tmp), T)[2] for T in s.inference_layers
                         if T != s.num_layers] + [trained_row], key=lambda row: row["T"])
        omp_sorting, omp_s, omp_wall_s = circus_omp(sorter, test, s.repeats)
    curves = {"CRsAE (onnxruntime)": crsae_curve, "FISTA to tolerance": sweep(sorter, codes_fista, gt, s),
              "circus-omp (spikeinterface), same templates": [score(gt, omp_sorting, s.delta_time_ms)]}
    best_points = {name: best(curve) for name, curve in curves.items()}
    crsae_best = best_points["CRsAE (onnxruntime)"]
    chance = score(gt, chance_sorting(codes_to_sorting(sorter, codes_ort, crsae_best["threshold"]),
                                      test.get_num_samples(0), s.seed), s.delta_time_ms)
    results = {
        "settings": asdict(s),
        "environment": {**environment(), "onnxruntime_threads": 1},
        "recording": {"test_spikes": [len(gt.get_unit_spike_train(u)) for u in gt.unit_ids],
                      "template_peak_uV": np.abs(true_templates).max(axis=(1, 2)).tolist(),
                      "test_samples": int(test.get_num_samples(0)), "coded_samples": int(traces.shape[1])},
        "fit": {"seconds": fit_s, "units": len(sorter.unit_ids), "L": L, "lam": weights.tolist(),
                "stages": sorter.info["fit"]["stages"]},
        "timing": {"clock": "process CPU seconds (time.process_time), the fastest of repeats; *_wall_s: wall",
                   "onnxruntime_run_long_s": trained_row["run_long_s"],
                   "onnxruntime_run_long_wall_s": trained_row["run_long_wall_s"], "fista_s": fista_s,
                   "fista_wall_s": fista_wall_s, "fista_iterations": iterations,
                   "fista_converged": iterations < s.fista_max_iter, "circus_omp_s": omp_s,
                   "circus_omp_wall_s": omp_wall_s, "speedup_codes": trained_row["speedup"],
                   "load_average": list(os.getloadavg()),
                   "detect_s": trained_row["detect_s"], "speedup_detection": trained_row["speedup_detection"]},
        "objective": {"fista": F_fista, "crsae_relative_gap": trained_row["relative_gap"]},
        "depths": depths, "best": best_points, "chance": chance,
        "thresholds": s.thresholds.tolist(), "curves": curves,
    }
    write_results(folder, results)
    plot_curves(curves, chance, folder)
    plot_waveforms(true_templates, true_nbefore, sorter.templates, sorter.info["templates_nbefore"], crsae_best["match"], s.fs, folder)
    return results


def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for results.json and the figures.")]
    = Path("runs/experiment-spikes"),
    full: Annotated[bool, typer.Option(help="The reported size: 8 channels, 8 units, 60 s + 10 s.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the recording, the clustering and the training.")] = 0,
    num_layers: Annotated[Optional[int], typer.Option(help="T, unrolled FISTA steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="CRsAE EM epochs after k-means.")] = None,
    train_seconds: Annotated[Optional[float], typer.Option(help="Seconds of recording to learn on.")] = None,
    test_seconds: Annotated[Optional[float], typer.Option(help="Seconds of recording to score and time.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
):
    """Spike sorting on a spikeinterface-generated recording: CRsAE's encoder vs FISTA to tolerance (same H,
    lambda) vs circus-omp, scored by spikeinterface's ground-truth comparison."""
    from crsae import extras
    extras.require("spikeinterface", "sklearn", what="crsae experiment spikes")
    given = {name: value for name, value in dict(num_layers=num_layers, epochs=epochs, train_seconds=train_seconds,
                                                 test_seconds=test_seconds).items() if value is not None}
    settings = Settings.full(seed=seed, **given) if full else Settings(seed=seed, **given)
    results = run(settings, output, log=(lambda line: None) if quiet else lambda line: typer.echo(line, err=True))
    typer.echo(f"{'method':44s} {'accuracy':>8s} {'% missed':>9s} {'% false':>8s}")
    for name, point in results["best"].items():
        typer.echo(f"{name:44s} {point['accuracy']:8.3f} {point['missed']:9.1f} {point['false']:8.1f}")
    typer.echo(f"{'codes of the test part':44s} {'CPU s':>8s} {'speed-up':>9s} {'accuracy':>8s}")
    typer.echo(f"{'FISTA to tolerance':44s} {results['timing']['fista_s']:8.2f} {1.0:9.1f} "
               f"{results['best']['FISTA to tolerance']['accuracy']:8.3f}")
    for row in results["depths"]:
        typer.echo(f"{'CRsAE onnxruntime, T ' + str(row['T']):44s} {row['run_long_s']:8.2f} {row['speedup']:9.1f} "
                   f"{row['accuracy']:8.3f}")
    typer.echo(f"results in {output}")
