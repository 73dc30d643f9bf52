"""Shared fixtures and checks of what this machine has.

Layout: one test module per source module (``crsae/serving/chunking.py`` -> ``tests/test_chunking.py``, the
``crsae`` command -> ``tests/test_cli.py``, ``crsae/experiments/spikes.py`` -> ``tests/test_experiment_spikes.py``).
Long tests are marked ``slow``; ``make test-quick`` (``pytest -m "not slow"``) leaves them out.
"""

import functools
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def require_shared_data():
    if not (SHARED_DATA / "BSD68").is_dir() or not (SHARED_DATA / "CBSD432").is_dir():
        pytest.skip(f"{SHARED_DATA} (BSD68, CBSD432) is absent: the image tests need the shared denoising data")
    return SHARED_DATA


# --- what this machine's onnxruntime really runs -----------------------------------------------------------------
@functools.cache
def ort_runs(provider: str) -> bool:
    """True when onnxruntime really runs a tiny model on ``provider`` ("CUDAExecutionProvider",
    "TensorrtExecutionProvider"), not only lists it: onnxruntime-gpu lists its GPU providers on machines without a
    GPU or without the CUDA / cuDNN / TensorRT libraries, and then comes up on the CPU."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    if provider not in ort.get_available_providers():
        return False
    if hasattr(ort, "preload_dlls"):             # as crsae.serving.providers does: CUDA libraries from PyPI
        try:
            ort.preload_dlls()
        except (OSError, RuntimeError):
            pass
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=[provider, "CPUExecutionProvider"])
        if session.get_providers()[0] != provider:
            return False
        out = session.run(None, {"x": np.array([[-1.0, 0.0, 1.0, 2.0]], np.float32)})[0]
    except Exception:                             # onnxruntime raises its own types when a provider fails
        return False
    return out.tolist() == [[0.0, 0.0, 1.0, 2.0]]


def ort_cuda_runs() -> bool:
    return ort_runs("CUDAExecutionProvider")


# --- tiny exported models, built once per session ----------------------------------------------------------------
def _tiny_models():
    from crsae.config import ModelConfig
    return {
        # name: (config, seed, export options)
        "m1": (ModelConfig(kind="1d", num_filters=2, kernel_size=6, num_layers=8, lam_init=0.5), 1,
               dict(outputs="both")),
        "m2": (ModelConfig(kind="2d", num_filters=3, kernel_size=5, stride=2, num_layers=4, lam_init=0.5,
                           input_scaling="unit_interval"), 1, dict(outputs="both")),
        # 1-D one-sided (spikes), both outputs
        "spikes": (ModelConfig(kind="1d", num_filters=3, kernel_size=8, num_layers=12, lam_init=0.4,
                               two_sided=False), 2, dict(outputs="both")),
        # m2 and spikes with the noise_sigma input (crsae export --noise-input)
        "m2_sigma": (ModelConfig(kind="2d", num_filters=3, kernel_size=5, stride=2, num_layers=4, lam_init=0.5,
                                 input_scaling="unit_interval"), 1, dict(outputs="both", noise_input=True)),
        "spikes_sigma": (ModelConfig(kind="1d", num_filters=3, kernel_size=8, num_layers=12, lam_init=0.4,
                                     two_sided=False), 2, dict(outputs="both", noise_input=True)),
        # thresholds affine in sigma (b = beta + gamma sigma), with the noise_sigma input
        "m2_affine": (ModelConfig(kind="2d", num_filters=3, kernel_size=5, stride=2, num_layers=4, lam_init=0.5,
                                  sigma=0.2, threshold_mode="affine", input_scaling="unit_interval"), 1,
                      dict(outputs="both", noise_input=True)),
        # spikes with the accelerated encoder (crsae export --encoder accelerated, default step 1.9)
        "spikes_accelerated": (ModelConfig(kind="1d", num_filters=3, kernel_size=8, num_layers=12, lam_init=0.4,
                                           two_sided=False), 2, dict(outputs="both", encoder="accelerated")),
        # every axis fixed: (4, 1, 90)
        "static": (ModelConfig(kind="1d", num_filters=3, kernel_size=7, num_layers=10, lam_init=0.5), 1,
                   dict(outputs="both", static_shape=(4, 1, 90))),
    }


@dataclass(frozen=True)
class TinyExport:
    """A checkpoint ``CRsAE(config, seed)`` and its validated export (``crsae export``'s ``export_checkpoint``), with
    the sidecar beside it. Shared by the whole session: read them, never write them."""

    name: str
    config: object
    seed: int
    checkpoint: Path
    onnx: Path

    @property
    def sidecar(self) -> Path:
        return self.onnx.with_suffix(".json")

    def model(self):
        """A fresh copy of the exported model (torch), loaded from the checkpoint."""
        from crsae.model.checkpoint import load_model
        return load_model(self.checkpoint)


class TinyExports:
    """``tiny_exports["m1"]`` builds and exports model m1 on first use, then hands out the same files."""

    def __init__(self, folder: Path):
        self.folder, self.built, self.hashes = folder, {}, {}

    def __getitem__(self, name: str) -> TinyExport:
        if name not in self.built:
            from crsae.exporter.onnx_export import export_checkpoint
            from crsae.model.autoencoder import CRsAE
            from crsae.model.checkpoint import save_checkpoint
            config, seed, options = _tiny_models()[name]
            tiny = TinyExport(name, config, seed, self.folder / f"{name}.pt", self.folder / f"{name}.onnx")
            save_checkpoint(tiny.checkpoint, CRsAE(config, seed=seed))
            records = export_checkpoint(tiny.checkpoint, tiny.onnx, **options)
            assert records and all(r.ok for r in records), records
            self.built[name] = tiny
            for path in (tiny.checkpoint, tiny.onnx, tiny.sidecar):
                self.hashes[path] = _sha256(path)
        return self.built[name]

    def changed(self) -> list[str]:
        return [str(p) for p, h in self.hashes.items() if not p.is_file() or _sha256(p) != h]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory):
    """Tiny checkpoints and their exports (m1 1-D, m2 2-D stride 2, spikes 1-D one-sided, static fixed-shape 1-D;
    m2_sigma and spikes_sigma: m2 and spikes with the noise_sigma input; m2_affine: affine thresholds, with it;
    spikes_accelerated: spikes with the accelerated encoder),
    each built once per session on first use. Tests must not modify them (checked after the session)."""
    exports = TinyExports(tmp_path_factory.mktemp("tiny-exports"))
    yield exports
    changed = exports.changed()
    assert not changed, f"tests modified the shared tiny exports {changed}; copy them to tmp_path first"
