"""crsae/training/run.py: a whole ``crsae train`` run (data, defaults, initial dictionary, recovery report, resume)."""

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import require_shared_data
from crsae.cli import app
from crsae.model.checkpoint import load_model, read_checkpoint

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow
def test_default_train_recovers_simulated_dictionary(tmp_path):
    result = invoke("train", "-o", tmp_path / "run.pt", "--quiet")
    assert result.exit_code == 0, result.output
    before = float(result.output.split("recovery error before: max ")[1].split()[0])
    after = float(result.output.split("recovery error after:  max ")[1].split()[0])
    assert 0.4 <= before <= 0.5
    assert after < 0.1
    state = read_checkpoint(tmp_path / "run.pt")
    assert state["epoch"] == 15 and state["history"][-1]["max_recovery_error"] == pytest.approx(after, abs=1e-4)


def test_cli_resume_continues_the_run(tmp_path):
    args = ["--num-signals", 32, "--length", 120, "--num-layers", 5, "--quiet"]
    full = invoke("train", "-o", tmp_path / "full.pt", "--epochs", 3, *args)
    part = invoke("train", "-o", tmp_path / "part.pt", "--epochs", 2, *args)
    resumed = invoke("train", "--resume", tmp_path / "part.pt", "-o", tmp_path / "part.pt", "--epochs", 3, "--quiet")
    assert full.exit_code == part.exit_code == resumed.exit_code == 0, resumed.output
    a, b = read_checkpoint(tmp_path / "full.pt"), read_checkpoint(tmp_path / "part.pt")
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]


def test_cli_blind_affine_run_records_its_noise_range_and_resumes(tmp_path):
    """``--threshold-mode affine --noise-sigma-max``: the checkpoint's model thresholds at the middle of the range
    (beta + gamma sigma), its data spec keeps the range, and the run resumes exactly."""
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((40, 44)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    args = ["--data", tmp_path / "imgs", "--crop-size", 24, "--crops-per-epoch", 4, "--num-filters", 4,
            "--kernel-size", 5, "--stride", 2, "--num-layers", 4, "--threshold-mode", "affine",
            "--noise-sigma", 0.05, "--noise-sigma-max", 0.25, "--quiet"]
    full = invoke("train", "-o", tmp_path / "full.pt", "--epochs", 2, *args)
    part = invoke("train", "-o", tmp_path / "part.pt", "--epochs", 1, *args)
    resumed = invoke("train", "--resume", tmp_path / "part.pt", "-o", tmp_path / "part.pt", "--epochs", 2, "--quiet")
    assert full.exit_code == part.exit_code == resumed.exit_code == 0, resumed.output
    a, b = read_checkpoint(tmp_path / "full.pt"), read_checkpoint(tmp_path / "part.pt")
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert a["data"]["noise_sigma_max"] == 0.25 and a["model_config"]["threshold_mode"] == "affine"
    model = load_model(tmp_path / "full.pt")
    assert model.config.sigma == pytest.approx(0.15)
    np.testing.assert_allclose(model.thresholds().detach().numpy(),
                               (model.bias + 0.15 * model.slope).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("args,match", [
    (["--data", "missing_dir"], "does not exist"),
    (["--num-layers", 0], "num_layers must be a positive integer"),
    (["--L", -1], "L must be a positive"),
    (["--data", "IMAGES", "--stride", 9, "--kernel-size", 7], "stride 9 is larger than kernel_size"),
    (["--data", "NAN"], "NaN or Inf"),
    (["--data", "IMAGES", "--channels", 2], "1 (grayscale) or 3"),
    (["--data", "BADIMG"], "is not an image Pillow can read"),
    (["--data", "SHORT"], "smaller than"),
    (["--adam-eps", 0], "adam_eps must be a positive"),
    (["--lam-lr", -1], "lam_lr must be a positive"),
    (["--data", "IMAGES", "--noise-sigma", 0.2, "--noise-sigma-max", 0.1], "--noise-sigma-max must be a finite "
                                                                           "number above --noise-sigma"),
    (["--noise-sigma-max", 0.3], "the default data is a simulation"),
])
def test_train_bad_input_is_one_line_error_without_checkpoint(tmp_path, args, match):
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "imgs" / "a.png")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "b.png").write_bytes(b"not a png")
    np.save(tmp_path / "nan.npy", np.full((4, 1, 50), np.nan, np.float32))
    np.save(tmp_path / "short.npy", np.zeros((4, 1, 5), np.float32))
    paths = {"IMAGES": tmp_path / "imgs", "NAN": tmp_path / "nan.npy", "BADIMG": tmp_path / "bad",
             "SHORT": tmp_path / "short.npy", "missing_dir": tmp_path / "missing"}
    args = [paths.get(a, a) if isinstance(a, str) else a for a in args]
    result = invoke("train", "-o", tmp_path / "out.pt", "--crop-size", 32, "--epochs", 1, "--quiet", *args)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and match in lines[0], result.output
    assert not (tmp_path / "out.pt").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.slow
