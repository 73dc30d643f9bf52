"""Checkpoints in a safe format: tensors plus a readable config, no pickled modules.

A checkpoint is a ``torch.save`` of plain containers (dicts, lists, numbers, strings, tensors), loaded back with
``torch.load(weights_only=True)``, which refuses arbitrary objects::

    {"format": "crsae-checkpoint", "version": 1, "crsae_version": str,
     "model_config": {...ModelConfig...}, "model": state_dict,
     "train_config": {...} | None, "data": {...how the data was made...} | None,
     "epoch": int, "optimizers": {...} | None, "history": [...]}

``crsae info CHECKPOINT`` prints the config (``--json``: as JSON). Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from crsae import __version__
from crsae.config import ModelConfig
from crsae.errors import CheckpointError, CrsaeError
from crsae.files import atomic_path
from crsae.model.autoencoder import CRsAE

FORMAT, VERSION = "crsae-checkpoint", 1


NOT_CHECKPOINTS = (".onnx", ".npy", ".npz", ".json", ".png", ".csv")


def check_checkpoint_path(path: str | os.PathLike) -> None:
    """CheckpointError when ``path`` names another kind of file (model.onnx, data.npy): a checkpoint written there
    would be mistaken for one."""
    suffix = Path(path).suffix.lower()
    if suffix in NOT_CHECKPOINTS:
        raise CheckpointError(f"{path} ends in {suffix}, which names another kind of file; write the checkpoint to "
                              f"a .pt file (e.g. {Path(path).with_suffix('.pt')})")


def save_checkpoint(path: str | os.PathLike, model: CRsAE, **extra) -> None:
    """Write ``model`` (config and weights) and any of train_config, data, epoch, optimizers, history."""
    check_checkpoint_path(path)
    state = {"format": FORMAT, "version": VERSION, "crsae_version": __version__,
             "model_config": model.config.to_dict(),
             "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    state.update(extra)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's contents as plain data; CheckpointError if it is missing, corrupt or foreign."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a folder; pass the file written by crsae train")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the file written by crsae train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"{path} is not a readable crsae checkpoint ({type(err).__name__}); "
                              "pass a file written by crsae train") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a crsae checkpoint; pass a file written by crsae train")
    version = state.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path} has checkpoint version {version!r}, not an integer; the file is damaged")
    if version > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}; upgrade crsae to read it")
    _check_structure(state, path)
    return state


# What each key of a checkpoint holds: (types allowed, whether it must be present).
_KEYS = {"model_config": (dict, True), "model": (dict, True), "train_config": ((dict, type(None)), False),
         "data": ((dict, type(None)), False), "epoch": (int, False), "optimizers": ((dict, type(None)), False),
         "history": (list, False), "crsae_version": (str, False)}


def _check_structure(state: dict, path) -> None:
    """CheckpointError unless every key holds what a crsae checkpoint holds there (checked before any use, so a
    file shaped like a checkpoint but damaged fails in one line, not with a KeyError deep inside)."""
    for key, (types, required) in _KEYS.items():
        if key not in state:
            if required:
                raise CheckpointError(f"{path} lacks {key!r}, which every crsae checkpoint holds; the file is damaged "
                                      "or was not written by crsae")
            continue
        value = state[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise CheckpointError(f"{path}: {key!r} holds a {type(value).__name__}, not what a crsae checkpoint "
                                  "holds there; the file is damaged")
    for name, tensor in state["model"].items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{path}: the weights hold {name!r}: {type(tensor).__name__}, not named tensors; "
                                  "the file is damaged")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: weight {name!r} holds NaN or Inf; the training diverged or the file is "
                                  "damaged")


def load_model(path: str | os.PathLike) -> CRsAE:
    """Rebuild the saved model exactly: ``CRsAE(ModelConfig(**saved))`` plus its weights, in eval mode."""
    state = read_checkpoint(path)
    return model_from_state(state, str(path))


def model_from_state(state: dict, source: str = "the checkpoint") -> CRsAE:
    try:
        config = ModelConfig.from_dict(state["model_config"])
    except (CrsaeError, TypeError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{source} holds an invalid model config ({str(err) or type(err).__name__}); the file "
                              "is damaged or from another crsae version") from None
    try:
        model = CRsAE(config)
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = " ".join(lines[:2])[:200] if lines else type(err).__name__
        raise CheckpointError(f"checkpoint weights do not fit its config in {source} ({reason}); the file is "
                              "damaged") from None
    return model.eval()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
