"""The ``crsae`` command line: thin typer commands over the Python API.

Every command parses its options, calls one public function, and prints a short result. ``main`` turns any
CrsaeError into ``error: <message>`` on stderr and exit code 1 (typer keeps 2 for usage errors).
"""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from crsae.errors import CrsaeError

class _Group(TyperGroup):
    """Turns a CrsaeError from any command into one line on stderr and exit code 1 (so too an operating-system
    failure such as a full disk, also one met while parsing, as by ``crsae --help > /dev/full``, and running out
    of memory, or a stdout closed at start, ``crsae info m.onnx >&-``); prints each distinct DataWarning once as
    ``warning: ...``. A closed stdout (``crsae info m.onnx | head -1``) ends the command quietly with status
    CLOSED_STDOUT."""

    def main(self, *args, **kwargs):
        import sys
        if sys.stdout is None:                  # started with stdout closed (`crsae info m.onnx >&-`): Python
            typer.echo("error: cannot write to stdout (Bad file descriptor: it is closed); run crsae with stdout "
                       "open, e.g. '> out.txt' or '> /dev/null'", err=True)  # sets it to None: echo drops lines
            raise SystemExit(1)                 # checked before any work: every command prints its result there
        try:
            return super().main(*args, **kwargs)
        except SystemExit as exit:              # click ends a write to a closed stdout (--help | head) with 1
            if exit.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper" and _stdout_closed():
                raise SystemExit(CLOSED_STDOUT) from None
            raise
        except OSError as err:                  # while parsing: the top level's --help or --version into a full disk
            typer.echo(_os_error_line(err), err=True)
            raise SystemExit(1) from None

    def invoke(self, ctx):
        import sys
        import warnings
        from crsae.errors import DataWarning
        shown, previous = set(), warnings.showwarning
        for stream in (sys.stdout, sys.stderr):   # file names that are not UTF-8 print escaped, never crash
            if hasattr(stream, "reconfigure"):
                try:
                    stream.reconfigure(errors="backslashreplace")
                except (ValueError, OSError):
                    pass

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, DataWarning):
                return previous(message, category, filename, lineno, file, line)
            if str(message) not in shown:
                shown.add(str(message))
                typer.echo(_printable(f"warning: {message}"), err=True)

        with warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = show
            try:
                return super().invoke(ctx)
            except CrsaeError as err:
                typer.echo(_printable(f"error: {err}"), err=True)
                raise typer.Exit(code=1) from None
            except OSError as err:              # e.g. the disk filled up mid-write: the temporaries are gone
                if isinstance(err, BrokenPipeError) and _stdout_closed():
                    raise typer.Exit(code=CLOSED_STDOUT) from None
                typer.echo(_os_error_line(err), err=True)
                raise typer.Exit(code=1) from None
            except MemoryError:
                typer.echo("error: out of memory; pass smaller inputs (or a smaller --batch-size / --chunk)",
                           err=True)
                raise typer.Exit(code=1) from None


CLOSED_STDOUT = 141       # the status a shell shows for a tool that SIGPIPE ended (128 + 13), e.g. `yes | head -1`


def _stdout_closed() -> bool:
    """Whether stdout is a pipe or socket whose reader has gone (``crsae info m.onnx | head -1``). If so, stdout
    is pointed at /dev/null so that nothing more (not even the interpreter's last flush) fails on it: the command
    then ends quietly with status CLOSED_STDOUT, as other Unix tools do."""
    import select
    import sys
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        closed = any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):
        return False
    if closed:
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return closed


def _os_error_line(err: OSError) -> str:
    """``error: <what the system said> (<file>)``: a full disk, a stdout that cannot be written, ..."""
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return _printable(f"error: {err.strerror or err}{where}")


def _printable(text: str) -> str:
    """One line that any terminal encoding can print: file names that are not UTF-8 (surrogate escapes) and
    control characters are shown escaped."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,          # help is plain text: [brackets] as in 'crsae[ray]' stay
                  help="CRsAE convolutional dictionary learning: train, export to ONNX, infer anywhere.")


def _print_version(value: bool) -> None:
    if value:
        import crsae
        typer.echo(f"crsae {crsae.__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                                   help="Print crsae's version and exit.")] = False):
    """CRsAE convolutional dictionary learning: train, export to ONNX, infer anywhere."""


TRAINING = ("torch",)
EXPORT = ("torch", "onnx", "onnxscript", "onnxruntime")


def _needs(command: str, modules: tuple[str, ...]) -> None:
    """Fail in one line, before any work, when ``crsae COMMAND`` needs an extra that is not installed."""
    from crsae import extras
    extras.require(*(m for m in modules if m != "onnxruntime"), what=f"crsae {command}")
    if "onnxruntime" in modules:
        extras.onnxruntime(what=f"crsae {command}")


class Kind(str, Enum):
    d1 = "1d"
    d2 = "2d"


class Mode(str, Enum):
    em = "em"
    bias = "bias"
    fixed = "fixed"
    affine = "affine"


class Outputs(str, Enum):
    codes = "codes"
    reconstruction = "reconstruction"
    both = "both"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    tensorrt = "tensorrt"


class EncoderChoice(str, Enum):
    paper = "paper"
    accelerated = "accelerated"


class Thresholds(str, Enum):
    frozen = "frozen"
    given = "given"
    auto = "auto"


class DType(str, Enum):
    float32 = "float32"
    float16 = "float16"


class InputScaling(str, Enum):
    none = "none"
    unit_interval = "unit_interval"


class TrainDevice(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class ExportFormat(str, Enum):
    onnx = "onnx"
    triton = "triton"


class Instances(str, Enum):
    both = "both"
    gpu = "gpu"
    cpu = "cpu"


INSTANCE_GROUPS = {Instances.both: ("gpu", "cpu"), Instances.gpu: ("gpu",), Instances.cpu: ("cpu",)}


class RawDType(str, Enum):
    int16 = "int16"
    float32 = "float32"


def _print_json(value) -> None:
    """A command's result as one JSON document on stdout (--json); progress and notes stay on stderr."""
    typer.echo(json.dumps(value, indent=2))


