"""Export a CRsAE to ONNX in three separate steps, as the contract (``export/CONTRACT.md``) describes:

1. ``to_onnx``: trace the fixed-depth unrolled encoder (and optionally the decoder) with torch's dynamo exporter
   into an in-memory ``onnx.ModelProto``: dynamic batch and length / height, width axes named as in the contract,
   the pinned opset (checked), no per-node metadata (it holds absolute source paths), the model metadata.
2. ``validate_onnx``: ``onnx.checker``, names and axes against the contract, then onnxruntime (CPU) against torch on
   several shapes other than the example, within the contract's tolerance; one error lists every failing output.
3. ``write_export``: the .onnx file and its sidecar .json, each written to a temporary name and renamed.

``export_checkpoint`` runs all three; nothing is written unless validation passed.
"""

from __future__ import annotations

import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from crsae import contract as contract_mod
from crsae import __version__, extras
from crsae.model.checkpoint import file_sha256, load_model
from crsae.errors import ConfigError, ExportValidationError, OutputMismatchError, StepConstantWarning, ToleranceError
from crsae.files import atomic_paths
from crsae.model.autoencoder import CRsAE
from crsae.model.fista import ACCELERATED_STEP, check_step, factor_filters, factored_fista, factored_synthesis
from crsae.model.noise import estimate_noise_sigma

logger = logging.getLogger(__name__)

OUTPUT_CHOICES = {"codes": ("codes",), "reconstruction": ("reconstruction",),
                  "both": ("codes", "reconstruction")}
ENCODER_CHOICES = ("paper", "accelerated")     # metadata ``encoder``: the paper's FISTA, or beyond the paper


class ExportGraph(nn.Module):
    """signal[, noise_sigma] -> the requested outputs. Codes are x_T of the signal as given; the reconstruction is
    H x_T, or the shift-and-average denoiser for 2-D stride > 1 (which runs its own encoder passes on the padded
    copies). With ``noise_sigma`` (B,) the thresholds are those of each item's noise level (``noise_thresholds``).
    ``step``: the accelerated encoder with step s/L (``crsae.model.fista.accelerated_fista``); None, the paper's.
    ``rank``: the paper's encoder computed through the factors of the model's rank-``rank`` filters
    (``crsae.model.fista.factored_fista``: the same codes, fewer multiply-adds; ``check_rank``); None, through H."""

    def __init__(self, model: CRsAE, outputs: tuple[str, ...], step: float | None = None, rank: int | None = None):
        super().__init__()
        self.model, self.outputs, self.step, self.rank = model, outputs, step, rank
        self.trick = model.config.kind == "2d" and model.config.stride > 1
        if rank is not None:
            U, V = factor_filters(model.H, rank)                        # (C, r, channels), (C, r, K)
            self.register_buffer("U", U.to(model.H.dtype))
            self.register_buffer("V", V.to(model.H.dtype))

    def forward(self, signal: torch.Tensor, noise_sigma: torch.Tensor | None = None):
        b = None if noise_sigma is None else noise_thresholds(self.model, signal, noise_sigma)
        result = {}
        if self.rank is not None:
            cfg = self.model.config
            result["codes"] = factored_fista(signal, self.U, self.V, self.model.thresholds() if b is None else b,
                                             self.model.L, cfg.num_layers, two_sided=cfg.two_sided)
            if "reconstruction" in self.outputs:
                result["reconstruction"] = factored_synthesis(result["codes"], self.U, self.V)
            return tuple(result[name] for name in self.outputs)
        if "codes" in self.outputs or not self.trick:
            result["codes"] = self.model._encode(signal, b=b, step=self.step)
        if "reconstruction" in self.outputs:
            result["reconstruction"] = (self.model._shift_and_average(signal, b=b, step=self.step)[0] if self.trick
                                        else self.model._decode(result["codes"], signal.shape[2:]))
        return tuple(result[name] for name in self.outputs)


