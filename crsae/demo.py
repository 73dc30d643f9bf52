"""``crsae demo``: the whole product on built-in simulated data, end to end.

Train a small 1-D CRsAE from a perturbed dictionary, export it (codes and reconstruction) with validation, run
it under onnxruntime on fresh signals, and compare with torch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from crsae import contract
from crsae.model.checkpoint import load_model
from crsae.exporter.onnx_export import export_checkpoint
from crsae.serving.runtime import Encoder
from crsae.simulate import SimulationConfig, simulate
from crsae.training.run import start_run


def run_demo(workdir: Path, *, epochs: int = 15, log=print):
    """Yield the report lines; ``log`` receives progress lines."""
    from crsae.config import TrainConfig
    from crsae.files import check_output_folder, make_folder
    workdir = check_output_folder(workdir, "--workdir")
    TrainConfig(epochs=epochs)                      # a bad --epochs is refused before the folder is made
    checkpoint, model_path = make_folder(workdir) / "crsae.pt", workdir / "model.onnx"
    run = start_run(output=checkpoint, train={"epochs": epochs})
    start = time.perf_counter()
    run.fit(on_epoch_done=lambda r: log(f"epoch {r.epoch}: loss {r.loss:.4g}, "
                                        f"max recovery error {r.extra['max_recovery_error']:.4f}"))
    yield (f"train: {epochs} epochs in {time.perf_counter() - start:.1f}s, recovery error (max over filters) "
           f"{run.initial_error.max():.3f} -> {run.final_error.max():.4f}")
    records = export_checkpoint(checkpoint, model_path, outputs="both")
    worst = max(records, key=lambda r: r.max_abs_diff / r.atol)
    yield f"export: {model_path} validated on {len(records)} output/shape pairs, worst {worst.max_abs_diff:.2e} (atol {worst.atol:.2e})"
    test = simulate(SimulationConfig(num_signals=64, length=2000, num_filters=4, kernel_size=20, snr_db=16.0,
                                     events_per_filter=12, seed=1), dictionary=run.source.truth).signals
    encoder = Encoder(model_path, device="auto")
    start = time.perf_counter()
    got = encoder.run(test)
    elapsed = time.perf_counter() - start
    model = load_model(checkpoint)
    with torch.no_grad():
        y_hat, x = model(torch.from_numpy(test))
    for name, ref in (("codes", x.numpy()), ("reconstruction", y_hat.numpy())):
        diff = float(np.max(np.abs(got[name] - ref)))
        tol = contract.atol(ref, model.config.num_layers)
        yield (f"parity {name}: onnxruntime ({encoder.provider}) vs torch on {test.shape}: max |diff| {diff:.2e}, "
               f"atol {tol:.2e} -> {'OK' if diff <= tol else 'FAIL'}")
    yield f"infer: {len(test)} signals of {test.shape[-1]} samples in {elapsed * 1000:.1f} ms on {encoder.provider}"