def _shape_option(text: Optional[str]) -> Optional[tuple[int, ...]]:
    from crsae.errors import ConfigError
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--static-shape {text!r} is not a comma-separated list of integers; "
                          "pass e.g. 64,1,5000") from None


def _echo(message: str) -> None:
    typer.echo(message, err=True)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.console import Console
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[status]}"), console=Console(stderr=True), transient=False)


# --- train --------------------------------------------------------------------------------------------------
@app.command()
def train(
    data: Annotated[Optional[str], typer.Option(help="Image folder (2-D), .npy array (n, channels, length[, w]) or "
                                                     "a `crsae simulate` .npz. Default: simulated 1-D data.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Checkpoint to write (after every epoch).")]
    = Path("runs/crsae.pt"),
    resume: Annotated[Optional[Path], typer.Option(help="Continue the run saved in this checkpoint exactly; "
                                                        "--epochs, --lr, --lr-step and --lr-decay may change it, "
                                                        "other model and data options are ignored.")] = None,
    num_filters: Annotated[Optional[int], typer.Option(help="C, number of filters (default 4 for 1-D, 64 for images).")] = None,
    kernel_size: Annotated[Optional[int], typer.Option(help="K, filter taps (default 20 for 1-D, 7 for images).")] = None,
    stride: Annotated[Optional[int], typer.Option(help="2-D code stride s (default 5 for images).")] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="T, unrolled FISTA steps (default 50 for 1-D, 30 for images).")] = None,
    L: Annotated[Optional[float], typer.Option("--L", help="Step constant L >= ||H||^2; default: power iteration "
                                                            "(1-D) or 10 (images, as the paper).")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="Noise std the thresholds refer to (default: the data's "
                                                        "known noise, else 0.078 as the paper).")] = None,
    threshold_mode: Annotated[Mode, typer.Option(help="em: EM-inspired lambda; bias: free bias by backprop; "
                                                      "fixed: lambda not learned; affine: b = beta + gamma sigma, "
                                                      "both by backprop (with --noise-sigma-max: blind "
                                                      "denoising).")] = Mode.em,
    lam_init: Annotated[Optional[float], typer.Option(help="Initial lambda, also the Gamma prior mean (default "
                                                           "sqrt(2 log M)/sigma for 1-D, 20 for images).")] = None,
    delta: Annotated[Optional[float], typer.Option(help="Gamma prior rate (default M / lam_init for 1-D, M code entries per "
                                                        "filter, 100 for images).")] = None,
    two_sided: Annotated[bool, typer.Option("--two-sided/--one-sided",
                                            help="Soft threshold, or one-sided ReLU: non-negative codes (spikes).")]
    = True,
    tied: Annotated[bool, typer.Option("--tied/--untied", help="One dictionary H, or separate analysis (We) and "
                                                               "synthesis (Wd) filters, all learned.")] = True,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default 15 for 1-D, 10 for images).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Examples per step (default 32 for 1-D, 1 for images).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Adam learning rate of the dictionary (default 1e-2). With "
                                                     "--resume: the rate from the checkpoint's epoch on, the "
                                                     "schedule's decays applied to it.")] = None,
    adam_eps: Annotated[float, typer.Option(help="Adam epsilon of the dictionary (the paper's 1e-3; lower it, e.g. "
                                                 "1e-5, if learning crawls on long, very sparse windows).")] = 1e-3,
    lam_lr: Annotated[Optional[float], typer.Option(help="Adam learning rate of lambda (em mode; default "
                                                         "lam_init / 200: 0.1 for images).")] = None,
    lr_decay: Annotated[Optional[float], typer.Option(help="LR factor applied every --lr-step epochs (default "
                                                           "0.7). With --resume: the run's new factor, from "
                                                           "its checkpoint's epoch on.")] = None,
    lr_step: Annotated[Optional[int], typer.Option(help="Epochs between LR decays (default 10). With --resume: "
                                                        "the run's new step, from its checkpoint's epoch "
                                                        "on.")] = None,
    supervised: Annotated[Optional[bool], typer.Option("--supervised/--unsupervised",
                                                       help="Target the clean signal (denoising) or the input itself "
                                                            "(default: supervised when clean targets exist).")] = None,
    noise_sigma: Annotated[float, typer.Option(help="Std of the noise added to images / arrays on the [0, 1] scale "
                                                    "(25/255 = 0.098).")] = 25 / 255,
    noise_sigma_max: Annotated[Optional[float], typer.Option(
        help="Blind training: draw each batch's noise std uniformly from [--noise-sigma, this]; the encoder "
             "thresholds at the batch's sigma (em: lam sigma^2 / L, affine: beta + gamma sigma). Export with "
             "--noise-input to set sigma at inference.")] = None,
    crop_size: Annotated[int, typer.Option(help="Random crop side for images.")] = 128,
    crops_per_epoch: Annotated[int, typer.Option(help="Random crops drawn per epoch.")] = 400,
    max_images: Annotated[Optional[int], typer.Option(help="Use only the first N images of --data.")] = None,
    channels: Annotated[int, typer.Option(help="Image channels: 1 (grayscale) or 3 (RGB).")] = 1,
    num_signals: Annotated[int, typer.Option(help="Simulation: number of windows.")] = 512,
    length: Annotated[int, typer.Option(help="Simulation: samples per window.")] = 500,
    events_per_filter: Annotated[int, typer.Option(help="Simulation: events per filter per window.")] = 3,
    snr_db: Annotated[float, typer.Option(help="Simulation: SNR in dB.")] = 16.0,
    snr: Annotated[Optional[float], typer.Option(hidden=True, help="Old name of --snr-db.")] = None,
    init_dictionary: Annotated[Optional[Path], typer.Option(help=".npy filters (C, channels, K[, K]) to start from, "
                                                                  "a crsae checkpoint (.pt: its filter banks and "
                                                                  "lambda; a fresh optimiser and schedule), or dct "
                                                                  "(the overcomplete DCT: separable cosines) (default: "
                                                                  "truth perturbed to err in [0.4, 0.5] for "
                                                                  "simulations, random otherwise).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of data, initialisation and order: runs repeat exactly.")] = 0,
    device: Annotated[TrainDevice, typer.Option(help="torch device (under torchrun, cuda is cuda:LOCAL_RANK with "
                                                     "NCCL; cpu uses gloo).")] = TrainDevice.cpu,
    quiet: Annotated[bool, typer.Option(help="No progress bar or per-epoch lines.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the final report (checkpoint, epochs, losses, "
                                                             "recovery errors) as one JSON object.")] = False,
):
    """Train a CRsAE (two-stage M-step) and write a checkpoint; with no options, learn a simulated 1-D dictionary
    from a perturbed start and print the recovery error before and after."""
    _needs("train", TRAINING)
    device = device.value
    from crsae.training.distributed import leave_worker, process_group
    from crsae.training.run import resume_run, start_run
    _check_device(device)
    _check_train_output(output, data, init_dictionary)
    # under torchrun: this process joins the process group for the run; rank 0 alone reports and writes
    with process_group(device) as dist:
        reporter = _TrainReporter(quiet or not dist.is_main)
        if resume is not None:
            run = resume_run(resume, output, device=dist.device, epochs=epochs, dist=dist, lr_step=lr_step,
                             lr_decay=lr_decay, lr=lr)
            if run.note is not None and dist.is_main:
                _echo(run.note)
        else:
            run = start_run(
                data=data, output=output, device=dist.device, seed=seed, dist=dist,
                model=dict(num_filters=num_filters, kernel_size=kernel_size, stride=stride, num_layers=num_layers,
                           L=L, sigma=sigma, threshold_mode=threshold_mode.value, lam_init=lam_init, delta=delta,
                           two_sided=two_sided, tied=tied),
                train=dict(epochs=epochs, batch_size=batch_size, lr=lr, adam_eps=adam_eps, lam_lr=lam_lr, lr_decay=lr_decay,
                           lr_step=lr_step, supervised=supervised),
                source=dict(noise_sigma=noise_sigma, noise_sigma_max=noise_sigma_max, crop_size=crop_size, crops_per_epoch=crops_per_epoch,
                            max_images=max_images, channels=channels, num_signals=num_signals, length=length,
                            events_per_filter=events_per_filter, snr_db=snr if snr is not None else snr_db),
                init_dictionary=init_dictionary)
        if run.initial_error is not None and dist.is_main:
            _echo(f"recovery error before: max {run.initial_error.max():.4f}  per filter {[round(float(e), 4) for e in run.initial_error]}")
        with reporter:
            history = run.fit(on_batch=reporter.batch, on_epoch_done=reporter.epoch)
        last = history[-1] if history else None
        if run.final_error is not None and dist.is_main:
            _echo(f"recovery error after:  max {run.final_error.max():.4f}  per filter {[round(float(e), 4) for e in run.final_error]}")
        if dist.is_main and json_output:
            errors = {"initial": run.initial_error, "final": run.final_error}
            _print_json({"checkpoint": str(output), "epochs": last.epoch if last else 0,
                         "loss": last.loss if last else None, "history": [r.to_dict() for r in history],
                         **{f"recovery_error_{k}": None if v is None else [float(e) for e in v]
                            for k, v in errors.items()}})
        elif dist.is_main:
            typer.echo(f"wrote {output}" + (f" (epoch {last.epoch}, loss {last.loss:.4g})" if last else ""))
    leave_worker(dist.world_size)


