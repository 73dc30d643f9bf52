"""Serving an export with NVIDIA Triton Inference Server: a model repository for the onnxruntime backend.

Triton reads a folder per model::

    REPOSITORY/NAME/config.pbtxt          # written here from the model's inputs, outputs and the contract
    REPOSITORY/NAME/VERSION/model.onnx    # the crsae export (its sidecar model.json beside it)

``config.pbtxt`` (Triton's ``ModelConfig`` protobuf, text format) declares ``backend: "onnxruntime"``, a
``max_batch_size`` (so the contract's ``batch`` axis is Triton's implicit batch dimension and is left out of
``dims``), the other axes from ``export/CONTRACT.md`` (``channels`` and ``filters`` fixed from the model's metadata,
``length``/``height``/``width`` and the code axes ``-1``), dynamic batching (requests of equal shape are batched
together), and instance groups (``KIND_GPU`` and/or ``KIND_CPU``).

The model folder is built in a temporary folder and renamed into place; an existing non-empty version is refused.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import onnx

from crsae import contract as contract_mod
from crsae.errors import ConfigError, DataError, ModelFormatError
from crsae.files import atomic_folder, atomic_path

TRITON_TYPES = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.FLOAT16: "TYPE_FP16"}
INSTANCE_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU"}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def triton_dims(value: onnx.ValueInfoProto, kind: str, metadata: dict) -> list[int]:
    """Triton ``dims`` of a graph input or output: the contract's axes without ``batch``, -1 where dynamic.

    Parameters
    ----------
    value : graph input ``signal`` or output ``codes`` / ``reconstruction``
    kind : "1d" or "2d"
    metadata : the model's typed metadata (``channels``, ``num_filters``)

    Returns
    -------
    dims : list of int, length 2 (1-D) or 3 (2-D), e.g. ``[channels, -1]`` or ``[filters, -1, -1]``
    """
    names = contract_mod.axes(value.name, kind)
    graph_dims = value.type.tensor_type.shape.dim
    if len(graph_dims) != len(names):
        raise ModelFormatError(f"{value.name} has {len(graph_dims)} axes but the contract gives {len(names)} "
                               f"({', '.join(names)}); re-export the model with crsae export")
    dynamic = set(contract_mod.contract()["dynamic_axes"])
    fixed = {"channels": metadata["channels"], "filters": metadata["num_filters"]}
    dims = []
    for axis, dim in zip(names[1:], list(graph_dims)[1:]):
        size = -1 if axis in dynamic else int(fixed[axis])
        if dim.HasField("dim_value") and size != -1 and dim.dim_value != size:
            raise ModelFormatError(f"{value.name} axis {axis} is {dim.dim_value} in the graph but {size} in the "
                                   "metadata; re-export the model with crsae export")
        dims.append(size)
    return dims


def check_options(name: str, *, version: int = 1, max_batch_size: int = 64, instances: tuple[str, ...] = ("gpu",),
                  instance_count: int = 1) -> None:
    """Raise ConfigError for a bad model name, version, batch size or instance group."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"model name {name!r} must be letters, digits, '_', '.' or '-'; pass another --name")
    if version < 1:
        raise ConfigError(f"version must be a positive integer, got {version}")
    if max_batch_size < 1:
        raise ConfigError(f"max_batch_size must be at least 1, got {max_batch_size}")
    if instance_count < 1:
        raise ConfigError(f"instance_count must be at least 1, got {instance_count}")
    if not instances or any(i not in INSTANCE_KINDS for i in instances):
        raise ConfigError(f"instances must be gpu, cpu or both (gpu,cpu), got {','.join(instances) or 'nothing'}")


