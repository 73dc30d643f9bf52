"""``to_onnx`` without re-tracing: a model's export made from the cached export of a model of the same structure.

Tracing the unrolled encoder with torch's dynamo exporter takes seconds, and it depends only on the structure (kind,
channels, filters, kernel size, stride, T, one- or two-sided, tied, outputs). The exporter folds the weights into a
few initializers (H, We / L, Wd, the thresholds b and -b, each possibly reshaped); everything else is a constant of
the structure. ``export_retraced`` traces a probe model of the structure once, identifies each initializer with
one of those quantities by value (the probe's weights are all distinct), and for a new model writes that model's
values into a copy. The result is validated against the new model by the caller (``validate_onnx``), as any export;
``export_retraced`` falls back to a full ``to_onnx`` when an initializer cannot be identified unambiguously.

The scikit-learn estimators (``crsae.estimator``) export after every fit, where this turns seconds into
milliseconds.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from crsae import contract as contract_mod
from crsae.exporter.onnx_export import OUTPUT_CHOICES, metadata, to_onnx
from crsae.model.autoencoder import CRsAE

_PROBES: dict[tuple, tuple[onnx.ModelProto, dict] | None] = {}     # structure -> (probe export, init -> quantity)


def _structure(model: CRsAE, outputs: str) -> tuple:
    c = model.config
    return (c.kind, c.channels, c.num_filters, c.kernel_size, c.stride, c.num_layers, c.two_sided, c.tied,
            c.threshold_mode, outputs)


@torch.no_grad()
def _quantities(model: CRsAE) -> dict[str, np.ndarray]:
    """The weight-dependent values an export folds into initializers, computed as the traced graph does."""
    b = model.thresholds().detach()
    values = {"H": model.H, "We/L": model.analysis_filters / model.L, "b": b, "-b": -b}
    if not model.config.tied:
        values["Wd"] = model.Wd
    return {name: v.detach().float().numpy().ravel() for name, v in values.items()}


@torch.no_grad()
def _probe(model: CRsAE, outputs: str):
    """(export of a probe model of ``model``'s structure, {initializer name: quantity}) or None."""
    cfg = model.config.replace(L=3.7)                                  # L != 1: H and We / L differ
    probe = CRsAE(cfg, seed=12345)
    generator = torch.Generator().manual_seed(54321)
    thresholds = {"bias": ["bias"], "affine": ["bias", "slope"]}.get(cfg.threshold_mode, ["lam"])
    for name in thresholds:                                            # distinct thresholds
        getattr(probe, name).copy_(torch.rand(cfg.num_filters, generator=generator) + 0.5)
    if not cfg.tied:
        probe.We.add_(0.1 * torch.randn(probe.We.shape, generator=generator))
        probe.Wd.add_(0.1 * torch.randn(probe.Wd.shape, generator=generator))
    proto = to_onnx(probe, outputs=outputs)
    quantities = _quantities(probe)
    mapping = {}
    for init in proto.graph.initializer:
        value = numpy_helper.to_array(init).astype(np.float32).ravel()
        matches = [name for name, q in quantities.items()
                   if q.size == value.size and np.allclose(value, q, rtol=1e-6, atol=0)]
        if len(matches) > 1:
            return None                                                # ambiguous: trace every model instead
        if matches:
            mapping[init.name] = matches[0]
    return proto, mapping


def export_retraced(model: CRsAE, *, outputs: str = "both", checkpoint_sha256: str = "") -> onnx.ModelProto:
    """What ``to_onnx(model, outputs=outputs, checkpoint_sha256=...)`` gives (float32, dynamic shapes), reusing the
    trace of an earlier model of the same structure. Validate the result with ``validate_onnx`` as any export."""
    key = _structure(model, outputs)
    if key not in _PROBES:
        _PROBES[key] = _probe(model, outputs)
    if _PROBES[key] is None:
        return to_onnx(model, outputs=outputs, checkpoint_sha256=checkpoint_sha256)
    probe, mapping = _PROBES[key]
    proto = copy.deepcopy(probe)
    quantities = _quantities(model)
    for i, init in enumerate(proto.graph.initializer):
        if init.name in mapping:
            dims, dtype = tuple(init.dims), numpy_helper.to_array(init).dtype
            value = quantities[mapping[init.name]].reshape(dims).astype(dtype)
            proto.graph.initializer[i].CopyFrom(numpy_helper.from_array(value, init.name))
    meta = metadata(model, OUTPUT_CHOICES[outputs], checkpoint_sha256=checkpoint_sha256)
    del proto.metadata_props[:]
    for key_ in contract_mod.contract()["metadata_keys"]:
        proto.metadata_props.add(key=key_, value=json.dumps(meta[key_]))
    return proto


def forget(model: CRsAE, outputs: str = "both") -> None:
    """Drop the cached probe of ``model``'s structure (after a validation failure: trace every model of it)."""
    _PROBES[_structure(model, outputs)] = None
