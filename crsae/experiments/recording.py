"""A simulated single-channel extracellular recording with ground truth, for the spike-sorting experiment.

Each neuron has a biphasic spike waveform (a sharp negative trough, then a slower positive bump; one neuron also
has a small bump before the trough), sampled at ``fs`` Hz over ``kernel_size`` taps; the neurons differ in trough
width, bump delay, width and height, and peak amplitude. Each fires as a Poisson process with a refractory period
(inter-spike interval = refractory + an exponential interval); every spike's amplitude jitters around 1. The
background is coloured Gaussian noise (white noise through a first-order low-pass, as the summed activity of
distant neurons), scaled to unit standard deviation, so the waveform amplitudes are peak SNRs (trough depth /
noise std).

Shapes: ``waveforms`` (J, K) for J neurons; ``signal`` (N,); spike times are sample indices of each waveform's
trough, one sorted int array per neuron.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Per neuron: trough depth (in noise stds), trough width (ms), bump delay after the trough (ms), bump width (ms),
# bump height and height of a small positive bump 0.2 ms before the trough, both relative to the trough. Four
# waveforms that differ in shape, not only in size (at 20 kHz, 30 taps, the largest shift-invariant correlation
# of two unit-norm waveforms is 0.81): a narrow fast-spiking unit, a broad pyramidal unit, a triphasic (axonal)
# unit, one with a late bump. CRsAE's unit-norm filters see shape only; k-means on snippets also sees size.
NEURON_SHAPES = (
    (9.0, 0.08, 0.25, 0.12, 0.60, 0.00),
    (7.0, 0.22, 0.65, 0.30, 0.20, 0.00),
    (6.0, 0.10, 0.45, 0.25, 0.15, 0.45),
    (5.0, 0.10, 0.75, 0.20, 0.70, 0.00),
)
PRE_BUMP_MS, PRE_BUMP_WIDTH_MS = 0.2, 0.08
TROUGH_MS = 0.4                     # position of the trough inside the waveform window


@dataclass
class Recording:
    """signal: (N,) float32 recording (noise std 1); clean: (N,) the spikes alone; spikes: list of J sorted int
    arrays (trough sample of every spike); waveforms: (J, K) the mean spike shapes; fs: sampling rate (Hz);
    trough: the trough's tap index inside a waveform."""

    signal: np.ndarray
    clean: np.ndarray
    spikes: list
    waveforms: np.ndarray
    fs: float
    trough: int

    def segment(self, start: int, stop: int) -> "Recording":
        """The samples [start, stop) with the spikes whose troughs fall inside, re-indexed from start."""
        spikes = [s[(s >= start) & (s < stop)] - start for s in self.spikes]
        return Recording(self.signal[start:stop], self.clean[start:stop], spikes, self.waveforms, self.fs,
                         self.trough)


def spike_waveforms(num_neurons: int, kernel_size: int, fs: float) -> tuple[np.ndarray, int]:
    """Biphasic waveforms (num_neurons, kernel_size) in noise stds, and the trough's tap index."""
    t = np.arange(kernel_size) / fs * 1e3                                   # ms, (K,)
    trough = int(round(TROUGH_MS * fs / 1e3))
    t0 = trough / fs * 1e3
    shapes = []
    for depth, width, delay, bump_width, bump, pre in NEURON_SHAPES[:num_neurons]:
        w = (-np.exp(-0.5 * ((t - t0) / width) ** 2) + bump * np.exp(-0.5 * ((t - t0 - delay) / bump_width) ** 2)
             + pre * np.exp(-0.5 * ((t - t0 + PRE_BUMP_MS) / PRE_BUMP_WIDTH_MS) ** 2))
        shapes.append(depth * w / -w[trough])                               # trough depth exactly `depth`
    return np.stack(shapes), trough


def spike_trains(rates, duration_s: float, fs: float, refractory_ms: float, rng) -> list[np.ndarray]:
    """Poisson spike times with a refractory period, in samples: one sorted int64 array per rate (Hz)."""
    n = int(duration_s * fs)
    dead = refractory_ms * 1e-3 * fs
    trains = []
    for rate in rates:
        count = int(duration_s * rate * 2) + 10
        gaps = dead + rng.exponential(fs / rate, size=count)                # samples between spikes
        times = np.round(np.cumsum(gaps)).astype(np.int64)
        trains.append(times[times < n])
    return trains


def coloured_noise(n: int, fs: float, cutoff_hz: float, rng) -> np.ndarray:
    """Unit-std Gaussian noise through a one-pole low-pass at ``cutoff_hz``: (n,)."""
    from scipy.signal import lfilter
    a = np.exp(-2 * np.pi * cutoff_hz / fs)
    noise = lfilter([1 - a], [1, -a], rng.standard_normal(n + 1000))[1000:]  # drop the filter's start-up
    return noise / noise.std()


def simulate_recording(*, num_neurons: int, duration_s: float, fs: float, kernel_size: int, rates,
                       refractory_ms: float, amplitude_jitter: float, noise_cutoff_hz: float,
                       seed: int) -> Recording:
    """A recording of ``duration_s`` seconds: sum over neurons and spikes of amplitude * waveform, plus noise.

    Spikes whose waveform would run past either end are dropped from the ground truth and the signal alike.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    waveforms, trough = spike_waveforms(num_neurons, kernel_size, fs)
    trains = spike_trains(rates, duration_s, fs, refractory_ms, rng)
    clean = np.zeros(n)
    spikes = []
    for waveform, times in zip(waveforms, trains):
        starts = times - trough
        keep = (starts >= 0) & (starts + kernel_size <= n)
        times, starts = times[keep], starts[keep]
        amplitudes = np.clip(1 + amplitude_jitter * rng.standard_normal(len(starts)), 0.5, 1.5)
        events = np.zeros(n)
        np.add.at(events, starts, amplitudes)
        clean += np.convolve(events, waveform)[:n]                          # each spike starts at its start index
        spikes.append(times)
    signal = clean + coloured_noise(n, fs, noise_cutoff_hz, rng)
    return Recording(signal.astype(np.float32), clean.astype(np.float32), spikes, waveforms, fs, trough)