class _TrainReporter:
    def __init__(self, quiet: bool):
        self.quiet, self.progress, self.task = quiet, None, None

    def __enter__(self):
        if not self.quiet:
            self.progress = _progress().__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def batch(self, epoch, i, n, loss):
        if self.progress is None:
            return
        if self.task is None or i == 1:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(f"epoch {epoch}", total=n, status="")
        self.progress.update(self.task, completed=i, status=f"loss {loss:.4g}")

    def epoch(self, record):
        extra = "".join(f"  {k} {v:.4g}" for k, v in record.extra.items() if isinstance(v, float))
        line = f"epoch {record.epoch}: loss {record.loss:.4g}" + \
            (f"  lambda loss {record.lam_loss:.4g}" if record.lam_loss is not None else "") + extra
        if self.progress is not None:
            self.progress.console.print(line)
        elif not self.quiet:
            _echo(line)


def _check_train_output(output: Path, data, init_dictionary) -> None:
    """Before any data is built: the checkpoint's folder exists (the default runs/ is created) and is writable,
    and the checkpoint would not replace an input (--resume may rewrite its own checkpoint)."""
    from crsae.files import check_output
    from crsae.model.checkpoint import check_checkpoint_path
    check_checkpoint_path(output)
    if output == Path("runs/crsae.pt"):
        output.parent.mkdir(parents=True, exist_ok=True)
    check_output(output, what="--output", inputs=[data, init_dictionary])