# --- the noise_sigma input (export/CONTRACT.md, "Inputs") ---------------------------------------------------
def noise_thresholds(model: CRsAE, signal: torch.Tensor, noise_sigma: torch.Tensor) -> torch.Tensor:
    """Per-item thresholds for noise_sigma (B,) float32 in the signal's units: (B, C), b = lam sigma^2 / L (or
    beta + gamma sigma, affine). A negative entry asks for the noise level estimated from that item
    (``crsae.model.noise``)."""
    estimate = estimate_noise_sigma(signal.float())
    sigma = torch.where(noise_sigma < 0, estimate, noise_sigma)
    return model.thresholds_at(sigma)


def check_noise_input(model: CRsAE) -> None:
    """ConfigError unless ``model``'s thresholds follow sigma (threshold_mode em, fixed or affine)."""
    if model.config.threshold_mode == "bias":
        raise ConfigError("--noise-input needs thresholds b = lam sigma^2 / L, but this model's are free biases "
                          "(threshold_mode bias) that no sigma sets; export it without --noise-input")


def validation_noise(model: CRsAE, batch: int) -> torch.Tensor:
    """noise_sigma values (batch,) for validating a noise-input export: the model's sigma, estimate (-1), twice
    and half the model's sigma, cycled."""
    sigma = model.config.sigma
    cycle = [sigma, -1.0, 2 * sigma, 0.5 * sigma]
    return torch.tensor([cycle[i % len(cycle)] for i in range(batch)], dtype=torch.float32)


def check_encoder(model: CRsAE, encoder: str, step: float | None, dtype: str = "float32") -> float | None:
    """The accelerated encoder's s (None for the paper's encoder) if ``encoder`` and ``step`` are valid for
    ``model`` and ``dtype``, else ConfigError. ``step`` None with ``accelerated``: ``ACCELERATED_STEP``."""
    if encoder not in ENCODER_CHOICES:
        raise ConfigError(f"encoder must be one of {', '.join(ENCODER_CHOICES)}, got {encoder!r}")
    if encoder == "paper":
        if step is not None:
            raise ConfigError("--step sets the accelerated encoder's step s/L; pass --encoder accelerated with it, "
                              "or drop --step for the paper's encoder")
        return None
    if not model.config.tied:
        raise ConfigError("the accelerated encoder's safeguard measures the tied model's lasso objective, which an "
                          "untied encoder (We != H) does not minimise; export this model with --encoder paper")
    if dtype != "float32":
        raise ConfigError("the accelerated encoder compares objective values (sums of squares over a signal) that "
                          "overflow float16; export it with --dtype float32")
    return check_step(ACCELERATED_STEP if step is None else step)


RANK_TOLERANCE = 1e-5     # a filter is rank r when its rank-r SVD keeps it to this relative Frobenius error


def check_rank(model: CRsAE, rank: int | None, step: float | None = None) -> int | None:
    """``rank`` (None: the filters as they are) if the model's filters can be exported through their factors, else
    ConfigError: a 1-D tied model on the paper's encoder, 1 <= rank <= min(channels, kernel_size), and every filter
    of rank at most ``rank`` (to ``RANK_TOLERANCE``; ``crsae.model.fista.factor_filters`` makes such filters), so
    that the factored graph computes the model's own codes."""
    if rank is None:
        return None
    cfg = model.config
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(cfg.channels, cfg.kernel_size):
        raise ConfigError(f"rank must be an integer from 1 to min(channels, kernel_size) = "
                          f"{min(cfg.channels, cfg.kernel_size)}, got {rank!r}; or leave it unset for full filters")
    if cfg.kind != "1d" or not cfg.tied or step is not None:
        raise ConfigError("a factored export (rank) is for 1-D tied models on the paper's encoder; drop rank, or "
                          "export a 1-D tied model with --encoder paper")
    from crsae.model.fista import filters_from_factors
    H = model.H.detach().double()
    error = ((H - filters_from_factors(*factor_filters(H, rank))).flatten(1).norm(dim=1)
             / H.flatten(1).norm(dim=1).clamp_min(1e-30))
    worst = int(error.argmax())
    if float(error[worst]) > RANK_TOLERANCE:
        raise ConfigError(f"filter {worst} is not of rank {rank} (its rank-{rank} approximation is "
                          f"{float(error[worst]):.2g} off, relative); build the model from rank-{rank} filters "
                          "(crsae.model.fista.factor_filters, filters_from_factors) or raise rank")
    return rank


