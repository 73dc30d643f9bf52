"""crsae/serving/runtime.py: Encoder, on the CPU (and on CUDA where onnxruntime really runs it): chunked long
signals, batching, threads, static shapes, torch tensors, and refusals of bad models and inputs."""

import numpy as np
import pytest
import torch

from conftest import ort_cuda_runs
from crsae.config import ModelConfig
from crsae.errors import ModelFormatError, ProviderUnavailableError, ShapeError
from crsae.exporter.onnx_export import to_onnx, write_export
from crsae.model.autoencoder import CRsAE
from crsae.serving.runtime import Encoder


@pytest.fixture(scope="module")
def spike_model(tiny_exports):
    """The shared 1-D one-sided model with both outputs: (torch model, path of its export)."""
    tiny = tiny_exports["spikes"]
    return tiny.model(), tiny.onnx


@pytest.fixture(scope="module")
def static_model(tiny_exports):
    """The shared static-shape (4, 1, 90) export with both outputs: (torch model, path)."""
    tiny = tiny_exports["static"]
    return tiny.model(), tiny.onnx


@pytest.mark.parametrize("chunk", [1, 5, 40, 97, 1000, 10_000])
@pytest.mark.parametrize("output", ["codes", "reconstruction"])
def test_chunked_encode_matches_whole_signal(spike_model, chunk, output, rng):
    model, path = spike_model
    encoder = Encoder(path, device="cpu")
    signal = rng.standard_normal((1, 3000)).astype(np.float32)
    whole = encoder.run(signal[None], [output])[output][0]
    chunked = encoder.run_long(signal, output, chunk=chunk)
    assert chunked.shape == whole.shape
    assert np.abs(chunked - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max())
    with torch.no_grad():
        y_hat, x = model(torch.from_numpy(signal[None]))
    ref = (x if output == "codes" else y_hat).numpy()[0]
    assert np.abs(chunked - ref).max() <= 1e-4


def test_chunked_output_into_memmap(spike_model, tmp_path, rng):
    _, path = spike_model
    encoder = Encoder(path, device="cpu")
    signal = rng.standard_normal((1, 2000)).astype(np.float32)
    np.save(tmp_path / "sig.npy", signal)
    mapped = np.load(tmp_path / "sig.npy", mmap_mode="r")
    out = np.lib.format.open_memmap(tmp_path / "codes.npy", mode="w+", dtype=np.float32, shape=(3, 2000 - 7))
    calls = []
    encoder.run_long(mapped, "codes", chunk=256, out=out, progress=lambda d, t: calls.append((d, t)))
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), encoder.encode(signal[None])[0], atol=1e-5)
    assert calls[-1] == (1993, 1993)


def test_chunks_run_concurrently_give_the_same_codes_in_order(spike_model, rng):
    """On 3 threads, run_long runs 3 chunks at once on one-thread sessions: bit-identical to one thread, and out
    and progress still advance chunk by chunk in order."""
    _, path = spike_model
    signal = rng.standard_normal((1, 5000)).astype(np.float32)
    one = Encoder(path, device="cpu", threads=1).run_long(signal, "codes", chunk=300)
    calls, seen = [], []
    out = np.full((3, 5000 - 7), np.nan, np.float32)

    def progress(done, total):               # everything before `done` is written, nothing after it yet
        calls.append((done, total))
        seen.append(bool(np.isfinite(out[:, :done]).all() and np.isnan(out[:, done:]).all()))
    three = Encoder(path, device="cpu", threads=3).run_long(signal, "codes", chunk=300, out=out, progress=progress)
    np.testing.assert_array_equal(three, one)
    assert len(calls) == 17 and all(seen) and calls[-1] == (4993, 4993)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_cuda_request_fails_clearly_without_gpu(spike_model):
    """Without a GPU that onnxruntime runs on (no CUDA provider, or one listed that does not load), --device cuda
    fails naming what to install; with one, it runs there."""
    if ort_cuda_runs():
        encoder = Encoder(spike_model[1], device="cuda")
        assert encoder.provider == "CUDAExecutionProvider" and encoder.on_gpu and encoder.fallback_reason is None
        return
    with pytest.raises(ProviderUnavailableError, match="CUDA 13 \\+ cuDNN 9.*onnxruntime-gpu\\[cuda,cudnn\\]"):
        Encoder(spike_model[1], device="cuda")