def _check_device(device: str) -> None:
    import torch
    from crsae.errors import ConfigError
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"--device must be cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA GPU here (CPU build or no driver); use --device cpu")


# --- build a model from an existing dictionary --------------------------------------------------------------
@app.command()
def build(
    dictionary: Annotated[Path, typer.Argument(help=".npy filters (C, channels, K) or (C, channels, K, K) from any "
                                                    "tool, kept as given (see --normalize).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Checkpoint to write.")],
    num_layers: Annotated[int, typer.Option(help="T, unrolled FISTA steps.")] = 50,
    lam: Annotated[Optional[str], typer.Option(help="lambda (thresholds b = lam sigma^2 / L): one number for every "
                                                    "filter, comma-separated numbers one per filter, or a .npy of "
                                                    "one per filter.")] = None,
    thresholds: Annotated[Optional[str], typer.Option(help="The thresholds b themselves instead of --lam: one "
                                                           "number, one per filter (comma-separated), or a .npy.")]
    = None,
    bias: Annotated[Optional[str], typer.Option(hidden=True, help="Old name of --thresholds.")] = None,
    sigma: Annotated[float, typer.Option(help="Noise std the thresholds refer to.")] = 1.0,
    L: Annotated[Optional[float], typer.Option("--L", help="Step constant; default: power iteration on the filters "
                                                            "as given (x1.05).")] = None,
    stride: Annotated[int, typer.Option(help="2-D code stride.")] = 1,
    two_sided: Annotated[bool, typer.Option("--two-sided/--one-sided",
                                            help="Soft threshold, or one-sided ReLU (non-negative codes).")] = True,
    analysis: Annotated[Optional[Path], typer.Option(help="Untied: .npy analysis filters We (the encoder's "
                                                          "correlations), the dictionary's shape.")] = None,
    synthesis: Annotated[Optional[Path], typer.Option(help="Untied: .npy synthesis filters Wd (the decoder), the "
                                                           "dictionary's shape.")] = None,
    normalize: Annotated[bool, typer.Option(help="Rescale every filter to unit norm first (default: keep the "
                                                 "norms as given).")] = False,
    input_scaling: Annotated[InputScaling, typer.Option(help="none, or unit_interval for 8-bit images divided by "
                                                             "255.")] = InputScaling.none,
    image: Annotated[bool, typer.Option(hidden=True, help="Old name of --input-scaling unit_interval.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
):
    """Make a model (checkpoint) from a dictionary learned elsewhere, without training (Python:
    crsae.build_model)."""
    _needs("build", TRAINING)
    from crsae.errors import ConfigError
    from crsae.model.build import build_model
    from crsae.model.checkpoint import save_checkpoint
    if bias is not None:
        if thresholds is not None:
            raise ConfigError("pass --thresholds only (--bias is its old name)")
        thresholds = bias
    model = build_model(dictionary, num_layers=num_layers, lam=_per_filter_option("--lam", lam),
                        thresholds=_per_filter_option("--thresholds", thresholds), sigma=sigma, L=L, stride=stride,
                        two_sided=two_sided, analysis=analysis, synthesis=synthesis, normalize=normalize,
                        input_scaling="unit_interval" if image else input_scaling.value)
    save_checkpoint(output, model)
    config = model.config
    if json_output:
        _print_json({"checkpoint": str(output), "model_config": config.to_dict(),
                     "thresholds": [float(b) for b in model.thresholds().detach()]})
        return
    typer.echo(f"wrote {output} ({config.kind}, {config.num_filters} filters, K={config.kernel_size}, "
               f"T={config.num_layers}, L={config.L:.4g})")


def _per_filter_option(option: str, text: Optional[str]):
    """A per-filter option's value: a number, comma-separated numbers, or the path of a .npy (None stays None)."""
    from crsae.errors import ConfigError
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")] if "," in text else float(text)
    except ValueError:
        pass
    path = Path(text)
    if path.suffix != ".npy":
        raise ConfigError(f"{option} {text!r} is not a number, comma-separated numbers or a .npy file")
    return path


# --- simulate -----------------------------------------------------------------------------------------------
@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", "-o", help=".npz to write (signals, clean, dictionary, codes, events).")],
    num_signals: Annotated[int, typer.Option(help="Number of windows.")] = 512,
    length: Annotated[int, typer.Option(help="Samples per window.")] = 500,
    num_filters: Annotated[int, typer.Option(help="C, filters of the true dictionary.")] = 4,
    kernel_size: Annotated[int, typer.Option(help="K, taps per filter.")] = 20,
    events_per_filter: Annotated[int, typer.Option(help="Events per filter per window.")] = 3,
    min_spacing: Annotated[int, typer.Option(help="Least samples between two events of a filter.")] = 20,
    snr_db: Annotated[float, typer.Option(help="SNR in dB.")] = 16.0,
    snr: Annotated[Optional[float], typer.Option(hidden=True, help="Old name of --snr-db.")] = None,
    nonnegative: Annotated[bool, typer.Option(help="Positive amplitudes only.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the dictionary, events and noise.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print what was written as one JSON object.")] = False,
):
    """Write a simulated 1-D data set with its ground truth."""
    from crsae.simulate import SimulationConfig, save_simulation
    from crsae.simulate import simulate as draw
    sim = draw(SimulationConfig(num_signals=num_signals, length=length, num_filters=num_filters,
                                kernel_size=kernel_size, events_per_filter=events_per_filter,
                                min_spacing=min_spacing, snr_db=snr if snr is not None else snr_db,
                                nonnegative=nonnegative, seed=seed))
    save_simulation(sim, output)
    if json_output:
        _print_json({"written": str(output), "num_signals": num_signals, "length": length, "sigma": sim.sigma})
        return
    typer.echo(f"wrote {output} ({num_signals} x {length} samples, sigma {sim.sigma:.4g})")


# --- export -------------------------------------------------------------------------------------------------
@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint written by crsae train or crsae build.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="model.onnx to write (sidecar model.json beside it).")],
    outputs: Annotated[Outputs, typer.Option(help="codes (the encoder), reconstruction (the autoencoder), or both.")]
    = Outputs.codes,
    dtype: Annotated[DType, typer.Option(help="float32, or float16 (for GPUs; looser tolerance).")] = DType.float32,
    static_shape: Annotated[Optional[str], typer.Option(help="Fix every axis, e.g. 64,1,5000 (batch,channels,length): "
                                                              "fixed-shape GPU jobs get exhaustive conv search and "
                                                              "CUDA graphs.")] = None,
    format: Annotated[ExportFormat, typer.Option("--format", help="onnx: one .onnx file; triton: a Triton model "
                                                                  "repository at --output (NAME/VERSION/model.onnx, "
                                                                  "NAME/config.pbtxt).")] = ExportFormat.onnx,
    name: Annotated[Optional[str], typer.Option(help="--format triton: model name (default: the checkpoint's stem).")] = None,
    version: Annotated[int, typer.Option(help="--format triton: model version folder.")] = 1,
    max_batch_size: Annotated[int, typer.Option(help="--format triton: max_batch_size (dynamic batching).")] = 64,
    instances: Annotated[Instances, typer.Option(help="--format triton: instance groups, GPU and CPU (both), gpu or "
                                                      "cpu (a server without GPUs needs cpu).")] = Instances.both,
    noise_input: Annotated[bool, typer.Option(help="Add the input noise_sigma (batch,): the thresholds follow the "
                                                   "noise level given at inference, or estimated from the signal "
                                                   "(crsae infer --noise-sigma, crsae denoise --sigma).")] = False,
    encoder: Annotated[EncoderChoice, typer.Option(help="paper: the paper's FISTA (the default); accelerated: beyond "
                                                  "the paper, step s/L kept monotone by a per-example objective "
                                                  "test (docs/math.md), fewer layers to the same objective.")]
    = EncoderChoice.paper,
    step: Annotated[Optional[float], typer.Option(help="--encoder accelerated: the step factor s, 0 < s < 2 "
                                                       "(default 1.9).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print what was written and the parity records as one "
                                                             "JSON object.")] = False,
):
    """Export the unrolled encoder to ONNX, validate it against torch under onnxruntime, then write it
    (one .onnx file, or with --format triton a Triton Inference Server model repository)."""
    _needs("export", EXPORT)
    import warnings
    from crsae.errors import StepConstantWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StepConstantWarning)
        written, records = _export(checkpoint, output, outputs, dtype, static_shape, format.value, name, version,
                                   max_batch_size, INSTANCE_GROUPS[instances], noise_input, encoder.value, step)
    for r in records if not json_output else ():
        typer.echo(f"parity {r.output:<14} {str(tuple(r.shape)):<22} max |diff| {r.max_abs_diff:.2e}  atol {r.atol:.2e}")
    for w in caught:
        if issubclass(w.category, StepConstantWarning):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if json_output:
        _print_json({"written": written, "parity": [{"output": r.output, "shape": list(r.shape),
                                                     "max_abs_diff": r.max_abs_diff, "atol": r.atol, "ok": r.ok}
                                                    for r in records]})
        return
    typer.echo(f"wrote {' and '.join(written)}")