@pytest.mark.data
def test_short_image_run_denoises_bsd68_crops(tmp_path):
    data = require_shared_data()
    result = invoke("train", "--data", data / "CBSD432", "-o", tmp_path / "img.pt", "--num-filters", 8,
                    "--stride", 2, "--num-layers", 8, "--crop-size", 32, "--crops-per-epoch", 96, "--batch-size", 8,
                    "--epochs", 2, "--max-images", 40, "--quiet")
    assert result.exit_code == 0, result.output
    from crsae.readers import load_images
    import torch
    from crsae.metrics import denoise_score
    model = load_model(tmp_path / "img.pt")
    with torch.no_grad():
        score = denoise_score(lambda noisy: model(torch.from_numpy(noisy))[0].numpy(),
                              load_images(data / "BSD68", 1, limit=8), 25 / 255, crop=64)
    assert score.denoised_psnr > score.noisy_psnr + 1.0, score


def test_one_d_prior_weighs_as_one_window(tmp_path):
    from crsae.training.run import start_run
    run = start_run(output=tmp_path / "r.pt", source=dict(num_signals=8, length=120))
    cfg = run.trainer.model.config
    assert cfg.delta * cfg.lam_init == pytest.approx(120 - cfg.kernel_size + 1)      # r = M code entries


def test_cli_resume_changes_the_schedule_from_the_checkpoint_epoch(tmp_path):
    """``--resume`` with ``--lr-step`` / ``--lr-decay`` forks the run onto a new decay: the rate goes on from the
    checkpoint's value, the change is said, and the forked checkpoint itself resumes exactly."""
    args = ["--num-signals", 32, "--length", 120, "--num-layers", 5, "--quiet"]
    base = invoke("train", "-o", tmp_path / "base.pt", "--epochs", 2, *args)
    assert base.exit_code == 0, base.output
    lr0 = read_checkpoint(tmp_path / "base.pt")["history"][-1]["lr"]
    for name, epochs in (("fork", 5), ("part", 4)):
        fork = invoke("train", "--resume", tmp_path / "base.pt", "-o", tmp_path / f"{name}.pt", "--epochs", epochs,
                      "--lr-step", 1, "--lr-decay", 0.5, "--quiet")
        assert fork.exit_code == 0, fork.output
        assert "schedule changed from epoch 2: lr 0.01 x0.7 every 10 epochs -> lr 0.01 x0.5 every 1" in fork.output
    again = invoke("train", "--resume", tmp_path / "part.pt", "-o", tmp_path / "part.pt", "--epochs", 5, "--quiet")
    assert again.exit_code == 0 and "schedule changed" not in again.output
    a, b = read_checkpoint(tmp_path / "fork.pt"), read_checkpoint(tmp_path / "part.pt")
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert [r["lr"] for r in a["history"][2:]] == pytest.approx([lr0 * 0.5 ** k for k in (0, 1, 2)])
    assert a["train_config"]["lr_step"] == 1 and a["train_config"]["lr_decay"] == 0.5