def example_signal(model: CRsAE, batch: int = 2) -> torch.Tensor:
    """A random signal of a size every geometry accepts: (batch, channels, 4K + 3[, 4K + 1])."""
    cfg = model.config
    side = 4 * cfg.min_size
    size = (side + 3,) if cfg.kind == "1d" else (side + 3, side + 1)
    return torch.randn(batch, cfg.channels, *size, generator=torch.Generator().manual_seed(0))


def validation_shapes(model: CRsAE) -> list[tuple[int, ...]]:
    """Shapes other than the example's: the smallest allowed, odd sizes, batch 1 and odd batches."""
    cfg = model.config
    K, ch = cfg.kernel_size, cfg.channels
    if cfg.kind == "1d":
        return [(1, ch, K), (3, ch, 5 * K + 2), (2, ch, 11 * K + 7)]
    m = cfg.min_size
    return [(1, ch, m, m + 1), (3, ch, 2 * m + 5, m + 4), (2, ch, 3 * m + 2, 2 * m + 9)]


def metadata(model: CRsAE, outputs: tuple[str, ...], *, dtype: str = "float32",
             checkpoint_sha256: str = "", static_shape: tuple[int, ...] | None = None,
             noise_input: bool = False, step: float | None = None, rank: int | None = None) -> dict:
    """The contract's metadata dict (typed values), as written to the sidecar; ``noise_sigma_input`` only when
    the graph has that input, ``encoder`` and ``step`` only for the accelerated encoder (``step`` not None),
    ``rank`` only for a factored graph: exports without them are as before."""
    cfg = model.config
    return {
        "format": contract_mod.contract()["format"],
        "contract_version": contract_mod.contract()["contract_version"],
        "kind": cfg.kind, "channels": cfg.channels, "num_filters": cfg.num_filters,
        "kernel_size": cfg.kernel_size, "stride": cfg.stride, "num_layers": cfg.num_layers,
        "L": float(model.L), "sigma": cfg.sigma, "threshold_mode": cfg.threshold_mode,
        "two_sided": cfg.two_sided, "tied": cfg.tied,
        "lam": [float(v) for v in model.lam.detach()] if cfg.threshold_mode in ("em", "fixed") else None,
        "thresholds": [float(v) for v in model.thresholds().detach()],
        "input_scaling": cfg.input_scaling, "outputs": list(outputs), "chunk_halo": cfg.chunk_halo,
        "min_size": cfg.min_size,
        "dtype": dtype, "opset": contract_mod.contract()["opset"],
        "static_shape": None if static_shape is None else [int(n) for n in static_shape],
        "atol_floor": contract_mod.tolerance_constants(dtype)[0],
        "atol_per_layer": contract_mod.tolerance_constants(dtype)[1],
        "crsae_version": __version__, "torch_version": torch.__version__,
        "onnx_version": onnx.__version__, "checkpoint_sha256": checkpoint_sha256,
    } | ({"noise_sigma_input": True} if noise_input else {}) \
      | ({} if step is None else {"encoder": "accelerated", "step": float(step)}) \
      | ({} if rank is None else {"rank": int(rank)})


