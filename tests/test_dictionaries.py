"""crsae/model/dictionaries.py: the overcomplete DCT start (``crsae train --init-dictionary dct``)."""

import numpy as np
import pytest

from crsae.model.dictionaries import overcomplete_dct


def _atom_1d(k, m, K):
    d = np.cos(np.pi * k * np.arange(K) / m)
    if k:
        d = d - d.mean()
    return d / np.linalg.norm(d)


def test_2d_atoms_are_outer_products_of_1d_dct_atoms_in_frequency_order():
    H = overcomplete_dct(64, 1, 7, 2)
    assert H.shape == (64, 1, 7, 7) and H.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(H.reshape(64, -1), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(H[0, 0], np.full((7, 7), 1 / 7), rtol=1e-6)        # the constant atom first
    np.testing.assert_allclose(H[1:].reshape(63, -1).mean(axis=1), 0.0, atol=1e-7)  # the others have no mean
    # then (0, 1), (1, 0), (0, 2), (1, 1), (2, 0), ...: total frequency i + j, then i
    for index, (i, j) in enumerate([(0, 1), (1, 0), (0, 2), (1, 1), (2, 0)], start=1):
        np.testing.assert_allclose(H[index, 0], np.outer(_atom_1d(i, 8, 7), _atom_1d(j, 8, 7)), atol=1e-6)
    np.testing.assert_allclose(H[63, 0], np.outer(_atom_1d(7, 8, 7), _atom_1d(7, 8, 7)), atol=1e-6)
    assert len({H[c].tobytes() for c in range(64)}) == 64


def test_dct_atoms_are_smooth_where_random_filters_are_not():
    """Neighbouring taps of the 16 lowest-frequency atoms differ far less than those of unit random Gaussian
    filters (the paper's start): 0.87 against 3.43 in squared differences. The highest atoms are near Nyquist."""
    H = overcomplete_dct(64, 1, 7, 2)[:, 0]
    rng = np.random.default_rng(0)
    R = rng.standard_normal((64, 7, 7))
    R /= np.linalg.norm(R.reshape(64, -1), axis=1)[:, None, None]

    def roughness(W):                                      # mean squared horizontal + vertical difference
        return float((np.diff(W, axis=1) ** 2).sum(axis=(1, 2)).mean() + (np.diff(W, axis=2) ** 2).sum(axis=(1, 2)).mean())
    assert roughness(H[:16]) < 0.3 * roughness(R)


def test_1d_multichannel_and_non_square_counts():
    H = overcomplete_dct(5, 3, 20, 1)
    assert H.shape == (5, 3, 20)
    for k in range(5):
        for ch in range(3):
            np.testing.assert_allclose(H[k, ch], _atom_1d(k, 5, 20) / np.sqrt(3), atol=1e-6)
    H = overcomplete_dct(10, 1, 5, 2)                      # m = 4 per axis, the 10 lowest total frequencies
    assert H.shape == (10, 1, 5, 5)
    np.testing.assert_allclose(H[9, 0], np.outer(_atom_1d(3, 4, 5), _atom_1d(0, 4, 5)), atol=1e-6)


@pytest.mark.parametrize("args", [(0, 1, 7, 2), (4, 0, 7, 2), (4, 1, 1, 2), (4, 1, 7, 3)])
def test_bad_sizes_are_refused(args):
    with pytest.raises(ValueError, match="overcomplete_dct needs"):
        overcomplete_dct(*args)
