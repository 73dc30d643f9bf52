"""crsae/serving/triton.py: the Triton model repository, its config.pbtxt checked with Triton's own ModelConfig
protobuf."""

import json

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from crsae.model.checkpoint import save_checkpoint
from crsae.cli import app
from crsae.config import ModelConfig
from crsae.errors import ConfigError, DataError, ModelFormatError
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import to_onnx
from crsae.serving.triton import triton_config, write_triton_repository

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                       reason="tritonclient is not installed (pip install 'crsae[triton]')")
from google.protobuf import text_format  # noqa: E402  (after the importorskip)

runner = CliRunner()

CONFIGS = {
    "1d": ModelConfig(kind="1d", num_filters=2, kernel_size=6, num_layers=4, lam_init=0.5),
    "2d": ModelConfig(kind="2d", channels=3, num_filters=3, kernel_size=5, stride=2, num_layers=3, lam_init=0.5,
                      input_scaling="unit_interval"),
}


@pytest.fixture(scope="module")
def protos():
    """1-D and 2-D exports with both outputs, in memory."""
    return {kind: to_onnx(CRsAE(config, seed=1), outputs="both") for kind, config in CONFIGS.items()}


def parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def graph_dims(value: onnx.ValueInfoProto) -> list[int]:
    """The ONNX graph's axes without batch, -1 where the graph leaves them dynamic."""
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim[1:]]


@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_config_matches_model_inputs_and_outputs(protos, kind):
    proto, cfg = protos[kind], CONFIGS[kind]
    config = parse(triton_config(proto, "crsae", max_batch_size=16))
    assert config.name == "crsae" and config.backend == "onnxruntime" and config.max_batch_size == 16
    dyn = [-1] if kind == "1d" else [-1, -1]
    expected = {"signal": [cfg.channels] + dyn, "codes": [cfg.num_filters] + dyn,
                "reconstruction": [cfg.channels] + dyn}
    for tensors, values in ((config.input, proto.graph.input), (config.output, proto.graph.output)):
        assert [t.name for t in tensors] == [v.name for v in values]
        for t, v in zip(tensors, values):
            assert t.data_type == model_config_pb2.TYPE_FP32
            assert list(t.dims) == expected[t.name] == graph_dims(v)
    assert config.HasField("dynamic_batching")
    assert config.dynamic_batching.max_queue_delay_microseconds == 100
    kinds = [g.kind for g in config.instance_group]
    assert kinds == [model_config_pb2.ModelInstanceGroup.KIND_GPU, model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert all(g.count == 1 for g in config.instance_group)


@pytest.mark.slow
def test_config_float16_and_cpu_only(tmp_path):
    proto = to_onnx(CRsAE(CONFIGS["1d"], seed=1), outputs="codes", dtype="float16")
    config = parse(triton_config(proto, "half", instances=("cpu",), instance_count=2))
    assert [t.data_type for t in list(config.input) + list(config.output)] == [model_config_pb2.TYPE_FP16] * 2
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)]


def test_repository_layout_and_new_version(protos, tmp_path):
    folder = write_triton_repository(protos["1d"], tmp_path / "repo", name="spikes", version=1)
    assert folder == tmp_path / "repo" / "spikes"
    assert sorted(p.name for p in folder.iterdir()) == ["1", "config.pbtxt"]
    assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.json", "model.onnx"]
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["spikes"]          # no temporary folder left
    stored = onnx.load(str(folder / "1" / "model.onnx"))
    assert stored.SerializeToString() == protos["1d"].SerializeToString()
    assert json.loads((folder / "1" / "model.json").read_text())["kind"] == "1d"
    assert parse((folder / "config.pbtxt").read_text()).name == "spikes"
    write_triton_repository(protos["1d"], tmp_path / "repo", name="spikes", version=2)
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2", "config.pbtxt"]


def test_repository_from_onnx_file(protos, tmp_path):
    onnx.save(protos["2d"], str(tmp_path / "m.onnx"))
    folder = write_triton_repository(tmp_path / "m.onnx", tmp_path / "repo", name="img")
    assert list(parse((folder / "config.pbtxt").read_text()).input[0].dims) == [3, -1, -1]


@pytest.mark.parametrize("call,error,match", [
    (lambda p, r: write_triton_repository(p, r, name="spikes", version=1), DataError, "already exists and is not empty"),
    (lambda p, r: write_triton_repository(p, r, name="spikes", version=2, max_batch_size=8), DataError,
     "describes a different model"),
    (lambda p, r: write_triton_repository(p, r, name="bad name"), ConfigError, "must be letters"),
    (lambda p, r: write_triton_repository(p, r, name="x", version=0), ConfigError, "positive integer"),
    (lambda p, r: write_triton_repository(p, r, name="x", max_batch_size=0), ConfigError, "at least 1"),
    (lambda p, r: write_triton_repository(p, r, name="x", instances=("tpu",)), ConfigError, "gpu, cpu or both"),
    (lambda p, r: write_triton_repository(r / "missing.onnx", r, name="x"), ModelFormatError, "does not exist"),
])
def test_repository_errors(protos, tmp_path, call, error, match):
    repo = tmp_path / "repo"
    write_triton_repository(protos["1d"], repo, name="spikes", version=1)
    before = sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))
    with pytest.raises(error, match=match):
        call(protos["1d"], repo)
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*")) == before


def test_config_refuses_non_crsae_model():
    from onnx import helper, TensorProto
    graph = helper.make_graph([helper.make_node("Identity", ["signal"], ["codes"])], "g",
                              [helper.make_tensor_value_info("signal", TensorProto.FLOAT, ["batch", 1, "length"])],
                              [helper.make_tensor_value_info("codes", TensorProto.FLOAT, ["batch", 1, "length"])])
    with pytest.raises(ModelFormatError, match="not a crsae export"):
        triton_config(helper.make_model(graph), "x")


def test_cli_export_triton(tmp_path):
    save_checkpoint(tmp_path / "spikes.pt", CRsAE(CONFIGS["1d"], seed=1))
    result = runner.invoke(app, ["export", str(tmp_path / "spikes.pt"), "-o", str(tmp_path / "repo"),
                                 "--format", "triton", "--outputs", "both", "--max-batch-size", "32"])
    assert result.exit_code == 0, result.output
    assert "parity codes" in result.output and "config.pbtxt" in result.output
    config = parse((tmp_path / "repo" / "spikes" / "config.pbtxt").read_text())
    assert config.name == "spikes" and config.max_batch_size == 32
    assert [o.name for o in config.output] == ["codes", "reconstruction"]
    from crsae.serving.runtime import Encoder
    signal = np.random.default_rng(0).standard_normal((2, 1, 40)).astype(np.float32)
    codes = Encoder(tmp_path / "repo" / "spikes" / "1" / "model.onnx", device="cpu").encode(signal)
    assert codes.shape == (2, 2, 35)


@pytest.mark.parametrize("args,match", [
    (["--format", "triton", "--name", "a/b"], "must be letters"),
])
def test_cli_export_triton_bad_options_one_line_error(tmp_path, args, match):
    save_checkpoint(tmp_path / "m.pt", CRsAE(CONFIGS["1d"], seed=1))
    result = runner.invoke(app, ["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "repo")] + args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and match in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").iterdir())
