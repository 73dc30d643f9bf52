"""Data-parallel training (crsae/distributed.py): 2 CPU processes (gloo on 127.0.0.1) against 1 process with the same
global batch and seed, checkpoints written once and resumable under another number of processes."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from typer.testing import CliRunner

from crsae.model.checkpoint import read_checkpoint
from crsae.cli import app
from crsae.config import ModelConfig, TrainConfig
from crsae.training.datasets import ArrayData
from crsae.training.distributed import Distributed, process_group
from crsae.errors import ConfigError
from crsae.model.autoencoder import CRsAE
from crsae.training.mstep import Trainer

ROOT = Path(__file__).resolve().parent.parent
RTOL = 1e-5         # 1 vs 2 processes: the same sums in a different order
# 39 signals in global batches of 16: 16, 16, 7, so the last batch splits unevenly (4 + 3)
TRAIN = ["--num-signals", 39, "--length", 120, "--num-layers", 5, "--batch-size", 16, "--lr-step", 1, "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_one(*args):
    result = CliRunner().invoke(app, ["train", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def _torchrun(cwd, *args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "-m", "crsae.cli", "train",
           *map(str, args)]
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _close(a: dict, b: dict, epochs: int):
    """Two checkpoints agree on the first ``epochs`` losses and on the final weights, up to float rounding."""
    for ra, rb in zip(a["history"][:epochs], b["history"][:epochs], strict=True):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=RTOL)
        assert rb["lam_loss"] == pytest.approx(ra["lam_loss"], rel=RTOL)
    for name in ("H", "lam"):
        torch.testing.assert_close(b["model"][name], a["model"][name], rtol=RTOL, atol=RTOL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-process runs (3 epochs, 2 epochs), a 2-process run (2 epochs), and each 2-epoch run resumed to 3 epochs
    with the other number of processes."""
    d = tmp_path_factory.mktemp("runs")
    (d / "two").mkdir()
    _train_one("-o", d / "full.pt", "--epochs", 3, *TRAIN)
    _train_one("-o", d / "one.pt", "--epochs", 2, *TRAIN)
    two = _torchrun(d / "two", "-o", "two.pt", "--epochs", 2, *TRAIN)
    _train_one("--resume", d / "two" / "two.pt", "-o", d / "two_then_one.pt", "--epochs", 3, "--quiet")
    _torchrun(d, "--resume", "one.pt", "-o", "one_then_two.pt", "--epochs", 3, "--quiet")
    load = {name: read_checkpoint(d / f"{name}.pt") for name in ("full", "one", "two_then_one", "one_then_two")}
    return {**load, "two": read_checkpoint(d / "two" / "two.pt"), "two_dir": d / "two", "two_output": two}


@pytest.mark.slow
def test_two_processes_reach_the_losses_of_one(runs):
    assert [r["epoch"] for r in runs["two"]["history"]] == [1, 2]
    _close(runs["one"], runs["two"], 2)


@pytest.mark.slow
def test_two_process_checkpoint_resumes_with_one_process(runs):
    _close(runs["full"], runs["two_then_one"], 3)


@pytest.mark.slow
def test_one_process_checkpoint_resumes_with_two_processes(runs):
    _close(runs["full"], runs["one_then_two"], 3)


@pytest.mark.slow
def test_distributed_cli_run_writes_one_checkpoint_and_reports_once(runs):
    assert sorted(os.listdir(runs["two_dir"])) == ["two.pt"]
    out = runs["two_output"]
    assert out.stdout.count("wrote two.pt") == 1, out.stdout
    assert out.stderr.count("recovery error after") == 1, out.stderr


# --- processes started here (torch.multiprocessing), checking every rank -------------------------------------
def _strided_run(dist: Distributed) -> tuple[Trainer, ArrayData]:
    """2-D, stride 2 (codes of s^2 shifted copies), EM lambda; 9 examples in batches of 4: 4, 4, 1 (the last
    leaves rank 1 an empty shard)."""
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(9, 1, 12, 12, generator=g).numpy()
    config = ModelConfig(kind="2d", num_filters=3, kernel_size=4, stride=2, num_layers=4, L=10.0, lam_init=5.0,
                         delta=1.0)
    trainer = Trainer(CRsAE(config, seed=1), TrainConfig(epochs=2, batch_size=4, seed=2), dist=dist)
    return trainer, ArrayData(clean, noise_sigma=0.1)


def _rank_worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")
    with process_group("cpu") as dist:
        trainer, data = _strided_run(dist)
        history = trainer.fit(data)
        torch.save({"loss": [r.loss for r in history], "lam_loss": [r.lam_loss for r in history],
                    "H": trainer.model.H.detach(), "lam": trainer.model.lam.detach()}, Path(out) / f"{rank}.pt")


@pytest.mark.slow
def test_every_rank_holds_the_single_process_model(tmp_path):
    # fork (where there is one) saves each process the imports
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_rank_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True, start_method=method)
    ranks = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]
    assert torch.equal(ranks[0]["H"], ranks[1]["H"]) and torch.equal(ranks[0]["lam"], ranks[1]["lam"])
    assert ranks[0]["loss"] == ranks[1]["loss"]
    trainer, data = _strided_run(Distributed())
    history = trainer.fit(data)
    assert ranks[0]["loss"] == pytest.approx([r.loss for r in history], rel=RTOL)
    assert ranks[0]["lam_loss"] == pytest.approx([r.lam_loss for r in history], rel=RTOL)
    torch.testing.assert_close(ranks[0]["H"], trainer.model.H.detach(), rtol=RTOL, atol=RTOL)
    torch.testing.assert_close(ranks[0]["lam"], trainer.model.lam.detach(), rtol=RTOL, atol=RTOL)


# --- pieces and errors, without processes ---------------------------------------------------------------------
@pytest.mark.parametrize("batch", [7, 8, 2])
def test_shards_of_all_ranks_make_up_the_batch(batch):
    y = torch.arange(batch * 2.0).reshape(batch, 1, 2)
    shards = [Distributed(rank=r, world_size=3).shard(y) for r in range(3)]
    assert torch.equal(torch.cat(shards), y)
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1


def test_batch_smaller_than_the_processes_is_config_error():
    trainer, data = _strided_run(Distributed(rank=0, world_size=8))
    with pytest.raises(ConfigError, match="batch_size 4 is smaller than the 8 processes; pass --batch-size 8"):
        trainer.fit(data)


def test_cuda_device_with_index_under_torchrun_is_config_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match="pass --device cuda, and local process i uses cuda:i"):
        with process_group("cuda:1"):
            pass


def test_more_local_processes_than_gpus_is_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match=r"local process 1 needs cuda:1 but this node has 1 GPUs; start at most 1 "):
        with process_group("cuda"):
            pass


@pytest.mark.parametrize("env,match", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, "MASTER_ADDR is not set; start several processes with "
                                                          "torchrun"),
])
def test_bad_torchrun_environment_is_one_line_error(tmp_path, monkeypatch, env, match):
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["train", "-o", str(tmp_path / "out.pt"), "--epochs", "1", "--quiet"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and match in lines[0], result.output
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_gpu_under_torchrun_is_one_line_error(tmp_path, monkeypatch):
    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["train", "-o", str(tmp_path / "out.pt"), "--device", "cuda", "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == ("error: --device cuda: torch sees no CUDA GPU here (CPU build or no driver); "
                                     "use --device cpu")
