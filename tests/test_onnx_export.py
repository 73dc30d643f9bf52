"""crsae/exporter/onnx_export.py: trace, validate and write; ORT-vs-torch parity over a grid; the file contract."""

import json

import numpy as np
import onnx
import pytest
import torch

from crsae import contract
from crsae.model.checkpoint import save_checkpoint
from crsae.config import ModelConfig
from crsae.errors import ConfigError, ToleranceError
from crsae.model.autoencoder import CRsAE
from crsae.exporter.onnx_export import ExportGraph, export_checkpoint, read_metadata, to_onnx, validate_onnx, write_export
from crsae.serving.runtime import Encoder

# The parity grid: every axis of the grid appears (1-D/2-D, T in {1, 5, 30, 100}, stride 1 and > 1,
# 1 and several channels, one- and two-sided, tied and untied), each model validated on several shapes
# (batch 1 and odd batches, odd lengths) and checked again on extra shapes below.
GRID = {
    "1d-T1": ModelConfig(kind="1d", num_filters=3, kernel_size=7, num_layers=1, lam_init=0.5),
    "1d-T5-2ch-one-sided": ModelConfig(kind="1d", channels=2, num_filters=3, kernel_size=6, num_layers=5,
                                       lam_init=0.5, two_sided=False),
    "1d-T30-untied": ModelConfig(kind="1d", num_filters=4, kernel_size=9, num_layers=30, lam_init=0.5, tied=False),
    "1d-T100-one-sided": ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=100, lam_init=0.3,
                                     two_sided=False),
    "2d-T5-stride1-3ch": ModelConfig(kind="2d", channels=3, num_filters=4, kernel_size=3, num_layers=5, lam_init=0.5),
    "2d-T30-stride3-untied": ModelConfig(kind="2d", num_filters=4, kernel_size=5, stride=3, num_layers=30,
                                         lam_init=0.5, tied=False),
    "2d-T1-stride2-2ch-one-sided": ModelConfig(kind="2d", channels=2, num_filters=3, kernel_size=4, stride=2,
                                               num_layers=1, lam_init=0.5, two_sided=False),
}


def _perturbed(config):
    model = CRsAE(config, seed=7)
    if not config.tied:
        with torch.no_grad():
            model.We.add_(0.05 * torch.randn_like(model.We))
            model.Wd.add_(0.05 * torch.randn_like(model.Wd))
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", GRID)
@pytest.mark.filterwarnings("ignore::crsae.errors.StepConstantWarning")   # the untied cases perturb We past L
def test_onnxruntime_matches_torch_over_grid(name, tmp_path):
    config = GRID[name]
    model = _perturbed(config)
    proto = to_onnx(model, outputs="both")
    records = validate_onnx(proto, model)
    assert {r.output for r in records} == {"codes", "reconstruction"} and all(r.ok for r in records)
    write_export(proto, tmp_path / "m.onnx")
    encoder = Encoder(tmp_path / "m.onnx", device="cpu")
    K, ch = config.kernel_size, config.channels
    shapes = [(1, ch, 3 * K + 4), (5, ch, 7 * K + 1)] if config.kind == "1d" else \
        [(1, ch, 2 * K + 9, 3 * K + 2), (3, ch, 3 * K + 5, 2 * K + 10)]
    rng = np.random.default_rng(0)
    for shape in shapes:
        y = rng.standard_normal(shape).astype(np.float32)
        got = encoder.run(y)
        with torch.no_grad():
            ref = ExportGraph(model, ("codes", "reconstruction"))(torch.from_numpy(y))
        for out, r in zip(("codes", "reconstruction"), ref):
            r = r.numpy()
            assert got[out].shape == r.shape
            assert np.abs(got[out] - r).max() <= contract.atol(r, config.num_layers)


@pytest.mark.slow
def test_export_against_float64_reference_at_large_T(rng):
    """At T = 100 the float32 encoders (torch and ORT) stay within the contract's tolerance of float64."""
    from reference import fista
    config = GRID["1d-T100-one-sided"]
    model = _perturbed(config)
    proto = to_onnx(model, outputs="codes")
    import onnxruntime as ort
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    y = rng.standard_normal((1, 1, 60)).astype(np.float32)
    got = session.run(None, {"signal": y})[0][0]
    ref = fista(y[0].astype(np.float64), model.H.detach().double().numpy(), model.thresholds().detach().double().numpy(),
                float(model.L), 100, two_sided=False)
    assert np.abs(got - ref).max() <= contract.atol(ref, 100)


