"""Data-parallel training over processes started by ``torchrun`` (several GPUs, several nodes, or CPU processes).

Every process builds the same model from the same seed and draws the same global batch from the data source
(``batches(epoch, batch_size, seed)`` is deterministic in seed and epoch), then works on its contiguous shard of
it. Gradients, losses and the code l1 norms of the EM lambda loss are summed across processes (one all-reduce per
stage), so every process makes the update one process would make on the whole batch: the parameters stay
identical on all processes and a run matches the single-process run of the same ``batch_size`` and seed up to float
rounding (the order of the sums differs).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``process_group`` reads them when it is
called, never at import. Backend: NCCL on CUDA (local process i on cuda:i), gloo on CPU.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from crsae.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a data-parallel run; the defaults describe a single process."""

    rank: int = 0           # this process, 0 .. world_size - 1; rank 0 writes checkpoints and reports progress
    world_size: int = 1     # number of processes
    device: str = "cpu"     # this process's torch device (cuda:LOCAL_RANK under torchrun with CUDA)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous slice of a global batch: (B, ...) -> (B / world_size rounded, ...).

        The slices of ranks 0, 1, ... in order make up the batch; when B is not divisible by world_size the last
        slices are one example shorter (empty when B < world_size).
        """
        if self.world_size == 1:
            return batch
        return torch.tensor_split(batch, self.world_size)[self.rank]

    def sum_gradients(self, params: Sequence[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
        """Sum the gradients of ``params`` and the scalar ``loss`` over processes (one all-reduce).

        Each process's loss must be its share of the global-batch loss (its shard's sum divided by the global
        count), so that the sums are the gradient and loss of the whole batch. Returns the summed loss (detached).
        """
        loss = loss.detach()
        if self.world_size == 1:
            return loss
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = self._all_sum(torch.cat([g.reshape(-1) for g in grads] + [loss.reshape(1)]))
        offset = 0
        for p in params:
            p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        return flat[-1]

    def batch_mean(self, rows: torch.Tensor) -> torch.Tensor:
        """Mean over the global batch of per-example values: shard rows (b, ...) -> (...)."""
        if self.world_size == 1:
            return rows.mean(dim=0)
        total = self._all_sum(torch.cat([rows.sum(dim=0).reshape(-1), rows.new_tensor([rows.shape[0]])]))
        return (total[:-1] / total[-1]).reshape(rows.shape[1:])

    def barrier(self) -> None:
        """Wait until every process gets here (no-op for one process)."""
        if self.world_size > 1:
            import torch.distributed as dist
            if self.device.startswith("cuda"):
                dist.barrier(device_ids=[torch.device(self.device).index])
            else:
                dist.barrier()

    def _all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


@contextmanager
def process_group(device: str = "cpu") -> Iterator[Distributed]:
    """This process's place in the run: a single process unless torchrun started several (WORLD_SIZE > 1), in
    which case join the process group for the duration (NCCL for ``device="cuda"``, gloo for ``"cpu"``).

    Parameters
    ----------
    device : "cpu" or "cuda"; under torchrun, "cuda" means cuda:LOCAL_RANK.

    Yields
    ------
    Distributed, with the device this process trains on.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size == 1:
        yield Distributed(device=device)
        return
    rank, local_rank = _env_int("RANK", None), _env_int("LOCAL_RANK", None)
    device, backend = _device_and_backend(device, local_rank)
    import torch.distributed as dist
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; install a standard torch build to train "
                          "with several processes")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name):
            raise ConfigError(f"WORLD_SIZE is {world_size} but {name} is not set; start several processes with "
                              "torchrun")
    options = {"device_id": torch.device(device)} if backend == "nccl" else {}
    dist.init_process_group(backend, rank=rank, world_size=world_size, **options)
    logger.info("process %d of %d on %s (%s)", rank, world_size, device, backend)
    try:
        yield Distributed(rank=rank, world_size=world_size, device=device)
        dist.barrier()          # leave together: a gloo peer torn down while another still talks can abort at exit
    finally:
        dist.destroy_process_group()


def leave_worker(world_size: int) -> None:
    """End a torchrun worker that finished its work, skipping the interpreter's teardown (no-op for one process).

    After ``destroy_process_group`` torch's c10d/gloo threads can still be joinable while the interpreter
    tears down, and the process aborts with "terminate called without an active exception" (SIGABRT). CI
    saw it twice, once after the barrier above was added. Outputs are flushed first. Checkpoints are already
    complete on disk, since they are written atomically during the run.
    """
    if world_size <= 1:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _device_and_backend(device: str, local_rank: int) -> tuple[str, str]:
    if not device.startswith("cuda"):
        return device, "gloo"
    if device != "cuda":
        raise ConfigError(f"--device {device} under torchrun: pass --device cuda, and local process i uses cuda:i")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA GPU here (CPU build or no driver); use --device cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(f"local process {local_rank} needs cuda:{local_rank} but this node has {count} GPUs; "
                          f"start at most {count} processes per node (--nproc-per-node {count})")
    torch.cuda.set_device(local_rank)
    return f"cuda:{local_rank}", "nccl"


def _env_int(name: str, default: int | None) -> int:
    value = os.environ.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"environment variable {name}={value!r} is not an integer; start several processes "
                          "with torchrun") from None
