"""crsae/training/mstep.py: the two-stage M-step (Trainer): exact resume, EM lambda, lambda's learning rate."""

import pytest
import torch

from crsae.config import ModelConfig, TrainConfig
from crsae.metrics import perturb_dictionary
from crsae.model.autoencoder import CRsAE
from crsae.model.checkpoint import read_checkpoint
from crsae.simulate import SimulationConfig, simulate
from crsae.training.datasets import ArrayData
from crsae.training.mstep import Trainer


def _small_run(tmp_path, epochs):
    sim = simulate(SimulationConfig(num_signals=48, length=120, num_filters=2, kernel_size=10, min_spacing=10))
    config = ModelConfig(kind="1d", num_filters=2, kernel_size=10, num_layers=10, sigma=sim.sigma, lam_init=20.0)
    model = CRsAE(config, perturb_dictionary(sim.dictionary, seed=3))
    trainer = Trainer(model, TrainConfig(epochs=epochs, batch_size=16, lr_step=1, seed=5), data_spec={"x": 1})
    return trainer, ArrayData(sim.clean, sim.signals)


def test_resume_reproduces_uninterrupted_run(tmp_path):
    trainer, data = _small_run(tmp_path, epochs=3)
    full = [r.loss for r in trainer.fit(data)]
    first, data = _small_run(tmp_path, epochs=2)
    first.fit(data, checkpoint=tmp_path / "c.pt")
    resumed = Trainer.resume(tmp_path / "c.pt")
    resumed.config = resumed.config.replace(epochs=3)
    history = resumed.fit(data)
    assert [r.loss for r in history] == full
    assert torch.equal(resumed.model.H, trainer.model.H) and torch.equal(resumed.model.lam, trainer.model.lam)
    assert all(r.extra["seconds"] > 0 for r in history)         # each epoch's wall time, kept across the resume
    assert [r.extra["seconds"] for r in history[:2]] == [r["seconds"] for r in read_checkpoint(tmp_path / "c.pt")
                                                          ["history"]]


def test_em_lambda_moves_towards_closed_form(tmp_path):
    trainer, data = _small_run(tmp_path, epochs=4)
    trainer.fit(data)
    model = trainer.model
    with torch.no_grad():
        _, x = model(data.noisy)
    closed = model.closed_form_lambda(x)
    assert torch.all(torch.abs(model.lam - closed) < torch.abs(torch.full_like(closed, 20.0) - closed))


def test_lambda_learning_rate_follows_lam_init_unless_given():
    model = CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3, lam_init=300.0), seed=0)
    assert Trainer(model, TrainConfig()).lam_lr == pytest.approx(1.5)
    assert Trainer(model, TrainConfig(lam_lr=0.1)).opt_lam.param_groups[0]["lr"] == pytest.approx(0.1)