def _export(checkpoint, output, outputs, dtype, static_shape, format, name, version, max_batch_size, instances,
            noise_input=False, encoder="paper", step=None):
    """The export itself: (what was written, parity records)."""
    from crsae.errors import ConfigError
    if format == "triton" and noise_input:
        raise ConfigError("--noise-input is for --format onnx (the Triton model takes the signal alone); drop one")
    if format == "triton" and (encoder != "paper" or step is not None):
        raise ConfigError("--encoder accelerated and --step are for --format onnx; export the Triton model with "
                          "the paper's encoder")
    if format == "triton":
        from crsae.exporter.onnx_export import export_triton
        if static_shape is not None:
            raise ConfigError("--static-shape is for --format onnx; Triton batches dynamic shapes, so drop it")
        folder, records = export_triton(checkpoint, output, name=name, version=version, outputs=outputs.value,
                                        dtype=dtype.value, max_batch_size=max_batch_size,
                                        instances=instances)
        written = [str(folder / str(version) / "model.onnx"), str(folder / "config.pbtxt")]
    else:
        from crsae.exporter.onnx_export import export_checkpoint
        records = export_checkpoint(checkpoint, output, outputs=outputs.value, dtype=dtype.value,
                                    static_shape=_shape_option(static_shape), noise_input=noise_input,
                                    encoder=encoder, step=step)
        written = [str(output), str(output.with_suffix(".json"))]
    return written, records


