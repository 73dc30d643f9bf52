"""The crsae command's conventions, across every command: choices are Enums listed in --help, one name per concept
(the ModelConfig fields and ONNX metadata keys), help text that survives rendering, --quiet where a command prints
progress, --json where it prints results, and that --json output parses."""

import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from pathlib import Path

import numpy as np
import pytest
import typer
import typer.models
from typer.testing import CliRunner

from crsae.cli import app
from crsae.config import ModelConfig

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SPIKES = ROOT / "export" / "models" / "spikes1d.onnx"

# commands that print progress, and commands that print results
PROGRESS = ["train", "infer", "demo", "experiment recovery", "experiment denoise", "experiment spikes"]
RESULTS = ["train", "infer", "info", "evaluate", "export", "build", "simulate"]
# options that are a choice among named values, per command
CHOICES = {"train": ["threshold_mode", "device"], "build": ["input_scaling"],
           "export": ["outputs", "dtype", "format", "instances"],
           "infer": ["outputs", "raw_dtype", "device", "engine"],
           "experiment recovery": ["variant"], "experiment denoise": ["variant"]}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def commands() -> dict:
    """{"train": callback, ..., "experiment recovery": callback}: every command, from typer's registrations."""
    found = {}

    def add(typer_app, prefix):
        for info in typer_app.registered_commands:
            found[prefix + (info.name or info.callback.__name__.replace("_", "-"))] = info.callback
        for group in typer_app.registered_groups:
            add(group.typer_instance, prefix + group.name + " ")

    add(app, "")
    return found


def params(callback) -> dict:
    """{parameter: (type, typer.Option/Argument info, [option names])}, the type unwrapped from Optional / list."""
    hints = typing.get_type_hints(callback, include_extras=True)
    found = {}
    for name in inspect.signature(callback).parameters:
        kind, info = typing.get_args(hints[name])[:2]
        while typing.get_origin(kind) in (typing.Union, types.UnionType, list):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        given = ([info.default] if isinstance(info.default, str) and info.default.startswith("-") else []) \
            + list(info.param_decls or ())                   # Annotated: the first declaration lands in default
        decls = [d for decl in given for d in decl.split("/")]
        if not decls and isinstance(info, typer.models.OptionInfo):
            decls = ["--" + name.replace("_", "-")] + (["--no-" + name.replace("_", "-")] if kind is bool else [])
        found[name] = (kind, info, [d.strip() for d in decls])
    return found


