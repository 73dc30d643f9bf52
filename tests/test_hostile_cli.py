"""Hostile inputs and faults over every command (train, build, simulate, export, infer, evaluate, info, clean,
demo, sort, experiment recovery|denoise|spikes): each bad input is exit 1 (2 for usage errors) with one
``error:`` line and no traceback, writes nothing, leaves no temporary file, and leaves an existing output
byte-identical. The matrix (``CASES``) is by class:

1 tracebacks before (damaged files that used to raise KeyError, MemoryError, DecompressionBombError, ...);
2 bad input once accepted (complex, --raw-channels 0, a graph that is not an encoder, empty evaluations);
4 checks after the work (output folders, --events), 5 misleading messages, plus what an attacker or a tired user
tries: wrong dtypes, 0-d / 5-d / empty arrays, NaN / Inf, lying headers, truncated and corrupt files, symbolic
links, folders and FIFOs where files belong, outputs that are inputs, one path for two outputs, non-UTF-8 names,
and a bad value for every numeric option.
Faults (SIGKILL mid-write, stale temporaries and ``crsae clean``, a closed stdout) and image depth (class 3) are
tested below the matrix.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hostile import (assert_one_line_error, invoke, npy_bytes, npy_header_only, npz_lying, onnx_add_model,
                     png_bytes, sidecar_metadata, snapshot)

from crsae.config import ModelConfig
from crsae.model.autoencoder import CRsAE
from crsae.model.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
CRSAE = [sys.executable, "-m", "crsae.cli"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Small exported models: m1 (1-D, both outputs), m1c (1-D, codes only), m2 (2-D, both), m2rgb (2-D RGB)."""
    folder = tmp_path_factory.mktemp("hostile_models")
    configs = {
        "m1": (ModelConfig(kind="1d", num_filters=2, kernel_size=6, num_layers=4, lam_init=0.5), "both"),
        "m1c": (ModelConfig(kind="1d", num_filters=2, kernel_size=6, num_layers=4, lam_init=0.5), "codes"),
        "m2": (ModelConfig(kind="2d", num_filters=3, kernel_size=5, stride=2, num_layers=3, lam_init=0.5,
                           input_scaling="unit_interval"), "both"),
        "m2rgb": (ModelConfig(kind="2d", channels=3, num_filters=3, kernel_size=5, stride=1, num_layers=2,
                              lam_init=0.5, input_scaling="unit_interval"), "reconstruction"),
    }
    paths = {}
    for name, (config, outputs) in configs.items():
        save_checkpoint(folder / f"{name}.pt", CRsAE(config, seed=1))
        result = invoke("export", folder / f"{name}.pt", "-o", folder / f"{name}.onnx", "--outputs", outputs)
        assert result.exit_code == 0, result.output
        paths[name] = folder / f"{name}.onnx"
        paths[name + ".pt"] = folder / f"{name}.pt"
    return paths


# --- the matrix --------------------------------------------------------------------------------------------
def _save(tmp, name, array):
    np.save(tmp / name, array, allow_pickle=True)
    return tmp / name


def _write(tmp, name, data: bytes):
    (tmp / name).write_bytes(data)
    return tmp / name


def _ok(tmp):
    return _save(tmp, "ok.npy", np.zeros((2, 1, 40), np.float32))


