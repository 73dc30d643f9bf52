"""Spike sorting on a simulated 1-D recording (issue 5, item 3; the paper's spike-sorting experiment).

1. Simulate a single-channel recording with ground truth (``crsae.experiments.recording``): a training part and a
   test part, which is also the long recording that is timed.
2. Initial filters: negative threshold crossings of the training part, snippets aligned on the trough, k-means
   centroids (one per filter).
3. Train a one-sided CRsAE (EM lambda) on windows of the training part.
4. Detect spikes on the test part from each filter's reconstruction ``h_c * x_c``: peaks of its dominant polarity
   above a threshold, at least K/2 samples apart. Codes come from
   - the exported model in onnxruntime (``Encoder.run_long``, the engine of ``crsae infer``), T unrolled steps;
   - FISTA to tolerance on the same convex problem ``1/2 ||y - Hx||^2 + sum_c lam_c sigma^2 ||x_c||_1, x >= 0``
     (same learned H, lambda, L; float64 FFT convolutions, adaptive restart), the fixed point of the E-step.
5. Baseline: negative threshold crossings + PCA + k-means of the aligned snippets.
6. Score every method with the paper's rule over a sweep of detection thresholds (in units of the robust noise
   std, median |y| / 0.6745): a detection matches a true spike of the assigned neuron within +-tolerance, one to
   one; clusters (filters) are assigned to neurons by the best permutation on F1; % missed = 1 - matched / true,
   % false = 1 - matched / detections, summed over neurons.
"""