# --- infer --------------------------------------------------------------------------------------------------
@app.command()
def infer(
    model: Annotated[Path, typer.Argument(help="model.onnx written by crsae export.")],
    source: Annotated[list[Path], typer.Argument(metavar="INPUT...", help=".npy/.npz arrays, an image or folder of "
                                                                       "images, or a raw recording (.bin/.raw/.dat); "
                                                                       "with --engine ray, any number of files and "
                                                                       "folders of them.")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".npy (one output), .npz (all), or a folder "
                                                                "(denoised images, for image input); with --engine "
                                                                "ray, a new folder with one output per input file.")],
    outputs: Annotated[Outputs, typer.Option(help="Which outputs to write: codes, reconstruction or both (the "
                                                  "model must have them: crsae export --outputs).")]
    = Outputs.codes,
    output_kind: Annotated[Optional[Outputs], typer.Option(hidden=True, help="Old name of --outputs.")] = None,
    events: Annotated[Optional[Path], typer.Option(help="1-D: also write events (sample, filter, amplitude) as CSV.")] = None,
    event_threshold: Annotated[float, typer.Option(help="Minimum |code| of an event.")] = 0.0,
    sampling_rate: Annotated[Optional[float], typer.Option(help="Hz, adds event times in seconds.")] = None,
    raw_dtype: Annotated[Optional[RawDType], typer.Option(help="Raw recordings: the sample type.")] = None,
    raw_channels: Annotated[Optional[int], typer.Option(help="Raw recordings: interleaved channels (default: the model's).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Signals per onnxruntime call (default: CPU, as many as "
                                                           "keep 512 KiB of codes in cache; GPU, 64).")] = None,
    chunk: Annotated[int, typer.Option(help="1-D signals longer than this run in chunks of this many outputs.")] = 32768,
    device: Annotated[Device, typer.Option(help="auto: CUDA if it really works, else CPU (says which); "
                                                "cuda, tensorrt: strict; cpu.")] = Device.auto,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for onnxruntime (per actor with --engine ray).")] = None,
    engine: Annotated[Engine, typer.Option(help="local: this process, one input; ray: a Ray Data pipeline over many "
                                                "files (pip install 'crsae[ray]').")] = Engine.local,
    actors: Annotated[Optional[int], typer.Option(help="--engine ray: onnxruntime actors (default: one per GPU, "
                                                       "else one per --threads CPUs).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    noise_sigma: Annotated[Optional[str], typer.Option(help="Noise std the thresholds are set for, in the signal's "
                                                            "units (images on [0, 1]: 25/255 = 0.098), or auto "
                                                            "(estimated per signal); needs a model exported with "
                                                            "--noise-input. Default: the model's own sigma.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary (files written, provider, events, "
                                                             "seconds) as one JSON object.")] = False,
):
    """Run an exported model with onnxruntime (no torch needed) and write codes, reconstructions or events."""
    from crsae.errors import DataError
    _needs("infer", ("onnxruntime",))
    outputs = output_kind or outputs
    raw_dtype = raw_dtype.value if raw_dtype is not None else None
    noise_sigma = _noise_sigma_option("--noise-sigma", noise_sigma)
    if engine == Engine.ray:
        from crsae.serving.ray import infer_files
        if noise_sigma is not None:
            raise DataError("--noise-sigma works with --engine local; drop it or run crsae infer per input")
        if events is not None:
            raise DataError("--events works with --engine local; run crsae infer on one recording for events")
        start = time.perf_counter()
        summary = infer_files(model, source, output, outputs=outputs.value, batch_size=batch_size, chunk=chunk,
                              device=device.value, threads=threads, raw_dtype=raw_dtype, raw_channels=raw_channels,
                              actors=actors, progress=not quiet)
        if json_output:
            _print_json({"output": str(output), "inputs": len(summary.results),
                         "written": [r.output for r in summary.written],
                         "errors": [{"input": r.input, "error": r.error} for r in summary.errors],
                         "providers": list(summary.providers), "actors": summary.actors, "gpu": summary.gpu,
                         "seconds": round(time.perf_counter() - start, 3)})
        else:
            _echo(f"provider: {', '.join(summary.providers) or 'none'} ({summary.actors} "
                  f"{'GPU' if summary.gpu else 'CPU'} actors)")
            typer.echo(f"wrote {len(summary.written)} of {len(summary.results)} files to {output} "
                       f"in {time.perf_counter() - start:.2f}s")
        if summary.errors:
            raise DataError(f"{len(summary.errors)} of {len(summary.results)} inputs failed, listed in "
                            f"{output / 'errors.json'} (first: {summary.errors[0].error}); fix them and rerun those")
        return
    if len(source) != 1:
        raise DataError(f"--engine local takes one input, got {len(source)}; pass one, or use --engine ray")
    source = source[0]
    from crsae.serving.infer import infer as run_infer
    progress, task = (None, None) if quiet else (_progress(), None)

    def report(done, total):
        nonlocal task
        if progress is None:
            return
        if task is None:
            task = progress.add_task("infer", total=total, status="")
        progress.update(task, completed=done, total=total)

    start = time.perf_counter()
    if progress is not None:
        progress.start()
    try:
        summary = run_infer(model, source, output, outputs=outputs.value, events=events,
                            event_threshold=event_threshold, sampling_rate=sampling_rate, device=device.value,
                            batch_size=batch_size, chunk=chunk, threads=threads, raw_dtype=raw_dtype,
                            raw_channels=raw_channels, noise_sigma=noise_sigma, progress=report)
    finally:
        if progress is not None:
            progress.stop()
    if json_output:
        _print_json({"written": list(summary.written), "provider": summary.provider,
                     "fallback_reason": summary.fallback_reason, "items": summary.items,
                     "events": summary.events if events else None, "seconds": round(time.perf_counter() - start, 3)})
        return
    note = f" ({summary.fallback_reason})" if summary.fallback_reason else ""
    _echo(f"provider: {summary.provider}{note}")
    typer.echo(f"wrote {', '.join(summary.written)}" + (f" ({summary.events} events)" if events else "")
               + f" in {time.perf_counter() - start:.2f}s")


