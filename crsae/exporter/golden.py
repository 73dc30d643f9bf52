"""Golden vectors: inputs and torch float32 reference outputs that every runtime must reproduce.

``python -m crsae.exporter.golden`` re-exports every shipped checkpoint ``export/models/NAME.pt`` to ``NAME.onnx`` (+ sidecar)
with both outputs and ``NAME.filters.npy`` (the synthesis filters Wd, (C, channels, K[, K]): what the web page draws),
writes seeded inputs and the torch reference outputs as .npy under ``export/golden/``, and the
index ``export/golden/index.json`` (format in export/CONTRACT.md). For each 1-D model it adds a chunked case: a
long signal whose reference is the whole-signal result, to be run with the contract's chunking rule. For each 2-D
model whose thresholds follow sigma it adds ``NAME_sigma``: the model exported with the ``noise_sigma`` input
(``NAME_sigma.onnx``), fed one item at another noise level and one at -1 (estimated in the graph). For each tied
2-D model it adds ``NAME_accelerated``: the model exported with the accelerated encoder (``crsae export --encoder
accelerated``, step ``ACCELERATED_STEP``; beyond the paper), on the model's golden input, run whole (its codes are
not chunkable). For each tied 1-D model whose filters have rank r below min(channels, K) (a multichannel model of
the spike sorter, whose dictionary is a rank-r truncation), or one channel (r = 1), it adds ``NAME_rankR``: the
factored graph (``to_onnx(model, rank=r)``: a 1 x 1 convolution and block-Toeplitz temporal products, the form
the sorter runs), exact at that rank, so its reference is the model's own torch output. A multichannel 1-D model's
inputs are its own units firing in white noise at its sigma (``crsae.simulate.spike_signal``), kept short (two
signals of 20 K + 7 samples) because every runtime runs every case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from crsae import contract
from crsae.model.checkpoint import file_sha256, load_model
from crsae.files import atomic_path
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import to_onnx, validate_onnx, write_export
from crsae.model.fista import ACCELERATED_STEP

EXPORT_DIR = Path(__file__).resolve().parents[2] / "export"


def golden_inputs(model: CRsAE, name: str) -> list[tuple[str, np.ndarray, int | None]]:
    """(case name, input, chunk_length) for a model: seeded, small, odd sizes; a long chunked 1-D case."""
    cfg = model.config
    rng = np.random.default_rng(1234)
    if cfg.kind == "1d" and cfg.channels > 1:
        from crsae.simulate import spike_signal
        H = model.H.detach().numpy()
        lam = (model.thresholds() * model.L).detach().numpy()          # lam sigma^2: the lasso's weight on the codes

        def spikes(length, seed):
            return spike_signal(H, lam, cfg.channels, seed=seed, length=length, noise_sigma=cfg.sigma)
        short = 20 * cfg.kernel_size + 7
        return [(name, np.concatenate([spikes(short, 1234), spikes(short, 1235)]), None),
                (f"{name}_chunked", spikes(3 * cfg.chunk_halo + 1001, 99), 700)]
    if cfg.kind == "1d":
        from crsae.simulate import SimulationConfig, simulate
        K = cfg.kernel_size
        sim = simulate(SimulationConfig(num_signals=3, length=40 * K + 7, num_filters=cfg.num_filters, kernel_size=K,
                                        events_per_filter=5, min_spacing=K, nonnegative=not cfg.two_sided,
                                        snr_db=12.0, seed=1234), dictionary=model.H.detach().numpy())
        long = simulate(SimulationConfig(num_signals=1, length=3 * cfg.chunk_halo + 1001, num_filters=cfg.num_filters,
                                         kernel_size=K, events_per_filter=20, min_spacing=K,
                                         nonnegative=not cfg.two_sided, snr_db=12.0, seed=99),
                        dictionary=model.H.detach().numpy())
        return [(name, sim.signals, None), (f"{name}_chunked", long.signals, 700)]
    image = synthetic_image(61, 67)[None].repeat(cfg.channels, axis=0)
    noisy = image + 25 / 255 * rng.standard_normal(image.shape).astype(np.float32)
    return [(name, np.stack([noisy, noisy[:, ::-1].copy()]).astype(np.float32), None)]


def filters_rank(model: CRsAE) -> int:
    """The largest numerical rank (singular values above 1e-4 of unit-norm filters) of the filters (C, channels, K)
    as channels x K matrices."""
    return int(np.linalg.matrix_rank(model.H.detach().double().numpy(), tol=1e-4).max())


def synthetic_image(height: int, width: int) -> np.ndarray:
    """A deterministic test picture in [0, 1]: rings, a ramp and a bright square, (height, width) float32."""
    r, c = np.mgrid[0:height, 0:width].astype(np.float64)
    rings = 0.5 + 0.25 * np.sin(np.hypot(r - height / 2, c - width / 3) / 2.5)
    image = 0.6 * rings + 0.3 * c / width
    image[height // 4:height // 2, width // 2:3 * width // 4] = 0.95
    return np.clip(image, 0, 1).astype(np.float32)


def reference_outputs(model: CRsAE, signal: np.ndarray, noise_sigma: np.ndarray | None = None,
                      step: float | None = None) -> dict[str, np.ndarray]:
    """Torch float32 reference: codes of the signal as given, and the model's reconstruction; with ``noise_sigma``
    (B,), at those noise levels (the graph's optional input); with ``step``, of the accelerated encoder."""
    from crsae.exporter.onnx_export import ExportGraph
    noise = () if noise_sigma is None else (torch.from_numpy(noise_sigma),)
    with torch.no_grad():
        codes, recon = ExportGraph(model, ("codes", "reconstruction"), step)(torch.from_numpy(signal), *noise)
    return {"codes": codes.numpy(), "reconstruction": recon.numpy()}


GOLDEN_NOISE_SIGMA = np.array([15 / 255, -1.0], np.float32)      # another noise level; estimated in the graph


def write_case(model: CRsAE, entry: dict, signal: np.ndarray, golden_dir: Path,
               noise_sigma: np.ndarray | None = None, step: float | None = None) -> dict:
    """Write a case's input (and noise_sigma), its reference outputs (of the accelerated encoder with ``step``) and
    tolerances; returns the index entry."""
    case = entry["name"]
    np.save(golden_dir / f"{case}.signal.npy", signal)
    if noise_sigma is not None:
        np.save(golden_dir / f"{case}.noise_sigma.npy", noise_sigma)
        entry["noise_sigma"] = f"golden/{case}.noise_sigma.npy"
    for out, value in reference_outputs(model, signal, noise_sigma, step).items():
        np.save(golden_dir / f"{case}.{out}.npy", value)
        entry["outputs"][out] = f"golden/{case}.{out}.npy"
        entry["atol"][out] = contract.atol(value, model.config.num_layers)
    return entry


def write_variant_case(checkpoint: Path, suffix: str, export_dir: Path = EXPORT_DIR, *, noise_sigma=None,
                       **export_options) -> dict:
    """Export a checkpoint with ``export_options`` (``noise_input=True``; ``encoder="accelerated"`` with its
    ``step``; ``rank``) as ``NAME_SUFFIX.onnx`` and write its golden case: the model's golden input, run whole, with
    ``noise_sigma`` when the export takes it; returns the index entry."""
    models_dir, golden_dir = export_dir / "models", export_dir / "golden"
    model, name = load_model(checkpoint), f"{checkpoint.stem}_{suffix}"
    proto = to_onnx(model, outputs="both", checkpoint_sha256=file_sha256(checkpoint), **export_options)
    validate_onnx(proto, model)
    write_export(proto, models_dir / f"{name}.onnx")
    _, signal, _ = golden_inputs(model, checkpoint.stem)[0]             # run whole (a 1-D model also has a chunked one)
    entry = {"name": name, "model": f"models/{name}.onnx", "sidecar": f"models/{name}.json",
             "checkpoint": f"models/{checkpoint.name}", "input": f"golden/{name}.signal.npy", "outputs": {},
             "atol": {}, "chunk_length": None}
    return write_case(model, entry, signal, golden_dir, noise_sigma, step=export_options.get("step"))


def write_golden(export_dir: Path = EXPORT_DIR) -> dict:
    models_dir, golden_dir = export_dir / "models", export_dir / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for checkpoint in sorted(models_dir.glob("*.pt")):
        name = checkpoint.stem
        model = load_model(checkpoint)
        proto = to_onnx(model, outputs="both", checkpoint_sha256=file_sha256(checkpoint))
        validate_onnx(proto, model)
        write_export(proto, models_dir / f"{name}.onnx")
        np.save(models_dir / f"{name}.filters.npy", model.synthesis_filters.detach().numpy())   # the dictionary Wd
        for case, signal, chunk in golden_inputs(model, name):
            entry = {"name": case, "model": f"models/{name}.onnx", "sidecar": f"models/{name}.json",
                     "input": f"golden/{case}.signal.npy", "outputs": {}, "atol": {}, "chunk_length": chunk}
            cases.append(write_case(model, entry, signal, golden_dir))
        if model.config.kind == "2d" and model.config.threshold_mode != "bias":
            cases.append(write_variant_case(checkpoint, "sigma", export_dir, noise_sigma=GOLDEN_NOISE_SIGMA,
                                            noise_input=True))
        if model.config.kind == "2d" and model.config.tied:
            cases.append(write_variant_case(checkpoint, "accelerated", export_dir, encoder="accelerated",
                                            step=ACCELERATED_STEP))
        if model.config.kind == "1d" and model.config.tied:
            rank = filters_rank(model)                                  # one channel: 1
            if model.config.channels == 1 or rank < min(model.config.channels, model.config.kernel_size):
                cases.append(write_variant_case(checkpoint, f"rank{rank}", export_dir, rank=rank))
    index = {"contract_version": contract.contract()["contract_version"], "cases": cases}
    with atomic_path(golden_dir / "index.json") as tmp:
        tmp.write_text(json.dumps(index, indent=2) + "\n")
    return index


if __name__ == "__main__":
    result = write_golden(Path(sys.argv[1]) if len(sys.argv) > 1 else EXPORT_DIR)
    print(f"wrote {len(result['cases'])} golden cases")