def test_export_file_contract(tmp_path):
    model = CRsAE(GRID["1d-T5-2ch-one-sided"])
    save_checkpoint(tmp_path / "m.pt", model)
    records = export_checkpoint(tmp_path / "m.pt", tmp_path / "m.onnx", outputs="both")
    assert len(records) == 6
    proto = onnx.load(tmp_path / "m.onnx", load_external_data=False)
    assert {o.domain: o.version for o in proto.opset_import}[""] == contract.contract()["opset"]
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert all(len(n.metadata_props) == 0 and not n.doc_string for n in proto.graph.node)
    raw = (tmp_path / "m.onnx").read_bytes()
    assert b"/work/" not in raw and str(tmp_path).encode() not in raw and b".py" not in raw
    meta = read_metadata(proto)
    assert set(meta) == set(contract.contract()["metadata_keys"])
    assert meta["format"] == "crsae-onnx" and meta["kind"] == "1d" and meta["channels"] == 2
    assert meta["num_layers"] == 5 and meta["two_sided"] is False and meta["outputs"] == ["codes", "reconstruction"]
    assert meta["chunk_halo"] == 6 * 5 and len(meta["checkpoint_sha256"]) == 64
    assert json.loads((tmp_path / "m.json").read_text()) == meta
    axes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(proto.graph.input) + list(proto.graph.output)}
    assert axes == {"signal": ["batch", 2, "length"], "codes": ["batch", 3, "code_length"],
                    "reconstruction": ["batch", 2, "length"]}


def test_failed_validation_writes_nothing(tmp_path, monkeypatch):
    import crsae.exporter.onnx_export as ox
    model = CRsAE(GRID["1d-T1"])
    save_checkpoint(tmp_path / "m.pt", model)

    def failing(proto, model, shapes=None):
        raise ToleranceError([("codes", (1, 1, 7), 1.0, 1e-5)])
    monkeypatch.setattr(ox, "validate_onnx", failing)
    with pytest.raises(ToleranceError, match="codes .* max \\|diff\\| 1 > atol"):
        export_checkpoint(tmp_path / "m.pt", tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_validation_catches_a_wrong_model():
    model = CRsAE(GRID["1d-T5-2ch-one-sided"])
    proto = to_onnx(model, outputs="codes")
    other = CRsAE(GRID["1d-T5-2ch-one-sided"], seed=99)
    with pytest.raises(ToleranceError, match="codes"):
        validate_onnx(proto, other)


@pytest.mark.slow
def test_float16_export_within_its_tolerance(tmp_path):
    model = CRsAE(GRID["2d-T5-stride1-3ch"])
    proto = to_onnx(model, outputs="both", dtype="float16")
    records = validate_onnx(proto, model)
    assert read_metadata(proto)["dtype"] == "float16" and all(r.ok for r in records)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def test_static_shape_export_fixes_every_axis(tiny_exports):
    path = tiny_exports["static"].onnx
    proto = onnx.load(path)
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(proto.graph.input) + list(proto.graph.output)}
    assert dims == {"signal": [4, 1, 90], "codes": [4, 3, 84], "reconstruction": [4, 1, 90]}
    assert read_metadata(proto)["static_shape"] == [4, 1, 90]


def test_bad_static_shape_is_refused():
    model = CRsAE(ModelConfig(kind="2d", num_filters=2, kernel_size=5, stride=2, num_layers=2))
    with pytest.raises(ConfigError, match="static shape \\(1, 1, 4, 20\\) does not fit"):
        to_onnx(model, static_shape=(1, 1, 4, 20))