def test_cli_resume_forks_onto_another_learning_rate(tmp_path):
    """``--resume --lr`` sets the dictionary's rate from the checkpoint's epoch on (Adam's moments kept), the
    schedule's decays apply to it, and the fork resumes exactly."""
    args = ["--num-signals", 32, "--length", 120, "--num-layers", 5, "--quiet"]
    assert invoke("train", "-o", tmp_path / "base.pt", "--epochs", 2, "--lr-step", 3, *args).exit_code == 0
    for name, epochs in (("fork", 5), ("part", 4)):
        fork = invoke("train", "--resume", tmp_path / "base.pt", "-o", tmp_path / f"{name}.pt", "--epochs", epochs,
                      "--lr", 0.03, "--quiet")
        assert fork.exit_code == 0, fork.output
        assert "schedule changed from epoch 2: lr 0.01 x0.7 every 3 epochs -> lr 0.03 x0.7 every 3" in fork.output
    again = invoke("train", "--resume", tmp_path / "part.pt", "-o", tmp_path / "part.pt", "--epochs", 5, "--quiet")
    assert again.exit_code == 0 and "schedule changed" not in again.output
    a, b = read_checkpoint(tmp_path / "fork.pt"), read_checkpoint(tmp_path / "part.pt")
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert [r["lr"] for r in a["history"]] == pytest.approx([0.01, 0.01, 0.03, 0.021, 0.021])
    assert a["train_config"]["lr"] == 0.03
    same = invoke("train", "--resume", tmp_path / "part.pt", "-o", tmp_path / "same.pt", "--epochs", 5,
                  "--lr", 0.021, "--quiet")
    assert same.exit_code == 0 and "schedule changed" not in same.output


def test_cli_resume_refuses_a_bad_schedule_before_training(tmp_path):
    args = ["--num-signals", 32, "--length", 120, "--num-layers", 5, "--quiet", "--epochs", 1]
    assert invoke("train", "-o", tmp_path / "base.pt", *args).exit_code == 0
    before = os.path.getmtime(tmp_path / "base.pt")
    bad = invoke("train", "--resume", tmp_path / "base.pt", "-o", tmp_path / "base.pt", "--epochs", 2,
                 "--lr-step", 0)
    assert bad.exit_code != 0 and "lr_step must be a positive integer" in bad.output
    bad = invoke("train", "--resume", tmp_path / "base.pt", "-o", tmp_path / "base.pt", "--epochs", 2, "--lr", -1)
    assert bad.exit_code != 0 and "lr must be" in bad.output
    assert os.path.getmtime(tmp_path / "base.pt") == before


