"""crsae/model/checkpoint.py: checkpoints are tensors plus plain data, and load back the same model."""

import pytest
import torch

from crsae.config import ModelConfig
from crsae.errors import CheckpointError
from crsae.model.autoencoder import CRsAE
from crsae.model.checkpoint import file_sha256, load_model, read_checkpoint, save_checkpoint


def test_checkpoint_round_trip(tmp_path):
    model = CRsAE(ModelConfig(kind="2d", channels=3, num_filters=4, kernel_size=5, stride=2, num_layers=3,
                              tied=False, threshold_mode="bias"), seed=4)
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt")
    assert again.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name])
    y = torch.randn(1, 3, 17, 16)
    assert torch.equal(model(y)[0], again(y)[0])


def test_checkpoint_holds_no_pickled_objects(tmp_path):
    save_checkpoint(tmp_path / "m.pt", CRsAE(ModelConfig(num_layers=2)))
    state = torch.load(tmp_path / "m.pt", weights_only=True)      # refuses anything but tensors and plain data
    assert state["format"] == "crsae-checkpoint" and state["model_config"]["num_layers"] == 2


def test_checkpoint_keeps_extra_plain_data(tmp_path):
    save_checkpoint(tmp_path / "m.pt", CRsAE(ModelConfig(num_layers=2)), epoch=3, history=[{"loss": 0.5}])
    state = read_checkpoint(tmp_path / "m.pt")
    assert state["epoch"] == 3 and state["history"] == [{"loss": 0.5}] and state["version"] == 1


@pytest.mark.parametrize("content,match", [
    (None, "does not exist"),
    (b"junk", "is not a readable crsae checkpoint"),
    ("foreign", "is not a crsae checkpoint; pass a file written by crsae train"),
    ("newer", "has checkpoint version 2; upgrade crsae to read it"),
])
def test_bad_checkpoints_are_refused(tmp_path, content, match):
    path = tmp_path / "c.pt"
    if content == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    elif content == "newer":
        save_checkpoint(path, CRsAE(ModelConfig(num_layers=2)), version=2)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    save_checkpoint(tmp_path / "m.pt", CRsAE(ModelConfig(num_filters=3, num_layers=2)))
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    state["model_config"]["num_filters"] = 4
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="checkpoint weights do not fit its config"):
        load_model(tmp_path / "bad.pt")


def test_file_sha256(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert file_sha256(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