class _Payload:
    """Unpickling this runs code (creates a file): crsae must never unpickle a checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _checkpoint(tmp, name="c.pt", **changes):
    config = ModelConfig(kind="1d", num_filters=2, kernel_size=6, num_layers=3, lam_init=0.5)
    model = CRsAE(config, seed=0)
    state = {"format": "crsae-checkpoint", "version": 1, "crsae_version": "0",
             "model_config": model.config.to_dict(),
             "model": {k: v.detach() for k, v in model.state_dict().items()}}
    for key, value in changes.items():
        if value is _DROP:
            state.pop(key)
        elif key == "model_config" and isinstance(value, dict):
            state[key] = {**state[key], **value}
        else:
            state[key] = value
    torch.save(state, tmp / name)
    return tmp / name


_DROP = object()


def _metadata(models, **changes):
    meta = {k: json.dumps(v) for k, v in sidecar_metadata(models["m1"]).items()}
    for key, value in changes.items():
        if value is _DROP:
            meta.pop(key)
        else:
            meta[key] = value if isinstance(value, str) and key == "raw" else json.dumps(value)
    return meta


def _fifo(tmp, name):
    os.mkfifo(tmp / name)
    return tmp / name


def _image(tmp, name, array, mode=None, **save):
    from PIL import Image
    (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(tmp / name, **save)
    return tmp / name


def _images(tmp, *names, size=(24, 26)):
    folder = tmp / "imgs"
    folder.mkdir(exist_ok=True)
    for name in names:
        _image(folder, name, (np.random.default_rng(0).random(size) * 255).astype(np.uint8))
    return folder


def _tiff_float(tmp, name="f.tiff", value=None):
    array = np.random.default_rng(0).random((24, 26)).astype(np.float32)
    if value is not None:
        array[3, 4] = value
    return _image(tmp, name, array)


def _gif_frames(tmp):
    from PIL import Image
    frames = [Image.fromarray(np.full((24, 24), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp / "anim.png", save_all=True, append_images=frames[1:], format="PNG")
    return tmp / "anim.png"


def _mkdir(tmp, name):
    (tmp / name).mkdir()
    return tmp / name


INFER = "infer"
M1 = "{m1}"


def _infer(*args, model="m1"):
    return lambda tmp, m: [INFER, m[model], *[a(tmp) if callable(a) else a for a in args]]


# (id, class, setup(tmp, models) -> argv, expected exit code, substring of the error line)
CASES = [
    # --- class 1: tracebacks before -------------------------------------------------------------------------
    ("onnx-format-only", 1, lambda t, m: [INFER, onnx_add_model(t / "f.onnx", {"format": '"crsae-onnx"',
                                                                               "contract_version": "1"}),
                                          _ok(t), "-o", t / "out.npy"], 1, "lacks metadata"),
    ("info-onnx-format-only", 1, lambda t, m: ["info", onnx_add_model(t / "f.onnx", {"format": '"crsae-onnx"'})],
     1, "contract_version"),
    ("checkpoint-no-model-config", 1, lambda t, m: ["export", _checkpoint(t, model_config=_DROP), "-o",
                                                    t / "m.onnx"], 1, "lacks 'model_config'"),
    ("checkpoint-no-weights", 1, lambda t, m: ["export", _checkpoint(t, model=_DROP), "-o", t / "m.onnx"], 1,
     "lacks 'model'"),
    ("empty-batch", 1, _infer(lambda t: _save(t, "e.npy", np.zeros((0, 1, 40), np.float32)), "-o",
                              lambda t: t / "out.npy"), 1, "empty axis"),
    ("npz-claims-tib", 1, lambda t, m: (npz_lying(t / "big.npz"), [INFER, m["m1"], t / "big.npz", "-o",
                                                                    t / "out.npz"])[1], 1, "truncated"),
    ("npz-claims-tib-in-directory", 1, lambda t, m: (npz_lying(t / "big.npz", claim_size=1 << 32 - 1),
                                                     [INFER, m["m1"], t / "big.npz", "-o", t / "out.npz"])[1],
     1, "big.npz"),
    ("npy-claims-tib", 1, _infer(lambda t: _write(t, "big.npy", npy_header_only((1 << 20, 1 << 20, 1 << 20))),
                                 "-o", lambda t: t / "out.npy"), 1, "truncated"),
    ("png-bomb-header", 1, lambda t, m: [INFER, m["m2"], _write(t, "bomb.png", png_bytes(
        np.zeros((2, 2), np.uint8), bit_depth=8, color_type=0, width=30000, height=30000)), "-o", t / "o.png"],
     1, "pixels"),
    ("raw-channels-negative", 1, _infer(lambda t: _write(t, "r.bin", b"\0" * 400), "--raw-dtype", "int16",
                                        "--raw-channels", "-1", "-o", lambda t: t / "out.npy"), 1, "--raw-channels"),
    ("sampling-rate-zero", 1, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ev.csv",
                                     "--sampling-rate", "0"), 1, "--sampling-rate"),
    ("sampling-rate-negative", 1, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ev.csv",
                                         "--sampling-rate", "-3"), 1, "--sampling-rate"),
    ("sampling-rate-nan", 1, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ev.csv",
                                    "--sampling-rate", "nan"), 1, "--sampling-rate"),
    ("sampling-rate-inf", 1, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ev.csv",
                                    "--sampling-rate", "inf"), 1, "--sampling-rate"),
    # --- class 2: accepted before ---------------------------------------------------------------------------
    ("complex-npy", 2, _infer(lambda t: _save(t, "c.npy", np.ones((1, 1, 40), np.complex64)), "-o",
                              lambda t: t / "out.npy"), 1, "complex"),
    ("raw-channels-zero", 2, _infer(lambda t: _write(t, "r.bin", b"\0" * 400), "--raw-dtype", "int16",
                                    "--raw-channels", "0", "-o", lambda t: t / "out.npy"), 1, "--raw-channels"),
    ("add-graph-with-metadata", 2, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", _metadata(m)), _ok(t), "-o",
                                                 t / "out.npy"], 1, "graph"),
    ("add-graph-named-like-encoder", 2, lambda t, m: [INFER, onnx_add_model(
        t / "a.onnx", _metadata(m, outputs=["codes"]), names=("signal", "codes"), out_channels=2), _ok(t),
        "-o", t / "out.npy"], 1, "shape"),
    ("add-graph-wrong-filters", 2, lambda t, m: [INFER, onnx_add_model(
        t / "a.onnx", _metadata(m, outputs=["codes"]), names=("signal", "codes")), _ok(t), "-o", t / "out.npy"],
     1, "channels"),
    ("evaluate-no-images", 2, lambda t, m: ["evaluate", m["m2.pt"], "--data", _mkdir(t, "empty")], 1,
     "no png"),
    ("evaluate-max-images-zero", 2, lambda t, m: ["evaluate", m["m2.pt"], "--data", _images(t, "a.png"),
                                                  "--max-images", "0"], 1, "at least 1"),
    ("evaluate-1d-model", 2, lambda t, m: ["evaluate", m["m1.pt"], "--data", _images(t, "a.png")], 1, "2-D"),
    ("evaluate-crop-too-big", 2, lambda t, m: ["evaluate", m["m2.pt"], "--data", _images(t, "a.png"), "--crop",
                                               "500"], 1, "--crop"),
    ("evaluate-noise-nan", 2, lambda t, m: ["evaluate", m["m2.pt"], "--data", _images(t, "a.png"),
                                            "--noise-sigma", "nan"], 1, "--noise-sigma"),
    # --- class 3: images that cannot be read or written at their depth --------------------------------------
    ("png-16bit-rgb", 3, lambda t, m: [INFER, m["m2"], _write(t, "c16.png", png_bytes(
        np.full((24, 24, 3), 40000), bit_depth=16, color_type=2)), "-o", t / "o.png"], 1, "16-bit colour"),
    ("float-tiff-to-png", 3, lambda t, m: [INFER, m["m2"], _tiff_float(t), "-o", t / "o.png", "--output-kind",
                                           "reconstruction"], 1, "float32"),
    ("float-tiff-nan", 3, lambda t, m: [INFER, m["m2"], _tiff_float(t, value=np.nan), "-o", t / "o.tiff",
                                        "--output-kind", "reconstruction"], 1, "NaN"),
    ("int32-tiff", 3, lambda t, m: [INFER, m["m2"], _image(t, "i.tiff", np.arange(24 * 24, dtype=np.int32)
                                                           .reshape(24, 24)), "-o", t / "o.png"], 1, "32-bit"),
    ("multi-frame", 3, lambda t, m: [INFER, m["m2"], _gif_frames(t), "-o", t / "o.png"], 1, "frames"),
    ("gray16-into-rgb-model", 3, lambda t, m: [INFER, m["m2rgb"], _image(t, "g.png", np.full((24, 24), 3000,
                                                                                             np.uint16)),
                                               "-o", t / "o.png", "--output-kind", "reconstruction"], 1, "uint16"),
    # --- class 4: checks after the work ---------------------------------------------------------------------
    ("events-missing-folder", 4, _infer(_ok, "-o", lambda t: t / "out.npy", "--events",
                                        lambda t: t / "nowhere" / "ev.csv"), 1, "does not exist"),
    ("events-parent-is-file", 4, _infer(_ok, "-o", lambda t: t / "out.npy", "--events",
                                        lambda t: _write(t, "f", b"x") / "ev.csv"), 1, "is a file"),
    ("train-output-missing-folder", 4, lambda t, m: ["train", "-o", t / "nowhere" / "c.pt", "--quiet"], 1,
     "does not exist"),
    ("train-output-parent-file", 4, lambda t, m: ["train", "-o", _write(t, "f", b"x") / "c.pt", "--quiet"], 1,
     "is a file"),
    ("train-output-onnx", 4, lambda t, m: ["train", "-o", t / "model.onnx", "--quiet"], 1, ".pt"),
    ("train-output-is-data", 4, lambda t, m: ["train", "--data", _save(t, "d.npy", np.zeros((4, 1, 40))),
                                              "-o", t / "d.npy", "--quiet"], 1, ""),
    ("train-output-is-folder", 4, lambda t, m: ["train", "-o", _mkdir(t, "c.pt"), "--quiet"], 1, "folder"),
    ("export-output-missing-folder", 4, lambda t, m: ["export", m["m1.pt"], "-o", t / "no" / "m.onnx"], 1,
     "does not exist"),
    ("export-sidecar-is-folder", 4, lambda t, m: (_mkdir(t, "m.json"), ["export", m["m1.pt"], "-o",
                                                                          t / "m.onnx"])[1], 1, "folder"),
    ("export-not-onnx-suffix", 4, lambda t, m: ["export", m["m1.pt"], "-o", t / "m.bin"], 1, ".onnx"),
    ("build-output-missing-folder", 4, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)),
                                                     "--lam", "1", "-o", t / "no" / "m.pt"], 1, "does not exist"),
    ("simulate-output-missing-folder", 4, lambda t, m: ["simulate", "-o", t / "no" / "s.npz"], 1,
     "does not exist"),
    # --- class 5: misleading messages -----------------------------------------------------------------------
    ("empty-onnx", 5, lambda t, m: [INFER, _write(t, "e.onnx", b""), _ok(t), "-o", t / "out.npy"], 1, "empty"),
    ("info-empty-onnx", 5, lambda t, m: ["info", _write(t, "e.onnx", b"")], 1, "empty"),
    ("output-parent-is-file", 5, _infer(_ok, "-o", lambda t: _write(t, "f", b"x") / "out.npy"), 1, "is a file"),
    ("build-all-zero-filters", 5, lambda t, m: ["build", _save(t, "z.npy", np.zeros((3, 1, 5), np.float32)),
                                                "--lam", "1", "-o", t / "m.pt"], 1, "all zeros"),
    ("build-one-zero-filter", 5, lambda t, m: ["build", _save(t, "z.npy", np.r_[np.ones((1, 1, 5)),
                                                                                 np.zeros((1, 1, 5))]
                                                              .astype(np.float32)),
                                               "--lam", "1", "-o", t / "m.pt"], 1, "filter 1 is all zeros"),
    ("output-kind-message", 5, lambda t, m: [INFER, m["m1"], _ok(t), "-o", t / "out.npy", "--output-kind",
                                             "bogus"], 2, "--output-kind"),
    # --- arrays an attacker or a tired user passes ----------------------------------------------------------
    ("missing-input", 0, _infer("nope.npy", "-o", lambda t: t / "out.npy"), 1, "does not exist"),
    ("input-is-folder-1d", 0, _infer(lambda t: _mkdir(t, "d.npy"), "-o", lambda t: t / "out.npy"), 1, "folder"),
    ("unknown-suffix", 0, _infer(lambda t: _write(t, "x.txt", b"1,2,3"), "-o", lambda t: t / "out.npy"), 1,
     "unknown file type"),
    ("empty-npy-file", 0, _infer(lambda t: _write(t, "e.npy", b""), "-o", lambda t: t / "out.npy"), 1,
     "not a readable"),
    ("garbage-npy", 0, _infer(lambda t: _write(t, "g.npy", os.urandom(300)), "-o", lambda t: t / "out.npy"), 1,
     "not a readable"),
    ("truncated-npy", 0, _infer(lambda t: _write(t, "tr.npy", npy_bytes(np.ones((2, 1, 400), np.float32))[:900]),
                                "-o", lambda t: t / "out.npy"), 1, "truncated"),
    ("object-npy-pickle", 0, _infer(lambda t: _save(t, "o.npy", np.array([{"a": 1}, None], dtype=object)), "-o",
                                    lambda t: t / "out.npy"), 1, "objects"),
    ("structured-npy", 0, _infer(lambda t: _save(t, "s.npy", np.zeros(40, [("a", "f4"), ("b", "i4")])), "-o",
                                 lambda t: t / "out.npy"), 1, "structured"),
    ("bool-npy", 0, _infer(lambda t: _save(t, "b.npy", np.ones((1, 1, 40), bool)), "-o", lambda t: t / "out.npy"),
     1, "booleans"),
    ("string-npy", 0, _infer(lambda t: _save(t, "s.npy", np.array(["abc"] * 40)), "-o", lambda t: t / "out.npy"),
     1, "not numbers"),
    ("datetime-npy", 0, _infer(lambda t: _save(t, "d.npy", np.zeros(40, "datetime64[s]")), "-o",
                               lambda t: t / "out.npy"), 1, "not numbers"),
    ("zero-d-npy", 0, _infer(lambda t: _save(t, "z.npy", np.float32(3)), "-o", lambda t: t / "out.npy"), 1,
     "0-d"),
    ("five-d-npy", 0, _infer(lambda t: _save(t, "f.npy", np.zeros((1, 1, 1, 1, 40), np.float32)), "-o",
                             lambda t: t / "out.npy"), 1, "shape"),
    ("zero-length-axis", 0, _infer(lambda t: _save(t, "z.npy", np.zeros((1, 1, 0), np.float32)), "-o",
                                   lambda t: t / "out.npy"), 1, "empty axis"),
    ("nan-npy", 0, _infer(lambda t: _save(t, "n.npy", np.full((1, 1, 40), np.nan, np.float32)), "-o",
                          lambda t: t / "out.npy"), 1, "NaN"),
    ("inf-npy", 0, _infer(lambda t: _save(t, "i.npy", np.r_[np.ones(39), np.inf].reshape(1, 1, 40)), "-o",
                          lambda t: t / "out.npy"), 1, "NaN or Inf"),
    ("float64-beyond-float32", 0, _infer(lambda t: _save(t, "b.npy", np.full((1, 1, 40), 1e300)), "-o",
                                         lambda t: t / "out.npy"), 1, "float32's range"),
    ("too-short", 0, _infer(lambda t: _save(t, "s.npy", np.zeros((1, 1, 3), np.float32)), "-o",
                            lambda t: t / "out.npy"), 1, "smaller than"),
    ("wrong-channels", 0, _infer(lambda t: _save(t, "w.npy", np.zeros((1, 2, 40), np.float32)), "-o",
                                 lambda t: t / "out.npy"), 1, "channels"),
    ("npz-garbage", 0, _infer(lambda t: _write(t, "g.npz", os.urandom(500)), "-o", lambda t: t / "out.npz"), 1,
     "not a readable .npz"),
    ("npz-truncated", 0, lambda t, m: (np.savez(t / "full.npz", a=np.ones((2, 1, 400))),
                                       [INFER, m["m1"], _write(t, "t.npz", (t / "full.npz").read_bytes()[:-200]),
                                        "-o", t / "out.npz"])[1], 1, "t.npz"),
    ("npz-empty", 0, lambda t, m: (np.savez(t / "e.npz"), [INFER, m["m1"], t / "e.npz", "-o", t / "out.npz"])[1],
     1, "no arrays"),
    ("npz-object-member", 0, lambda t, m: (np.savez(t / "o.npz", a=np.array([None, 1], dtype=object)),
                                           [INFER, m["m1"], t / "o.npz", "-o", t / "out.npz"])[1], 1, "objects"),
    ("npz-complex-member", 0, lambda t, m: (np.savez(t / "c.npz", a=np.ones(40, np.complex128)),
                                            [INFER, m["m1"], t / "c.npz", "-o", t / "out.npz"])[1], 1, "complex"),
    ("npz-several-to-npy", 0, lambda t, m: (np.savez(t / "s.npz", a=np.ones(40), b=np.ones(40)),
                                            [INFER, m["m1"], t / "s.npz", "-o", t / "out.npy"])[1], 1, ".npz file"),
    ("npy-both-outputs", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--output-kind", "both"), 1,
     "one output"),
    ("fifo-input", 0, _infer(lambda t: _fifo(t, "p.npy"), "-o", lambda t: t / "out.npy"), 1, "regular file"),
    ("symlink-loop-input", 0, lambda t, m: (os.symlink(t / "l2.npy", t / "l1.npy"),
                                            os.symlink(t / "l1.npy", t / "l2.npy"),
                                            [INFER, m["m1"], t / "l1.npy", "-o", t / "out.npy"])[2], 1, ""),
    ("dangling-symlink-output", 0, lambda t, m: (os.symlink(t / "nowhere" / "x.npy", t / "dl.npy"),
                                                 [INFER, m["m1"], _ok(t), "-o", t / "dl.npy"])[1], 1,
     "dangling"),
    # --- raw recordings --------------------------------------------------------------------------------------
    ("raw-no-dtype", 0, _infer(lambda t: _write(t, "r.bin", b"\0" * 400), "-o", lambda t: t / "out.npy"), 1,
     "--raw-dtype"),
    ("raw-bad-dtype", 0, _infer(lambda t: _write(t, "r.bin", b"\0" * 400), "--raw-dtype", "int8", "-o",
                                lambda t: t / "out.npy"), None, "raw-dtype"),
    ("raw-odd-size", 0, _infer(lambda t: _write(t, "r.bin", b"\0" * 401), "--raw-dtype", "int16", "-o",
                               lambda t: t / "out.npy"), 1, "whole number"),
    ("raw-empty", 0, _infer(lambda t: _write(t, "r.bin", b""), "--raw-dtype", "int16", "-o",
                            lambda t: t / "out.npy"), 1, "0 bytes"),
    ("raw-float-nan", 0, _infer(lambda t: _write(t, "r.bin", np.full(400, np.nan, np.float32).tobytes()),
                                "--raw-dtype", "float32", "-o", lambda t: t / "out.npy"), 1, "NaN"),
    ("raw-options-on-npy", 0, _infer(_ok, "--raw-dtype", "int16", "-o", lambda t: t / "out.npy"), 1,
     "raw recordings"),
    ("raw-channels-text", 0, _infer(lambda t: _write(t, "r.bin", b"\0" * 400), "--raw-dtype", "int16",
                                    "--raw-channels", "two", "-o", lambda t: t / "out.npy"), 2, "raw-channels"),
    # --- numeric options of infer ----------------------------------------------------------------------------
    ("chunk-zero", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--chunk", "0"), 1, "--chunk"),
    ("chunk-negative", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--chunk", "-5"), 1, "--chunk"),
    ("batch-size-zero", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--batch-size", "0"), 1, "--batch-size"),
    ("batch-size-negative", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--batch-size", "-2"), 1,
     "--batch-size"),
    ("threads-zero", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--threads", "0"), 1, "--threads"),
    ("threads-negative", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--threads", "-1"), 1, "--threads"),
    ("event-threshold-negative", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--events",
                                           lambda t: t / "ev.csv", "--event-threshold", "-1"), 1,
     "--event-threshold"),
    ("event-threshold-nan", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ev.csv",
                                      "--event-threshold", "nan"), 1, "--event-threshold"),
    ("device-bogus", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--device", "tpu"), 2, "--device"),
    ("engine-bogus", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--engine", "spark"), None, "engine"),
    # --- outputs ---------------------------------------------------------------------------------------------
    ("output-bad-suffix", 0, _infer(_ok, "-o", lambda t: t / "out.txt"), 1, "must end in"),
    ("output-missing-folder", 0, _infer(_ok, "-o", lambda t: t / "nowhere" / "out.npy"), 1, "does not exist"),
    ("output-is-folder", 0, _infer(_ok, "-o", lambda t: _mkdir(t, "dir.npy")), 1, "folder"),
    ("output-read-only-fs", 0, _infer(_ok, "-o", "/proc/crsae-out.npy"), 1, "not writable"),
    ("output-is-input", 0, lambda t, m: [INFER, m["m1"], _ok(t), "-o", t / "ok.npy"], 1, "also an input"),
    ("output-is-input-via-symlink", 0, lambda t, m: (os.symlink(_ok(t), t / "alias.npy"),
                                                     [INFER, m["m1"], t / "ok.npy", "-o", t / "alias.npy"])[1],
     1, "also an input"),
    ("output-is-model", 0, lambda t, m: (shutil.copy(m["m1"], t / "m.onnx"),
                                         [INFER, t / "m.onnx", _ok(t), "-o", t / "m.onnx"])[1], 1, "must end in"),
    ("events-same-as-output", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "out.npy"),
     1, "another output"),
    ("events-is-input", 0, _infer(_ok, "-o", lambda t: t / "out.npy", "--events", lambda t: t / "ok.npy"), 1,
     "also an input"),
    ("events-for-images", 0, lambda t, m: [INFER, m["m2"], _images(t, "a.png"), "-o", t / "out.npz", "--events",
                                           t / "ev.csv"], 1, "1-D"),
    ("missing-output-kind", 0, lambda t, m: [INFER, m["m1c"], _ok(t), "-o", t / "out.npy", "--output-kind",
                                             "reconstruction"], 1, "no 'reconstruction' output"),
    ("two-inputs-local", 0, _infer(_ok, _ok, "-o", lambda t: t / "out.npy"), 1, "one input"),
    ("non-utf8-missing-input", 0, _infer(lambda t: Path(os.fsdecode(b"\xff\xfe.npy")), "-o",
                                         lambda t: t / "out.npy"), 1, "does not exist"),
    # --- models ----------------------------------------------------------------------------------------------
    ("model-missing", 0, lambda t, m: [INFER, t / "none.onnx", _ok(t), "-o", t / "out.npy"], 1, "does not exist"),
    ("model-garbage", 0, lambda t, m: [INFER, _write(t, "g.onnx", os.urandom(200)), _ok(t), "-o", t / "out.npy"],
     1, "not a loadable"),
    ("model-truncated", 0, lambda t, m: [INFER, _write(t, "t.onnx", m["m1"].read_bytes()[:1500]), _ok(t), "-o",
                                         t / "out.npy"], 1, "t.onnx"),
    ("model-is-folder", 0, lambda t, m: [INFER, _mkdir(t, "m.onnx"), _ok(t), "-o", t / "out.npy"], 1,
     "is a folder"),
    ("model-no-metadata", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", None), _ok(t), "-o",
                                           t / "out.npy"], 1, "not a crsae export"),
    ("model-future-contract", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", _metadata(
        m, contract_version=99)), _ok(t), "-o", t / "out.npy"], 1, "newer"),
    ("model-metadata-not-json", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", {
        **_metadata(m), "kind": "{not json"}), _ok(t), "-o", t / "out.npy"], 1, "not JSON"),
    ("model-kind-3d", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", _metadata(m, kind="3d")), _ok(t), "-o",
                                       t / "out.npy"], 1, "kind"),
    ("model-negative-filters", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", _metadata(m, num_filters=-2)),
                                                _ok(t), "-o", t / "out.npy"], 1, "num_filters"),
    ("model-bool-channels", 0, lambda t, m: [INFER, onnx_add_model(t / "a.onnx", _metadata(m, channels=True)),
                                             _ok(t), "-o", t / "out.npy"], 1, "channels"),
    ("model-a-checkpoint", 0, lambda t, m: [INFER, m["m1.pt"], _ok(t), "-o", t / "out.npy"], 1, "ONNX"),
    # --- images ----------------------------------------------------------------------------------------------
    ("image-garbage", 0, lambda t, m: [INFER, m["m2"], _write(t, "g.png", os.urandom(300)), "-o", t / "o.png"],
     1, "not an image"),
    ("image-truncated", 0, lambda t, m: [INFER, m["m2"], _write(t, "t.png", png_bytes(
        np.random.default_rng(0).integers(0, 255, (60, 60)), bit_depth=8, color_type=0)[:1500]), "-o",
        t / "o.png", "--output-kind", "reconstruction"], 1, "t.png"),
    ("image-folder-empty", 0, lambda t, m: [INFER, m["m2"], _mkdir(t, "imgs"), "-o", t / "out"], 1, "no png"),
    ("image-duplicate-stems", 0, lambda t, m: [INFER, m["m2"], _images(t, "a.png", "a.bmp"), "-o", t / "out",
                                               "--output-kind", "reconstruction"], 1, "both be written"),
    ("image-too-small", 0, lambda t, m: [INFER, m["m2"], _image(t, "s.png", np.zeros((3, 3), np.uint8)), "-o",
                                         t / "o.png", "--output-kind", "reconstruction"], 1, "smaller"),
    ("image-output-folder-not-empty", 0, lambda t, m: (_mkdir(t, "out"), _write(t, "out/keep.txt", b"k"),
                                                       [INFER, m["m2"], _images(t, "a.png"), "-o", t / "out",
                                                        "--output-kind", "reconstruction"])[2], 1, "not empty"),
    ("image-output-folder-is-file", 0, lambda t, m: [INFER, m["m2"], _images(t, "a.png"), "-o",
                                                     _write(t, "outfile", b"x"), "--output-kind",
                                                     "reconstruction"], 1, "is a file"),
    ("image-into-1d-model", 0, lambda t, m: [INFER, m["m1"], _images(t, "a.png"), "-o", t / "out"], 1, "1-D"),
    ("arrays-into-image-folder", 0, lambda t, m: [INFER, m["m1"], _ok(t), "-o", t / "out"], 1, "image input"),
    ("image-to-npy-is-fine-but-png-output-of-array", 0, lambda t, m: [INFER, m["m2"], _save(
        t, "a.npy", np.zeros((1, 1, 24, 24), np.float32)), "-o", t / "o.png"], 1, "image input"),
    # --- export / info ---------------------------------------------------------------------------------------
    ("checkpoint-missing", 0, lambda t, m: ["export", t / "none.pt", "-o", t / "m.onnx"], 1, "does not exist"),
    ("checkpoint-garbage", 0, lambda t, m: ["export", _write(t, "g.pt", os.urandom(100)), "-o", t / "m.onnx"], 1,
     "not a readable"),
    ("checkpoint-empty", 0, lambda t, m: ["export", _write(t, "e.pt", b""), "-o", t / "m.onnx"], 1,
     "not a readable"),
    ("checkpoint-pickle-payload", 0, lambda t, m: (torch.save({"format": "crsae-checkpoint", "x": _Payload(
        str(t / "PWNED"))}, t / "p.pt"), ["export", t / "p.pt", "-o", t / "m.onnx"])[1], 1, "not a readable"),
    ("checkpoint-plain-pickle", 0, lambda t, m: [
        "export", _write(t, "p.pt", pickle.dumps(_Payload(str(t / "PWNED")))), "-o", t / "m.onnx"], 1,
     "not a readable"),
    ("checkpoint-wrong-format", 0, lambda t, m: ["export", _checkpoint(t, format="other"), "-o", t / "m.onnx"],
     1, "not a crsae checkpoint"),
    ("checkpoint-future-version", 0, lambda t, m: ["export", _checkpoint(t, version=99), "-o", t / "m.onnx"], 1,
     "upgrade"),
    ("checkpoint-version-text", 0, lambda t, m: ["export", _checkpoint(t, version="1"), "-o", t / "m.onnx"], 1,
     "version"),
    ("checkpoint-config-wrong-type", 0, lambda t, m: ["export", _checkpoint(t, model_config={"channels": "a"}),
                                                      "-o", t / "m.onnx"], 1, "config"),
    ("checkpoint-config-unknown-key", 0, lambda t, m: ["export", _checkpoint(t, model_config={"evil": 1}),
                                                       "-o", t / "m.onnx"], 1, "config"),
    ("checkpoint-config-a-list", 0, lambda t, m: ["export", _checkpoint(t, model_config=[1, 2]), "-o",
                                                  t / "m.onnx"], 1, "model_config"),
    ("checkpoint-weights-wrong-shape", 0, lambda t, m: ["export", _checkpoint(t, model={"H": torch.ones(3, 3)}),
                                                        "-o", t / "m.onnx"], 1, "do not fit"),
    ("checkpoint-weights-nan", 0, lambda t, m: ["export", _checkpoint(
        t, model={"H": torch.full((2, 1, 6), float("nan")), "L": torch.tensor(1.0), "lam": torch.ones(2)}),
        "-o", t / "m.onnx"], 1, "NaN"),
    ("checkpoint-weights-not-tensors", 0, lambda t, m: ["export", _checkpoint(t, model={"H": [1, 2]}), "-o",
                                                        t / "m.onnx"], 1, "tensors"),
    ("checkpoint-epoch-text", 0, lambda t, m: ["export", _checkpoint(t, epoch="3"), "-o", t / "m.onnx"], 1,
     "epoch"),
    ("export-over-checkpoint", 0, lambda t, m: (shutil.copy(m["m1.pt"], t / "c.onnx"),
                                                ["export", t / "c.onnx", "-o", t / "c.onnx"])[1], 1, "also an input"),
    ("export-static-shape-text", 0, lambda t, m: ["export", m["m1.pt"], "-o", t / "m.onnx", "--static-shape",
                                                  "a,b"], 1, "--static-shape"),
    ("export-static-shape-rank", 0, lambda t, m: ["export", m["m1.pt"], "-o", t / "m.onnx", "--static-shape",
                                                  "2,1"], 1, "static shape"),
    ("export-format-bogus", 0, lambda t, m: ["export", m["m1.pt"], "-o", t / "m.onnx", "--format", "tflite"],
     None, "format"),
    ("info-missing", 0, lambda t, m: ["info", t / "none.pt"], 1, "does not exist"),
    ("info-garbage-onnx", 0, lambda t, m: ["info", _write(t, "g.onnx", os.urandom(100))], 1, "not a loadable"),
    ("info-garbage-pt", 0, lambda t, m: ["info", _write(t, "g.pt", os.urandom(100))], 1, "not a readable"),
    ("info-folder", 0, lambda t, m: ["info", _mkdir(t, "d.pt")], 1, "is a folder"),
    # --- build ---------------------------------------------------------------------------------------------
    ("build-2d-array", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((3, 5), np.float32)), "--lam", "1",
                                        "-o", t / "m.pt"], 1, "shape"),
    ("build-nan-filters", 0, lambda t, m: ["build", _save(t, "d.npy", np.full((3, 1, 5), np.nan, np.float32)),
                                           "--lam", "1", "-o", t / "m.pt"], 1, "NaN"),
    ("build-complex-filters", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((3, 1, 5), np.complex64)),
                                               "--lam", "1", "-o", t / "m.pt"], 1, "complex"),
    ("build-non-square", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((3, 1, 5, 4), np.float32)), "--lam",
                                          "1", "-o", t / "m.pt"], 1, "square"),
    ("build-layers-zero", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                           "1", "--num-layers", "0", "-o", t / "m.pt"], 1, "num_layers"),
    ("build-sigma-zero", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                          "1", "--sigma", "0", "-o", t / "m.pt"], 1, "sigma"),
    ("build-sigma-nan", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                         "1", "--sigma", "nan", "-o", t / "m.pt"], 1, "sigma"),
    ("build-lam-negative", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                            "-1", "-o", t / "m.pt"], None, "lam"),
    ("build-lam-nan", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                       "nan", "-o", t / "m.pt"], 1, "lam"),
    ("build-L-zero", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam", "1",
                                      "--L", "0", "-o", t / "m.pt"], 1, "L"),
    ("build-L-inf", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam", "1",
                                     "--L", "inf", "-o", t / "m.pt"], 1, "L"),
    ("build-stride-zero", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5, 5), np.float32)), "--lam",
                                           "1", "--stride", "0", "-o", t / "m.pt"], 1, "stride"),
    ("build-no-lam", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "-o",
                                      t / "m.pt"], 1, "exactly one"),
    ("build-output-onnx", 0, lambda t, m: ["build", _save(t, "d.npy", np.ones((2, 1, 5), np.float32)), "--lam",
                                           "1", "-o", t / "m.onnx"], 1, ".pt"),
    # --- simulate ------------------------------------------------------------------------------------------
    ("simulate-zero-signals", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--num-signals", "0"], 1, ""),
    ("simulate-zero-length", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--length", "0"], 1, ""),
    ("simulate-kernel-zero", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--kernel-size", "0"], 1, ""),
    ("simulate-snr-nan", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--snr-db", "nan"], 1, "snr"),
    ("simulate-events-negative", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--events-per-filter", "-1"], 1,
     ""),
    ("simulate-output-folder", 0, lambda t, m: ["simulate", "-o", _mkdir(t, "s.npz")], 1, "folder"),
    # --- train ---------------------------------------------------------------------------------------------
    ("train-data-missing", 0, lambda t, m: ["train", "--data", t / "none.npy", "-o", t / "c.pt", "--quiet"], 1,
     "does not exist"),
    ("train-data-complex", 0, lambda t, m: ["train", "--data", _save(t, "c.npy", np.ones((4, 1, 40), complex)),
                                            "-o", t / "c.pt", "--quiet"], 1, "complex"),
    ("train-data-npz-garbage", 0, lambda t, m: ["train", "--data", _write(t, "g.npz", os.urandom(200)), "-o",
                                                t / "c.pt", "--quiet"], 1, "not a readable"),
    ("train-data-npz-not-simulation", 0, lambda t, m: (np.savez(t / "x.npz", a=np.ones(4)),
                                                       ["train", "--data", t / "x.npz", "-o", t / "c.pt",
                                                        "--quiet"])[1], 1, "simulation"),
    ("train-data-empty-folder", 0, lambda t, m: ["train", "--data", _mkdir(t, "imgs"), "-o", t / "c.pt",
                                                 "--quiet"], 1, "no png"),
    ("train-epochs-zero", 0, lambda t, m: ["train", "--epochs", "0", "-o", t / "c.pt", "--quiet"], 1, "epochs"),
    ("train-batch-zero", 0, lambda t, m: ["train", "--batch-size", "0", "-o", t / "c.pt", "--quiet"], 1,
     "batch_size"),
    ("train-lr-nan", 0, lambda t, m: ["train", "--lr", "nan", "-o", t / "c.pt", "--quiet"], 1, "lr"),
    ("train-lr-decay-big", 0, lambda t, m: ["train", "--lr-decay", "2", "-o", t / "c.pt", "--quiet"], 1,
     "lr_decay"),
    ("train-layers-zero", 0, lambda t, m: ["train", "--num-layers", "0", "-o", t / "c.pt", "--quiet"], 1,
     "num_layers"),
    ("train-snr-nan", 0, lambda t, m: ["train", "--snr-db", "nan", "-o", t / "c.pt", "--quiet"], 1, "snr"),
    ("train-noise-sigma-negative", 0, lambda t, m: ["train", "--data", _save(t, "d.npy", np.ones((4, 1, 40))),
                                                    "--noise-sigma", "-1", "-o", t / "c.pt", "--quiet"], 1, "noise"),
    ("train-length-zero", 0, lambda t, m: ["train", "--length", "0", "-o", t / "c.pt", "--quiet"], 1, ""),
    ("train-resume-missing", 0, lambda t, m: ["train", "--resume", t / "none.pt", "-o", t / "c.pt", "--quiet"], 1,
     "does not exist"),
    ("train-resume-no-state", 0, lambda t, m: ["train", "--resume", m["m1.pt"], "-o", t / "c.pt", "--quiet"], 1,
     "cannot be resumed"),
    ("train-init-dictionary-zeros", 0, lambda t, m: ["train", "--init-dictionary", _save(
        t, "z.npy", np.zeros((4, 1, 20), np.float32)), "--num-signals", "8", "-o", t / "c.pt", "--quiet"], 1,
     "all zeros"),
    ("train-init-dictionary-shape", 0, lambda t, m: ["train", "--init-dictionary", _save(
        t, "z.npy", np.ones((4, 1, 7), np.float32)), "--num-signals", "8", "-o", t / "c.pt", "--quiet"], 1,
     "shape"),
]


def _raw_sort(*extra, out=lambda t: t / "sorted"):
    """crsae sort on a small raw recording (1000 int16 samples, 2 channels) with the given options."""
    return lambda t, m: ["sort", _write(t, "r.bin", (np.random.default_rng(0).standard_normal(2000) * 100)
                                        .astype(np.int16).tobytes()), "-o", out(t) if callable(out) else out,
                         "--sampling-rate", "30000", "--num-channels", "2", "--raw-dtype", "int16", "--quiet",
                         *[e(t) if callable(e) else e for e in extra]]


CASES += [
    # --- sort --------------------------------------------------------------------------------------------------
    ("sort-recording-missing", 0, lambda t, m: ["sort", t / "none.bin", "-o", t / "sorted"], 1, "does not exist"),
    ("sort-recording-empty-folder", 0, lambda t, m: ["sort", _mkdir(t, "rec"), "-o", t / "sorted"], 1,
     "empty folder"),
    ("sort-recording-garbage-folder", 0, lambda t, m: (_write(_mkdir(t, "rec"), "x.json", b"{not json"),
                                                       ["sort", t / "rec", "-o", t / "sorted"])[1], 1, "cannot open"),
    ("sort-recording-not-a-recording", 0, lambda t, m: ["sort", _ok(t), "-o", t / "sorted"], 1, "recording"),
    ("sort-raw-no-rate", 0, lambda t, m: ["sort", _write(t, "r.bin", b"\0" * 400), "-o", t / "sorted"], 1,
     "--sampling-rate"),
    ("sort-raw-odd-size", 0, lambda t, m: ["sort", _write(t, "r.bin", b"\0" * 401), "-o", t / "sorted",
                                           "--sampling-rate", "30000", "--num-channels", "2", "--raw-dtype",
                                           "int16"], 1, "whole number"),
    ("sort-raw-empty", 0, lambda t, m: ["sort", _write(t, "r.bin", b""), "-o", t / "sorted", "--sampling-rate",
                                        "30000", "--num-channels", "1", "--raw-dtype", "int16"], 1, "0 bytes"),
    ("sort-raw-dtype-bogus", 0, _raw_sort("--raw-dtype", "int8"), 2, "--raw-dtype"),
    ("sort-rate-zero", 0, _raw_sort("--sampling-rate", "0"), 1, "--sampling-rate"),
    ("sort-rate-nan", 0, _raw_sort("--sampling-rate", "nan"), 1, "--sampling-rate"),
    ("sort-rate-inf", 0, _raw_sort("--sampling-rate", "inf"), 1, "--sampling-rate"),
    ("sort-channels-zero", 0, _raw_sort("--num-channels", "0"), 1, "num_channels"),
    ("sort-channels-negative", 0, _raw_sort("--num-channels", "-3"), 1, "num_channels"),
    ("sort-gain-nan", 0, _raw_sort("--gain", "nan"), 1, "--gain"),
    ("sort-gain-zero", 0, _raw_sort("--gain", "0"), 1, "--gain"),
    ("sort-threads-zero", 0, _raw_sort("--threads", "0"), 1, "--threads"),
    ("sort-epochs-negative", 0, _raw_sort("--epochs", "-1"), 1, "epochs"),
    ("sort-layers-zero", 0, _raw_sort("--num-layers", "0"), 1, "num_layers"),
    ("sort-units-zero", 0, _raw_sort("--num-units", "0"), 1, "num_units"),
    ("sort-fit-seconds-nan", 0, _raw_sort("--fit-seconds", "nan"), 1, "fit_seconds"),
    ("sort-too-short-to-fit", 0, _raw_sort(), 1, "troughs"),
    ("sort-format-bogus", 0, lambda t, m: ["sort", _ok(t), "-o", t / "sorted", "--format", "bogus"], 1,
     "unknown recording format"),
    ("sort-format-wrong", 0, lambda t, m: ["sort", _ok(t), "-o", t / "sorted", "--format", "spikeglx"], 1,
     "cannot read"),
    ("sort-sorter-missing", 0, _raw_sort("--sorter", lambda t: t / "none"), 1, "does not exist"),
    ("sort-sorter-empty", 0, _raw_sort("--sorter", lambda t: _mkdir(t, "s")), 1, "not a saved crsae sorter"),
    ("sort-sorter-corrupt", 0, _raw_sort("--sorter", lambda t: (
        _mkdir(t, "s"), [_write(t / "s", n, b"garbage") for n in ("model.onnx", "sorter.json", "sorter.npz")],
        t / "s")[2]), 1, "corrupt"),
    ("sort-output-missing-folder", 4, _raw_sort(out=lambda t: t / "no" / "sorted"), 1, "does not exist"),
    ("sort-output-parent-file", 5, _raw_sort(out=lambda t: _write(t, "f", b"x") / "sorted"), 1, "is a file"),
    ("sort-output-is-file", 0, _raw_sort(out=lambda t: t / "out.npy"), 1, "is a file"),
    ("sort-output-not-empty", 0, _raw_sort(out=lambda t: (_write(_mkdir(t, "o"), "keep", b"k"), t / "o")[1]), 1,
     "not empty"),
    ("sort-output-read-only-fs", 0, _raw_sort(out="/proc/crsae-sorted"), 1, "not writable"),
    # --- experiments ---------------------------------------------------------------------------------------
    ("experiment-recovery-output-missing-folder", 4, lambda t, m: ["experiment", "recovery", "-o",
                                                                   t / "no" / "res", "--quiet"], 1, "does not exist"),
    ("experiment-recovery-output-parent-file", 5, lambda t, m: ["experiment", "recovery", "-o",
                                                                _write(t, "f", b"x") / "res"], 1, "is a file"),
    ("experiment-recovery-output-is-file", 0, lambda t, m: ["experiment", "recovery", "-o", t / "out.npy"], 1,
     "is a file"),
    ("experiment-recovery-read-only-fs", 0, lambda t, m: ["experiment", "recovery", "-o", "/proc/crsae-res"], 1,
     "not writable"),
    ("experiment-recovery-snr-nan", 0, lambda t, m: ["experiment", "recovery", "-o", t / "res", "--snr-db", "nan"],
     1, "--snr-db"),
    ("experiment-recovery-epochs-zero", 0, lambda t, m: ["experiment", "recovery", "-o", t / "res", "--epochs",
                                                         "0"], 1, "epochs"),
    ("experiment-recovery-filters-zero", 0, lambda t, m: ["experiment", "recovery", "-o", t / "res",
                                                          "--num-filters", "0"], 1, "num_filters"),
    ("experiment-recovery-length-short", 0, lambda t, m: ["experiment", "recovery", "-o", t / "res", "--length",
                                                          "5"], 1, "--length"),
    ("experiment-recovery-variant-bogus", 0, lambda t, m: ["experiment", "recovery", "-o", t / "res",
                                                           "--variant", "magic"], 2, "--variant"),
    ("experiment-denoise-data-missing", 0, lambda t, m: ["experiment", "denoise", "-o", t / "res", "--data",
                                                         t / "none"], 1, "CBSD432"),
    ("experiment-denoise-data-empty", 0, lambda t, m: ["experiment", "denoise", "-o", t / "res", "--data",
                                                       _mkdir(t, "d")], 1, "CBSD432"),
    ("experiment-denoise-output-missing-folder", 4, lambda t, m: ["experiment", "denoise", "-o", t / "no" / "res",
                                                                  "--data", _mkdir(t, "d")], 1, "does not exist"),
    ("experiment-denoise-test-sigma", 0, lambda t, m: ["experiment", "denoise", "-o", t / "res", "--data",
                                                       _mkdir(t, "d"), "--test-sigma", "-5"], 1, "(0, 255)"),
    ("experiment-denoise-stride-zero", 0, lambda t, m: ["experiment", "denoise", "-o", t / "res", "--data",
                                                        _mkdir(t, "d"), "--stride", "0"], 1, "stride"),
    ("experiment-spikes-output-missing-folder", 4, lambda t, m: ["experiment", "spikes", "-o", t / "no" / "res"],
     1, "does not exist"),
    ("experiment-spikes-output-parent-file", 5, lambda t, m: ["experiment", "spikes", "-o",
                                                              _write(t, "f", b"x") / "res"], 1, "is a file"),
    ("experiment-spikes-seconds-nan", 0, lambda t, m: ["experiment", "spikes", "-o", t / "res", "--test-seconds",
                                                       "nan"], 1, "test_seconds"),
    ("experiment-spikes-train-zero", 0, lambda t, m: ["experiment", "spikes", "-o", t / "res", "--train-seconds",
                                                      "0"], 1, "train_seconds"),
    ("experiment-spikes-layers-zero", 0, lambda t, m: ["experiment", "spikes", "-o", t / "res", "--num-layers",
                                                       "0"], 1, "num_layers"),
    # --- demo ----------------------------------------------------------------------------------------------
    ("demo-workdir-missing-folder", 4, lambda t, m: ["demo", "--workdir", t / "no" / "demo"], 1, "does not exist"),
    ("demo-workdir-parent-file", 5, lambda t, m: ["demo", "--workdir", _write(t, "f", b"x") / "demo"], 1,
     "is a file"),
    ("demo-workdir-is-file", 0, lambda t, m: ["demo", "--workdir", t / "out.npy"], 1, "is a file"),
    ("demo-workdir-read-only-fs", 0, lambda t, m: ["demo", "--workdir", "/proc/crsae-demo"], 1, "not writable"),
    ("demo-epochs-zero", 0, lambda t, m: ["demo", "--workdir", t / "demo", "--epochs", "0"], 1, "epochs"),
    ("demo-epochs-negative", 0, lambda t, m: ["demo", "--workdir", t / "demo", "--epochs", "-2"], 1, "epochs"),
    ("demo-epochs-text", 0, lambda t, m: ["demo", "--workdir", t / "demo", "--epochs", "many"], 2, "--epochs"),
    # --- simulate's least length (was an IndexError) -------------------------------------------------------
    ("simulate-length-60", 1, lambda t, m: ["simulate", "-o", t / "s.npz", "--length", "60"], 1,
     "the least length is 62"),
    ("simulate-spacing-zero", 0, lambda t, m: ["simulate", "-o", t / "s.npz", "--min-spacing", "0"], 1,
     "min_spacing"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_clean_error(case, models, tmp_path):
    name, _, setup, code, match = case
    work = tmp_path / "work"
    work.mkdir()
    (work / "out.npy").write_bytes(b"an existing output that must survive")
    (work / "out.npz").write_bytes(b"another existing output")
    argv = setup(work, models)
    before = snapshot(work)
    result = invoke(*argv, cwd=work)
    if code is None:                       # a bad choice: usage error (2) or, for free-text options, 1
        code = result.exit_code if result.exit_code in (1, 2) else 1
    assert_one_line_error(result, code=code, match=match or None)
    assert snapshot(work) == before, f"{name} changed the folder"
    assert not (work / "PWNED").exists()


def test_matrix_covers_every_class():
    assert {c[1] for c in CASES} >= {0, 1, 2, 3, 4, 5}
    assert len({c[0] for c in CASES}) == len(CASES) >= 90


# --- usage errors are exit 2 with click's message ------------------------------------------------------------
@pytest.mark.parametrize("argv", [["infer"], ["export"], ["bogus-command"], ["infer", "--chunk", "x"],
                                  ["train", "--epochs", "1.5"], ["build", "d.npy"]])
def test_usage_errors_exit_2_without_traceback(argv, tmp_path):
    result = invoke(*argv, cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


# --- checks before the work ------------------------------------------------------------------------------------
def test_train_refuses_a_missing_output_folder_before_the_first_step(tmp_path):
    start = time.perf_counter()
    result = invoke("train", "-o", tmp_path / "missing" / "c.pt", "--epochs", "50")
    assert_one_line_error(result, match="does not exist")
    assert "epoch" not in result.output and time.perf_counter() - start < 20


def test_train_creates_the_default_runs_folder(tmp_path):
    result = invoke("train", "--num-signals", 8, "--length", 60, "--num-layers", 2, "--epochs", 1,
                    "--kernel-size", 5, "--quiet", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "crsae.pt").is_file()


def test_events_into_a_missing_folder_writes_neither(models, tmp_path):
    np.save(tmp_path / "y.npy", np.random.default_rng(0).standard_normal((2, 1, 100)).astype(np.float32))
    result = invoke("infer", models["m1"], tmp_path / "y.npy", "-o", tmp_path / "codes.npy", "--events",
                    tmp_path / "no" / "ev.csv", "--quiet")
    assert_one_line_error(result, match="does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npy"]


def test_events_and_codes_are_written_together(models, tmp_path):
    y = np.random.default_rng(0).standard_normal((1, 1, 5000)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    result = invoke("infer", models["m1"], tmp_path / "y.npy", "-o", tmp_path / "codes.npy", "--events",
                    tmp_path / "ev.csv", "--sampling-rate", 1000, "--chunk", 700, "--quiet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "codes.npy").is_file() and (tmp_path / "ev.csv").read_text().count("\n") > 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.npy", "ev.csv", "y.npy"]


def test_non_utf8_file_names_work_and_errors_print(models, tmp_path):
    name = os.fsdecode(b"sig\xff.npy")
    np.save(tmp_path / name, np.zeros((1, 1, 40), np.float32))
    out = os.fsdecode(b"out\xfe.npy")
    result = invoke("infer", models["m1"], tmp_path / name, "-o", tmp_path / out, "--quiet")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / out).shape == (1, 2, 35)
    # a real process whose stderr is strict UTF-8 must still print the error line
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(CRSAE + ["infer", str(models["m1"]), os.fsencode(tmp_path / os.fsdecode(b"no\xff.npy")),
                                   "-o", str(tmp_path / "o.npy")], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count(b"error:") == 1


def test_console_errors_have_no_traceback_in_a_real_process(models, tmp_path):
    """The CLI as users run it (python -m crsae.cli), for a few of the matrix's cases."""
    (tmp_path / "e.onnx").write_bytes(b"")
    np.save(tmp_path / "c.npy", np.ones((1, 1, 40), np.complex64))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["infer", str(tmp_path / "e.onnx"), str(tmp_path / "c.npy"), "-o", str(tmp_path / "o.npy")],
                 ["infer", str(models["m1"]), str(tmp_path / "c.npy"), "-o", str(tmp_path / "o.npy")]):
        proc = subprocess.run(CRSAE + argv, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert [line for line in proc.stderr.splitlines() if line.startswith("error:")], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "e.onnx"]