def test_train_starts_from_a_checkpoints_filters_and_lambda(tmp_path):
    """``--init-dictionary CKPT.pt``: an untied affine run starts from the checkpoint's three banks, with slopes
    that give the checkpoint's EM thresholds at the model's sigma; a tied run refuses an untied checkpoint and
    filters of another size are refused, each with one line naming the fix."""
    import torch
    from PIL import Image
    from crsae.errors import ConfigError, ShapeError
    from crsae.training.run import start_run
    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((40, 44)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    common = ["--data", tmp_path / "imgs", "--crop-size", 24, "--crops-per-epoch", 4, "--kernel-size", 5,
              "--stride", 2, "--num-layers", 4, "--noise-sigma", 0.1, "--quiet"]
    first = invoke("train", "-o", tmp_path / "em.pt", "--epochs", 1, "--num-filters", 4, "--untied", *common)
    assert first.exit_code == 0, first.output
    source = load_model(tmp_path / "em.pt")

    def start(**model):
        return start_run(output=tmp_path / "next.pt", data=str(tmp_path / "imgs"), init_dictionary=tmp_path / "em.pt",
                         model=dict(num_filters=4, kernel_size=5, stride=2, num_layers=4, sigma=0.1, **model),
                         source=dict(noise_sigma=0.05, noise_sigma_max=0.25, crop_size=24, crops_per_epoch=4))
    net = start(threshold_mode="affine", tied=False).trainer.model
    for name in ("H", "We", "Wd"):
        torch.testing.assert_close(getattr(net, name), getattr(source, name), rtol=1e-6, atol=1e-7)
    assert net.config.L == source.config.L and net.config.threshold_mode == "affine"
    torch.testing.assert_close(net.thresholds(), source.thresholds(), rtol=1e-6, atol=0.0)
    torch.testing.assert_close(net.bias, torch.zeros(4))
    with pytest.raises(ConfigError, match="pass --untied"):
        start(threshold_mode="em", tied=True)
    with pytest.raises(ShapeError, match="set --num-filters / --kernel-size / --stride"):
        start_run(output=tmp_path / "next.pt", data=str(tmp_path / "imgs"), init_dictionary=tmp_path / "em.pt",
                  model=dict(num_filters=6, kernel_size=5, stride=2, tied=False), source=dict(crop_size=24))
    wrong = invoke("train", "-o", tmp_path / "out.pt", "--epochs", 1, "--num-filters", 6, "--untied",
                   "--init-dictionary", tmp_path / "em.pt", *common)
    assert wrong.exit_code == 1 and not (tmp_path / "out.pt").exists()
    errors = [line for line in wrong.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "set --num-filters / --kernel-size / --stride to the checkpoint's" in errors[0]


def test_train_starts_from_the_overcomplete_dct(tmp_path):
    """``--init-dictionary dct``: the run's filters before its first step are the overcomplete DCT, and the
    command trains from it."""
    import torch
    from PIL import Image
    from crsae.model.dictionaries import overcomplete_dct
    from crsae.training.run import start_run
    (tmp_path / "imgs").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((40, 44)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    run = start_run(output=tmp_path / "dct.pt", data=str(tmp_path / "imgs"), init_dictionary="dct",
                    model=dict(num_filters=9, kernel_size=5, stride=2, num_layers=4, tied=False),
                    source=dict(crop_size=24, crops_per_epoch=2))
    net = run.trainer.model
    for name in ("H", "We", "Wd"):
        torch.testing.assert_close(getattr(net, name), torch.from_numpy(overcomplete_dct(9, 1, 5, 2)))
    done = invoke("train", "--data", tmp_path / "imgs", "-o", tmp_path / "dct.pt", "--init-dictionary", "dct",
                  "--epochs", 1, "--num-filters", 9, "--kernel-size", 5, "--stride", 2, "--num-layers", 4,
                  "--crop-size", 24, "--crops-per-epoch", 2, "--quiet")
    assert done.exit_code == 0, done.output
    assert read_checkpoint(tmp_path / "dct.pt")["epoch"] == 1


def test_dct_start_refuses_one_tap_filters_in_one_line(tmp_path):
    bad = invoke("train", "--kernel-size", 1, "--init-dictionary", "dct", "--epochs", 1, "--num-signals", 8,
                 "--length", 50, "-o", tmp_path / "k1.pt", "--quiet")
    errors = [line for line in bad.output.splitlines() if line.startswith("error:")]
    assert bad.exit_code == 1 and len(errors) == 1 and "at least 2 taps" in errors[0]
    assert not (tmp_path / "k1.pt").exists()


@pytest.mark.parametrize("case", ["missing", "dct one tap", "untied into tied"])
def test_init_dictionary_is_checked_before_the_data_is_built(tmp_path, monkeypatch, case):
    """A bad --init-dictionary stops the run before any data is read or simulated (CBSD432 takes seconds)."""
    from crsae.config import ModelConfig
    from crsae.model.autoencoder import CRsAE
    from crsae.errors import ConfigError, DataError
    from crsae.model.checkpoint import save_checkpoint
    from crsae.training import run as run_mod
    built = []
    monkeypatch.setattr(run_mod, "build_source", lambda spec: built.append(spec) or pytest.fail("data was built"))
    model = {"kernel_size": 1} if case == "dct one tap" else {}
    path = {"missing": tmp_path / "nothing.npy", "dct one tap": "dct", "untied into tied": tmp_path / "untied.pt"}[case]
    if case == "untied into tied":
        save_checkpoint(path, CRsAE(ModelConfig(kind="1d", num_filters=2, kernel_size=5, num_layers=3, tied=False)))
    expected = {"missing": (DataError, "does not exist"), "dct one tap": (ConfigError, "at least 2 taps"),
                "untied into tied": (ConfigError, "pass --untied")}[case]
    with pytest.raises(expected[0], match=expected[1]):
        run_mod.start_run(output=tmp_path / "out.pt", init_dictionary=path, model=model)
    assert built == []
