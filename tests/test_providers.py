"""GPU batch inference paths that can be checked on a CPU machine: provider plans per shape regime, static-shape
exports, zero-copy IO binding of torch tensors, and clear errors for missing GPU providers."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from crsae.model.checkpoint import save_checkpoint
from crsae.cli import app
from crsae.config import ModelConfig
from crsae.errors import ConfigError, ProviderUnavailableError, ShapeError
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import read_metadata, to_onnx, validate_onnx, write_export
from crsae.serving.providers import provider_plan
from crsae.serving.runtime import Encoder

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cuda_options_follow_the_shape_regime():
    dynamic, wanted = provider_plan("cuda", GPU_BUILD, static=False, model_path=Path("m.onnx"))
    assert wanted == "CUDAExecutionProvider" and dynamic[-1] == "CPUExecutionProvider"
    assert dynamic[0][1]["cudnn_conv_algo_search"] == "HEURISTIC" and "enable_cuda_graph" not in dynamic[0][1]
    static, _ = provider_plan("auto", GPU_BUILD, static=True, model_path=Path("m.onnx"))
    assert static[0][1]["cudnn_conv_algo_search"] == "EXHAUSTIVE" and static[0][1]["enable_cuda_graph"] == "1"


def test_tensorrt_plan_caches_engines_beside_the_model():
    plan, wanted = provider_plan("tensorrt", GPU_BUILD, static=False, model_path=Path("/models/m.onnx"))
    assert wanted == "TensorrtExecutionProvider"
    assert [p if isinstance(p, str) else p[0] for p in plan] == GPU_BUILD
    assert plan[0][1]["trt_engine_cache_path"] == "/models/.m.trt-cache"


@pytest.mark.parametrize("device,match", [("cuda", "onnxruntime-gpu\\[cuda,cudnn\\]"), ("tensorrt", "TensorRT 10"),
                                          ("tpu", "device must be one of")])
def test_missing_gpu_providers_are_refused(device, match):
    with pytest.raises(ProviderUnavailableError, match=match):
        provider_plan(device, ["CPUExecutionProvider"], static=False, model_path=Path("m.onnx"))
    assert provider_plan("auto", ["CPUExecutionProvider"], static=False, model_path=Path("m.onnx")) == \
        (["CPUExecutionProvider"], None)


@pytest.fixture(scope="module")
def static_model(tmp_path_factory):
    model = CRsAE(ModelConfig(kind="1d", num_filters=3, kernel_size=7, num_layers=10, lam_init=0.5), seed=1)
    path = tmp_path_factory.mktemp("static") / "s.onnx"
    proto = to_onnx(model, outputs="both", static_shape=(4, 1, 90))
    validate_onnx(proto, model)
    write_export(proto, path)
    return model, path


def test_static_shape_export_fixes_every_axis(static_model):
    _, path = static_model
    proto = onnx.load(path)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(proto.graph.input) + list(proto.graph.output)}
    assert dims == {"signal": [4, 1, 90], "codes": [4, 3, 84], "reconstruction": [4, 1, 90]}
    assert read_metadata(proto)["static_shape"] == [4, 1, 90]


def test_static_model_pads_the_last_batch_and_refuses_other_sizes(static_model, rng):
    model, path = static_model
    encoder = Encoder(path, device="cpu")
    assert encoder.static_shape == (4, 1, 90) and encoder.batch_size == 4
    y = rng.standard_normal((6, 1, 90)).astype(np.float32)
    got = encoder.run(y)
    with torch.no_grad():
        y_hat, x = model(torch.from_numpy(y))
    assert np.abs(got["codes"] - x.numpy()).max() < 1e-4 and np.abs(got["reconstruction"] - y_hat.numpy()).max() < 1e-4
    with pytest.raises(ShapeError, match="exported for inputs of shape \\(4, 1, 90\\)"):
        encoder.run(np.zeros((1, 1, 91), np.float32))
    with pytest.raises(ShapeError, match="static-shape model takes one input size"):
        encoder.run_long(np.zeros((1, 500), np.float32))


def test_bad_static_shape_is_refused():
    model = CRsAE(ModelConfig(kind="2d", num_filters=2, kernel_size=5, stride=2, num_layers=2))
    with pytest.raises(ConfigError, match="static shape \\(1, 1, 4, 20\\) does not fit"):
        to_onnx(model, static_shape=(1, 1, 4, 20))


def test_run_tensor_binds_torch_tensors_in_place(tmp_path, rng):
    model = CRsAE(ModelConfig(kind="2d", channels=2, num_filters=3, kernel_size=4, stride=2, num_layers=6,
                              lam_init=0.5), seed=2)
    write_export(to_onnx(model, outputs="both"), tmp_path / "m.onnx")
    encoder = Encoder(tmp_path / "m.onnx", device="cpu")
    y = torch.from_numpy(rng.standard_normal((3, 2, 19, 22)).astype(np.float32))
    got = encoder.run_tensor(y)
    expected = encoder.run(y.numpy())
    assert set(got) == {"codes", "reconstruction"}
    for name, value in got.items():
        assert isinstance(value, torch.Tensor) and value.shape == expected[name].shape
        assert np.array_equal(value.numpy(), expected[name])
    assert encoder.run_tensor(y.double(), ["codes"])["codes"].dtype == torch.float32     # cast at the edge
    with pytest.raises(ShapeError, match="takes a torch.Tensor"):
        encoder.run_tensor(y.numpy())
    with pytest.raises(ShapeError, match="channels"):
        encoder.run_tensor(torch.zeros(1, 1, 19, 22))
    bad = y.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ShapeError, match="NaN or Inf"):
        encoder.run_tensor(bad)


def test_cli_static_shape_and_tensorrt_device(tmp_path):
    runner = CliRunner()
    save_checkpoint(tmp_path / "m.pt", CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3)))
    ok = runner.invoke(app, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "s.onnx"), "--static-shape",
                             "2,1,40"])
    assert ok.exit_code == 0, ok.output
    assert Encoder(tmp_path / "s.onnx", device="cpu").static_shape == (2, 1, 40)
    bad = runner.invoke(app, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "b.onnx"), "--static-shape",
                              "2x1x40"])
    assert bad.exit_code == 1 and "comma-separated" in bad.output and not (tmp_path / "b.onnx").exists()
    np.save(tmp_path / "y.npy", np.zeros((2, 1, 40), np.float32))
    trt = runner.invoke(app, ["infer", str(tmp_path / "s.onnx"), str(tmp_path / "y.npy"), "-o",
                              str(tmp_path / "o.npy"), "--device", "tensorrt"])
    import onnxruntime as ort
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        assert trt.exit_code == 1 and "TensorRT" in trt.output and not (tmp_path / "o.npy").exists()
