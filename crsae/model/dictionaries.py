"""Starting dictionaries that are not random: the overcomplete DCT (``crsae train --init-dictionary dct``).

The original CRsAE code offers the overcomplete DCT as its image initialisation (``init_with_DCT``, sparselandtools'
``DCTDictionary``, the K-SVD papers' start). Random Gaussian filters, our default as the paper's, carry white
pixel noise that the dictionary gradient removes only slowly (images have little energy at the highest
frequencies, so those filter components get little gradient); the DCT atoms are separable cosines instead, the
low-frequency ones smooth, from the constant atom up to near the Nyquist frequency.

1-D atom k of m atoms on K taps: d_k[n] = cos(pi k n / m), n = 0..K-1, the mean removed for k > 0, unit norm.
2-D atoms are outer products d_i d_j^T of the 1-D atoms (m = ceil(sqrt(C)) per axis), taken in order of total
frequency i + j (then i) when C is not a square; multichannel atoms repeat over the channels. Every filter has
unit l2 norm.
"""

from __future__ import annotations

import math

import numpy as np


def _dct_1d(kernel_size: int, num_atoms: int) -> np.ndarray:
    """(num_atoms, kernel_size) unit-norm overcomplete DCT atoms, lowest frequency (the constant) first."""
    n = np.arange(kernel_size)
    atoms = np.cos(np.pi * np.outer(np.arange(num_atoms), n) / num_atoms)
    atoms[1:] -= atoms[1:].mean(axis=1, keepdims=True)          # none is constant for K >= 2: no zero norm
    return atoms / np.linalg.norm(atoms, axis=1, keepdims=True)


def overcomplete_dct(num_filters: int, channels: int, kernel_size: int, ndim: int) -> np.ndarray:
    """The overcomplete DCT dictionary, float32 of shape (C, channels, K) for ``ndim`` 1 or (C, channels, K, K)
    for 2; the same atom on every channel, each filter of unit l2 norm."""
    if num_filters < 1 or channels < 1 or kernel_size < 2 or ndim not in (1, 2):
        raise ValueError(f"overcomplete_dct needs C, channels >= 1, K >= 2 and ndim 1 or 2, got C={num_filters}, "
                         f"channels={channels}, K={kernel_size}, ndim={ndim}")
    if ndim == 1:
        atoms = _dct_1d(kernel_size, num_filters)
    else:
        m = math.isqrt(num_filters - 1) + 1                              # ceil(sqrt(C))
        base = _dct_1d(kernel_size, m)
        order = sorted(((i, j) for i in range(m) for j in range(m)), key=lambda ij: (ij[0] + ij[1], ij[0]))
        atoms = np.stack([np.outer(base[i], base[j]) for i, j in order[:num_filters]])
    # every atom (an outer product of unit vectors in 2-D) has unit norm; over the channels it keeps it
    return (np.repeat(atoms[:, None], channels, axis=1) / np.sqrt(channels)).astype(np.float32)
