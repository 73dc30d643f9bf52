"""Run an exported crsae model with onnxruntime, without torch: ``Encoder``.

One session per Encoder, built once and reused. ``device``: ``cpu``; ``cuda`` (strict: raises
ProviderUnavailableError when the CUDA provider is missing or fails to load); ``auto`` (CUDA when it really runs,
else CPU, with the reason kept in ``fallback_reason``). onnxruntime can come up on CPU while CUDA was asked for
(a missing cuDNN, no GPU), so the providers the session actually got are checked after it is created.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .chunking import plan_chunks
from .errors import ModelFormatError, ProviderUnavailableError, ShapeError

logger = logging.getLogger(__name__)

FORMAT, CONTRACT_VERSION = "crsae-onnx", 1
DEVICES = ("auto", "cpu", "cuda")
CUDA_HINT = ("install onnxruntime-gpu for CUDA 13 + cuDNN 9 in place of onnxruntime "
             "(pip uninstall onnxruntime; pip install 'onnxruntime-gpu[cuda,cudnn]') on a machine with an NVIDIA GPU")
# Variable shapes: a heuristic conv-algorithm choice avoids an exhaustive search per new shape.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "cudnn_conv_use_max_workspace": "1",
                "do_copy_in_default_stream": "1"}


def _session(path: Path, device: str, threads: int | None):
    import onnxruntime as ort
    if device not in DEVICES:
        raise ProviderUnavailableError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = ort.get_available_providers()
    want_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
    if device == "cuda" and not want_cuda:
        raise ProviderUnavailableError(f"--device cuda: this onnxruntime has no CUDA provider (it offers "
                                       f"{', '.join(available)}); {CUDA_HINT}")
    if want_cuda and hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()                        # CUDA/cuDNN libraries installed from PyPI, if any
        except Exception as err:                      # a failed preload just means the system libraries are used
            logger.debug("preload_dlls failed: %s", err)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    providers = ([("CUDAExecutionProvider", CUDA_OPTIONS)] if want_cuda else []) + ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as err:                          # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelFormatError(f"{path} is not a loadable ONNX model ({str(err).splitlines()[0][:200]}); "
                               "pass a file written by crsae export") from None
    got = session.get_providers()[0]
    reason = None
    if want_cuda and got != "CUDAExecutionProvider":
        reason = "the CUDA provider did not load (no GPU, or CUDA 13 / cuDNN 9 libraries missing)"
        if device == "cuda":
            raise ProviderUnavailableError(f"--device cuda: {reason}; {CUDA_HINT}")
    elif device == "auto" and not want_cuda:
        reason = "this onnxruntime has no CUDA provider"
    return session, got, reason


class Encoder:
    """An exported crsae model, ready to run on numpy arrays.

    Parameters
    ----------
    path : .onnx file written by ``crsae export``
    device : "auto", "cpu" or "cuda"
    threads : intra-op threads for the CPU provider (default: onnxruntime's choice)
    batch_size : examples per session call

    Attributes
    ----------
    metadata : dict, the contract's metadata (typed)
    provider : the execution provider that runs the model
    fallback_reason : why ``auto`` did not get CUDA, or None
    """

    def __init__(self, path: str | os.PathLike, *, device: str = "auto", threads: int | None = None,
                 batch_size: int = 64):
        path = Path(path)
        if not path.is_file():
            raise ModelFormatError(f"model {path} does not exist; pass the .onnx file written by crsae export")
        if batch_size < 1:
            raise ShapeError(f"batch_size must be at least 1, got {batch_size}")
        self.path, self.batch_size = path, batch_size
        self.session, self.provider, self.fallback_reason = _session(path, device, threads)
        raw = self.session.get_modelmeta().custom_metadata_map
        try:
            self.metadata = {k: json.loads(v) for k, v in raw.items()}
        except json.JSONDecodeError:
            self.metadata = {}
        if self.metadata.get("format") != FORMAT:
            raise ModelFormatError(f"{path} is an ONNX model but not a crsae export (no format={FORMAT} metadata); "
                                   "export it with crsae export")
        if int(self.metadata.get("contract_version", 0)) > CONTRACT_VERSION:
            raise ModelFormatError(f"{path} uses contract version {self.metadata['contract_version']}, newer than "
                                   f"{CONTRACT_VERSION}; upgrade crsae")
        m = self.metadata
        self.kind, self.channels, self.kernel_size = m["kind"], m["channels"], m["kernel_size"]
        self.stride, self.num_layers, self.outputs = m["stride"], m["num_layers"], tuple(m["outputs"])
        self.dtype = np.float16 if m["dtype"] == "float16" else np.float32
        # the stride trick reflect-pads up to 3s - 2 samples (ModelConfig.min_size)
        self.min_size = self.kernel_size if self.stride == 1 else max(self.kernel_size, 3 * self.stride - 1)
        if self.provider == "CUDAExecutionProvider":
            logger.info("running on CUDAExecutionProvider")
        elif self.fallback_reason:
            logger.info("running on CPUExecutionProvider: %s", self.fallback_reason)

    # --- checks at the edge ------------------------------------------------------------------------------
    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise ShapeError unless ``shape`` is (B, channels, N) / (B, channels, Hh, Ww) and large enough."""
        ndim = 3 if self.kind == "1d" else 4
        if len(shape) != ndim:
            axes = "(batch, channels, length)" if ndim == 3 else "(batch, channels, height, width)"
            raise ShapeError(f"signal has shape {tuple(shape)}; this {self.kind} model takes {axes}")
        if shape[1] != self.channels:
            raise ShapeError(f"signal has {shape[1]} channels but the model has {self.channels}; "
                             "pass data with the model's channel count")
        if min(shape[2:]) < self.min_size:
            raise ShapeError(f"signal size {tuple(shape[2:])} is smaller than {self.min_size} "
                             f"(kernel_size {self.kernel_size}); pass longer signals or larger images")

    def check(self, signal) -> np.ndarray:
        """Return ``signal`` as a contiguous array of the model's dtype, or raise ShapeError."""
        signal = np.asarray(signal)
        self.check_shape(signal.shape)
        if not np.issubdtype(signal.dtype, np.number):
            raise ShapeError(f"signal has dtype {signal.dtype}; pass numbers")
        signal = np.ascontiguousarray(signal, dtype=self.dtype)
        if not np.all(np.isfinite(signal)):
            raise ShapeError("signal holds NaN or Inf; clean or interpolate those samples first")
        return signal

    def require_output(self, output: str) -> None:
        """Raise ModelFormatError unless the model has ``output``."""
        if output not in self.outputs:
            raise ModelFormatError(f"{self.path.name} has no '{output}' output (it has {', '.join(self.outputs)}); "
                                   "re-export with crsae export --outputs both")

    # --- running -----------------------------------------------------------------------------------------
    def _call(self, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
        if self.provider != "CUDAExecutionProvider":
            return self.session.run(names, {"signal": batch})
        import onnxruntime as ort                   # IO binding: one host->device copy in, outputs made on device
        binding = self.session.io_binding()
        binding.bind_ortvalue_input("signal", ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0))
        for name in names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return [value.numpy() for value in binding.get_outputs()]

    def run(self, signal, outputs=None) -> dict[str, np.ndarray]:
        """All requested outputs for a batch: signal (B, channels, *size) -> {name: array}, in batches."""
        names = list(outputs or self.outputs)
        for name in names:
            self.require_output(name)
        signal = self.check(signal)
        parts = [self._call(signal[i:i + self.batch_size], names) for i in range(0, len(signal), self.batch_size)]
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(names)}

    def encode(self, signal) -> np.ndarray:
        """Codes x_T: (B, channels, *size) -> (B, C, *code_size)."""
        return self.run(signal, ["codes"])["codes"]

    def reconstruct(self, signal) -> np.ndarray:
        """Reconstruction: (B, channels, *size) -> (B, channels, *size)."""
        return self.run(signal, ["reconstruction"])["reconstruction"]

    def run_long(self, signal, output: str = "codes", *, chunk: int = 32768, out=None,
                 progress=None) -> np.ndarray:
        """One long 1-D signal, in chunks (export/CONTRACT.md): (channels, N) -> (C, N - K + 1) or (channels, N).

        ``signal`` may be a memory-mapped array; only one window is in memory at a time. ``out`` (e.g. a
        memory-mapped .npy) receives the result; ``progress(done, total)`` is called after every chunk.
        """
        if chunk < 1:
            raise ShapeError(f"chunk must be at least 1, got {chunk}")
        rows, total = self.long_output_shape(np.shape(signal), output)
        N = signal.shape[1]
        if out is None:
            out = np.empty((rows, total), dtype=self.dtype)
        for piece in plan_chunks(N, self.kernel_size, self.metadata["chunk_halo"], chunk, output):
            window = self.check(np.asarray(signal[:, piece.window_start:piece.window_stop])[None])
            result = self._call(window, [output])[0][0]
            out[:, piece.start:piece.stop] = result[:, piece.offset:piece.offset + piece.stop - piece.start]
            if progress is not None:
                progress(piece.stop, total)
        return out

    def long_output_shape(self, shape: tuple[int, ...], output: str) -> tuple[int, int]:
        """Shape of ``run_long``'s result for a (channels, N) signal: (C, N - K + 1) or (channels, N)."""
        if self.kind != "1d":
            raise ShapeError("chunked processing is for 1-D models; pass whole images to run()")
        self.require_output(output)
        if len(shape) != 2:
            raise ShapeError(f"a long signal has shape (channels, length), got {tuple(shape)}")
        self.check_shape((1,) + tuple(shape))
        if output == "codes":
            return self.metadata["num_filters"], shape[1] - self.kernel_size + 1
        return shape[0], shape[1]
