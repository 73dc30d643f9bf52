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


def _blind_run(epochs, mode):
    """Blind denoising (noise std drawn per batch from [0.1, 0.4]) of 2-D crops."""
    rng = torch.Generator().manual_seed(0)
    clean = torch.nn.functional.avg_pool2d(torch.rand((12, 1, 24, 24), generator=rng), 3, 1, 1).numpy()
    config = ModelConfig(kind="2d", num_filters=4, kernel_size=5, stride=2, num_layers=8, L=6.0, sigma=0.25,
                         lam_init=5.0, threshold_mode=mode)
    trainer = Trainer(CRsAE(config, seed=1), TrainConfig(epochs=epochs, batch_size=3, lr_step=1, seed=2),
                      data_spec={"x": 1})
    return trainer, ArrayData(clean, noise_sigma=0.1, noise_sigma_max=0.4)


@pytest.mark.parametrize("mode", ["affine", "em"])
def test_blind_training_resumes_exactly_and_learns_the_threshold_law(tmp_path, mode):
    trainer, data = _blind_run(3, mode)
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    full = [r.loss for r in trainer.fit(data)]
    moved = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, start[n])}
    assert moved == ({"H", "bias", "slope"} if mode == "affine" else {"H", "lam"})
    first, data = _blind_run(2, mode)
    first.fit(data, checkpoint=tmp_path / "c.pt")
    resumed = Trainer.resume(tmp_path / "c.pt")
    resumed.config = resumed.config.replace(epochs=3)
    assert [r.loss for r in resumed.fit(data)] == full
    for (name, p), q in zip(trainer.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
    if mode == "affine":
        assert (trainer.model.bias >= 0).all() and (trainer.model.slope >= 0).all()


def test_a_step_at_a_batch_sigma_is_the_step_of_the_model_built_at_that_sigma():
    """EM mode: thresholds lam sigma^2 / L at the batch's sigma, so the step equals that of the same weights in a
    model whose own sigma is the batch's (same loss, same updates)."""
    trainer, data = _blind_run(1, "em")
    y, target, sigma = next(iter(data.batches(1, 3, 2)))
    m = trainer.model
    built = CRsAE(m.config.replace(sigma=sigma), m.H.detach().numpy(), lam=m.lam.detach().numpy(), normalize=False)
    other = Trainer(built, trainer.config)
    assert trainer.step(y, target, sigma) == pytest.approx(other.step(y, target), rel=1e-6)
    assert torch.allclose(trainer.model.H, other.model.H, atol=1e-7)
    assert torch.allclose(trainer.model.lam, other.model.lam, atol=1e-6)
