"""An independent, plain numpy float64 CRsAE encoder for tests: dense loops, no torch."""

import numpy as np


def analysis(y, H, stride=1):
    """H^T y. y (channels, *size), H (C, channels, K[, K]) -> (C, *code)."""
    K = H.shape[-1]
    if H.ndim == 3:
        M = y.shape[-1] - K + 1
        return np.stack([sum(np.array([y[j, n:n + K] @ H[c, j] for n in range(M)]) for j in range(y.shape[0]))
                         for c in range(H.shape[0])])
    Mh, Mw = (y.shape[1] - K) // stride + 1, (y.shape[2] - K) // stride + 1
    out = np.zeros((H.shape[0], Mh, Mw))
    for c in range(H.shape[0]):
        for i in range(Mh):
            for j in range(Mw):
                out[c, i, j] = np.sum(y[:, i * stride:i * stride + K, j * stride:j * stride + K] * H[c])
    return out


def synthesis(x, H, size, stride=1):
    """H x. x (C, *code), H (C, channels, K[, K]) -> (channels, *size)."""
    K = H.shape[-1]
    out = np.zeros((H.shape[1],) + tuple(size))
    if H.ndim == 3:
        for c in range(H.shape[0]):
            for n in range(x.shape[-1]):
                out[:, n:n + K] += x[c, n] * H[c]
        return out
    for c in range(H.shape[0]):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                out[:, i * stride:i * stride + K, j * stride:j * stride + K] += x[c, i, j] * H[c]
    return out


def fista(y, H, b, L, T, stride=1, two_sided=True, We=None):
    """T FISTA steps from zero, exactly as on the math page. y (channels, *size) -> x_T (C, *code)."""
    We = H if We is None else We
    size = y.shape[1:]
    bshape = (-1,) + (1,) * (H.ndim - 2)
    b = np.asarray(b, dtype=np.float64).reshape(bshape)
    x_prev = np.zeros_like(analysis(y, We, stride))
    z, t = x_prev.copy(), 1.0
    for _ in range(T):
        u = z + analysis(y - synthesis(z, H, size, stride), We, stride) / L
        x = np.maximum(u - b, 0) - (np.maximum(-u - b, 0) if two_sided else 0)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x + (t - 1) / t_next * (x - x_prev)
        x_prev, t = x, t_next
    return x_prev


def dense_operator(H, size, stride=1):
    """H as a dense matrix (prod(size) * channels, C * prod(code))."""
    K = H.shape[-1]
    code = [(n - K) // stride + 1 for n in size]
    cols = []
    for idx in range(H.shape[0] * int(np.prod(code))):
        e = np.zeros(H.shape[0] * int(np.prod(code)))
        e[idx] = 1
        cols.append(synthesis(e.reshape(H.shape[0], *code), H, size, stride).ravel())
    return np.stack(cols, axis=1)


def spectral_norm2(H, stride=1, n=512):
    """||H||_2^2 of the strided synthesis on signals of any size: the sup over code frequencies w of the largest
    eigenvalue of the C x C polyphase Gram matrix (1/s^d) sum_k conj(h(nu_k)) h(nu_k)^T, nu_k = (w + 2 pi k) / s,
    sampled on an n-point (n x n) FFT grid. H (C, channels, K[, K]) float64 numpy."""
    H = np.asarray(H, np.float64)
    d, s, n = H.ndim - 2, stride, n - n % stride
    spectra = np.fft.fftn(H, s=(n,) * d, axes=tuple(range(2, 2 + d)))     # (C, ch, n[, n])
    m = n // s
    if d == 1:
        spectra = spectra.reshape(*H.shape[:2], s, m)                      # frequency k m + j -> [k, j]
        gram = np.einsum("aikj,bikj->jab", spectra.conj(), spectra) / s
    else:
        spectra = spectra.reshape(*H.shape[:2], s, m, s, m)
        gram = np.einsum("aikjlq,bikjlq->jqab", spectra.conj(), spectra).reshape(m * m, *H.shape[:1] * 2) / s ** 2
    return float(np.linalg.eigvalsh(gram).max())
