"""Run an exported crsae model with onnxruntime, without torch: ``Encoder``.

One session per Encoder, built once and reused; the provider comes from ``crsae.serving.providers`` (no silent fallback).
On CUDA, inputs and outputs go through IO binding: numpy batches are uploaded once and outputs are created on the
device; ``run_tensor`` binds torch tensors in place (zero-copy, CPU or CUDA); a static-shape model replays a CUDA
graph from fixed device buffers. Long 1-D recordings run in chunks (export/CONTRACT.md): on a GPU (or
one CPU thread) while a worker thread reads, converts and uploads the next window, so I/O and host-to-device copies
overlap the current chunk's compute; on several CPU threads several chunks at once, one thread each.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from crsae import contract
from crsae.serving.chunking import plan_chunks
from crsae import extras
from crsae.errors import ConfigError, ModelFormatError, ShapeError
from crsae.serving.providers import open_session

logger = logging.getLogger(__name__)

# Examples per session call when none is given. On the CPU every FISTA step streams the code tensors (z, u, x,
# x_prev) through about seven element-wise passes, so a call runs fastest while its codes stay in cache (L2 is
# 512 KiB a core here): 1-D, 100 signals of 10 x 4956 codes, T = 35, in calls of 1 / 2 / 10 signals: 0.60 / 0.60 /
# 0.77 s (the unit-height 2-D graph); the stride-5 image model on 16 crops 128 x 128 in calls of 1 / 3 / 8 / 16:
# 3.0 / 3.6 / 4.6 / 5.0 s (bench/README.md "Speed work"). GPUs want large batches.
CPU_CALL_CODE_BYTES = 2 ** 19
GPU_CALL_BATCH = 64


def read_model_header(path: Path) -> tuple[dict, list]:
    """(metadata, input dims) of an ONNX file, checked against the contract before the session that runs it is
    built (its provider options depend on the dims); dims are ints or None (dynamic). Read with onnxruntime
    itself (a CPU session with graph optimisation off), so inference needs no other ONNX library."""
    ort = extras.onnxruntime()
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ModelFormatError(f"model {path} cannot be read ({err.strerror}); pass the .onnx file written by "
                               "crsae export") from None
    if size == 0:
        raise ModelFormatError(f"{path} is empty (0 bytes), not an ONNX model; pass the .onnx file written by "
                               "crsae export")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:                          # onnxruntime raises its own Fail/InvalidProtobuf types
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ModelFormatError(f"{path} is not a loadable ONNX model ({reason}); "
                               "pass a file written by crsae export") from None
    metadata = contract.decode_metadata(session.get_modelmeta().custom_metadata_map, str(path))
    check_graph(session, metadata, path)
    dims = [d if isinstance(d, int) else None for d in session.get_inputs()[0].shape]
    return metadata, dims


def check_graph(session, metadata: dict, path: Path) -> None:
    """Refuse a graph that is not the encoder its metadata describes (e.g. crsae metadata copied onto another
    model): one input ``signal`` of rank 3 (1-D) or 4 (2-D) and the metadata's dtype, the outputs named in the
    metadata, in order, with the channel / filter counts it states; a dynamic-shape model is also run once on the
    smallest input it takes, and its outputs must have the shapes the contract gives."""
    rank = 3 if metadata["kind"] == "1d" else 4
    inputs, outputs = session.get_inputs(), session.get_outputs()
    noise = inputs[1:2] if contract.has_noise_input(metadata) else []
    inputs = inputs[:1] if noise else inputs
    names = ["signal", "noise_sigma"] if noise else ["signal"]
    found = f"{[i.name for i in session.get_inputs()]} -> {[o.name for o in outputs]}"
    expected = f"{names} -> {metadata['outputs']}"
    fix = "export the model with crsae export"
    if ([i.name for i in session.get_inputs()] != names or [o.name for o in outputs] != metadata["outputs"]
            or any(len(v.shape) != rank for v in list(inputs) + list(outputs))
            or any(len(v.shape) != 1 or v.type != "tensor(float)" for v in noise)):
        raise ModelFormatError(f"{path} has graph {found} (ranks {[len(v.shape) for v in list(inputs) + list(outputs)]}) "
                               f"but its metadata describes a {metadata['kind']} crsae encoder {expected} of rank "
                               f"{rank}; {fix}")
    element = "tensor(float16)" if metadata["dtype"] == "float16" else "tensor(float)"
    for value in list(inputs) + list(outputs):
        if value.type != element:
            raise ModelFormatError(f"{path}: {value.name} is {value.type} but the metadata says {metadata['dtype']}; "
                                   f"{fix}")
    rows = {"signal": metadata["channels"], "codes": metadata["num_filters"], "reconstruction": metadata["channels"]}
    for value in list(inputs) + list(outputs):
        if isinstance(value.shape[1], int) and value.shape[1] != rows[value.name]:
            raise ModelFormatError(f"{path}: {value.name} has {value.shape[1]} channels but the metadata says "
                                   f"{rows[value.name]}; {fix}")
    if all(isinstance(d, int) for d in inputs[0].shape):
        return                                      # static shape: probing would cost a full-size run
    size = (metadata["min_size"],) * (rank - 2)
    probe = np.zeros((1, metadata["channels"]) + size, np.float16 if metadata["dtype"] == "float16" else np.float32)
    try:
        feed = {"signal": probe}
        if noise:
            feed["noise_sigma"] = np.array([metadata["sigma"]], np.float32)
        results = session.run(None, feed)
    except Exception as err:                          # onnxruntime's own error types
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ModelFormatError(f"{path} fails on the smallest input its metadata allows, {probe.shape} "
                               f"({reason}); {fix}") from None
    stride = metadata["stride"]
    code = tuple((n - metadata["kernel_size"]) // stride + 1 for n in size)
    want = {"codes": (1, metadata["num_filters"]) + code, "reconstruction": probe.shape}
    for name, result in zip(metadata["outputs"], results):
        if tuple(result.shape) != want[name]:
            raise ModelFormatError(f"{path}: {name} has shape {tuple(result.shape)} for input {probe.shape}, but a "
                                   f"crsae encoder with this metadata gives {want[name]}; {fix}")


class Encoder:
    """An exported crsae model, ready to run on numpy arrays (or torch tensors, zero-copy).

    Parameters
    ----------
    path : .onnx file written by ``crsae export``
    device : "auto", "cpu", "cuda" or "tensorrt" (see ``crsae.serving.providers``)
    threads : CPU threads (default: every core this process may use). A batch of several calls, or a long signal
        of several chunks, runs them concurrently, one thread each; a single call splits its operators across the
        threads.
    batch_size : examples per session call; default: on the CPU as many as keep the call's codes within
        ``CPU_CALL_CODE_BYTES`` (at least 1), on a GPU ``GPU_CALL_BATCH``; a static-shape model uses its own batch

    Attributes
    ----------
    metadata : dict, the contract's metadata (typed)
    noise_input : whether the model takes the noise level at inference (``noise_sigma`` of ``run`` and the rest;
        ``crsae export --noise-input``); without it the thresholds are those of metadata ``sigma``
    static_shape : tuple, the input shape of a static-shape export, or None
    provider : the execution provider that runs the model
    fallback_reason : why ``auto`` did not get CUDA, or None
    """

    def __init__(self, path: str | os.PathLike, *, device: str = "auto", threads: int | None = None,
                 batch_size: int | None = None):
        path = Path(path)
        if path.is_dir():
            raise ModelFormatError(f"model {path} is a folder; pass the .onnx file written by crsae export")
        if not path.is_file():
            raise ModelFormatError(f"model {path} does not exist; pass the .onnx file written by crsae export")
        if batch_size is not None and batch_size < 1:
            raise ShapeError(f"batch_size must be at least 1, got {batch_size}")
        self.path = path
        self.metadata, dims = read_model_header(path)
        self.static_shape = tuple(dims) if all(d is not None for d in dims) else None
        self.batch_size = self.static_shape[0] if self.static_shape else batch_size
        self.session, self.provider, self.fallback_reason = open_session(path, device, threads=threads,
                                                                         static=self.static_shape is not None)
        m = self.metadata
        self.kind, self.channels, self.kernel_size = m["kind"], m["channels"], m["kernel_size"]
        self.stride, self.num_layers, self.outputs = m["stride"], m["num_layers"], tuple(m["outputs"])
        self.dtype = np.float16 if m["dtype"] == "float16" else np.float32
        self.min_size = m["min_size"]
        self.noise_input = contract.has_noise_input(m)
        self.step = contract.encoder_step(m)        # the accelerated encoder's s, None for the paper's
        self.on_gpu = self.provider != "CPUExecutionProvider"
        if self.batch_size is None and self.on_gpu:
            self.batch_size = GPU_CALL_BATCH
        self.threads = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                   else os.cpu_count() or 1)
        self._single_thread_session = None          # made on the first batch that runs calls concurrently
        self._graph = self._graph_binding() if self.on_gpu and self.static_shape else None

    # --- checks at the edge ------------------------------------------------------------------------------
    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise ShapeError unless ``shape`` is (B, channels, N) / (B, channels, Hh, Ww) and large enough."""
        ndim = 3 if self.kind == "1d" else 4
        if len(shape) != ndim:
            axes = "(batch, channels, length)" if ndim == 3 else "(batch, channels, height, width)"
            raise ShapeError(f"signal has shape {tuple(shape)}; this {self.kind} model takes {axes}")
        if shape[0] < 1:
            raise ShapeError(f"signal has shape {tuple(shape)}: a batch of no signals; pass at least one")
        if shape[1] != self.channels:
            raise ShapeError(f"signal has {shape[1]} channels but the model has {self.channels}; "
                             "pass data with the model's channel count")
        if min(shape[2:]) < self.min_size:
            raise ShapeError(contract.message("too_small", size=contract.size_text(shape[2:]),
                                              min_size=self.min_size))
        if self.static_shape and tuple(shape[1:]) != self.static_shape[1:]:
            raise ShapeError(f"this model was exported for inputs of shape {self.static_shape}, got {tuple(shape)}; "
                             "pass that size or export without --static-shape")

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

    def noise_values(self, noise_sigma, batch: int) -> np.ndarray | None:
        """The graph's ``noise_sigma`` input for ``batch`` items: (batch,) float32, or None (a model without it).

        noise_sigma : None (the model's own metadata ``sigma``), a number >= 0 in the signal's units (for images
        on [0, 1]: 25 / 255 for 8-bit noise of std 25), ``"auto"`` (each item's own estimate, Donoho's MAD of
        its finest diagonal Haar band, computed in the graph), or one of those per item (a sequence of length
        batch). A model exported without ``--noise-input`` takes only None (ConfigError otherwise).
        """
        if not self.noise_input:
            if noise_sigma is not None:
                raise ConfigError(contract.message("no_noise_input", model=self.path.name,
                                                   sigma=f"{self.metadata['sigma']:.6g}"))
            return None
        if noise_sigma is None:
            noise_sigma = self.metadata["sigma"]
        items = list(noise_sigma) if isinstance(noise_sigma, (list, tuple, np.ndarray)) else None
        if items is not None and len(items) != batch:
            raise ConfigError(f"noise_sigma has {len(items)} values for {batch} items; pass one, or one per item")
        values = []
        for value in items if items is not None else [noise_sigma]:
            if isinstance(value, str) and value == "auto":
                values.append(-1.0)                                 # negative: estimated in the graph
                continue
            if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
                    or not 0 <= value < float("inf")):
                raise ConfigError(f"noise_sigma must be a number >= 0 or 'auto' (or one per item), got {value!r}")
            values.append(float(value))
        return np.ascontiguousarray(np.broadcast_to(np.array(values, np.float32), (batch,)))

    def _feed(self, batch, noise: np.ndarray | None) -> dict:
        """A session's input dict: the signal batch and, for a noise-input model, its (B,) noise levels."""
        return {"signal": batch} if noise is None else {"signal": batch, "noise_sigma": noise}

    def require_output(self, output: str) -> None:
        """Raise ModelFormatError unless the model has ``output``."""
        if output not in self.outputs:
            raise ModelFormatError(f"{self.path.name} has no '{output}' output (it has {', '.join(self.outputs)}); "
                                   "re-export with crsae export --outputs both")

    def output_shape(self, shape: tuple[int, ...], output: str) -> tuple[int, ...]:
        """Shape of ``output`` for an input of ``shape`` (B, channels, *size)."""
        if output == "reconstruction":
            return tuple(shape)
        code = tuple((n - self.kernel_size) // self.stride + 1 for n in shape[2:])
        return (shape[0], self.metadata["num_filters"]) + code

    # --- running -----------------------------------------------------------------------------------------
    def _graph_binding(self):
        """Fixed device buffers for a static-shape model on a GPU, bound once, so CUDA graphs can replay."""
        import onnxruntime as ort
        signal = ort.OrtValue.ortvalue_from_shape_and_type(self.static_shape, self.dtype, "cuda", 0)
        binding = self.session.io_binding()
        binding.bind_ortvalue_input("signal", signal)
        noise = None
        if self.noise_input:
            noise = ort.OrtValue.ortvalue_from_shape_and_type((self.static_shape[0],), np.float32, "cuda", 0)
            binding.bind_ortvalue_input("noise_sigma", noise)
        outputs = {}
        for name in self.outputs:
            outputs[name] = ort.OrtValue.ortvalue_from_shape_and_type(self.output_shape(self.static_shape, name),
                                                                      self.dtype, "cuda", 0)
            binding.bind_ortvalue_output(name, outputs[name])
        return signal, noise, binding, outputs

    def _upload(self, batch: np.ndarray):
        """A checked batch as the session takes it: on a GPU (dynamic shapes), an OrtValue already on the device."""
        if not self.on_gpu or self._graph is not None:
            return batch
        import onnxruntime as ort
        return ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0)

    def _concurrent(self, calls: int) -> bool:
        """Whether ``calls`` session calls run concurrently, one thread each: on the CPU, with several threads and
        several calls (a static-shape model keeps its one session)."""
        return not self.on_gpu and not self.static_shape and self.threads > 1 and calls > 1

    def _one_thread_session(self):
        """A CPU session limited to one thread, made on first use, for running whole calls concurrently."""
        if self._single_thread_session is None:
            self._single_thread_session = open_session(self.path, "cpu", threads=1)[0]
        return self._single_thread_session

    def _concurrent_calls(self, batches: list[np.ndarray], names: list[str],
                          noises: list) -> list[list[np.ndarray]]:
        """CPU: run ``batches`` on ``threads`` worker threads, each call on a one-thread session (concurrent runs
        of one session are safe): 1.9x on 2 cores, where splitting each call's small convolutions across the
        threads gave 1.3x (bench/README.md "Speed work")."""
        session = self._one_thread_session()
        with ThreadPoolExecutor(max_workers=min(self.threads, len(batches))) as pool:
            return list(pool.map(lambda batch, noise: session.run(names, self._feed(batch, noise)), batches, noises))

    def _call(self, batch, names: list[str], noise: np.ndarray | None = None) -> list[np.ndarray]:
        """Run one batch (ndarray, or OrtValue from ``_upload``) with its noise levels (``noise_values``, None for a
        model without the input); outputs come back as host arrays."""
        if self.static_shape and len(batch) < self.static_shape[0]:   # a static batch: pad the last one
            n = len(batch)
            padding = np.zeros((self.static_shape[0] - n,) + batch.shape[1:], batch.dtype)
            if noise is not None:
                noise = np.concatenate([noise, np.zeros(self.static_shape[0] - n, np.float32)])
            return [out[:n] for out in self._call(np.concatenate([batch, padding]), names, noise)]
        if not self.on_gpu:
            return self.session.run(names, self._feed(batch, noise))
        if self._graph is not None:                 # CUDA graph: the same device buffers every call
            signal, noise_value, binding, outputs = self._graph
            signal.update_inplace(batch)
            if noise is not None:
                noise_value.update_inplace(noise)
            self.session.run_with_iobinding(binding)
            return [outputs[name].numpy() for name in names]
        binding = self.session.io_binding()         # IO binding: one upload in, outputs made on the device
        binding.bind_ortvalue_input("signal", batch if not isinstance(batch, np.ndarray) else self._upload(batch))
        if noise is not None:
            binding.bind_cpu_input("noise_sigma", noise)
        for name in names:
            binding.bind_output(name, "cuda", 0)
        self.session.run_with_iobinding(binding)
        return [value.numpy() for value in binding.get_outputs()]

    def run(self, signal, outputs=None, *, noise_sigma=None) -> dict[str, np.ndarray]:
        """All requested outputs for a batch: signal (B, channels, *size) -> {name: array}, in batches.
        ``noise_sigma``: the noise level the thresholds are set for (``noise_values``)."""
        names = list(outputs or self.outputs)
        for name in names:
            self.require_output(name)
        signal = self.check(signal)
        noise = self.noise_values(noise_sigma, len(signal))
        step = self.call_batch(signal.shape)
        batches = [signal[i:i + step] for i in range(0, len(signal), step)]
        noises = [None if noise is None else noise[i:i + step] for i in range(0, len(signal), step)]
        if self._concurrent(len(batches)):
            parts = self._concurrent_calls(batches, names, noises)
        else:
            parts = [self._call(batch, names, n) for batch, n in zip(batches, noises)]
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(names)}

    def call_batch(self, shape: tuple[int, ...]) -> int:
        """Examples per session call for inputs of ``shape`` (B, channels, *size): ``batch_size`` when set, else
        at most as many as keep one call's codes within ``CPU_CALL_CODE_BYTES``. On several threads the calls run
        concurrently, so their number is made a multiple of ``threads`` (up to B) and their sizes equal: one
        thread's long call would otherwise leave the others idle."""
        if self.batch_size is not None:
            return self.batch_size
        per_example = int(np.prod(self.output_shape((1,) + tuple(shape[1:]), "codes"))) * np.dtype(self.dtype).itemsize
        step = max(1, CPU_CALL_CODE_BYTES // per_example)
        if self.threads == 1:
            return step
        examples = max(1, shape[0])
        calls = -(-examples // step)                                       # ceil(examples / step)
        calls = min(examples, -(-calls // self.threads) * self.threads)    # rounded up to a multiple of threads
        return -(-examples // calls)

    def run_tensor(self, signal, outputs=None, *, noise_sigma=None) -> dict:
        """Zero-copy run on a torch tensor: input and outputs are bound in place on the tensor's device.

        signal : torch.Tensor of shape (B, channels, *size), on the CPU (CPU provider) or on the GPU the session
            runs on (CUDA provider); made contiguous in the model's dtype if it is not.
        noise_sigma : as in ``run`` (``noise_values``); bound from host memory.
        Returns {name: torch.Tensor} on the same device, written by onnxruntime directly.
        """
        import torch
        names = list(outputs or self.outputs)
        for name in names:
            self.require_output(name)
        if not isinstance(signal, torch.Tensor):
            raise ShapeError(f"run_tensor takes a torch.Tensor, got {type(signal).__name__}; use run() for arrays")
        self.check_shape(tuple(signal.shape))
        device_type = signal.device.type
        if (device_type == "cuda") != self.on_gpu or device_type not in ("cpu", "cuda"):
            raise ShapeError(f"the tensor is on {signal.device} but the model runs on {self.provider}; "
                             f"move it {'to the GPU' if self.on_gpu else 'to the CPU'} or open the Encoder with "
                             f"device={'cuda' if device_type == 'cuda' else 'cpu'}")
        if self.static_shape and tuple(signal.shape) != self.static_shape:
            raise ShapeError(f"run_tensor on a static-shape model needs exactly {self.static_shape}; "
                             f"got {tuple(signal.shape)}")
        dtype = torch.float16 if self.dtype == np.float16 else torch.float32
        signal = signal.to(dtype).contiguous()
        if not bool(torch.isfinite(signal).all()):
            raise ShapeError("signal holds NaN or Inf; clean or interpolate those samples first")
        noise = self.noise_values(noise_sigma, signal.shape[0])
        device_id = signal.device.index or 0
        binding = self.session.io_binding()
        binding.bind_input("signal", device_type, device_id, self.dtype, tuple(signal.shape), signal.data_ptr())
        if noise is not None:
            binding.bind_cpu_input("noise_sigma", noise)
        results = {}
        for name in names:
            results[name] = torch.empty(self.output_shape(tuple(signal.shape), name), dtype=dtype,
                                        device=signal.device)
            binding.bind_output(name, device_type, device_id, self.dtype, tuple(results[name].shape),
                                results[name].data_ptr())
        if device_type == "cuda":
            torch.cuda.synchronize(signal.device)   # the tensor's producer may still be running on torch's stream
        self.session.run_with_iobinding(binding)
        return results

    def encode(self, signal, *, noise_sigma=None) -> np.ndarray:
        """Codes x_T: (B, channels, *size) -> (B, C, *code_size)."""
        return self.run(signal, ["codes"], noise_sigma=noise_sigma)["codes"]

    def reconstruct(self, signal, *, noise_sigma=None) -> np.ndarray:
        """Reconstruction: (B, channels, *size) -> (B, channels, *size)."""
        return self.run(signal, ["reconstruction"], noise_sigma=noise_sigma)["reconstruction"]

    def run_long(self, signal, output="codes", *, chunk: int = 32768, out=None,
                 progress=None, noise_sigma=None):
        """One long 1-D signal, in chunks (export/CONTRACT.md): (channels, N) -> (C, N - K + 1) or (channels, N).

        ``output``: one name, or a list of names: then every window runs once for all of them, ``out`` is None or
        a dict of targets by name, and the result a dict. Codes and reconstruction together take the codes' cores
        and windows (the last core of the reconstruction runs on to N): each window is the contract's for the
        codes and covers the reconstruction rule's window of the same core, so both equal whole-signal inference
        up to float rounding, from one pass instead of two.
        ``signal`` may be a memory-mapped array; at most threads + 1 windows are in memory at a time. ``out`` (e.g.
        a memory-mapped .npy) receives the result, chunk by chunk in order; ``progress(done, total)`` is called after
        every chunk (in the first output's samples). On the CPU with several threads, that many chunks run at once,
        one thread each (as ``run``'s calls); otherwise one at a time while a worker reads, converts and uploads
        the next window.
        ``noise_sigma``: a number >= 0 or None (``noise_values``), the same for every chunk; ``"auto"`` is refused,
        since each chunk would estimate its own.
        """
        if chunk < 1:
            raise ShapeError(f"chunk must be at least 1, got {chunk}")
        if self.step is not None:
            raise ConfigError(contract.message("not_chunkable", model=self.path.name))
        if isinstance(noise_sigma, str) and noise_sigma == "auto":
            raise ConfigError("noise_sigma 'auto' would estimate the noise per chunk of a long recording, so chunks "
                              "would differ from the whole; pass the recording's noise std")
        single = isinstance(output, str)
        names = [output] if single else list(dict.fromkeys(output))
        if not names:
            raise ConfigError("run_long needs at least one output name")
        noise = self.noise_values(noise_sigma, 1)
        shapes = {name: self.long_output_shape(np.shape(signal), name) for name in names}
        outs = {names[0]: out} if single else dict(out or {})
        for name, (rows, total) in shapes.items():
            if outs.get(name) is None:
                outs[name] = np.empty((rows, total), dtype=self.dtype)
        planned = "codes" if "codes" in names else names[0]      # whose cores and windows every output uses
        pieces = list(plan_chunks(signal.shape[1], self.kernel_size, self.metadata["chunk_halo"], chunk, planned))
        total, last = shapes[names[0]][1], pieces[-1].stop

        def core(piece, name):                       # the output samples [start, stop) a piece keeps of name
            if name == planned:
                return piece.start, piece.stop
            return piece.start, signal.shape[1] if piece.stop == last else piece.stop   # reconstruction, codes' plan

        def window(piece):                           # one chunk's window, read and checked: (1, channels, n)
            return self.check(np.asarray(signal[:, piece.window_start:piece.window_stop])[None])

        def place(piece, results):                   # results: one (rows, window length) per name -> out
            for name, result in zip(names, results):
                a, b = core(piece, name)
                outs[name][:, a:b] = result[0][:, a - piece.window_start:b - piece.window_start]
            if progress is not None:
                progress(core(piece, names[0])[1], total)

        def finished():
            return outs[names[0]] if single else outs

        if self._concurrent(len(pieces)):            # `threads` chunks at once, one thread each
            session = self._one_thread_session()
            in_flight = deque()                      # (piece, future) in order, at most threads + 1
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                for piece in pieces:
                    in_flight.append((piece, pool.submit(
                        lambda p: session.run(names, self._feed(window(p), noise)), piece)))
                    if len(in_flight) > self.threads:
                        first, future = in_flight.popleft()
                        place(first, future.result())
                for piece, future in in_flight:
                    place(piece, future.result())
            return finished()
        with ThreadPoolExecutor(max_workers=1) as reader:    # reads and uploads the next window meanwhile
            pending = reader.submit(lambda: self._upload(window(pieces[0])))
            for i, piece in enumerate(pieces):
                batch = pending.result()
                if i + 1 < len(pieces):
                    pending = reader.submit(lambda p: self._upload(window(p)), pieces[i + 1])
                place(piece, self._call(batch, names, noise))
        return finished()

    def long_output_shape(self, shape: tuple[int, ...], output: str) -> tuple[int, int]:
        """Shape of ``run_long``'s result for a (channels, N) signal: (C, N - K + 1) or (channels, N)."""
        if self.kind != "1d":
            raise ShapeError("chunked processing is for 1-D models; pass whole images to run()")
        self.require_output(output)
        if len(shape) != 2:
            raise ShapeError(f"a long signal has shape (channels, length), got {tuple(shape)}")
        if self.static_shape:
            raise ShapeError("a static-shape model takes one input size; export without --static-shape for long "
                             "recordings")
        self.check_shape((1,) + tuple(shape))
        if output == "codes":
            return self.metadata["num_filters"], shape[1] - self.kernel_size + 1
        return shape[0], shape[1]