# --- class 6: faults leave no debris ---------------------------------------------------------------------------
def _kill_midway(argv, tmp_path, marker: Path, env) -> None:
    """Start crsae, wait until its temporary output exists (``marker`` glob in tmp_path), then SIGKILL it at once
    (a fixed pause after that let a fast run finish first, one run in three on an idle core)."""
    proc = subprocess.Popen(CRSAE + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(str(marker))):
        if proc.poll() is not None:
            pytest.fail("crsae finished before it could be killed; make the input longer")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    if proc.wait() != -signal.SIGKILL:
        pytest.fail("crsae finished before the kill landed; make the input longer")


def test_sigkill_midway_leaves_a_temporary_that_the_next_run_removes(models, tmp_path):
    rec = (np.random.default_rng(0).standard_normal(3_000_000) * 1000).astype(np.int16)
    rec.tofile(tmp_path / "rec.bin")
    (tmp_path / "codes.npy").write_bytes(b"old output")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = ["infer", str(models["m1"]), str(tmp_path / "rec.bin"), "--raw-dtype", "int16", "-o",
            str(tmp_path / "codes.npy"), "--chunk", "2048", "--quiet", "--threads", "1"]
    _kill_midway(argv, tmp_path, Path(".codes.npy.crsae-*.tmp"), env)
    stale = list(tmp_path.glob(".codes.npy.crsae-*.tmp"))
    assert len(stale) == 1 and (tmp_path / "codes.npy").read_bytes() == b"old output"
    # a live process's temporary must survive a later run; a dead one's must go
    live = tmp_path / f".other.npy.crsae-{os.getpid()}-{stale[0].name.split('-')[2]}-abc.tmp"
    live.write_bytes(b"in progress")
    np.save(tmp_path / "y.npy", np.zeros((1, 1, 40), np.float32))
    result = invoke("infer", models["m1"], tmp_path / "y.npy", "-o", tmp_path / "small.npy", "--quiet")
    assert result.exit_code == 0, result.output
    assert not stale[0].exists() and live.exists()
    live.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["codes.npy", "rec.bin", "small.npy", "y.npy"]