def to_onnx(model: CRsAE, *, outputs: str = "codes", dtype: str = "float32", checkpoint_sha256: str = "",
            static_shape: tuple[int, ...] | None = None, noise_input: bool = False, encoder: str = "paper",
            step: float | None = None, rank: int | None = None) -> onnx.ModelProto:
    """Trace ``model`` into an ONNX model per the contract (step 1). Nothing is written to disk.

    ``static_shape`` (B, channels, *size) fixes every axis instead of leaving batch and size dynamic: for
    fixed-shape GPU batch jobs, where onnxruntime can search conv algorithms exhaustively and replay CUDA graphs.
    ``noise_input``: a second input ``noise_sigma`` (batch,) sets the thresholds per item at inference.
    ``encoder``: ``paper`` (the default, the paper's FISTA) or ``accelerated`` (beyond the paper: step s/L with a
    per-example objective safeguard, ``crsae.model.fista.accelerated_fista``; ``step`` is s, default 1.9).
    ``rank``: the graph computes the paper's encoder through the factors of the model's rank-``rank`` filters
    (``factored_fista``, ``check_rank``): the same codes for U r (channels + K) multiply-adds per sample and step
    instead of U channels K (the temporal part as block-Toeplitz matrix products, about twice its count in dense
    GEMMs); metadata ``rank``.
    """
    if outputs not in OUTPUT_CHOICES:
        raise ConfigError(f"outputs must be one of {', '.join(OUTPUT_CHOICES)}, got {outputs!r}")
    if dtype not in ("float32", "float16"):
        raise ConfigError(f"dtype must be float32 or float16, got {dtype!r}")
    names = OUTPUT_CHOICES[outputs]
    cfg, opset = model.config, contract_mod.contract()["opset"]
    step = check_encoder(model, encoder, step, dtype)
    rank = check_rank(model, rank, step)
    if noise_input:
        check_noise_input(model)
    graph = ExportGraph(model.eval(), names, step, rank)
    if static_shape is not None:
        static_shape = check_static_shape(model, static_shape)
        example, dynamic = torch.randn(*static_shape, generator=torch.Generator().manual_seed(0)), None
    else:
        example = example_signal(model)
        dims = {0: torch.export.Dim("batch")}
        for axis, name in enumerate(contract_mod.axes("signal", cfg.kind)[2:], start=2):
            dims[axis] = torch.export.Dim(name, min=cfg.min_size)
        dynamic = {"signal": dims}
    if dtype == "float16":
        graph, example = _half_copy(graph), example.half()
    args, input_names = (example,), ["signal"]
    if noise_input:
        args, input_names = (example, validation_noise(model, example.shape[0])), ["signal", "noise_sigma"]
        if dynamic is not None:
            dynamic["noise_sigma"] = {0: dynamic["signal"][0]}
    with warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph, args, None, input_names=input_names, output_names=list(names),
                                    opset_version=opset, dynamic_shapes=dynamic, dynamo=True,
                                    external_data=False, verbose=False, optimize=True)
    proto = program.model_proto
    _strip_node_metadata(proto.graph)
    _name_output_axes(proto, cfg.kind)
    found = {op.domain: op.version for op in proto.opset_import}
    if found.get("", None) != opset:
        raise ExportValidationError(f"exporter produced opset {found.get('')} instead of {opset}; "
                                    "use the torch version pinned in pyproject.toml")
    proto.producer_name, proto.producer_version = "crsae", __version__
    proto.doc_string = "CRsAE unrolled FISTA encoder (Tolooshams, Dey & Ba, arXiv:1904.08827); see export/CONTRACT.md"
    meta = metadata(model, names, dtype=dtype, checkpoint_sha256=checkpoint_sha256, static_shape=static_shape,
                    noise_input=noise_input, step=step, rank=rank)
    del proto.metadata_props[:]
    for key in contract_mod.contract()["metadata_keys"]:
        proto.metadata_props.add(key=key, value=json.dumps(meta[key]))
    for key in contract_mod.contract()["optional_metadata"]:
        if key in meta:
            proto.metadata_props.add(key=key, value=json.dumps(meta[key]))
    return proto


def check_static_shape(model: CRsAE, shape) -> tuple[int, ...]:
    """``shape`` as a tuple if it is a valid (B, channels, *size) input of ``model``, else ConfigError."""
    cfg = model.config
    shape = tuple(int(n) for n in shape)
    axes = contract_mod.axes("signal", cfg.kind)
    if len(shape) != len(axes) or shape[1] != cfg.channels or shape[0] < 1 or min(shape[2:]) < cfg.min_size:
        raise ConfigError(f"static shape {shape} does not fit this {cfg.kind} model; pass ({', '.join(axes)}) with "
                          f"channels {cfg.channels} and sizes of at least {cfg.min_size}")
    return shape


