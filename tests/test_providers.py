"""crsae/serving/providers.py: provider plans per device and shape regime, and clear errors for missing GPU
providers (checked against a given provider list, so the same on every machine)."""

from pathlib import Path

import pytest

from crsae.errors import ProviderUnavailableError
from crsae.serving.providers import provider_plan

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


def test_cpu_device_opens_a_cpu_session_without_fallback_reason(tiny_exports):
    from crsae.serving.providers import open_session
    session, provider, reason = open_session(tiny_exports["m1"].onnx, "cpu", threads=1)
    assert provider == "CPUExecutionProvider" and reason is None
    assert session.get_providers() == ["CPUExecutionProvider"]
