"""Simulated 1-D data in the spirit of the paper's simulations: y = sum_c h_c * x_c + v.

C unit-norm filters of K taps; per signal and filter a few events with a minimum spacing, random amplitudes
(random signs unless non-negative); Gaussian noise at a given SNR in dB. The ground-truth dictionary and events
are kept with the data (``save_simulation`` writes them all into one .npz).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from crsae.errors import ConfigError
from crsae.files import atomic_path


@dataclass(frozen=True)
class SimulationConfig:
    num_signals: int = 512          # number of independent windows
    length: int = 500               # N, samples per window
    num_filters: int = 4            # C
    kernel_size: int = 20           # K
    events_per_filter: int = 3      # events of each filter in each window
    min_spacing: int = 20           # minimum distance between two events of one filter (samples)
    amplitude_min: float = 1.0      # |amplitude| drawn uniformly in [amplitude_min, amplitude_max]
    amplitude_max: float = 2.0
    nonnegative: bool = False       # positive amplitudes only (spikes) instead of random signs
    snr_db: float = 16.0            # 10 log10(signal power / noise power)
    seed: int = 0

    def __post_init__(self):
        for name in ("num_signals", "length", "num_filters", "kernel_size", "events_per_filter", "min_spacing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        M = self.length - self.kernel_size + 1
        if M < 1:
            raise ConfigError(f"length {self.length} is shorter than kernel_size {self.kernel_size}")
        least = self.kernel_size + (self.events_per_filter - 1) * (self.min_spacing + 1)
        if self.length < least:                 # _event_positions needs M >= count + (count - 1) * spacing
            raise ConfigError(f"length {self.length} is too short for {self.events_per_filter} events per filter "
                              f"{self.min_spacing} samples apart with kernel_size {self.kernel_size}: the least "
                              f"length is {least}; raise length, or lower events_per_filter or min_spacing")
        if not 0 < self.amplitude_min <= self.amplitude_max or not np.isfinite(self.amplitude_max):
            raise ConfigError("need 0 < amplitude_min <= amplitude_max, finite")
        if isinstance(self.snr_db, bool) or not isinstance(self.snr_db, (int, float)) or not np.isfinite(self.snr_db):
            raise ConfigError(f"snr_db (--snr) must be a finite number of dB, got {self.snr_db!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")


@dataclass
class Simulation:
    """signals, clean: (n, 1, N); dictionary: (C, 1, K); codes: (n, C, N - K + 1); events: (E, 4) rows of
    (signal, filter, code index, amplitude); sigma: the noise standard deviation."""

    config: SimulationConfig
    signals: np.ndarray
    clean: np.ndarray
    dictionary: np.ndarray
    codes: np.ndarray
    events: np.ndarray
    sigma: float


def random_filters(num_filters: int, kernel_size: int, rng: np.random.Generator, channels: int = 1) -> np.ndarray:
    """Unit-norm Gaussian filters: (C, channels, K)."""
    h = rng.standard_normal((num_filters, channels, kernel_size))
    return h / np.linalg.norm(h.reshape(num_filters, -1), axis=1).reshape(-1, 1, 1)


def spike_signal(filters: np.ndarray, lam: np.ndarray, channels: int, *, seed: int, length: int = 1500,
                 noise_sigma: float = 1.0) -> np.ndarray:
    """A test input for a one-sided multichannel model (the sorter's validation, the golden vectors): its units
    (filters (C, channels_padded, K), lam (C,)) firing every ~100 samples with code amplitudes of 2-4 lam, plus
    white noise of std ``noise_sigma`` on the first ``channels`` channels (the padded ones stay 0, as in the
    sorter's group models): (1, channels_padded, length) float32, nonzero codes for every unit."""
    rng = np.random.default_rng(seed)
    C, padded, K = filters.shape
    signal = np.zeros((padded, length))
    signal[:channels] = noise_sigma * rng.standard_normal((channels, length))
    for c in range(C):
        for t in rng.choice(length - K + 1, size=max(1, length // 100), replace=False):
            signal[:, t:t + K] += rng.uniform(2, 4) * lam[c] * filters[c]
    return signal[None].astype(np.float32)


def _event_positions(rng: np.random.Generator, count: int, positions: int, spacing: int) -> np.ndarray:
    """``count`` sorted positions in [0, positions) more than ``spacing`` apart, uniformly among such sets
    (needs positions >= count + (count - 1) * spacing, which SimulationConfig checks)."""
    slack = positions - (count - 1) * spacing
    return np.sort(rng.choice(slack, size=count, replace=False)) + spacing * np.arange(count)


def simulate(config: SimulationConfig, dictionary: np.ndarray | None = None) -> Simulation:
    """Draw a data set. ``dictionary`` (C, 1, K) replaces the random unit-norm filters when given."""
    rng = np.random.default_rng(config.seed)
    C, K, N = config.num_filters, config.kernel_size, config.length
    M = N - K + 1
    h = random_filters(C, K, rng) if dictionary is None else np.asarray(dictionary, dtype=np.float64)
    codes = np.zeros((config.num_signals, C, M))
    events = []
    for i in range(config.num_signals):
        for c in range(C):
            pos = _event_positions(rng, config.events_per_filter, M, config.min_spacing)
            amp = rng.uniform(config.amplitude_min, config.amplitude_max, size=len(pos))
            if not config.nonnegative:
                amp *= rng.choice([-1.0, 1.0], size=len(pos))
            codes[i, c, pos] = amp
            events.extend((i, c, p, a) for p, a in zip(pos, amp))
    clean = np.zeros((config.num_signals, 1, N))
    for c in range(C):
        for i in range(config.num_signals):
            clean[i, 0] += np.convolve(codes[i, c], h[c, 0], mode="full")
    power = float(np.mean(clean ** 2))
    sigma = float(np.sqrt(power / 10 ** (config.snr_db / 10)))
    signals = clean + sigma * rng.standard_normal(clean.shape)
    return Simulation(config, signals.astype(np.float32), clean.astype(np.float32), h.astype(np.float32),
                      codes.astype(np.float32), np.array(events, dtype=np.float64).reshape(-1, 4), sigma)


def save_simulation(sim: Simulation, path: str | os.PathLike) -> None:
    """Write signals, clean signals, dictionary, codes, events and config to one .npz (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, signals=sim.signals, clean=sim.clean, dictionary=sim.dictionary, codes=sim.codes,
                     events=sim.events, sigma=np.float64(sim.sigma),
                     config=np.array(json.dumps(asdict(sim.config))))