def test_with_weights_replaces_an_unfolded_step_constant():
    """The exporter's optimizer folds ``We / L`` only when H has at most 8192 values; a larger H stays in the
    graph beside a scalar initializer ``model.L``, which with_weights must replace too. It kept the template's
    L (every local group model of the 128-channel sort, H 26 x 27 x 30, then coded with the first group's step
    1/L and its own thresholds: off by up to 6.4). Checked on a signal of the model's own atoms, whose codes are
    far from 0 (on white noise a lasso's codes are mostly 0)."""
    import onnxruntime as ort
    from crsae.exporter.onnx_export import with_weights
    from crsae.model.fista import synthesis, unrolled_fista
    rng = np.random.default_rng(0)
    C, ch, K, N = 16, 16, 33, 400                                         # H: 8448 values
    config = ModelConfig(kind="1d", channels=ch, num_filters=C, kernel_size=K, num_layers=3, sigma=1.0,
                         threshold_mode="fixed", lam_init=0.5, two_sided=False, L=8.0)
    template = CRsAE(config, rng.standard_normal((C, ch, K)).astype(np.float32))
    model = CRsAE(config.replace(L=5.0), rng.standard_normal((C, ch, K)).astype(np.float32),  # ||H||^2 about 4.7
                  lam=rng.uniform(0.3, 0.8, C).astype(np.float32))
    proto = to_onnx(template)
    assert "model.L" in {init.name for init in proto.graph.initializer}     # the case under test: L unfolded
    codes = np.zeros((1, C, N - K + 1))
    codes[0, rng.integers(0, C, 40), rng.integers(0, N - K + 1, 40)] = rng.uniform(2, 4, 40)
    H = model.H.detach().double()
    y = synthesis(torch.tensor(codes), H, (N,)) + 0.1 * torch.tensor(rng.standard_normal((1, ch, N)))
    want = unrolled_fista(y, H, H, model.thresholds().detach().double(), float(model.L), 3,
                          two_sided=False).numpy()
    assert (want > 0.3).sum() >= 20                                       # codes well away from 0
    session = ort.InferenceSession(with_weights(proto, template, model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(["codes"], {"signal": y.float().numpy()})[0]
    np.testing.assert_allclose(got, want, atol=contract.atol(want, 3), rtol=0)


# --- the accelerated encoder (crsae export --encoder accelerated; docs/math.md, "Accelerated encoder") ----------
def test_accelerated_export_matches_its_torch_encoder_and_says_so(tiny_exports, rng):
    tiny = tiny_exports["spikes_accelerated"]
    model = tiny.model()
    meta = json.loads(tiny.sidecar.read_text())
    assert (meta["encoder"], meta["step"]) == ("accelerated", 1.9)
    assert "encoder" not in json.loads(tiny_exports["spikes"].sidecar.read_text())     # the default: as before
    encoder = Encoder(tiny.onnx, device="cpu")
    assert encoder.step == 1.9
    y = np.abs(rng.standard_normal((3, 1, 301))).astype(np.float32)
    got = encoder.run(y)
    with torch.no_grad():
        fast = ExportGraph(model, ("codes", "reconstruction"), 1.9)(torch.from_numpy(y))
        paper = ExportGraph(model, ("codes", "reconstruction"))(torch.from_numpy(y))
    for out, r in zip(("codes", "reconstruction"), fast):
        assert np.abs(got[out] - r.numpy()).max() <= contract.atol(r.numpy(), model.config.num_layers)
    assert np.abs(got["codes"] - paper[0].numpy()).max() > 1e-3          # a different encoder, not the paper's


@pytest.mark.slow
def test_accelerated_export_with_the_stride_trick_and_noise_input_validates():
    model = CRsAE(ModelConfig(kind="2d", num_filters=4, kernel_size=5, stride=3, num_layers=10, lam_init=0.5))
    proto = to_onnx(model, outputs="both", noise_input=True, encoder="accelerated", step=1.5)
    assert (read_metadata(proto)["encoder"], read_metadata(proto)["step"]) == ("accelerated", 1.5)
    records = validate_onnx(proto, model)
    assert {r.output for r in records} == {"codes", "reconstruction"} and all(r.ok for r in records)


def test_accelerated_model_refuses_chunking(tiny_exports, rng):
    from crsae.errors import ConfigError
    encoder = Encoder(tiny_exports["spikes_accelerated"].onnx, device="cpu")
    with pytest.raises(ConfigError, match="accelerated encoder, whose safeguard is per example"):
        encoder.run_long(rng.standard_normal((1, 400)).astype(np.float32), "codes", chunk=100)


@pytest.mark.parametrize("config, options, match", [
    (dict(), dict(encoder="fast"), "encoder must be one of paper, accelerated, got 'fast'"),
    (dict(), dict(step=1.5), "--step sets the accelerated encoder's step"),
    (dict(), dict(encoder="accelerated", step=2.0), r"step must be a number in \(0, 2\), got 2.0"),
    (dict(), dict(encoder="accelerated", step=0), r"step must be a number in \(0, 2\), got 0"),
    (dict(tied=False), dict(encoder="accelerated"), "untied encoder"),
    (dict(), dict(encoder="accelerated", dtype="float16"), "overflow float16"),
])
def test_accelerated_export_bad_options_are_one_line_errors(config, options, match):
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3, lam_init=0.5, **config))
    with pytest.raises(ConfigError, match=match) as caught:
        to_onnx(model, **options)
    assert "\n" not in str(caught.value)