class _quiet_exporter:
    """Silence the exporter's logging (e.g. 'torchvision is not installed') during export."""

    def __enter__(self):
        self.previous = logging.root.manager.disable
        logging.disable(logging.WARNING)

    def __exit__(self, *exc):
        logging.disable(self.previous)


def _half_copy(graph: ExportGraph) -> ExportGraph:
    import copy
    half = copy.deepcopy(graph).half()
    half.model.L = half.model.L.float()                       # keep 1/L exact; cast at use
    return half


def _strip_node_metadata(graph: onnx.GraphProto) -> None:
    """Drop per-node metadata and doc strings (the exporter stores absolute source paths there)."""
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _strip_node_metadata(attr.g)
    for value in list(graph.value_info) + list(graph.input) + list(graph.output):
        del value.metadata_props[:]
        value.doc_string = ""


def _name_output_axes(proto: onnx.ModelProto, kind: str) -> None:
    """Give each output's dynamic axes the contract's names (the exporter writes expressions like 'length - 19')."""
    for output in proto.graph.output:
        for dim, name in zip(output.type.tensor_type.shape.dim, contract_mod.axes(output.name, kind)):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


def read_metadata(proto: onnx.ModelProto) -> dict:
    """The model's metadata as typed values, checked against the contract (``crsae.contract.decode_metadata``)."""
    return contract_mod.decode_metadata({p.key: p.value for p in proto.metadata_props}, "the exported model")


@dataclass
class ParityRecord:
    output: str
    shape: tuple
    max_abs_diff: float
    atol: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.atol


def validate_onnx(proto: onnx.ModelProto, model: CRsAE, *, shapes=None, signals=(),
                  check_step: bool = True) -> list[ParityRecord]:
    """Check ``proto`` against the contract and against ``model`` under onnxruntime CPU (step 2).

    The inputs: standard normal signals of ``shapes`` (default ``validation_shapes``), then ``signals`` (arrays
    (B, channels, *size)): white noise excites a lasso whose thresholds exceed its correlations with noise only
    rarely, so its codes are mostly 0 and prove little; pass signals made of the model's own atoms there.
    Raises OutputMismatchError for wrong names or axes, ToleranceError listing every output and shape beyond
    tolerance. Returns the parity records (one per output and input). ``check_step``: also warn when ||H||^2 > L
    (``check_step_constant``, a power iteration).
    """
    ort = extras.onnxruntime("validating an export")
    onnx.checker.check_model(proto)
    meta = read_metadata(proto)
    cfg, names = model.config, tuple(meta["outputs"])
    noise_input = contract_mod.has_noise_input(meta)
    inputs = ["signal", "noise_sigma"] if noise_input else ["signal"]
    if [i.name for i in proto.graph.input] != inputs or [o.name for o in proto.graph.output] != list(names):
        raise OutputMismatchError(f"graph inputs/outputs {[i.name for i in proto.graph.input]} -> "
                                  f"{[o.name for o in proto.graph.output]} differ from the contract's "
                                  f"{inputs} -> {list(names)}")
    for value in list(proto.graph.input) + list(proto.graph.output):
        expected = contract_mod.axes(value.name, cfg.kind)
        for dim, name in zip(value.type.tensor_type.shape.dim, expected):
            if dim.HasField("dim_param") and dim.dim_param != name:
                raise OutputMismatchError(f"{value.name} axis {dim.dim_param!r} is not the contract's {name!r}")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    half = meta["dtype"] == "float16"
    graph = ExportGraph(model.eval(), names, contract_mod.encoder_step(meta))
    records = []
    generator = torch.Generator().manual_seed(1)
    if meta.get("static_shape"):
        shapes = [tuple(meta["static_shape"])]             # the only input a static-shape model takes
    noise_signals = [torch.randn(*shape, generator=generator) for shape in shapes or validation_shapes(model)]
    for signal in noise_signals + [torch.as_tensor(np.asarray(s, dtype=np.float32)) for s in signals]:
        shape = tuple(signal.shape)
        noise = (validation_noise(model, shape[0]),) if noise_input else ()
        with torch.no_grad():
            reference = [r.numpy() for r in graph(signal, *noise)]
        feed = {"signal": signal.numpy().astype(np.float16 if half else np.float32)}
        if noise_input:
            feed["noise_sigma"] = noise[0].numpy()
        got = session.run(list(names), feed)
        for name, ref, out in zip(names, reference, got):
            if out.shape != ref.shape:
                raise OutputMismatchError(f"{name} has shape {out.shape} under onnxruntime but {ref.shape} in torch "
                                          f"for input {shape}")
            diff = float(np.max(np.abs(out.astype(np.float64) - ref))) if ref.size else 0.0
            records.append(ParityRecord(name, shape, diff,
                                        contract_mod.atol(ref, cfg.num_layers, dtype=meta["dtype"])))
    failures = [(r.output, r.shape, r.max_abs_diff, r.atol) for r in records if not r.ok]
    if failures:
        raise ToleranceError(failures)
    if check_step:
        check_step_constant(model)
    return records