def test_sigkill_during_training_resumes_bit_identically(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = ["--num-signals", "256", "--length", "200", "--num-layers", "4", "--kernel-size", "8", "--quiet"]
    ref = subprocess.run(CRSAE + ["train", "-o", str(tmp_path / "ref.pt"), "--epochs", "5"] + common,
                         capture_output=True, text=True, env=env, timeout=600)
    assert ref.returncode == 0, ref.stderr
    short = subprocess.run(CRSAE + ["train", "-o", str(tmp_path / "run.pt"), "--epochs", "1"] + common,
                           capture_output=True, text=True, env=env, timeout=600)
    assert short.returncode == 0, short.stderr
    # resume to 5 epochs; SIGKILL it as soon as it has written one more checkpoint (epoch 2)
    argv = ["train", "--resume", str(tmp_path / "run.pt"), "-o", str(tmp_path / "run.pt"), "--epochs", "5",
            "--quiet"]
    first = (tmp_path / "run.pt").stat().st_mtime_ns
    proc = subprocess.Popen(CRSAE + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and (tmp_path / "run.pt").stat().st_mtime_ns == first and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = torch.load(tmp_path / "run.pt", weights_only=True)["epoch"]
    assert 2 <= epoch < 5, epoch
    resumed = subprocess.run(CRSAE + argv, capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "ref.pt", weights_only=True)
    b = torch.load(tmp_path / "run.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 5
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.pt", "run.pt"]


# --- class 3: images keep their depth through crsae infer ---------------------------------------------------------
def test_16bit_png_in_16bit_png_out(models, tmp_path):
    from PIL import Image
    ramp = (np.linspace(0, 1, 40 * 44).reshape(40, 44) * 60000 + 2000).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    result = invoke("infer", models["m2"], tmp_path / "g16.png", "-o", tmp_path / "o.png", "--output-kind",
                    "reconstruction", "--quiet")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.dtype == np.uint16 and out.shape == ramp.shape
    assert len(np.unique(out)) > 1000                         # was 17 levels when read as 8-bit


def test_float_tiff_in_float_tiff_out(models, tmp_path):
    from PIL import Image
    image = np.random.default_rng(0).random((30, 32)).astype(np.float32) * 0.5 + 0.25
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(image).save(folder / "f.tiff")
    result = invoke("infer", models["m2"], folder, "-o", tmp_path / "out", "--output-kind", "reconstruction",
                    "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.tiff"]
    out = np.asarray(Image.open(tmp_path / "out" / "f.tiff"))
    from crsae.serving.runtime import Encoder
    want = Encoder(models["m2"], device="cpu").reconstruct(image[None, None])[0, 0]
    assert out.dtype == np.float32 and np.array_equal(out, want) and out.max() > 0.1   # was all zeros


def test_8bit_png_still_8bit(models, tmp_path):
    from PIL import Image
    Image.fromarray((np.random.default_rng(0).random((30, 30)) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    result = invoke("infer", models["m2"], tmp_path / "a.png", "-o", tmp_path / "o.png", "--output-kind",
                    "reconstruction", "--quiet")
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "o.png")).dtype == np.uint8


def test_colour_into_grayscale_model_is_said_once(models, tmp_path):
    from PIL import Image
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8)).save(folder / f"c{i}.png")
    result = invoke("infer", models["m2"], folder, "-o", tmp_path / "out", "--output-kind", "reconstruction",
                    "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: colour images are converted to grayscale") == 1


# --- a closed stdout (crsae info m.onnx | head -1) ends quietly ------------------------------------------------
def _run_into_closed_pipe(argv, env):
    read, write = os.pipe()
    os.close(read)                                   # the reader is gone before crsae writes a byte
    try:
        return subprocess.run(CRSAE + argv, stdout=write, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=120)
    finally:
        os.close(write)


def test_a_closed_stdout_ends_quietly_with_status_141(models, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["info", str(models["m1"])], ["info", str(models["m1.pt"])], ["--help"], ["info", "--help"],
                 ["--version"], ["simulate", "-o", str(tmp_path / "s.npz"), "--num-signals", "2", "--json"]):
        proc = _run_into_closed_pipe(argv, env)
        assert (proc.returncode, proc.stderr) == (141, ""), (argv, proc.returncode, proc.stderr)
    # an error is still an error: its line goes to stderr, exit 1
    proc = _run_into_closed_pipe(["info", str(tmp_path / "none.pt")], env)
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and proc.stderr.count("\n") == 1, proc.stderr
    # and through a shell pipe into head -1, as users meet it
    shell = subprocess.run(["bash", "-c", f"{' '.join(CRSAE)} info {models['m1']} | head -1; "
                                          "echo status ${PIPESTATUS[0]}"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert shell.stdout.splitlines() == ["format: crsae-onnx", "status 141"] or \
        shell.stdout.splitlines() == ["format: crsae-onnx", "status 0"], shell.stdout   # 0: all fitted the pipe
    assert shell.stderr == "", shell.stderr


# --- a stdout that cannot take the output (a full device) is one error line, whatever writes it ----------------
def _every_command():
    """argv prefixes of every command and subcommand: [], ["train"], ..., ["experiment", "recovery"], ..."""
    from typer.main import get_command
    from crsae.cli import app

    def walk(command, prefix):
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, prefix + [name])
    return list(walk(get_command(app), []))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_into_a_full_device_is_one_error_line(models):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(argv):
        with open("/dev/full", "w") as full:
            return subprocess.run(CRSAE + argv, stdout=full, stderr=subprocess.PIPE, text=True, env=env,
                                  timeout=120)
    for argv in [prefix + ["--help"] for prefix in _every_command()] + [["--version"], ["info", str(models["m1"])]]:
        proc = run(argv)
        assert (proc.returncode, proc.stderr) == (1, "error: No space left on device\n"), (argv, proc.stderr)
    # with no arguments the usage goes to stderr (nothing is lost): click's status 2, no traceback
    for argv in ([], ["experiment"]):
        proc = run(argv)
        assert proc.returncode == 2 and proc.stderr.startswith("Usage:") and "Traceback" not in proc.stderr, \
            (argv, proc.stderr)


def test_a_stdout_closed_at_start_is_one_error_line_before_any_work(models, tmp_path):
    """``crsae info m.onnx >&-``: the result would be lost, so exit 1 with one line, and write nothing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["info", str(models["m1"])], ["--help"], ["info", "--help"], ["--version"], [],
                 ["simulate", "-o", str(tmp_path / "s.npz"), "--num-signals", "2"]):
        proc = subprocess.run(CRSAE + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=120, preexec_fn=lambda: os.close(1))
        assert proc.returncode == 1, (argv, proc.returncode, proc.stderr)
        assert proc.stderr == ("error: cannot write to stdout (Bad file descriptor: it is closed); run crsae with "
                               "stdout open, e.g. '> out.txt' or '> /dev/null'\n"), (argv, proc.stderr)
    assert list(tmp_path.iterdir()) == []
    # a stdout open for reading only (`crsae info m.onnx 1< file`): the write fails, and says so
    with open(models["m1"], "rb") as read_only:
        proc = subprocess.run(CRSAE + ["info", str(models["m1"])], stdout=read_only, stderr=subprocess.PIPE,
                              text=True, env=env, timeout=120)
    assert (proc.returncode, proc.stderr) == (1, "error: Bad file descriptor\n"), proc.stderr


# --- crsae clean: temporaries of killed runs, this version's and earlier ones' ------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_clean_lists_then_removes_only_what_no_process_can_still_write(tmp_path):
    from crsae.files import _HOST
    old = time.time() - 2 * 3600

    def touch(name, age=old, data=b"partial"):
        path = tmp_path / name
        path.write_bytes(data)
        os.utime(path, (age, age))
        return path

    dead, live = _dead_pid(), os.getpid()
    gone = [touch(".codes.npy.k3j_9xq2.tmp"),                                 # crsae < 0.2, killed long ago
            touch(f".out.npz.{dead}.0badf00d.tmp"),                           # crsae-node, dead process
            touch(f".m.onnx.crsae-{dead}-{_HOST}-abc123.tmp", age=time.time())]   # this version, dead process
    images = tmp_path / ".denoised.a1b2c3d4"                                  # crsae < 0.2 image folder
    images.mkdir()
    touch(".denoised.a1b2c3d4/a.png")
    os.utime(images, (old, old))
    gone.append(images)
    kept = [touch(".fresh.npy.abcd1234.tmp", age=time.time()),               # could be a live old run
            touch(f".x.npz.{live}.0badf00d.tmp"),                             # its process still runs
            touch(f".y.npy.crsae-{live}-{_HOST}-abc.tmp"),
            touch(".z.npy.crsae-1-0000beef-abc.tmp"),                        # another host's
            touch(".held.npz.zzzz1111.tmp")]                                  # open in this process
    held = open(kept[-1], "rb")
    unrelated = [touch(".notes.txt.abcd1234.tmp"), touch("keep.npy"), touch(".cache.abcd1234")]
    foreign = tmp_path / ".stuff.abcd1234"
    foreign.mkdir()
    touch(".stuff.abcd1234/notes.txt")
    os.symlink(tmp_path / "keep.npy", tmp_path / ".link.npy.abcd1234.tmp")
    try:
        before = snapshot(tmp_path)
        listed = invoke("clean", tmp_path, "--json")
        assert listed.exit_code == 0, listed.output
        report = {Path(t["path"]).name: t for t in json.loads(listed.output)["temporaries"]}
        assert set(report) == {p.name for p in gone + kept}
        assert {name for name, t in report.items() if t["removable"]} == {p.name for p in gone}
        assert snapshot(tmp_path) == before                               # listing removes nothing
        result = invoke("clean", tmp_path, "--remove")
        assert result.exit_code == 0 and f"{len(gone) + len(kept)} temporaries" in result.output, result.output
        assert not any(p.exists() for p in gone)
        assert all(p.exists() for p in kept + unrelated + [foreign, tmp_path / ".link.npy.abcd1234.tmp"])
        assert (tmp_path / "keep.npy").read_bytes() == b"partial"
    finally:
        held.close()


def test_clean_of_a_missing_folder_is_one_line(tmp_path):
    assert_one_line_error(invoke("clean", tmp_path / "none"), match="is not a folder")
    assert_one_line_error(invoke("clean", _write(tmp_path, "f", b"x")), match="is not a folder")