# --- the factored graph (to_onnx(model, rank=r): the sorter's encoder) ---------------------------------------
def _low_rank_model(C, channels, K, rank, num_layers=20, two_sided=False):
    from crsae.model.fista import factor_filters, filters_from_factors
    H = torch.randn(C, channels, K, generator=torch.Generator().manual_seed(2))
    low = filters_from_factors(*factor_filters(H, rank)).float().numpy()
    config = ModelConfig(kind="1d", channels=channels, num_filters=C, kernel_size=K, num_layers=num_layers,
                         sigma=1.0, threshold_mode="em", lam_init=0.5, two_sided=two_sided)
    return CRsAE(config, low)


@pytest.mark.parametrize("C, channels, K, rank, two_sided", [(5, 8, 12, 2, False), (6, 4, 10, 4, False),
                                                             (3, 6, 9, 1, True)])
def test_factored_export_gives_the_full_models_codes_within_the_contract(C, channels, K, rank, two_sided, tmp_path):
    """The graph runs U r (channels + K) multiply-adds per sample instead of U channels K; its reference is the
    torch model on the same (rank-r) filters through full convolutions, on white noise and on the model's own
    spikes (codes far from 0), and chunked runs equal whole ones."""
    from crsae.simulate import spike_signal
    model = _low_rank_model(C, channels, K, rank, two_sided=two_sided)
    proto = to_onnx(model, outputs="both", rank=rank)
    assert read_metadata(proto)["rank"] == rank
    groups = {a.i for n in proto.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"}
    assert C in groups                                                    # the grouped temporal convolutions
    spikes = spike_signal(model.H.detach().numpy(), model.lam.detach().numpy(), channels, seed=0, length=600)
    records = validate_onnx(proto, model, signals=[spikes])
    assert len(records) == 8 and all(r.ok for r in records)
    write_export(proto, tmp_path / "m.onnx")
    encoder = Encoder(tmp_path / "m.onnx", device="cpu")
    with torch.no_grad():
        want = ExportGraph(model, ("codes",))(torch.from_numpy(spikes))[0].numpy()[0]
    assert (want > 0.1).sum() >= C
    got = encoder.run_long(spikes[0], "codes", chunk=100)
    assert np.abs(got - want).max() <= contract.atol(want, model.config.num_layers)


@pytest.mark.parametrize("rank, config, options, match", [
    (0, dict(), dict(), r"rank must be an integer from 1 to min\(channels, kernel_size\) = 3, got 0"),
    (4, dict(), dict(), "got 4"),
    (True, dict(), dict(), "got True"),
    (1.0, dict(), dict(), "got 1.0"),
    (1, dict(tied=False), dict(), "for 1-D tied models on the paper's encoder"),
    (1, dict(), dict(encoder="accelerated"), "for 1-D tied models on the paper's encoder"),
    (1, dict(), dict(), r"filter \d is not of rank 1 \(its rank-1 approximation is"),
])
def test_factored_export_bad_ranks_are_one_line_errors(rank, config, options, match):
    model = CRsAE(ModelConfig(kind="1d", channels=3, num_filters=2, kernel_size=5, num_layers=3, lam_init=0.5,
                              **config))
    with pytest.raises(ConfigError, match=match) as caught:
        to_onnx(model, rank=rank, **options)
    assert "\n" not in str(caught.value)


def test_factored_export_refuses_with_weights():
    from crsae.exporter.onnx_export import with_weights
    model = _low_rank_model(2, 3, 5, 1, num_layers=2)
    with pytest.raises(ConfigError, match="substitutes full filters, not factors"):
        with_weights(to_onnx(model, rank=1), model, model)