def check_step_constant(model: CRsAE) -> None:
    """Warn (StepConstantWarning) when the dictionary's ||H||_2^2 exceeds the model's L: the parity above still
    holds, but FISTA with a step 1/L that long may oscillate or diverge on other signals."""
    norm, L = model.dictionary_norm(), float(model.L)
    if norm > L:
        warnings.warn(StepConstantWarning(
            f"the dictionary's ||H||^2 = {norm:.4g} exceeds the step constant L = {L:.4g}, so FISTA's step 1/L is "
            f"too long and codes may oscillate or diverge; train or build the model again with "
            f"--L {1.05 * norm:.3g} or larger"), stacklevel=2)


def sidecar_path(path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def check_export_paths(checkpoint: str | os.PathLike, output: str | os.PathLike) -> None:
    """Before the export: ``output`` ends in .onnx, and it and its sidecar can be written without replacing the
    checkpoint (``crsae.files.check_output``)."""
    from crsae.files import check_output
    path = Path(output)
    if path.suffix != ".onnx":
        raise ConfigError(f"output {path} must end in .onnx; the sidecar is written beside it as .json")
    check_output(path, inputs=[checkpoint])
    check_output(sidecar_path(path), what="sidecar", inputs=[checkpoint], others=[path])


def write_export(proto: onnx.ModelProto, path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the model and its sidecar, each atomically (step 3)."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise ConfigError(f"output {path} must end in .onnx; the sidecar is written beside it as .json")
    buffer = io.BytesIO()
    onnx.save_model(proto, buffer)
    side = sidecar_path(path)
    with atomic_paths(path, side) as (tmp_model, tmp_side):             # both or neither
        tmp_model.write_bytes(buffer.getvalue())
        tmp_side.write_text(json.dumps(read_metadata(proto), indent=2) + "\n")
    return path, side


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, *, outputs: str = "codes",
                      dtype: str = "float32", static_shape: tuple[int, ...] | None = None,
                      noise_input: bool = False, encoder: str = "paper",
                      step: float | None = None) -> list[ParityRecord]:
    """Load a checkpoint, export it, validate it, and only then write ``output`` and its sidecar (whose paths are
    checked first). ``encoder``, ``step``: as for ``to_onnx``."""
    check_export_paths(checkpoint, output)
    model = load_model(checkpoint)
    check_encoder(model, encoder, step, dtype)              # before the seconds of tracing
    if noise_input:
        check_noise_input(model)
    proto = to_onnx(model, outputs=outputs, dtype=dtype, checkpoint_sha256=file_sha256(checkpoint),
                    static_shape=static_shape, noise_input=noise_input, encoder=encoder, step=step)
    records = validate_onnx(proto, model)
    write_export(proto, output)
    return records


def export_triton(checkpoint: str | os.PathLike, repository: str | os.PathLike, *, name: str | None = None,
                  version: int = 1, outputs: str = "codes", dtype: str = "float32", max_batch_size: int = 64,
                  instances: tuple[str, ...] = ("gpu", "cpu"), instance_count: int = 1):
    """Export a checkpoint, validate it against torch, then write it as a Triton model (default name: its stem).

    Returns ``(model_folder, parity_records)``.
    """
    from crsae.serving.triton import check_options, write_triton_repository
    from crsae.files import check_output
    name = name or Path(checkpoint).stem
    check_options(name, version=version, max_batch_size=max_batch_size, instances=instances,   # before the export
                  instance_count=instance_count)
    check_output(repository, what="Triton repository", folder=True, inputs=[checkpoint])
    model = load_model(checkpoint)
    proto = to_onnx(model, outputs=outputs, dtype=dtype, checkpoint_sha256=file_sha256(checkpoint))
    records = validate_onnx(proto, model)
    folder = write_triton_repository(proto, repository, name=name, version=version, max_batch_size=max_batch_size,
                                     instances=instances, instance_count=instance_count)
    return folder, records


def with_weights(proto: onnx.ModelProto, template: CRsAE, model: CRsAE) -> onnx.ModelProto:
    """``proto`` (``to_onnx(template)``) carrying ``model``'s weights instead: a model of the same kind, shapes,
    depth and thresholding with other filters, lambda and L, without another trace (a dynamo export takes tens of
    seconds; this, milliseconds). An initializer named after one of the model's parameters or buffers
    (``model.H``, ``model.L``, ...: the exporter keeps them under those names where its optimizer did not fold
    them, which it does not for inputs over 8192 elements, so a large H stays beside a scalar ``model.L`` and
    ``We / L`` is computed in the graph) is replaced by ``model``'s, scalars included; every other one is found
    by value among the tensors the encoder derives from the template's weights (H, We / L, the one-sided bias
    -b) and replaced by the same tensor of ``model``; the rest (the momentum schedule) depend on T only. The
    metadata is ``model``'s. Validate the result (``validate_onnx``, on signals whose codes are not all zero):
    that is what proves the substitution."""
    from onnx import numpy_helper
    if contract_mod.encoder_step(read_metadata(proto)) is not None:
        raise ConfigError("with_weights substitutes the paper's encoder's weights; trace an accelerated-encoder "
                          "export with to_onnx(model, encoder='accelerated') instead")
    if read_metadata(proto).get("rank") is not None:
        raise ConfigError("with_weights substitutes full filters, not factors; trace a factored export with "
                          "to_onnx(model, rank=r) instead")
    a, b = template.config, model.config
    if (a.kind, a.channels, a.num_filters, a.kernel_size, a.num_layers, a.two_sided, a.tied, a.stride) != \
            (b.kind, b.channels, b.num_filters, b.kernel_size, b.num_layers, b.two_sided, b.tied, b.stride):
        raise ConfigError("with_weights needs a model of the template's kind, shapes, depth and sidedness")

    def derived(m: CRsAE) -> list[np.ndarray]:
        with torch.no_grad():
            L = m.L
            return [t.detach().double().numpy() for t in (m.H, m.analysis_filters / L, -m.thresholds())]

    old, new = derived(template), derived(model)
    weights = {f"model.{name}": t.detach().double().numpy() for name, t in model.state_dict().items()}
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    for init in out.graph.initializer:
        value = numpy_helper.to_array(init)
        if init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name].reshape(value.shape).astype(value.dtype),
                                                  init.name))
            continue
        for before, after in zip(old, new):
            if value.size == before.size and value.size > 1 and np.allclose(
                    value.astype(np.float64).ravel(), before.ravel(), rtol=1e-6, atol=0):
                init.CopyFrom(numpy_helper.from_array(after.reshape(value.shape).astype(value.dtype), init.name))
                break
    meta = metadata(model, tuple(read_metadata(proto)["outputs"]), dtype=read_metadata(proto)["dtype"])
    del out.metadata_props[:]
    for key in contract_mod.contract()["metadata_keys"]:
        out.metadata_props.add(key=key, value=json.dumps(meta[key]))
    return out
