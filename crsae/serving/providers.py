"""Choosing and opening onnxruntime execution providers, with no silent fallback.

Devices: ``cpu``; ``cuda`` and ``tensorrt`` (strict: ProviderUnavailableError when the provider is missing or fails
to load); ``auto`` (CUDA when it really runs, else CPU, with the reason). onnxruntime can come up on CPU while a GPU
provider was asked for (a missing cuDNN, no GPU), so the providers a session actually got are checked after it is
created.

CUDA settings follow the shape regime of the model:
- dynamic shapes (the default export): heuristic conv-algorithm choice, since an exhaustive search would rerun
  for every new input shape;
- a static-shape export (``crsae export --static-shape``): exhaustive search once, and CUDA graphs, which replay
  the whole unrolled encoder as one launch (the caller binds inputs and outputs at fixed device addresses).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crsae import extras
from crsae.errors import ModelFormatError, ProviderUnavailableError

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
GPU_PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
CUDA_HINT = ("install onnxruntime-gpu for CUDA 13 + cuDNN 9 in place of onnxruntime "
             "(pip uninstall onnxruntime; pip install 'onnxruntime-gpu[cuda,cudnn]') on a machine with an NVIDIA GPU")
TENSORRT_HINT = "install TensorRT 10 libraries beside onnxruntime-gpu (pip install tensorrt-cu13), or use --device cuda"


def cuda_options(static: bool) -> dict:
    """CUDA provider options for a dynamic- or static-shape model."""
    options = {"cudnn_conv_use_max_workspace": "1", "do_copy_in_default_stream": "1",
               "cudnn_conv_algo_search": "EXHAUSTIVE" if static else "HEURISTIC"}
    if static:
        options["enable_cuda_graph"] = "1"
    return options


def tensorrt_options(model_path: Path) -> dict:
    """TensorRT options: engines cached beside the model, so only the first session builds them."""
    cache = model_path.parent / f".{model_path.stem}.trt-cache"
    return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache)}


def provider_plan(device: str, available: list[str], *, static: bool, model_path: Path) -> tuple[list, str | None]:
    """Providers to ask onnxruntime for, in order, and the GPU provider that must come up (None for CPU).

    Raises ProviderUnavailableError when a strict device's provider is not in this onnxruntime build.
    """
    if device not in DEVICES:
        raise ProviderUnavailableError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    cuda = ("CUDAExecutionProvider", cuda_options(static))
    if device == "cpu":
        return ["CPUExecutionProvider"], None
    if device == "auto":
        if "CUDAExecutionProvider" in available:
            return [cuda, "CPUExecutionProvider"], "CUDAExecutionProvider"
        return ["CPUExecutionProvider"], None
    wanted = GPU_PROVIDERS[device]
    if wanted not in available:
        hint = CUDA_HINT if device == "cuda" else TENSORRT_HINT
        raise ProviderUnavailableError(f"--device {device}: this onnxruntime has no {wanted} (it offers "
                                       f"{', '.join(available)}); {hint}")
    if device == "tensorrt":
        return [(wanted, tensorrt_options(model_path)), cuda, "CPUExecutionProvider"], wanted
    return [cuda, "CPUExecutionProvider"], wanted


def open_session(path: Path, device: str, *, threads: int | None = None, static: bool = False):
    """Create the session; return (session, provider that runs it, reason auto fell back to CPU or None)."""
    ort = extras.onnxruntime()
    available = ort.get_available_providers()
    providers, wanted = provider_plan(device, available, static=static, model_path=path)
    if wanted is not None and hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()                        # CUDA/cuDNN libraries installed from PyPI, if any
        except (OSError, RuntimeError) as err:        # a failed preload just means the system libraries are used
            logger.debug("preload_dlls failed: %s", err)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(os.fspath(path), options, providers=providers)
    except Exception as err:                          # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelFormatError(f"{path} could not be loaded by onnxruntime ({str(err).splitlines()[0][:200]}); "
                               "pass a file written by crsae export") from None
    got = session.get_providers()[0]
    reason = None
    if wanted is not None and got != wanted:
        reason = f"{wanted} did not load (no GPU, or CUDA 13 / cuDNN 9 libraries missing)"
        if device != "auto":
            raise ProviderUnavailableError(f"--device {device}: {reason}; "
                                           f"{CUDA_HINT if device == 'cuda' else TENSORRT_HINT}")
    elif device == "auto" and wanted is None:
        reason = "this onnxruntime has no CUDA provider"
    if reason and device == "auto":
        logger.info("running on %s: %s", got, reason)
    return session, got, reason