# --- denoise ------------------------------------------------------------------------------------------------
@app.command()
def denoise(
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="A noisy image, or a folder of images.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="The denoised image (.png, .tif), or a new folder "
                                                                  "for a folder input; written at the input's depth.")],
    model: Annotated[Optional[Path], typer.Option(help="A crsae 2-D export with a reconstruction output (default: "
                                                       "the image model shipped with crsae).")] = None,
    sigma: Annotated[Optional[str], typer.Option(help="Noise std on the 0-255 scale of 8-bit pixels (e.g. 25), or "
                                                      "auto (estimated per image); needs a model exported with "
                                                      "--noise-input. Default: the model's own sigma.")] = None,
    device: Annotated[Device, typer.Option(help="auto: CUDA if it really works, else CPU (says which); "
                                                "cuda, tensorrt: strict; cpu.")] = Device.auto,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for onnxruntime.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary (files written, provider, model, "
                                                             "seconds) as one JSON object.")] = False,
):
    """Denoise an image (or a folder of images) with the shipped image model, through onnxruntime (no torch)."""
    _needs("denoise", ("onnxruntime",))
    from crsae.serving.denoise import denoise as run_denoise, shipped_model
    from crsae.serving.infer import check_options
    check_options(threads=threads)
    start = time.perf_counter()
    summary = run_denoise(source, output, model=model, sigma=_noise_sigma_option("--sigma", sigma),
                          device=device.value, threads=threads)
    used = str(model if model is not None else shipped_model())
    if json_output:
        _print_json({"written": list(summary.written), "model": used, "provider": summary.provider,
                     "fallback_reason": summary.fallback_reason, "images": summary.items,
                     "seconds": round(time.perf_counter() - start, 3)})
        return
    note = f" ({summary.fallback_reason})" if summary.fallback_reason else ""
    _echo(f"provider: {summary.provider}{note}")
    typer.echo(f"wrote {', '.join(summary.written)} ({summary.items} image{'s' if summary.items != 1 else ''}) "
               f"in {time.perf_counter() - start:.2f}s")


def _noise_sigma_option(option: str, text: Optional[str]):
    """A noise level option: None, "auto", or a number >= 0; DataError otherwise."""
    from crsae.errors import DataError
    if text is None or text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise DataError(f"{option} must be a number >= 0 or auto, got {text!r}")
    return value


# --- evaluate -----------------------------------------------------------------------------------------------
@app.command()
def evaluate(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="2-D checkpoint (.pt, torch) or export (.onnx, "
                                               "onnxruntime: no torch needed).")],
    data: Annotated[Path, typer.Option(help="Folder of test images (e.g. ../shared/data/BSD68).")],
    noise_sigma: Annotated[float, typer.Option(help="Test noise std on the [0, 1] scale (25/255 = 0.098).")] = 25 / 255,
    crop: Annotated[Optional[int], typer.Option(help="Centre crop side (faster).")] = None,
    max_images: Annotated[Optional[int], typer.Option(help="First N images only.")] = None,
    seed: Annotated[int, typer.Option(help="Test-noise seed (numpy; the same noisy images for .pt and .onnx).")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads of an .onnx model (default: every core).")] = None,
    thresholds: Annotated[Optional[Thresholds], typer.Option(
        help="A model exported with --noise-input: thresholds at the test --noise-sigma (given, its default), at "
             "each image's own estimate (auto) or at the model's sigma (frozen, every other model's only "
             "choice).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the scores as one JSON object.")] = False,
):
    """Denoising PSNR (peak 255 on 8-bit images) of noisy vs denoised test images."""
    from crsae.errors import ConfigError
    from crsae.metrics import denoise_score
    from crsae.readers import load_images
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if model_path.suffix == ".onnx":
        _needs("evaluate", ("onnxruntime",))
        from crsae.serving.runtime import Encoder
        encoder = Encoder(model_path, device="cpu", threads=threads)
        if encoder.kind != "2d":
            raise ConfigError(f"{model_path.name} is a 1-D model; denoising PSNR is for 2-D (image) models")
        encoder.require_output("reconstruction")
        channels, min_size = encoder.channels, encoder.min_size
        if thresholds is None:
            thresholds = Thresholds.given if encoder.noise_input else Thresholds.frozen
        if thresholds is not Thresholds.frozen and not encoder.noise_input:
            raise ConfigError(f"--thresholds {thresholds.value} needs a model that takes the noise level; "
                              f"{model_path.name} has its thresholds frozen at sigma "
                              f"{encoder.metadata['sigma']:.6g}: export it with --noise-input, or drop --thresholds")
        level = {Thresholds.given: noise_sigma, Thresholds.auto: "auto", Thresholds.frozen: None}[thresholds]

        def denoise(noisy):
            return encoder.reconstruct(noisy, noise_sigma=level)
    else:
        _needs("evaluate", TRAINING)
        import torch
        from crsae.model.checkpoint import load_model
        model = load_model(model_path)
        if model.config.kind != "2d":
            raise ConfigError(f"{model_path.name} is a 1-D model; denoising PSNR is for 2-D (image) models")
        if thresholds not in (None, Thresholds.frozen):
            raise ConfigError(f"--thresholds {thresholds.value} is for an export made with --noise-input; "
                              f"{model_path.name} (torch) thresholds at its own sigma: export it with --noise-input "
                              "and evaluate the .onnx, or drop --thresholds")
        thresholds = Thresholds.frozen
        channels, min_size = model.config.channels, model.config.min_size

        @torch.no_grad()
        def denoise(noisy):
            return model(torch.from_numpy(noisy))[0].numpy()     # (reconstruction, codes)
    images = load_images(data, channels, max_images)
    score = denoise_score(denoise, images, noise_sigma, seed=seed, crop=crop, min_size=min_size, channels=channels)
    result = {"images": score.count, "noise_sigma": noise_sigma, "thresholds": thresholds.value,
              "noisy_psnr": round(score.noisy_psnr, 3), "denoised_psnr": round(score.denoised_psnr, 3)}
    if json_output:
        _print_json(result)
        return
    typer.echo(f"PSNR (peak 255) on {score.count} images with noise sigma {noise_sigma:.4g} (thresholds "
               f"{thresholds.value}): noisy {result['noisy_psnr']:.2f} dB, denoised {result['denoised_psnr']:.2f} dB")


