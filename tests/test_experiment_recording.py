"""crsae/experiments/recording.py: the simulated extracellular recording of the spikes experiment."""

import numpy as np
import pytest

from crsae.experiments.recording import simulate_recording


def test_recording_has_refractory_trains_and_unit_noise():
    rec = simulate_recording(num_neurons=3, duration_s=5.0, fs=20000.0, kernel_size=30, rates=(20.0, 20.0, 20.0),
                             refractory_ms=2.0, amplitude_jitter=0.1, noise_cutoff_hz=3000.0, seed=1)
    assert rec.signal.shape == (100000,) and rec.signal.dtype == np.float32
    assert rec.waveforms.shape == (3, 30)
    assert all(np.diff(times).min() >= 40 for times in rec.spikes)       # 2 ms at 20 kHz
    assert all(60 < len(times) < 140 for times in rec.spikes)            # about 20 Hz for 5 s
    assert np.std(rec.signal - rec.clean) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(rec.waveforms.min(axis=1), [-9.0, -7.0, -6.0])
