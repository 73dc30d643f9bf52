"""The M-step by two-stage back-propagation (docs/math.md, "M-step"), as a resumable training loop.

Per batch:
1. dictionary: minimise the reconstruction loss ``1/2 ||y_target - H x_T||^2`` through all T unrolled layers with
   Adam (lr, eps), then renormalise every filter to unit norm. Before the Adam step each filter's gradient is
   projected onto the tangent of its unit sphere (``CRsAE.project_gradients``; the spec is silent): measured on the
   10 x 45-tap spike benchmark, max recovery error 0.03 in 51 s instead of 79 s and 0.005 reached (bench/dictlearn.py). The loss is averaged over elements, as the
   original code's MSELoss, which fixes the gradient scale that the paper's eps = 1e-3 is set for: updates shrink
   with the gradient near the optimum, so filters settle to ~1e-3 recovery error. On long, very sparse 1-D windows
   (e.g. 10 events in 5000 samples) the gradients are far below 1e-3 and learning crawls; lower ``adam_eps``
   (1e-5 there) and decay the learning rate (``bench/dictlearn.py`` measures this). In ``bias`` mode the
   thresholds are learned here too, and in ``affine`` mode their intercepts and slopes. With a noise level
   drawn per batch (``crsae train --noise-sigma-max``: blind training over a range of noise), the encoder's
   thresholds are those of the batch's sigma (``CRsAE.thresholds_at``: lam sigma^2 / L, or beta + gamma sigma).
2. lambda (``em`` mode only): minimise the EM lambda loss with its own Adam (lam_lr, by default lam_init / 200, the
   paper's 0.1 for lam_init 20; Adam moves a parameter by about lr a step, so a fixed 0.1 would take thousands of
   steps to move the lambda ~ 300 of a 1-D simulation to its M-step value) on the codes x_T of stage 1
   (held fixed: the E-step's output), then keep lam_c > 0.

The dictionary learning rate is multiplied by ``lr_decay`` every ``lr_step`` epochs. Everything random is drawn
from generators seeded by (seed, epoch), and a checkpoint after every epoch stores the optimiser states, so a
run resumed from any epoch's checkpoint continues exactly as the uninterrupted run.

Under torchrun (``crsae.training.distributed``) every process draws the same global batch and trains on its shard. Each
process's loss is its shard's share of the global-batch loss (shard sum / global count); gradients, losses and code
l1 norms are summed across processes, so every update, and every reported loss, is that of one process on the
whole batch. Rank 0 alone writes checkpoints; they do not depend on the number of processes, so a run resumes
under any.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from crsae.model.checkpoint import model_from_state, read_checkpoint, save_checkpoint
from crsae.config import TrainConfig
from crsae.training.distributed import Distributed
from crsae.errors import CheckpointError, ConfigError
from crsae.model.autoencoder import CRsAE

logger = logging.getLogger(__name__)


@dataclass
class EpochRecord:
    epoch: int                      # 1-based
    loss: float                     # mean reconstruction loss over the epoch's batches
    lam_loss: Optional[float]       # mean EM lambda loss (em mode), else None
    lr: float                       # dictionary learning rate used in the epoch
    extra: dict = field(default_factory=dict)   # "seconds" (wall time of the epoch's steps), and metrics added by
                                                # an on_epoch callback (e.g. recovery error)

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "lam_loss": self.lam_loss, "lr": self.lr, **self.extra}


class Trainer:
    """Holds a model, its two optimisers and the LR schedule; ``fit`` runs epochs and writes checkpoints.

    Parameters
    ----------
    model : CRsAE
    config : TrainConfig
    device : torch device string ("cpu", "cuda")
    data_spec : plain dict describing how the data was made, stored in checkpoints for ``--resume``
    dist : this process's place in a torchrun run (``crsae.training.distributed.process_group``); default one process
    fast : the training path of the autoencoder (``crsae.model.fast_fista``: hand-written backward of the unrolled
        encoder, 2-D strided convolutions as matrix products), the same gradients up to float rounding and several
        times faster (``bench/train_speed.py``); False runs plain autograd through ``unrolled_fista``
    """

    def __init__(self, model: CRsAE, config: TrainConfig, *, device: str = "cpu", data_spec: dict | None = None,
                 dist: Distributed | None = None, fast: bool = True):
        self.model, self.config, self.device, self.data_spec = model.to(device), config, device, data_spec
        self.fast = fast
        self.dist = dist or Distributed(device=device)
        self.dictionary = [p for name, p in model.named_parameters() if name in ("H", "We", "Wd", "bias", "slope")]
        self.opt_dict = torch.optim.Adam(self.dictionary, lr=config.lr, eps=config.adam_eps)
        self.schedule = torch.optim.lr_scheduler.StepLR(self.opt_dict, step_size=config.lr_step,
                                                        gamma=config.lr_decay)
        self.em = model.config.threshold_mode == "em"
        self.opt_lam = torch.optim.Adam([model.lam], lr=self.lam_lr) if self.em else None
        self.epoch = 0
        self.history: list[EpochRecord] = []

    @property
    def lam_lr(self) -> float:
        """Stage 2's learning rate: ``config.lam_lr``, or lam_init / 200 when unset."""
        lam_lr = self.config.lam_lr
        return lam_lr if lam_lr is not None else self.model.config.lam_init / 200

    @classmethod
    def resume(cls, path: str | os.PathLike, *, device: str = "cpu", dist: Distributed | None = None) -> "Trainer":
        """Continue from a checkpoint written by ``fit`` (with any number of processes): model, optimisers,
        schedule, epoch and history."""
        state = read_checkpoint(path)
        if state.get("train_config") is None or state.get("optimizers") is None:
            raise CheckpointError(f"{path} holds a model without training state; it cannot be resumed")
        trainer = cls(model_from_state(state).train(), TrainConfig.from_dict(state["train_config"]),
                      device=device, data_spec=state.get("data"), dist=dist)
        opts = state["optimizers"]
        trainer.opt_dict.load_state_dict(opts["dictionary"])
        trainer.schedule.load_state_dict(opts["schedule"])
        if trainer.em:
            trainer.opt_lam.load_state_dict(opts["lambda"])
        trainer.epoch = int(state["epoch"])
        trainer.history = [EpochRecord(r["epoch"], r["loss"], r["lam_loss"], r["lr"],
                                       {k: v for k, v in r.items() if k not in ("epoch", "loss", "lam_loss", "lr")})
                           for r in state.get("history", [])]
        return trainer

    def change_schedule(self, *, lr_step: int | None = None, lr_decay: float | None = None,
                        lr: float | None = None) -> str | None:
        """Change the dictionary's learning-rate schedule from the current epoch on (a resumed run forked onto
        another rate or decay): the rate goes on from ``lr`` if given, else from its current value, multiplied by
        ``lr_decay`` at every epoch that is a multiple of ``lr_step``. Adam's moment estimates are kept. The new
        values are in ``config`` (``lr`` then is the rate set at this fork) and in the optimiser's and schedule's
        state, so the checkpoint resumes the changed run exactly. Returns a one-line description, or None if
        nothing changed."""
        old = self.config
        current = self.opt_dict.param_groups[0]["lr"]
        rate = None if lr is None or math.isclose(lr, current, rel_tol=1e-9) else lr      # a new rate, or None
        new = old.replace(**{k: v for k, v in (("lr_step", lr_step), ("lr_decay", lr_decay), ("lr", rate))
                             if v is not None})
        if (new.lr_step, new.lr_decay) == (old.lr_step, old.lr_decay) and rate is None:
            return None
        self.config = new
        self.schedule.step_size, self.schedule.gamma = new.lr_step, new.lr_decay
        if rate is not None:
            for group in self.opt_dict.param_groups:
                group["lr"] = rate
            self.schedule.base_lrs = [rate] * len(self.opt_dict.param_groups)
        return (f"schedule changed from epoch {self.epoch}: lr {current:.4g} x{old.lr_decay:g} every "
                f"{old.lr_step} epochs -> lr {self.opt_dict.param_groups[0]['lr']:.4g} x{new.lr_decay:g} every "
                f"{new.lr_step}")

    def step(self, y: torch.Tensor, target: torch.Tensor,
             sigma: float | None = None) -> tuple[float, Optional[float]]:
        """One two-stage update on a batch; returns (reconstruction loss, lambda loss or None).

        y, target : Tensor of shape (B, channels, *size), the whole batch; under torchrun every process passes the
        same batch and trains on its shard of it.
        sigma : the batch's noise std, when drawn per batch; the encoder then thresholds at it (a free bias has no
        sigma and ignores it).
        """
        model, dist = self.model, self.dist
        count = target.numel()                                             # elements of the whole batch
        y, target = dist.shard(y).to(self.device), dist.shard(target).to(self.device)
        b = None
        if sigma is not None and model.config.threshold_mode != "bias":
            b = model.thresholds_at(torch.tensor([float(sigma)], device=self.device)).reshape(-1)   # (C,)
        y_hat, x = model._forward(y, fast=self.fast, b=b)
        loss = 0.5 * torch.sum((target - y_hat) ** 2) / count              # this shard's share of the batch mean
        self.opt_dict.zero_grad(set_to_none=True)
        loss.backward()
        loss = dist.sum_gradients(self.dictionary, loss)
        if self.config.renormalize:
            model.project_gradients()
        self.opt_dict.step()
        if self.config.renormalize:
            model.renormalize()
        lam_loss = None
        if self.em:
            self.opt_lam.zero_grad(set_to_none=True)
            l1 = dist.batch_mean(x.detach().abs().flatten(2).sum(dim=2))   # (C,) mean ||x_c||_1 over the batch
            loss_lam = model.lambda_loss(x.detach(), l1=l1)
            loss_lam.backward()
            self.opt_lam.step()
            lam_loss = float(loss_lam.detach())
        model.clamp_thresholds()
        return float(loss.detach()), lam_loss

    def fit(self, data, *, checkpoint: str | os.PathLike | None = None,
            on_batch: Callable[[int, int, int, float], None] | None = None,
            on_epoch: Callable[[EpochRecord], dict | None] | None = None) -> list[EpochRecord]:
        """Train until ``config.epochs``; after each epoch, call ``on_epoch`` (its dict is added to the record)
        and write ``checkpoint``. ``on_batch(epoch, batch, n_batches, loss)`` reports progress."""
        cfg, dist = self.config, self.dist
        if cfg.batch_size < dist.world_size:
            raise ConfigError(f"batch_size {cfg.batch_size} is smaller than the {dist.world_size} processes; pass "
                              f"--batch-size {dist.world_size} or more, or start fewer processes")
        self.model.train()
        n_batches = -(-len(data) // cfg.batch_size)
        while self.epoch < cfg.epochs:
            epoch = self.epoch + 1
            lr = self.opt_dict.param_groups[0]["lr"]
            losses, lam_losses = [], []
            started = time.perf_counter()
            for i, (y, target, sigma) in enumerate(data.batches(epoch, cfg.batch_size, cfg.seed)):
                loss, lam_loss = self.step(y, target, sigma)
                losses.append(loss)
                if lam_loss is not None:
                    lam_losses.append(lam_loss)
                if on_batch is not None:
                    on_batch(epoch, i + 1, n_batches, loss)
            self.schedule.step()
            record = EpochRecord(epoch, sum(losses) / len(losses),
                                 sum(lam_losses) / len(lam_losses) if lam_losses else None, lr,
                                 {"seconds": round(time.perf_counter() - started, 3)})
            if on_epoch is not None:
                record.extra.update(on_epoch(record) or {})
            self.history.append(record)
            self.epoch = epoch
            if dist.is_main:
                logger.info("epoch %d loss %.6g", epoch, record.loss)
                if checkpoint is not None:
                    self.save(checkpoint)
            dist.barrier()
        self.model.eval()
        return self.history

    def save(self, path: str | os.PathLike) -> None:
        optimizers = {"dictionary": self.opt_dict.state_dict(), "schedule": self.schedule.state_dict()}
        if self.em:
            optimizers["lambda"] = self.opt_lam.state_dict()
        save_checkpoint(path, self.model, train_config=self.config.to_dict(), data=self.data_spec,
                        epoch=self.epoch, optimizers=optimizers, history=[r.to_dict() for r in self.history])
