"""Templates learned from the recording: k-means of thresholded snippets, then CRsAE's EM training.

On whitened traces (N, channels) (noise ~ unit variance on every channel):

1. ``detect_troughs``: samples where the most negative channel goes below ``-threshold`` noise stds (robust std,
   median |y| / 0.6745 per channel), at least K / 2 apart: one trough per spike, even when it crosses on several
   channels.
2. ``snippets``: K = nbefore + nafter samples around each trough, on all channels.
3. ``cluster_templates``: PCA, then k-means into ``clusters`` groups (more than the expected units: a unit split
   in two is merged back in step 4, two units averaged into one are lost for good); each template is its
   cluster's mean snippet.
4. merge templates whose shapes correlate above ``merge_similarity`` (unit norm, best shift within +-``max_shift``
   samples), drop clusters with fewer than ``min_spikes`` spikes; the sorter then joins (``merge_clusters``)
   similar templates whose codes co-fire in a trial sort (``crsae.sorting.sorter``, ``split_cofiring``).
5. ``train_dictionary``: a one-sided CRsAE with these unit-norm filters (C, channels, K) trained by the EM of
   docs/math.md on windows of the traces (torch; the only step that needs it). Its L is ``step_constant``
   (1.05 x ``crsae.model.fista.norm_bound``), before and again after training.
"""

from __future__ import annotations

import time

import numpy as np

from crsae.errors import DataError


def robust_std(traces: np.ndarray) -> np.ndarray:
    """Per-channel noise std, median |y| / 0.6745: (channels,)."""
    return np.maximum(np.median(np.abs(traces), axis=0) / 0.6745, 1e-12)