from __future__ import annotations

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
    """The quick run by default (about 2-3 minutes on 2 CPU cores); ``Settings.full()`` for the reported run."""

    # --- the recording
    num_neurons: int = 4                    # J neurons (at most 4 distinct shapes) = C filters
    fs: float = 20000.0                     # sampling rate (Hz)
    kernel_size: int = 30                   # K taps per waveform / filter (1.5 ms at 20 kHz)
    rates_hz: tuple = (12.0, 8.0, 15.0, 10.0)   # mean firing rate of each neuron (Hz)
    refractory_ms: float = 2.0              # dead time after each spike
    amplitude_jitter: float = 0.1           # std of each spike's amplitude around 1
    noise_cutoff_hz: float = 3000.0         # one-pole low-pass of the background noise
    train_seconds: float = 20.0             # training part of the recording
    test_seconds: float = 10.0              # test part: scored and timed (the "long recording")
    # --- the model and its training
    num_layers: int = 100                   # T unrolled FISTA steps
    window: int = 2000                      # training window (samples)
    lam_init: float = 7.0                   # initial lambda; code threshold b = lam sigma^2 / L with sigma = 1
    delta: float = 1000.0                   # Gamma hyperprior rate: strong, or EM drives lambda to ~Ne / ||x||_1
    epochs: int = 8                         # passes over the training windows
    batch_size: int = 16                    # windows per step
    lr: float = 2e-4                        # Adam learning rate for H (1e-3 drifts away from the truth here)
    adam_eps: float = 1e-5                  # Adam epsilon (1e-3 crawls on sparse windows)
    lr_decay: float = 0.8                   # lr multiplied by this every lr_step epochs
    lr_step: int = 2                        # epochs between learning-rate decays
    init_threshold: float = 4.0             # initial filters: crossings below -init_threshold noise stds
    # --- detection, scoring, timing
    tolerance_ms: float = 0.5               # a detection matches a true spike within +-tolerance
    sweep_min: float = 0.25                 # detection thresholds, geometric sweep, in noise stds
    sweep_max: float = 14.0                 # (same thresholds for every method)
    sweep_points: int = 24
    pca_components: int = 3                 # baseline: PCA dimensions before k-means
    fista_tol: float = 1e-6                 # FISTA stops when F changed by < tol * F over fista_check iterations
    fista_check: int = 10                   # iterations between objective evaluations
    fista_max_iter: int = 20000             # FISTA's iteration cap (results say whether it was hit)
    chunk: int = 65536                      # run_long chunk (samples)
    inference_layers: tuple = (25, 50)      # also detect with the trained H, lambda unrolled to these T
    repeats: int = 2                        # timings: the fastest of this many runs (a shared machine is noisy)
    trace_ms: float = 60.0                  # length of the trace figure
    seed: int = 0

    @classmethod
    def full(cls, **changes) -> "Settings":
        """The reported run: a minute of recording to train on, a minute to score and time, T = 200."""
        sizes = dict(train_seconds=60.0, test_seconds=60.0, num_layers=200, epochs=15, lr_step=5,
                     inference_layers=(25, 50, 100))
        return cls(**{**sizes, **changes})

    def __post_init__(self):
        for name in ("num_neurons", "kernel_size", "num_layers", "window", "epochs", "batch_size", "lr_step",
                     "sweep_points", "pca_components", "fista_check", "fista_max_iter", "chunk", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("fs", "refractory_ms", "noise_cutoff_hz", "train_seconds", "test_seconds", "lam_init", "delta",
                     "lr", "adam_eps", "lr_decay", "init_threshold", "tolerance_ms", "sweep_min", "sweep_max",
                     "fista_tol", "trace_ms"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
        if not 1 <= self.num_neurons <= 4:
            raise ConfigError(f"num_neurons must be 1 to 4 (the distinct simulated shapes), got {self.num_neurons}")
        if len(self.rates_hz) != self.num_neurons or min(self.rates_hz) <= 0:
            raise ConfigError(f"rates_hz needs one positive rate per neuron ({self.num_neurons}), "
                              f"got {self.rates_hz!r}")
        if self.kernel_size * 1e3 / self.fs < 1.0:
            raise ConfigError(f"kernel_size {self.kernel_size} covers {self.kernel_size * 1e3 / self.fs:.2f} ms at "
                              f"{self.fs:g} Hz; use at least 1 ms of taps for the spike waveforms")
        if self.window < 4 * self.kernel_size:
            raise ConfigError(f"window {self.window} is under 4 kernel sizes; use at least {4 * self.kernel_size}")
        if self.train_seconds * self.fs < self.window * self.batch_size:
            raise ConfigError(f"train_seconds {self.train_seconds} holds fewer than one batch of "
                              f"{self.batch_size} windows of {self.window} samples; record longer or lower them")
        if self.sweep_min >= self.sweep_max:
            raise ConfigError(f"sweep_min {self.sweep_min} must be below sweep_max {self.sweep_max}")
        if any(isinstance(T, bool) or not isinstance(T, int) or T < 1 for T in self.inference_layers):
            raise ConfigError(f"inference_layers must be positive integers, got {self.inference_layers!r}")
        if self.chunk <= self.kernel_size:
            raise ConfigError(f"chunk {self.chunk} must exceed kernel_size {self.kernel_size}")

    @property
    def tolerance(self) -> int:
        """Matching tolerance in samples."""
        return int(round(self.tolerance_ms * 1e-3 * self.fs))

    @property
    def thresholds(self) -> np.ndarray:
        """The detection-threshold sweep, in noise stds: (sweep_points,)."""
        return np.geomspace(self.sweep_min, self.sweep_max, self.sweep_points)


# --- the recording and the initial filters --------------------------------------------------------------------
def make_recording(s: Settings):
    """(train, test) Recordings cut from one simulated recording of train + test seconds."""
    from crsae.experiments.recording import simulate_recording
    rec = simulate_recording(num_neurons=s.num_neurons, duration_s=s.train_seconds + s.test_seconds, fs=s.fs,
                             kernel_size=s.kernel_size, rates=s.rates_hz, refractory_ms=s.refractory_ms,
                             amplitude_jitter=s.amplitude_jitter, noise_cutoff_hz=s.noise_cutoff_hz, seed=s.seed)
    split = int(s.train_seconds * s.fs)
    return rec.segment(0, split), rec.segment(split, len(rec.signal))


def noise_std(signal: np.ndarray) -> float:
    """Robust noise std of a recording, median |y| / 0.6745 (spikes barely move the median)."""
    return float(np.median(np.abs(signal)) / 0.6745)


def trough_snippets(signal: np.ndarray, threshold: float, kernel_size: int, trough: int):
    """Negative peaks below -threshold at least K/2 apart, and the K-sample snippets aligned on them.

    Returns (peaks (P,) int, snippets (P, K))."""
    from scipy.signal import find_peaks
    peaks = find_peaks(-signal, height=threshold, distance=kernel_size // 2)[0]
    peaks = peaks[(peaks >= trough) & (peaks - trough + kernel_size <= len(signal))]
    return peaks, signal[peaks[:, None] - trough + np.arange(kernel_size)]


def initial_filters(signal: np.ndarray, s: Settings, trough: int) -> np.ndarray:
    """k-means centroids of the thresholded, trough-aligned snippets: (C, 1, K), unit norm."""
    from sklearn.cluster import KMeans
    _, snippets = trough_snippets(signal, s.init_threshold * noise_std(signal), s.kernel_size, trough)
    if len(snippets) < s.num_neurons:
        raise ConfigError(f"only {len(snippets)} threshold crossings in the training part; lower init_threshold "
                          "or record longer")
    centres = KMeans(s.num_neurons, n_init=10, random_state=s.seed).fit(snippets).cluster_centers_
    return (centres / np.linalg.norm(centres, axis=1, keepdims=True))[:, None, :].astype(np.float32)


# --- training ---------------------------------------------------------------------------------------------------
def train_model(signal: np.ndarray, init: np.ndarray, s: Settings, log):
    """A one-sided EM-lambda CRsAE trained on non-overlapping windows (n, 1, window) of ``signal``.

    Returns (model, history as a list of dicts, training seconds)."""
    from crsae.config import ModelConfig, TrainConfig
    from crsae.training.datasets import ArrayData
    from crsae.model.autoencoder import CRsAE
    from crsae.training.mstep import Trainer
    config = ModelConfig(kind="1d", channels=1, num_filters=s.num_neurons, kernel_size=s.kernel_size,
                         num_layers=s.num_layers, sigma=1.0, threshold_mode="em", lam_init=s.lam_init,
                         delta=s.delta, two_sided=False)
    model = CRsAE(config, init, L_geometry=s.window, seed=s.seed)
    n = len(signal) // s.window
    windows = signal[:n * s.window].reshape(n, 1, s.window)
    trainer = Trainer(model, TrainConfig(epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, adam_eps=s.adam_eps,
                                         lr_decay=s.lr_decay, lr_step=s.lr_step, seed=s.seed))

    def on_epoch(record):
        lam = model.lam.detach().numpy()
        log(f"  epoch {record.epoch}: loss {record.loss:.4f}, lambda {np.round(lam, 3).tolist()}")
        return {"lam": lam.tolist()}

    start = time.perf_counter()
    history = trainer.fit(ArrayData(windows), on_epoch=on_epoch)
    return model, [r.to_dict() for r in history], time.perf_counter() - start


# --- sparse coding of the long recording -----------------------------------------------------------------------
def onnx_codes(model, signal: np.ndarray, folder: Path, chunk: int, repeats: int):
    """Codes (C, N - K + 1) of the whole recording by the exported model in onnxruntime (1 thread, CPU).

    Returns (codes, seconds of run_long (fastest of ``repeats``), seconds to open the session)."""
    from crsae.exporter.onnx_export import to_onnx, write_export
    from crsae.serving.runtime import Encoder
    path = folder / f"spikes-T{model.config.num_layers}.onnx"
    write_export(to_onnx(model, outputs="codes"), path)
    start = time.perf_counter()
    encoder = Encoder(path, device="cpu", threads=1)
    session_s = time.perf_counter() - start
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        codes = encoder.run_long(signal[None], "codes", chunk=chunk)
        seconds.append(time.perf_counter() - start)
    return codes, min(seconds), session_s


def with_depth(model, num_layers: int):
    """The same H, lambda and L unrolled to ``num_layers`` steps."""
    from crsae.model.autoencoder import CRsAE
    return CRsAE(model.config.replace(num_layers=num_layers), model.H.detach().numpy(),
                 lam=model.lam.detach().numpy())


def fista_to_tolerance(signal: np.ndarray, H: np.ndarray, weights: np.ndarray, L: float, *, tol: float,
                       check: int, max_iter: int):
    """Solve ``min_{x >= 0} 1/2 ||y - Hx||^2 + sum_c w_c ||x_c||_1`` by FISTA with adaptive (gradient) restart
    (O'Donoghue & Candes 2015), float64, from x = 0, with step 1/L; convolutions by FFT (scipy.fft, one worker).

    Stops when the objective F changed by less than ``tol * F`` over the last ``check`` iterations.
    signal (N,); H (C, 1, K); weights (C,) = lam_c sigma^2. Returns (codes (C, N - K + 1), iterations, F).
    """
    from scipy import fft
    y = signal.astype(np.float64)
    N, (C, _, K) = len(y), H.shape
    M, n_fft = N - K + 1, fft.next_fast_len(N)        # a full convolution of length N never wraps
    Hf = fft.rfft(H[:, 0].astype(np.float64), n_fft, axis=1)                     # (C, n_fft // 2 + 1)
    b = (weights / L)[:, None]                                                    # (C, 1)

    def synthesis_f(x):                                                           # H x in frequency
        return (fft.rfft(x, n_fft, axis=1) * Hf).sum(axis=0)                      # (n_fft // 2 + 1,)

    def analysis(spectrum):                                                       # H^T of a length-N signal
        return fft.irfft(spectrum[None] * Hf.conj(), n_fft, axis=1)[:, :M]       # (C, M)

    def objective(x):
        return float(0.5 * np.sum((y - fft.irfft(synthesis_f(x), n_fft)[:N]) ** 2) + np.sum(weights @ x))

    c = analysis(fft.rfft(y, n_fft)) / L                                          # (1/L) H^T y, (C, M)
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


def objective_value(signal: np.ndarray, H: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> float:
    """F(x) = 1/2 ||y - Hx||^2 + sum_c w_c ||x_c||_1 in float64; codes (C, M), H (C, 1, K)."""
    recon = sum(np.convolve(codes[c].astype(np.float64), H[c, 0].astype(np.float64)) for c in range(len(H)))
    return float(0.5 * np.sum((signal - recon) ** 2) + np.sum(weights * np.abs(codes).sum(axis=1)))


def filter_reconstructions(codes: np.ndarray, H: np.ndarray) -> np.ndarray:
    """h_c * x_c for every filter, flipped so that the filter's largest tap is positive: (C, N)."""
    polarity = np.sign(H[np.arange(len(H)), 0, np.abs(H[:, 0]).argmax(axis=1)])
    return np.stack([p * np.convolve(x, h[0]) for x, h, p in zip(codes.astype(np.float64), H, polarity)])


# --- detection and scoring ------------------------------------------------------------------------------------
def reconstruction_peaks(reconstructions: np.ndarray, threshold: float, kernel_size: int) -> list[np.ndarray]:
    """Per filter: peaks of its reconstruction above ``threshold``, at least K/2 apart."""
    from scipy.signal import find_peaks
    return [find_peaks(r, height=threshold, distance=kernel_size // 2)[0] for r in reconstructions]


def pca_kmeans(signal: np.ndarray, threshold: float, s: Settings, trough: int) -> list[np.ndarray]:
    """Baseline: trough crossings below -threshold, PCA of the aligned snippets, k-means into C clusters."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    peaks, snippets = trough_snippets(signal, threshold, s.kernel_size, trough)
    if len(peaks) <= max(s.num_neurons, s.pca_components):
        return [peaks] + [peaks[:0]] * (s.num_neurons - 1)
    features = PCA(s.pca_components, random_state=s.seed).fit_transform(snippets)
    labels = KMeans(s.num_neurons, n_init=3, random_state=s.seed).fit_predict(features)
    return [peaks[labels == c] for c in range(s.num_neurons)]


def count_matches(true: np.ndarray, detected: np.ndarray, tolerance: int) -> int:
    """Largest one-to-one matching of sorted detections to sorted true times within +-tolerance (greedy in time
    order, which is optimal for equal windows on a line)."""
    i = j = matched = 0
    while i < len(true) and j < len(detected):
        if detected[j] < true[i] - tolerance:
            j += 1
        elif detected[j] > true[i] + tolerance:
            i += 1
        else:
            matched, i, j = matched + 1, i + 1, j + 1
    return matched


def score(clusters: list[np.ndarray], spikes: list[np.ndarray], tolerance: int) -> dict:
    """The paper's rule for one detection threshold: clusters assigned to neurons by the best permutation on F1.

    Returns {"missed": % true spikes missed, "false": % detections false, "f1", "assignment": neuron of each
    cluster (-1 if none), "per_neuron": [(missed %, false %)]}."""
    from scipy.optimize import linear_sum_assignment
    matches = np.array([[count_matches(t, d, tolerance) for t in spikes] for d in clusters])   # (C, J)
    n_det = np.array([len(d) for d in clusters])[:, None]
    n_true = np.array([len(t) for t in spikes])[None, :]
    f1 = 2 * matches / np.maximum(n_det + n_true, 1)
    rows, cols = linear_sum_assignment(-f1)
    matched, detections, true = matches[rows, cols].sum(), n_det.sum(), n_true.sum()
    assignment = np.full(len(clusters), -1)
    assignment[rows] = cols
    per_neuron = [(100 * (1 - matches[r, c] / max(n_true[0, c], 1)), 100 * (1 - matches[r, c] / max(n_det[r, 0], 1)))
                  for r, c in sorted(zip(rows, cols), key=lambda rc: rc[1])]
    return {"missed": 100 * (1 - matched / true), "false": 100 * (1 - matched / detections) if detections else 0.0,
            "f1": 2 * matched / (detections + true), "detections": int(detections),
            "assignment": assignment.tolist(), "per_neuron": per_neuron}


def sweep(detect, thresholds: np.ndarray, spikes, tolerance: int) -> list[dict]:
    """score(detect(threshold)) for every threshold (in the recording's units)."""
    return [{"threshold": float(th), **score(detect(th), spikes, tolerance)} for th in thresholds]


def best(curve: list[dict]) -> dict:
    """The sweep point with the highest F1."""
    return max(curve, key=lambda point: point["f1"])


def chance_score(clusters: list[np.ndarray], spikes, length: int, tolerance: int, seed: int) -> dict:
    """The score of as many detections per cluster placed uniformly at random: what chance achieves."""
    rng = np.random.default_rng(seed)
    return score([np.sort(rng.integers(0, length, len(d))) for d in clusters], spikes, tolerance)


# --- figures ----------------------------------------------------------------------------------------------------
def plot_waveforms(true, init, learned, assignment, fs, folder):
    from crsae.metrics import align_filter
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    J, K = true.shape
    t = np.arange(K) / fs * 1e3
    fig, axes = plt.subplots(1, J, figsize=(3 * J, 2.6), sharey=True)
    for c, j in enumerate(assignment):
        if j < 0:
            continue
        ax = np.atleast_1d(axes)[j]
        ref = true[j] / np.linalg.norm(true[j])
        ax.plot(t, ref, "k", lw=2, label="true")
        ax.plot(t, align_filter(ref, init[c, 0]), "C1--", label="initial")
        ax.plot(t, align_filter(ref, learned[c, 0]), "C0", label="learned")
        ax.set_title(f"neuron {j + 1} (filter {c + 1})")
        ax.set_xlabel("ms")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return save_figure(fig, folder, "waveforms.png")


def plot_curves(curves: dict, chance: dict, folder):
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for i, (name, curve) in enumerate(curves.items()):
        ax.plot([p["false"] for p in curve], [p["missed"] for p in curve], "o-", ms=3, color=f"C{i}", label=name)
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


def plot_trace(test, detections, assignment, s: Settings, folder):
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    n = int(s.trace_ms * 1e-3 * s.fs)
    counts = np.bincount(np.concatenate(test.spikes) // n, minlength=1)[:max(len(test.signal) // n, 1)]
    start = int(counts.argmax()) * n                                      # the busiest stretch of the test part
    t = np.arange(start, start + n)
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(t / s.fs * 1e3, test.signal[start:start + n], "0.4", lw=0.7)
    top = float(test.signal[start:start + n].max())
    for j, times in enumerate(test.spikes):
        inside = times[(times >= start) & (times < start + n)]
        ax.plot(inside / s.fs * 1e3, np.full(len(inside), top + 1.5), "v", color=f"C{j}", ms=7)
    for c, times in enumerate(detections):
        inside = times[(times >= start) & (times < start + n)]
        color = f"C{assignment[c]}" if assignment[c] >= 0 else "k"
        ax.plot(inside / s.fs * 1e3, np.full(len(inside), top + 3.0), "^", color=color, ms=7, mfc="none")
    ax.set_xlabel("ms (test part)")
    ax.set_ylabel("noise stds")
    ax.set_title("recording; filled: true spikes, open: CRsAE detections (colour = neuron)", fontsize=9)
    return save_figure(fig, folder, "trace.png")


# --- the experiment ---------------------------------------------------------------------------------------------
def run(settings: Settings, output: Path, *, log=print) -> dict:
    """Simulate, train, detect, score and time; writes output/results.json and waveforms.png, miss_false.png,
    trace.png; returns the results."""
    import torch
    from crsae.metrics import filter_errors
    from crsae.experiments.report import environment, output_folder, write_results
    s, folder = settings, output_folder(output)
    train, test = make_recording(s)
    sigma = noise_std(test.signal)
    log(f"recording: {s.train_seconds:g} s train + {s.test_seconds:g} s test at {s.fs:g} Hz, "
        f"{[len(t) for t in test.spikes]} test spikes per neuron, noise std {sigma:.3f}")

    init = initial_filters(train.signal, s, train.trough)
    log(f"training CRsAE: T {s.num_layers}, {s.epochs} epochs")
    model, history, train_s = train_model(train.signal, init, s, log)
    H = model.H.detach().numpy().copy()                                            # (C, 1, K)
    weights = (model.lam.detach().numpy() * model.config.sigma ** 2).astype(np.float64)
    L = float(model.L)

    seconds = []
    for _ in range(s.repeats):
        start = time.perf_counter()
        codes_fista, iterations, F_fista = fista_to_tolerance(test.signal, H, weights, L, tol=s.fista_tol,
                                                              check=s.fista_check, max_iter=s.fista_max_iter)
        seconds.append(time.perf_counter() - start)
    fista_s = min(seconds)
    recon_fista = filter_reconstructions(codes_fista, H)
    log(f"FISTA to tolerance: {fista_s:.2f} s, {iterations} iterations")

    thresholds = s.thresholds * sigma

    def encoder_row(net, folder):
        codes, run_s, session_s = onnx_codes(net, test.signal, folder, s.chunk, s.repeats)
        start = time.perf_counter()
        recon = filter_reconstructions(codes, H)
        reconstruction_peaks(recon, thresholds[len(thresholds) // 2], s.kernel_size)
        post_s = time.perf_counter() - start                              # the same for FISTA's codes
        curve = sweep(lambda th: reconstruction_peaks(recon, th, s.kernel_size), thresholds, test.spikes,
                      s.tolerance)
        T, point = net.config.num_layers, best(curve)
        log(f"onnxruntime T {T}: run_long {run_s:.2f} s, best F1 {point['f1']:.3f}")
        return recon, curve, {"T": T, "run_long_s": run_s, "session_s": session_s, "speedup": fista_s / run_s,
                              "postprocess_s": post_s, "speedup_detection": (fista_s + post_s) / (run_s + post_s),
                              "relative_gap": objective_value(test.signal, H, weights, codes) / F_fista - 1,
                              **{key: point[key] for key in ("f1", "missed", "false", "threshold")}}

    with tempfile.TemporaryDirectory() as tmp:
        recon_ort, crsae_curve, trained_row = encoder_row(model, Path(tmp))
        depths = sorted([encoder_row(with_depth(model, T), Path(tmp))[2] for T in s.inference_layers]
                        + [trained_row], key=lambda row: row["T"])
    curves = {
        "CRsAE (onnxruntime)": crsae_curve,
        "FISTA to tolerance": sweep(lambda th: reconstruction_peaks(recon_fista, th, s.kernel_size), thresholds,
                                    test.spikes, s.tolerance),
        "threshold + PCA + k-means": sweep(lambda th: pca_kmeans(test.signal, th, s, test.trough), thresholds,
                                           test.spikes, s.tolerance),
    }
    best_points = {name: best(curve) for name, curve in curves.items()}
    crsae_best = best_points["CRsAE (onnxruntime)"]
    detections = reconstruction_peaks(recon_ort, crsae_best["threshold"], s.kernel_size)
    chance = chance_score(detections, test.spikes, len(test.signal), s.tolerance, s.seed)
    start = time.perf_counter()
    pca_kmeans(test.signal, best_points["threshold + PCA + k-means"]["threshold"], s, test.trough)
    baseline_s = time.perf_counter() - start

    true_filters = test.waveforms[:, None, :]
    results = {
        "settings": asdict(s),
        "environment": {**environment(), "onnxruntime_threads": 1},
        "recording": {"test_spikes": [len(t) for t in test.spikes], "train_spikes": [len(t) for t in train.spikes],
                      "peak_snr": np.abs(test.waveforms.min(axis=1)).tolist(), "noise_std_estimate": sigma,
                      "snr_db": 10 * np.log10(np.mean(test.clean ** 2) / np.var(test.signal - test.clean)),
                      "test_samples": len(test.signal)},
        "training": {"seconds": train_s, "L": L, "lam": model.lam.detach().numpy().tolist(), "history": history},
        "filter_error": {"initial": filter_errors(true_filters, init).tolist(),
                         "learned": filter_errors(true_filters, H).tolist()},
        "timing": {"onnxruntime_run_long_s": trained_row["run_long_s"],
                   "onnxruntime_session_s": trained_row["session_s"], "fista_s": fista_s,
                   "fista_iterations": iterations, "fista_converged": iterations < s.fista_max_iter,
                   "baseline_s": baseline_s, "speedup_codes": trained_row["speedup"],
                   "postprocess_s": trained_row["postprocess_s"],
                   "speedup_detection": trained_row["speedup_detection"],
                   "torch_threads": torch.get_num_threads()},
        "objective": {"fista": F_fista, "crsae_relative_gap": trained_row["relative_gap"]},
        "depths": depths, "best": best_points, "chance": chance,
        "thresholds_noise_std": s.thresholds.tolist(), "curves": curves,
    }
    write_results(folder, results)
    plot_waveforms(test.waveforms, init, H, crsae_best["assignment"], s.fs, folder)
    plot_curves(curves, chance, folder)
    plot_trace(test, detections, crsae_best["assignment"], s, folder)
    return results


def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for results.json and the figures.")]
    = Path("runs/experiment-spikes"),
    full: Annotated[bool, typer.Option(help="The reported size: 60 s + 60 s recording, T = 200.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the recording, initialisation and training.")] = 0,
    num_layers: Annotated[Optional[int], typer.Option(help="T, unrolled FISTA steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs.")] = None,
    train_seconds: Annotated[Optional[float], typer.Option(help="Seconds of recording to train on.")] = None,
    test_seconds: Annotated[Optional[float], typer.Option(help="Seconds of recording to score and time.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
):
    """Spike sorting on a simulated recording: CRsAE vs FISTA to tolerance vs threshold + PCA + k-means."""
    given = {name: value for name, value in dict(num_layers=num_layers, epochs=epochs, train_seconds=train_seconds,
                                                 test_seconds=test_seconds).items() if value is not None}
    settings = Settings.full(seed=seed, **given) if full else Settings(seed=seed, **given)
    results = run(settings, output, log=(lambda line: None) if quiet else lambda line: typer.echo(line, err=True))
    typer.echo(f"{'method':28s} {'best F1':>8s} {'% missed':>9s} {'% false':>8s}")
    for name, point in results["best"].items():
        typer.echo(f"{name:28s} {point['f1']:8.3f} {point['missed']:9.1f} {point['false']:8.1f}")
    typer.echo(f"{'codes of the test part':28s} {'seconds':>8s} {'speed-up':>9s} {'best F1':>8s}")
    typer.echo(f"{'FISTA to tolerance':28s} {results['timing']['fista_s']:8.2f} {1.0:9.1f} "
               f"{results['best']['FISTA to tolerance']['f1']:8.3f}")
    for row in results["depths"]:
        typer.echo(f"{'CRsAE onnxruntime, T ' + str(row['T']):28s} {row['run_long_s']:8.2f} {row['speedup']:9.1f} "
                   f"{row['f1']:8.3f}")
    typer.echo(f"results in {output}")