def triton_config(proto: onnx.ModelProto, name: str, *, max_batch_size: int = 64,
                  instances: tuple[str, ...] = ("gpu", "cpu"), instance_count: int = 1,
                  max_queue_delay_us: int = 100) -> str:
    """The ``config.pbtxt`` text of a crsae export (Triton ``ModelConfig``, protobuf text format).

    Parameters
    ----------
    proto : the exported model (graph input ``signal``, outputs ``codes`` and/or ``reconstruction``)
    name : the Triton model name (the model folder's name)
    max_batch_size : the largest batch Triton's dynamic batcher forms (>= 1)
    instances : instance groups to declare, from "gpu" and "cpu"
    instance_count : model instances (onnxruntime sessions) per group (per GPU for "gpu")
    max_queue_delay_us : how long the dynamic batcher waits to fill a batch, in microseconds
    """
    check_options(name, max_batch_size=max_batch_size, instances=instances, instance_count=instance_count)
    metadata = _metadata(proto)
    kind = metadata["kind"]
    if metadata.get("static_shape"):
        raise ModelFormatError(f"the model is a static-shape export {tuple(metadata['static_shape'])}, but Triton "
                               "batches requests of any size; export it without --static-shape")

    def tensor(value: onnx.ValueInfoProto) -> str:
        elem = value.type.tensor_type.elem_type
        if elem not in TRITON_TYPES:
            raise ModelFormatError(f"{value.name} has ONNX element type {elem}, not float32 or float16; "
                                   "re-export with crsae export --dtype float32")
        dims = ", ".join(str(d) for d in triton_dims(value, kind, metadata))
        return f'  {{\n    name: "{value.name}"\n    data_type: {TRITON_TYPES[elem]}\n    dims: [ {dims} ]\n  }}'

    groups = ",\n".join(f"  {{\n    count: {instance_count}\n    kind: {INSTANCE_KINDS[i]}\n  }}"
                        for i in dict.fromkeys(instances))
    inputs = ",\n".join(tensor(v) for v in proto.graph.input)
    outputs = ",\n".join(tensor(v) for v in proto.graph.output)
    return (f"# crsae {kind} model: {metadata['num_filters']} filters, kernel_size {metadata['kernel_size']}, "
            f"stride {metadata['stride']}, num_layers {metadata['num_layers']} (export/CONTRACT.md)\n"
            f'name: "{name}"\n'
            f'backend: "onnxruntime"\n'
            f"max_batch_size: {max_batch_size}\n"
            f"input [\n{inputs}\n]\n"
            f"output [\n{outputs}\n]\n"
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_queue_delay_us}\n}}\n"
            f"instance_group [\n{groups}\n]\n")


def write_triton_repository(model: onnx.ModelProto | str | os.PathLike, repository: str | os.PathLike, *,
                            name: str = "crsae", version: int = 1, max_batch_size: int = 64,
                            instances: tuple[str, ...] = ("gpu", "cpu"), instance_count: int = 1,
                            max_queue_delay_us: int = 100) -> Path:
    """Write ``repository/name/version/model.onnx`` (+ ``model.json``) and ``repository/name/config.pbtxt``.

    ``model`` is an exported ``onnx.ModelProto`` or the path of an .onnx file written by ``crsae export``.
    A new model folder is built in a temporary folder beside it and renamed into place; adding a version to an
    existing model folder requires its config.pbtxt to be the one this model produces, and the version folder
    to be absent or empty. Returns the model folder.
    """
    check_options(name, version=version)
    proto = model if isinstance(model, onnx.ModelProto) else _load(Path(model))
    config = triton_config(proto, name, max_batch_size=max_batch_size, instances=instances,
                           instance_count=instance_count, max_queue_delay_us=max_queue_delay_us)
    repository = Path(repository)
    if repository.exists() and not repository.is_dir():
        raise DataError(f"repository {repository} is a file; pass a folder for the Triton model repository")
    repository.mkdir(parents=True, exist_ok=True)
    folder, version_dir = repository / name, repository / name / str(version)
    if version_dir.exists() and (not version_dir.is_dir() or any(version_dir.iterdir())):
        raise DataError(f"{version_dir} already exists and is not empty; pass another --version or remove it")
    old_config = folder / "config.pbtxt"
    if folder.exists() and old_config.exists() and old_config.read_text() != config:
        raise DataError(f"{old_config} describes a different model or settings; pass another --name, or remove "
                        f"{folder} to replace it")
    buffer = io.BytesIO()
    onnx.save_model(proto, buffer)
    sidecar = json.dumps(_metadata(proto), indent=2) + "\n"
    if not folder.exists():                         # a new model: build NAME/ whole, then rename it into place
        with atomic_folder(folder) as tmp:
            _write_version(tmp / str(version), buffer.getvalue(), sidecar)
            (tmp / "config.pbtxt").write_text(config)
        return folder
    with atomic_folder(version_dir) as tmp:         # a new version of an existing model
        _write_version(tmp, buffer.getvalue(), sidecar)
    if not old_config.exists():
        with atomic_path(old_config) as tmp_config:
            tmp_config.write_text(config)
    return folder


def _write_version(folder: Path, model_bytes: bytes, sidecar: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "model.onnx").write_bytes(model_bytes)
    (folder / "model.json").write_text(sidecar)


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ModelFormatError(f"model {path} does not exist; pass the .onnx file written by crsae export")
    try:
        return onnx.load(str(path))
    except Exception as err:                        # onnx raises DecodeError and others for a corrupt file
        raise ModelFormatError(f"{path} is not a loadable ONNX model ({str(err)[:200]}); "
                               "pass a file written by crsae export") from None


def _metadata(proto: onnx.ModelProto) -> dict:
    return contract_mod.decode_metadata({p.key: p.value for p in proto.metadata_props}, "the model")