def detect_troughs(traces: np.ndarray, threshold: float, nbefore: int, nafter: int) -> np.ndarray:
    """Trough samples (P,) of the most negative channel below -threshold robust stds, >= K / 2 apart, with room
    for a whole snippet."""
    from scipy.signal import find_peaks
    depth = -(traces / robust_std(traces)).min(axis=1)
    K = nbefore + nafter
    peaks = find_peaks(depth, height=threshold, distance=max(K // 2, 1))[0]
    return peaks[(peaks >= nbefore) & (peaks + nafter <= len(traces))]


def snippets(traces: np.ndarray, peaks: np.ndarray, nbefore: int, nafter: int) -> np.ndarray:
    """(P, K, channels) windows around ``peaks``."""
    return traces[peaks[:, None] + np.arange(-nbefore, nafter)[None, :]]


def mean_snippets(recording, troughs: np.ndarray, labels: np.ndarray, units: int, nbefore: int, nafter: int,
                  block: int = 300000) -> np.ndarray:
    """Mean snippet of every label 0..units-1 (label -1 ignored) around ``troughs`` (segment 0 samples) of a
    spikeinterface recording, read in blocks: (units, nbefore + nafter, channels) float32."""
    N, channels = recording.get_num_samples(0), recording.get_num_channels()
    sums = np.zeros((units, nbefore + nafter, channels))
    counts = np.zeros(units)
    ok = (labels >= 0) & (troughs >= nbefore) & (troughs + nafter <= N)
    troughs, labels = troughs[ok], labels[ok]
    for a in range(0, N, block):
        inside = (troughs >= a) & (troughs < a + block)
        if not inside.any():
            continue
        lo, hi = max(0, a - nbefore), min(N, a + block + nafter)
        traces = recording.get_traces(segment_index=0, start_frame=lo, end_frame=hi).astype(np.float64)
        waves = snippets(traces, troughs[inside] - lo, nbefore, nafter)
        np.add.at(sums, labels[inside], waves)
        counts += np.bincount(labels[inside], minlength=units)
    return (sums / np.maximum(counts, 1)[:, None, None]).astype(np.float32)


def shift_similarity(a: np.ndarray, b: np.ndarray, max_shift: int) -> float:
    """Largest cosine similarity of two templates (K, channels) over time shifts within +-max_shift."""
    best = -1.0
    K = len(a)
    for s in range(-max_shift, max_shift + 1):
        x, y = (a[s:], b[:K - s]) if s >= 0 else (a[:K + s], b[-s:])
        denom = np.linalg.norm(x) * np.linalg.norm(y)
        if denom > 0:
            best = max(best, float(np.sum(x * y) / denom))
    return best


def cluster_templates(waves: np.ndarray, *, clusters: int, pca_components: int, merge_similarity: float,
                      max_shift: int, min_spikes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means of the snippets' PCA features, merged and pruned (module docstring, steps 3-4).

    waves (P, K, channels). Returns (templates (C, K, channels) mean snippets, labels (P,) in -1..C-1)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    P = len(waves)
    clusters = max(1, min(clusters, P // max(min_spikes, 1)))
    flat = waves.reshape(P, -1)
    features = PCA(min(pca_components, P, flat.shape[1]), random_state=seed).fit_transform(flat)
    labels = KMeans(clusters, n_init=3, random_state=seed).fit_predict(features)
    means = np.stack([waves[labels == c].mean(axis=0) for c in range(clusters)])
    counts = np.bincount(labels, minlength=clusters)
    # merge: union-find over pairs of similar shapes, largest clusters first
    parent = list(range(clusters))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = np.argsort(-counts)
    for i_pos, i in enumerate(order):
        for j in order[i_pos + 1:]:
            if root(i) != root(j) and shift_similarity(means[i], means[j], max_shift) > merge_similarity:
                parent[root(j)] = root(i)
    roots = np.array([root(i) for i in range(clusters)])
    merged = roots[labels]
    keep = [r for r in np.unique(roots) if np.sum(merged == r) >= min_spikes]
    if not keep:
        raise DataError(f"no cluster of at least {min_spikes} spikes among {P} threshold crossings; lower "
                        "min_spikes or detect_threshold, or fit on a longer part of the recording")
    new_label = {r: i for i, r in enumerate(keep)}
    labels = np.array([new_label.get(r, -1) for r in merged])
    templates = np.stack([_aligned_mean(waves[labels == i], max_shift) for i in range(len(keep))])
    return templates, labels


def merge_clusters(waves: np.ndarray, labels: np.ndarray, groups: list[list[int]],
                   max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Join clusters: ``groups`` (lists of labels covering 0..C-1) become the new labels 0..len(groups)-1 in that
    order (-1 stays -1); each template the aligned mean of its snippets (as ``cluster_templates``).

    waves (P, K, channels), labels (P,). Returns (templates (len(groups), K, channels), labels (P,))."""
    new = np.full(max(max(g) for g in groups) + 1, -1)
    for i, group in enumerate(groups):
        new[group] = i
    labels = np.where(labels >= 0, new[np.maximum(labels, 0)], -1)
    templates = np.stack([_aligned_mean(waves[labels == i], max_shift) for i in range(len(groups))])
    return templates, labels


def _aligned_mean(group: np.ndarray, max_shift: int) -> np.ndarray:
    """Mean of snippets (n, K, channels) after shifting each (within +-max_shift) onto the plain mean: merged
    clusters may have been cut at slightly different troughs."""
    mean = group.mean(axis=0)
    if max_shift == 0 or len(group) < 2:
        return mean
    K = group.shape[1]
    best = np.zeros(len(group), dtype=int)
    best_score = np.full(len(group), -np.inf)
    for s in range(-max_shift, max_shift + 1):
        score = np.einsum("nkc,kc->n", np.roll(group, -s, axis=1), mean)
        better = score > best_score
        best[better], best_score[better] = s, score[better]
    out = np.zeros_like(mean)
    weight = np.zeros((K, 1))
    for s in np.unique(best):
        rolled = np.roll(group[best == s], -s, axis=1)
        valid = np.ones(K, bool)
        if s > 0:
            valid[K - s:] = False
        elif s < 0:
            valid[:-s] = False
        out[valid] += rolled[:, valid].sum(axis=0)
        weight[valid] += (best == s).sum()
    return np.where(weight > 0, out / np.maximum(weight, 1), mean)


def step_constant(filters: np.ndarray) -> float:
    """The sorter's L for filters (C, channels, K): 1.05 x ``crsae.model.fista.norm_bound`` (an upper bound on
    ||H||_2^2 on signals of any size, at most 0.1% above it); the 5% margin because training moves the filters."""
    import torch
    from crsae.model.fista import norm_bound
    return 1.05 * norm_bound(torch.from_numpy(np.ascontiguousarray(filters)))


def train_dictionary(traces: np.ndarray, filters: np.ndarray, *, num_layers: int, lam: float, delta: float,
                     em: bool, window: int, epochs: int, batch_size: int, lr: float, max_windows: int, seed: int,
                     log=None):
    """A one-sided CRsAE on ``filters`` (C, channels, K), trained ``epochs`` times on windows of ``traces``
    (N, channels); epochs = 0 builds it without training. Returns (model, seconds)."""
    from crsae.config import ModelConfig, TrainConfig
    from crsae.model.autoencoder import CRsAE
    C, channels, K = filters.shape
    config = ModelConfig(kind="1d", channels=channels, num_filters=C, kernel_size=K, num_layers=num_layers,
                         sigma=1.0, threshold_mode="em" if em else "fixed", lam_init=lam, delta=delta,
                         two_sided=False, L=step_constant(filters))
    model = CRsAE(config, filters, seed=seed)
    start = time.perf_counter()
    if epochs > 0:
        from crsae.training.datasets import ArrayData
        from crsae.training.mstep import Trainer
        n = min(len(traces) // window, max_windows)
        if n < 1:
            raise DataError(f"the fitted part has {len(traces)} samples, under one training window of {window}")
        rng = np.random.default_rng(seed)
        starts = np.sort(rng.choice(len(traces) // window, size=n, replace=False)) * window
        windows = np.stack([traces[s:s + window].T for s in starts]).astype(np.float32)
        trainer = Trainer(model, TrainConfig(epochs=epochs, batch_size=min(batch_size, n), lr=lr, adam_eps=1e-5,
                                             lr_decay=0.7, lr_step=1, seed=seed))

        def on_epoch(record):
            if log is not None:
                log(f"  epoch {record.epoch}: loss {record.loss:.4f}, "
                    f"lambda {float(model.lam.detach().mean()):.3f} (mean)")
            return {}

        trainer.fit(ArrayData(windows), on_epoch=on_epoch)
        H = model.H.detach().numpy()                   # training moved H: L again from the trained filters
        model = CRsAE(model.config.replace(L=step_constant(H)), H, lam=model.lam.detach().numpy())
    return model, time.perf_counter() - start


def local_groups(filters: np.ndarray, locations: np.ndarray, *, radius_um: float, group_channels: int) -> list[dict]:
    """Channel neighbourhoods for per-group models (``SorterParams.channels = "local"``).

    filters (C, channels, K), locations (channels, 2) in um. A unit's support is the channels within
    ``radius_um`` of its peak channel (largest filter energy); the channels, ordered along the probe (y, then x),
    are cut into blocks of ``group_channels``; a block owns the units whose peak channel it holds. Its group model
    spans the union of its units' supports and holds its own units first, then every other unit whose support
    meets those channels (guests: they explain their own spikes there, and their detections are dropped; the
    block that owns them reports them). Returns one dict per block that owns units: ``channels`` (sorted channel
    indices), ``units`` (owned, then guests), ``owned`` (how many of ``units`` are its own)."""
    energy = np.square(filters.astype(np.float64)).sum(axis=2)                      # (C, channels)
    peak = energy.argmax(axis=1)
    distance = np.linalg.norm(locations[:, None, :] - locations[None, :, :], axis=2)   # (channels, channels)
    support = distance[peak] <= radius_um                                            # (C, channels)
    order = np.lexsort((locations[:, 0], locations[:, 1]))
    groups = []
    for a in range(0, len(order), group_channels):
        block = set(order[a:a + group_channels].tolist())
        owned = [c for c in range(len(filters)) if int(peak[c]) in block]
        if not owned:
            continue
        channels = np.flatnonzero(support[owned].any(axis=0))
        guests = [c for c in range(len(filters)) if c not in owned and support[c, channels].any()]
        groups.append({"channels": channels.tolist(), "units": owned + guests, "owned": len(owned)})
    return groups