def test_auto_runs_on_cpu_and_says_why(spike_model):
    """auto takes CUDA where it really runs, else the CPU with the reason."""
    import onnxruntime as ort
    encoder = Encoder(spike_model[1], device="auto")
    if ort_cuda_runs():
        assert encoder.provider == "CUDAExecutionProvider" and encoder.fallback_reason is None
        return
    assert encoder.provider == "CPUExecutionProvider"
    if "CUDAExecutionProvider" in ort.get_available_providers():       # onnxruntime-gpu on a machine without a GPU
        assert "CUDAExecutionProvider did not load" in encoder.fallback_reason
    else:
        assert "no CUDA provider" in encoder.fallback_reason


def test_refuses_corrupt_and_foreign_models(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFormatError, match="not a loadable ONNX model"):
        Encoder(tmp_path / "bad.onnx", device="cpu")
    node = helper.make_node("Relu", ["signal"], ["codes"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("signal", TensorProto.FLOAT, [1, 1, 4])],
                              [helper.make_tensor_value_info("codes", TensorProto.FLOAT, [1, 1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "relu.onnx")
    with pytest.raises(ModelFormatError, match="not a crsae export"):
        Encoder(tmp_path / "relu.onnx", device="cpu")
    with pytest.raises(ModelFormatError, match="does not exist"):
        Encoder(tmp_path / "missing.onnx")


@pytest.mark.parametrize("shape,match", [((2, 50), "shape"), ((1, 2, 50), "channels"), ((1, 1, 5), "smaller")])
def test_refuses_bad_input(spike_model, shape, match):
    encoder = Encoder(spike_model[1], device="cpu")
    with pytest.raises(ShapeError, match=match):
        encoder.encode(np.zeros(shape, dtype=np.float32))


def test_refuses_non_finite_input(spike_model):
    encoder = Encoder(spike_model[1], device="cpu")
    y = np.zeros((1, 1, 50), dtype=np.float32)
    y[0, 0, 10] = np.inf
    with pytest.raises(ShapeError, match="NaN or Inf"):
        encoder.encode(y)


def test_batch_size_does_not_change_results(spike_model, rng):
    y = rng.standard_normal((7, 1, 123)).astype(np.float32)
    a = Encoder(spike_model[1], device="cpu", batch_size=2).encode(y)
    b = Encoder(spike_model[1], device="cpu", batch_size=64).encode(y)
    c = Encoder(spike_model[1], device="cpu").encode(y)
    concurrent = Encoder(spike_model[1], device="cpu", threads=2, batch_size=2)   # 4 calls on 2 worker threads
    d = concurrent.encode(y)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
    np.testing.assert_array_equal(a, d)                     # the same calls, run concurrently
    assert concurrent.threads == 2 and Encoder(spike_model[1], device="cpu").threads >= 1


def test_default_cpu_call_batch_keeps_codes_in_cache(spike_model):
    """Without batch_size, one CPU call holds about CPU_CALL_CODE_BYTES of codes (at least one example)."""
    from crsae.serving.runtime import CPU_CALL_CODE_BYTES
    encoder = Encoder(spike_model[1], device="cpu", threads=1)
    C, K = encoder.metadata["num_filters"], encoder.kernel_size
    for length in (5000, 100_000, 10_000_000):
        per_example = C * (length - K + 1) * 4
        assert encoder.call_batch((500, 1, length)) == max(1, CPU_CALL_CODE_BYTES // per_example)
    assert encoder.call_batch((500, 1, 10_000_000)) == 1
    assert Encoder(spike_model[1], device="cpu", batch_size=3).call_batch((500, 1, 5000)) == 3


def test_default_call_batch_splits_evenly_across_threads(spike_model):
    """On several threads the calls are a multiple of the thread count, of equal size, and each within the cache
    budget: 16 examples that fit 13 per call run as 2 calls of 8 on 2 threads, not 13 + 3."""
    from crsae.serving.runtime import CPU_CALL_CODE_BYTES
    encoder = Encoder(spike_model[1], device="cpu", threads=2)
    C, K = encoder.metadata["num_filters"], encoder.kernel_size
    length = CPU_CALL_CODE_BYTES // (13 * C * 4) + K - 1             # 13 examples' codes fill the budget
    assert Encoder(spike_model[1], device="cpu", threads=1).call_batch((16, 1, length)) == 13
    assert encoder.call_batch((16, 1, length)) == 8
    assert encoder.call_batch((1, 1, length)) == 1                  # fewer examples than threads: one call
    assert encoder.call_batch((3, 1, 5000)) == 2                    # one call's worth on 2 threads: 2 + 1


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