# --- info ---------------------------------------------------------------------------------------------------
@app.command()
def info(path: Annotated[Path, typer.Argument(help="A checkpoint (.pt) or an exported model (.onnx).")],
         json_output: Annotated[bool, typer.Option("--json", help="Print it all as one JSON object.")] = False):
    """Print the config of a checkpoint or the metadata of an exported model (--json: as JSON)."""
    if path.suffix == ".onnx":
        _needs("info", ("onnxruntime",))
        from crsae import contract
        from crsae.serving.runtime import Encoder
        metadata = Encoder(path, device="cpu").metadata
        order = contract.contract()["metadata_keys"]                # the contract's order, not onnxruntime's
        result = {k: metadata[k] for k in sorted(metadata, key=lambda k: (k not in order, order.index(k)
                                                                           if k in order else 0, k))}
    else:
        _needs("info", TRAINING)
        from crsae.model.checkpoint import read_checkpoint
        state = read_checkpoint(path)
        result = {k: state.get(k) for k in ("crsae_version", "model_config", "train_config", "data", "epoch",
                                            "history")}
    if json_output:
        _print_json(result)
    else:
        _print_fields(result)


def _print_fields(data: dict, indent: str = "") -> None:
    """A nested dict as indented ``key: value`` lines (lists of numbers on one line, lists of records counted)."""
    for key, value in data.items():
        if isinstance(value, dict):
            typer.echo(f"{indent}{key}:")
            _print_fields(value, indent + "  ")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            typer.echo(f"{indent}{key}: {len(value)} records (--json lists them)")
        elif isinstance(value, list):
            typer.echo(f"{indent}{key}: " + ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value))
        else:
            typer.echo(f"{indent}{key}: {value}")


# --- clean --------------------------------------------------------------------------------------------------
@app.command()
def clean(folder: Annotated[Path, typer.Argument(help="A folder crsae wrote into.")],
          remove: Annotated[bool, typer.Option(help="Remove the temporaries listed as removable (default: only "
                                                    "list them).")] = False,
          json_output: Annotated[bool, typer.Option("--json", help="Print the list as one JSON object.")] = False):
    """List the temporary files that killed crsae runs (this version, earlier ones, crsae-node) left in FOLDER,
    and with --remove delete those no running process can still be writing."""
    from crsae.files import find_temporaries, remove_temporary
    found = find_temporaries(folder)
    removed = []
    for temporary in found if remove else ():
        if temporary.removable:
            remove_temporary(temporary)
            removed.append(temporary)
    if json_output:
        _print_json({"folder": str(folder), "removed": remove,
                     "temporaries": [{"path": str(t.path), "removable": t.removable, "reason": t.reason,
                                      "removed": t in removed} for t in found]})
        return
    for t in found:
        state = "removed" if t in removed else "removable" if t.removable else "kept"
        typer.echo(_printable(f"{state:<9} {t.path}  ({t.reason})"))
    can = sum(t.removable for t in found)
    typer.echo(f"{len(found)} temporaries in {folder}: " + (f"{len(removed)} removed" if remove else
                                                           f"{can} removable (crsae clean --remove {folder})"))


# --- demo ---------------------------------------------------------------------------------------------------
@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the checkpoint, model and outputs go.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 15,
    quiet: Annotated[bool, typer.Option(help="No progress lines, only the report.")] = False,
):
    """The main job on built-in data: train a small 1-D model on simulated signals, export it to ONNX, run it
    under onnxruntime and report the dictionary recovery and the ORT-vs-torch parity."""
    _needs("demo", EXPORT)
    from crsae.demo import run_demo
    for line in run_demo(workdir, epochs=epochs, log=(lambda line: None) if quiet else _echo):
        typer.echo(line)


# --- experiment ---------------------------------------------------------------------------------------------
experiment_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="The paper's experiments: each writes results.json and PNG "
                                                        "figures; quick by default, --full for the full-size run.")
app.add_typer(experiment_app, name="experiment")


def _register_experiments() -> None:
    from crsae.experiments import denoise, recovery, spikes
    experiment_app.command("recovery")(recovery.command)
    experiment_app.command("denoise")(denoise.command)
    experiment_app.command("spikes")(spikes.command)


_register_experiments()


def _register_sort() -> None:
    from crsae.sorting.command import command as sort_command   # spikeinterface and torch load when it runs
    app.command("sort")(sort_command)


_register_sort()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
