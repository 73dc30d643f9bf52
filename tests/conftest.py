import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def require_shared_data():
    if not (SHARED_DATA / "BSD68").is_dir() or not (SHARED_DATA / "CBSD432").is_dir():
        pytest.skip(f"{SHARED_DATA} (BSD68, CBSD432) is absent: the image tests need the shared denoising data")
    return SHARED_DATA
