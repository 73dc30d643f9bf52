"""crsae/contract.py: the ONNX contract as data (export/contract.json): tolerances, axes, messages."""

import json
from pathlib import Path

import numpy as np
import pytest

from crsae import contract

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_ships_the_exports_contract():
    assert contract.contract() == json.loads((ROOT / "export" / "contract.json").read_text())


def test_tolerance_rule():
    floor, per_layer = contract.tolerance_constants()
    assert (floor, per_layer) == (1e-5, 2e-6)
    assert contract.atol(np.array([0.5, -0.2]), 10) == pytest.approx(floor + per_layer * 10 * 1.0)   # scale >= 1
    assert contract.atol(np.array([[3.0, -4.0]]), 10) == pytest.approx(floor + per_layer * 10 * 4.0)
    assert contract.atol(np.zeros((0,)), 5) == pytest.approx(floor + per_layer * 5)
    half_floor, half_per_layer = contract.tolerance_constants("float16")
    assert (half_floor, half_per_layer) == (5e-3, 1e-4)                        # as crsae info reports them
    assert contract.atol(np.ones(3), 2, dtype="float16") == pytest.approx(half_floor + 2 * half_per_layer)


def test_axes_and_messages():
    assert contract.axes("signal", "1d") == ["batch", "channels", "length"]
    assert contract.axes("codes", "2d") == ["batch", "filters", "code_height", "code_width"]
    assert contract.axes("reconstruction", "2d") == ["batch", "channels", "height", "width"]
    assert contract.size_text((7, 96)) == "7x96" and contract.size_text([5]) == "5"
    assert contract.message("too_small", size="7x96", min_size=14) == (
        "signal size 7x96 is smaller than 14, the least this model takes; pass longer signals or larger images")


@pytest.mark.parametrize("extra, problem", [
    ({"encoder": "fast"}, "encoder 'fast'"),
    ({"encoder": "accelerated"}, "step None"),
    ({"encoder": "accelerated", "step": 2.0}, "step 2.0"),
    ({"encoder": "accelerated", "step": True}, "step True"),
    ({"step": 1.5}, "step 1.5 with the paper's encoder"),
    ({"rank": 0}, "rank 0 \\(expected a positive integer"),
    ({"rank": True}, "rank True"),
    ({"rank": 2, "encoder": "accelerated", "step": 1.9}, "rank 2 with a 1d model on encoder 'accelerated'"),
])
def test_metadata_of_the_encoder_is_checked(extra, problem):
    from crsae.errors import ModelFormatError
    meta = json.loads((ROOT / "export" / "models" / "spikes1d.json").read_text())
    assert contract.encoder_step(meta) is None                                 # absent: the paper's encoder
    assert contract.encoder_step(contract.check_metadata(meta | {"encoder": "accelerated", "step": 1.9}, "m")) == 1.9
    assert contract.check_metadata(meta | {"rank": 1}, "m")["rank"] == 1          # a factored graph: informational
    with pytest.raises(ModelFormatError, match=f"m has metadata {problem}"):
        contract.check_metadata(meta | extra, "m")
