"""crsae/simulate.py: simulated 1-D data y = sum_c h_c * x_c + v with its ground truth, repeatable with a seed."""

import json

import numpy as np
import pytest

from crsae.errors import ConfigError
from crsae.simulate import SimulationConfig, random_filters, save_simulation, simulate

SMALL = dict(num_signals=6, length=80, num_filters=3, kernel_size=9, events_per_filter=2, min_spacing=10)


def test_same_seed_same_data_other_seed_other_data():
    a, b = simulate(SimulationConfig(**SMALL, seed=4)), simulate(SimulationConfig(**SMALL, seed=4))
    for name in ("signals", "clean", "dictionary", "codes", "events"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.sigma == b.sigma
    c = simulate(SimulationConfig(**SMALL, seed=5))
    assert not np.array_equal(a.signals, c.signals) and not np.array_equal(a.dictionary, c.dictionary)


def test_shapes_and_ground_truth_agree():
    sim = simulate(SimulationConfig(**SMALL, amplitude_min=1.0, amplitude_max=2.0, snr_db=10.0))
    assert sim.signals.shape == sim.clean.shape == (6, 1, 80) and sim.signals.dtype == np.float32
    assert sim.dictionary.shape == (3, 1, 9) and sim.codes.shape == (6, 3, 72) and sim.events.shape == (6 * 3 * 2, 4)
    np.testing.assert_allclose(np.linalg.norm(sim.dictionary.reshape(3, -1), axis=1), 1.0, rtol=1e-6)
    for i, c, n, amp in sim.events:                         # (signal, filter, code index, amplitude)
        assert sim.codes[int(i), int(c), int(n)] == np.float32(amp) and 1.0 <= abs(amp) <= 2.0
    assert np.count_nonzero(sim.codes) == len(sim.events)
    for i in range(6):                                      # events of one filter at least min_spacing apart
        for c in range(3):
            assert np.diff(np.flatnonzero(sim.codes[i, c])).min() >= 10
    rebuilt = sum(np.convolve(sim.codes[0, c], sim.dictionary[c, 0]) for c in range(3))
    np.testing.assert_allclose(sim.clean[0, 0], rebuilt, atol=1e-5)
    snr = 10 * np.log10(np.mean(sim.clean.astype(np.float64) ** 2) / sim.sigma ** 2)
    assert snr == pytest.approx(10.0, abs=1e-4)
    assert np.std(sim.signals - sim.clean) == pytest.approx(sim.sigma, rel=0.15)


def test_nonnegative_amplitudes_and_a_given_dictionary(rng):
    filters = random_filters(3, 9, rng)
    sim = simulate(SimulationConfig(**SMALL, nonnegative=True), dictionary=filters)
    np.testing.assert_allclose(sim.dictionary, filters, rtol=1e-6)
    assert sim.codes.min() == 0.0 and (sim.events[:, 3] > 0).all()


@pytest.mark.parametrize("changes,match", [
    (dict(num_signals=0), "num_signals must be a positive integer, got 0"),
    (dict(kernel_size=True), "kernel_size must be a positive integer, got True"),
    (dict(length=5, kernel_size=9), "length 5 is shorter than kernel_size 9"),
    (dict(events_per_filter=9, min_spacing=10), "the least length is 97"),
    (dict(length=19, kernel_size=9, events_per_filter=2, min_spacing=10), "the least length is 20"),
    (dict(amplitude_min=3.0, amplitude_max=2.0), "need 0 < amplitude_min <= amplitude_max"),
])
def test_bad_settings_are_refused(changes, match):
    with pytest.raises(ConfigError, match=match):
        SimulationConfig(**{**SMALL, **changes})


@pytest.mark.parametrize("kernel_size,events,spacing", [(20, 3, 20), (9, 2, 10), (7, 4, 3), (3, 6, 1)])
def test_the_least_length_works_and_one_less_is_refused(kernel_size, events, spacing):
    """The check names the least length the event sampler can fill (crsae simulate --length 60 was an
    IndexError); at that length every seed simulates, events of a filter more than min_spacing apart."""
    least = kernel_size + (events - 1) * (spacing + 1)
    config = dict(num_signals=20, num_filters=2, kernel_size=kernel_size, events_per_filter=events,
                  min_spacing=spacing)
    with pytest.raises(ConfigError, match=f"the least length is {least}"):
        SimulationConfig(length=least - 1, **config)
    for seed in range(5):
        sim = simulate(SimulationConfig(length=least, seed=seed, **config))
        for i in range(20):
            for c in range(2):
                positions = np.sort(sim.events[(sim.events[:, 0] == i) & (sim.events[:, 1] == c), 2])
                assert len(positions) == events and np.all(np.diff(positions) > spacing)
                assert positions.max() < least - kernel_size + 1


def test_save_simulation_writes_everything_to_one_npz(tmp_path):
    sim = simulate(SimulationConfig(**SMALL, seed=2))
    save_simulation(sim, tmp_path / "s.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert set(z.files) == {"signals", "clean", "dictionary", "codes", "events", "sigma", "config"}
        np.testing.assert_array_equal(z["signals"], sim.signals)
        np.testing.assert_array_equal(z["events"], sim.events)
        assert float(z["sigma"]) == sim.sigma
        assert json.loads(str(z["config"])) == {**SimulationConfig().__dict__, **SMALL, "seed": 2}
