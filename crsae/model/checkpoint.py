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
from crsae.errors import CheckpointError
from crsae.files import atomic_path
from crsae.model.autoencoder import CRsAE

FORMAT, VERSION = "crsae-checkpoint", 1


def save_checkpoint(path: str | os.PathLike, model: CRsAE, **extra) -> None:
    """Write ``model`` (config and weights) and any of train_config, data, epoch, optimizers, history."""
    state = {"format": FORMAT, "version": VERSION, "crsae_version": __version__,
             "model_config": model.config.to_dict(),
             "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    state.update(extra)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's contents as plain data; CheckpointError if it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the file written by crsae train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(f"{path} is not a readable crsae checkpoint ({type(err).__name__}); "
                              "pass a file written by crsae train") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a crsae checkpoint; pass a file written by crsae train")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}; upgrade crsae to read it")
    return state


def load_model(path: str | os.PathLike) -> CRsAE:
    """Rebuild the saved model exactly: ``CRsAE(ModelConfig(**saved))`` plus its weights, in eval mode."""
    state = read_checkpoint(path)
    return model_from_state(state)


def model_from_state(state: dict) -> CRsAE:
    config = ModelConfig.from_dict(state["model_config"])
    model = CRsAE(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint weights do not fit its config ({err}); the file is damaged") from None
    return model.eval()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