def help_text(name: str) -> str:
    result = runner.invoke(app, name.split() + ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def option_names(callback) -> set[str]:
    return {d for kind, info, decls in params(callback).values() if not getattr(info, "hidden", False)
            for d in decls}


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_lists_every_choice_and_keeps_brackets(name):
    callback, text = commands()[name], help_text(name)
    for kind, info, decls in params(callback).values():
        if isinstance(kind, type) and issubclass(kind, enum.Enum) and not getattr(info, "hidden", False):
            for member in kind:
                assert member.value in text, f"{name} --help lacks {member.value!r}"
    pieces = [inspect.getdoc(callback) or ""] + [info.help or "" for kind, info, decls in params(callback).values()
                                                 if not getattr(info, "hidden", False)]
    for piece in pieces:
        for bracketed in re.findall(r"\S*\[[^\]]*\]\S*", piece):         # e.g. 'crsae[ray]', [0.4, 0.5]
            assert " ".join(bracketed.split()) in text, f"{name} --help lost {bracketed!r} (markup?)"


def test_infer_help_names_the_extra():
    assert "pip install 'crsae[ray]'" in help_text("infer")


@pytest.mark.parametrize("name, choices", sorted(CHOICES.items()))
def test_choices_are_enums(name, choices):
    found = params(commands()[name])
    for param in choices:
        kind = found[param][0]
        assert isinstance(kind, type) and issubclass(kind, enum.Enum), f"{name} --{param} is a free string"


def test_one_name_per_concept():
    cmds = commands()
    train = option_names(cmds["train"])
    model_options = {"num_filters", "kernel_size", "stride", "num_layers", "L", "sigma", "threshold_mode", "lam_init",
                     "delta", "two_sided", "tied"}
    assert model_options <= {f.name for f in dataclasses.fields(ModelConfig)}
    for field in model_options:                                  # ModelConfig's (and the metadata's) names
        assert "--" + field.replace("_", "-") in train, field
    assert {"--two-sided", "--one-sided", "--tied", "--untied"} <= train
    assert {"--two-sided", "--one-sided", "--thresholds", "--input-scaling"} <= option_names(cmds["build"])
    for name in ("train", "simulate", "experiment recovery"):
        assert "--snr-db" in option_names(cmds[name]) and "--snr" not in option_names(cmds[name])
    for name in ("export", "infer"):                              # the metadata's `outputs`
        assert "--outputs" in option_names(cmds[name]) and "--output-kind" not in option_names(cmds[name])


@pytest.mark.parametrize("name", PROGRESS)
def test_quiet_where_progress_is_printed(name):
    assert "--quiet" in option_names(commands()[name])


@pytest.mark.parametrize("name", RESULTS)
def test_json_where_results_are_printed(name):
    assert "--json" in option_names(commands()[name])


def test_bad_choice_is_a_usage_error_naming_the_choices():
    result = invoke("infer", SPIKES, "x.npy", "-o", "o.npy", "--engine", "spark")
    assert result.exit_code == 2 and "'local', 'ray'" in result.output


# --- --json outputs parse -----------------------------------------------------------------------------------
def test_json_outputs_parse(tmp_path):
    pytest.importorskip("onnxruntime")
    simulated = json.loads(invoke("simulate", "-o", tmp_path / "s.npz", "--num-signals", 4, "--length", 80,
                                  "--json").stdout)
    assert simulated["written"] == str(tmp_path / "s.npz") and simulated["sigma"] > 0
    info = json.loads(invoke("info", SPIKES, "--json").stdout)
    assert info["format"] == "crsae-onnx" and info["two_sided"] is False
    human = invoke("info", SPIKES).stdout
    assert "kind: 1d" in human and "two_sided: False" in human
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 1, 200)).astype(np.float32))
    result = invoke("infer", SPIKES, tmp_path / "x.npy", "-o", tmp_path / "codes.npy", "--quiet", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["written"] == [str(tmp_path / "codes.npy")] and summary["provider"] == "CPUExecutionProvider"


def test_json_outputs_parse_with_torch(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    result = invoke("train", "-o", tmp_path / "t.pt", "--num-signals", 8, "--length", 80, "--num-filters", 2,
                    "--kernel-size", 6, "--num-layers", 3, "--epochs", 1, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["checkpoint"] == str(tmp_path / "t.pt") and report["epochs"] == 1
    assert len(report["recovery_error_initial"]) == len(report["recovery_error_final"]) == 2
    info = json.loads(invoke("info", tmp_path / "t.pt", "--json").stdout)
    assert info["model_config"]["num_layers"] == 3 and info["epoch"] == 1
    result = invoke("export", tmp_path / "t.pt", "-o", tmp_path / "t.onnx", "--json")
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["written"][0] == str(tmp_path / "t.onnx") and all(r["ok"] for r in exported["parity"])
    rng = np.random.default_rng(0)
    np.save(tmp_path / "H.npy", rng.standard_normal((2, 1, 3, 3)).astype(np.float32))
    built = json.loads(invoke("build", tmp_path / "H.npy", "-o", tmp_path / "img.pt", "--lam", 2.0, "--sigma",
                              0.1, "--num-layers", 3, "--input-scaling", "unit_interval", "--json").stdout)
    assert built["model_config"]["kind"] == "2d" and built["model_config"]["input_scaling"] == "unit_interval"
    from PIL import Image
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    result = invoke("evaluate", tmp_path / "img.pt", "--data", tmp_path / "imgs", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 2
    assert "PSNR (peak 255) on 2 images" in invoke("evaluate", tmp_path / "img.pt", "--data", tmp_path / "imgs").stdout


def test_old_option_names_still_work(tmp_path):
    pytest.importorskip("onnxruntime")
    assert invoke("simulate", "-o", tmp_path / "s.npz", "--num-signals", 2, "--length", 200, "--snr", 9).exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 100), np.float32))
    result = invoke("infer", SPIKES, tmp_path / "x.npy", "-o", tmp_path / "o.npy", "--output-kind", "codes", "--quiet")
    assert result.exit_code == 0, result.output
