"""The committed default models and golden vectors must match what the current code produces."""

import json
from pathlib import Path

import numpy as np
import pytest

from crsae import contract
from crsae.model.checkpoint import file_sha256, load_model
from crsae.exporter.golden import reference_outputs
from crsae.serving.runtime import Encoder

EXPORT = Path(__file__).resolve().parent.parent / "export"
INDEX = json.loads((EXPORT / "golden" / "index.json").read_text())
CASES = {case["name"]: case for case in INDEX["cases"]}


def checkpoint_of(case: dict) -> Path:
    """The shipped checkpoint a case's model was exported from (``checkpoint``, else the model's stem)."""
    return EXPORT / case.get("checkpoint", f"models/{Path(case['model']).stem}.pt")


def noise_of(case: dict):
    """A case's noise_sigma input (B,), or None for a model without it."""
    return np.load(EXPORT / case["noise_sigma"]) if "noise_sigma" in case else None


def step_of(case: dict):
    """A case's accelerated-encoder step (its sidecar's ``encoder``, ``step``), or None for the paper's encoder."""
    return contract.encoder_step(json.loads((EXPORT / case["sidecar"]).read_text()))


def test_index_covers_every_model_and_output():
    models = {p.stem for p in (EXPORT / "models").glob("*.pt")}
    assert {"spikes1d", "spikes32", "image2d", "image2d_tied"} <= models
    assert {checkpoint_of(c).stem for c in CASES.values()} == models
    assert {c["name"] for c in CASES.values() if "noise_sigma" in c} == {"image2d_sigma", "image2d_tied_sigma",
                                                                         "image2d_blind_sigma"}
    # the accelerated encoder's safeguard is the tied model's lasso objective: the untied image2d has none
    assert {c["name"]: step_of(c) for c in CASES.values() if step_of(c) is not None} == {"image2d_tied_accelerated": 1.9}
    ranks = {c["name"]: json.loads((EXPORT / c["sidecar"]).read_text()).get("rank") for c in CASES.values()}
    assert {name: rank for name, rank in ranks.items() if rank is not None} == {"spikes1d_rank1": 1,
                                                                                "spikes32_rank3": 3}
    for case in CASES.values():
        assert set(case["outputs"]) == set(contract.contract()["outputs"]) == set(case["atol"])
    assert any(c["chunk_length"] for c in CASES.values())


def test_no_file_outlives_its_case():
    """Every exported model, sidecar, filter file and vector belongs to a case or a shipped checkpoint: a model
    renamed or retired takes its files with it (`make golden` writes, it never deletes)."""
    named = {EXPORT / case[key] for case in CASES.values() for key in ("model", "sidecar", "input")}
    named |= {EXPORT / path for case in CASES.values() for path in case["outputs"].values()}
    named |= {EXPORT / case["noise_sigma"] for case in CASES.values() if "noise_sigma" in case}
    checkpoints = list((EXPORT / "models").glob("*.pt"))
    named |= set(checkpoints) | {p.with_suffix(".filters.npy") for p in checkpoints}
    files = [p for pattern in ("*.onnx", "*.json", "*.npy", "*.pt") for p in (EXPORT / "models").glob(pattern)]
    files += list((EXPORT / "golden").glob("*.npy"))
    assert sorted(str(p.relative_to(EXPORT)) for p in files if p not in named) == []


@pytest.mark.parametrize("name", CASES)
def test_committed_vectors_match_current_torch_code(name):
    case = CASES[name]
    model = load_model(checkpoint_of(case))
    signal = np.load(EXPORT / case["input"])
    for out, ref in reference_outputs(model, signal, noise_of(case), step_of(case)).items():
        expected = np.load(EXPORT / case["outputs"][out])
        assert np.abs(ref - expected).max() <= case["atol"][out], out


@pytest.mark.parametrize("name", CASES)
def test_committed_onnx_models_reproduce_golden_vectors(name):
    case = CASES[name]
    encoder = Encoder(EXPORT / case["model"], device="cpu")
    signal = np.load(EXPORT / case["input"])
    assert encoder.metadata["checkpoint_sha256"] == file_sha256(checkpoint_of(case))
    noise = noise_of(case)
    assert encoder.noise_input == (noise is not None)
    assert encoder.step == step_of(case)
    # the runtime's "auto" is the graph's -1
    noise_sigma = None if noise is None else ["auto" if v < 0 else float(v) for v in noise]
    for out, path in case["outputs"].items():
        expected = np.load(EXPORT / path)
        if case["chunk_length"]:
            got = np.stack([encoder.run_long(s, out, chunk=case["chunk_length"]) for s in signal])
        else:
            got = encoder.run(signal, [out], noise_sigma=noise_sigma)[out]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= case["atol"][out], out



@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("spikes32")])
def test_multichannel_cases_code_every_unit(name):
    """The 32-channel model's inputs are its own units firing in noise: every unit's codes are nonzero in every
    item, so a runtime that got one unit's filters wrong cannot pass on zeros."""
    codes = np.load(EXPORT / CASES[name]["outputs"]["codes"])                          # (B, C, M)
    assert codes.shape[1] == load_model(checkpoint_of(CASES[name])).config.num_filters
    assert (codes.max(axis=-1) > 0.1).all()
