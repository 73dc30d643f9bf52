"""Batch inference over many files with Ray Data: ``infer_files`` (``crsae infer --engine ray``).

The input files (.npy shards, .npz archives, images, raw recordings; a folder stands for the supported files
directly in it) become a Ray dataset of paths, mapped by a pool of actors that each hold one onnxruntime session
(``crsae.serving.runtime.Encoder``): GPU actors (one GPU each) when the cluster has GPUs and ``device`` is not "cpu",
CPU actors otherwise. Each actor reads a file with ``crsae.readers.read_input`` and writes its outputs with
``crsae.serving.infer.write_outputs``, exactly as single-process ``crsae infer`` would for that file:

- ``NAME.npy``: the ``outputs`` output of a file holding one array (or one image, or one long recording);
- ``NAME.npz``: every output of every array, for ``outputs="both"`` or files holding several arrays;
- ``NAME.png`` (``NAME.tiff`` for float images): the denoised image, for an image file with ``outputs="reconstruction"``.

A file that fails (unreadable, wrong shape, NaN) is listed in ``errors.json`` (``[{"input", "error"}]``) and in
the returned summary; the other files are still written. Everything goes to a temporary folder beside ``output``
that is renamed into place at the end, so an interrupted run leaves no partial output folder. Actors write the
files themselves, so on a multi-node cluster ``output`` must be on a filesystem every node sees.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from crsae.readers import IMAGE_SUFFIXES
from crsae.errors import CrsaeError, DataError, MissingDependencyError, ProviderUnavailableError, ShapeError
from crsae.files import atomic_folder
from crsae.serving.infer import OUTPUTS, image_suffix, write_outputs
from crsae.readers import RAW_SUFFIXES, read_input
from crsae.serving.runtime import Encoder

logger = logging.getLogger(__name__)

SUFFIXES = (".npy", ".npz") + IMAGE_SUFFIXES + RAW_SUFFIXES
RAY_HINT = "install the Ray extra: pip install 'crsae[ray]'"
ERRORS_FILE = "errors.json"


@dataclass
class FileResult:
    input: str                   # the input file
    output: str | None           # the file written in the output folder, or None when it failed
    error: str | None = None     # the one-line error of a failed file
    provider: str | None = None  # the execution provider that ran it


@dataclass
class RayInferSummary:
    output: Path                                 # the output folder
    actors: int                                  # actors in the pool
    gpu: bool                                    # whether the actors were GPU actors
    results: list[FileResult] = field(default_factory=list)

    @property
    def written(self) -> list[FileResult]:
        return [r for r in self.results if r.error is None]

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.results if r.error is not None]

    @property
    def providers(self) -> list[str]:
        return sorted({r.provider for r in self.results if r.provider})


def list_sources(sources) -> list[Path]:
    """The input files of ``sources`` (files, and folders standing for their supported files), in order.

    Raises DataError for a missing path, a folder without supported files, or two inputs with the same name
    (their outputs would collide).
    """
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    files: list[Path] = []
    for source in map(Path, sources):
        if not source.exists():
            raise DataError(f"input {source} does not exist; pass existing files or folders")
        if source.is_dir():
            found = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            if not found:
                raise DataError(f"{source} holds no .npy/.npz, image or raw recording files; pass another folder")
            files += found
        else:
            files.append(source)
    if not files:
        raise DataError("no input files given; pass .npy/.npz files, images, recordings or folders of them")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise DataError(f"inputs {seen[f.stem]} and {f} share the name {f.stem!r}, so their outputs would "
                            "collide; rename one or run them separately")
        seen[f.stem] = f
    return files


def process_file(encoder: Encoder, path: str | os.PathLike, folder: str | os.PathLike, *, outputs: str = "codes",
                 chunk: int = 32768, raw_dtype: str | None = None, raw_channels: int | None = None) -> FileResult:
    """Run ``encoder`` on one input file and write its output into ``folder``; a failure becomes the error."""
    path, folder = Path(path), Path(folder)
    names = OUTPUTS[outputs]
    try:
        items = read_input(path, kind=encoder.kind, channels=encoder.channels, raw_dtype=raw_dtype,
                           raw_channels=raw_channels, long_from=chunk)
        if outputs == "reconstruction" and len(items) == 1 and items[0].image:
            suffix = image_suffix(items[0])
        else:
            suffix = ".npy" if outputs != "both" and len(items) == 1 else ".npz"
        target = folder / f"{path.stem}{suffix}"
        write_outputs(encoder, items, target, names=names, outputs=outputs, chunk=chunk)
    except (CrsaeError, OSError, ValueError) as err:   # one bad file must not stop the others
        logger.warning("%s failed: %s", path, err)
        return FileResult(str(path), None, str(err).splitlines()[0] if str(err) else type(err).__name__,
                          encoder.provider)
    return FileResult(str(path), target.name, None, encoder.provider)


class EncoderActor:
    """A Ray Data actor: one ``Encoder`` (one onnxruntime session), reused for every file it is given."""

    def __init__(self, model: str, folder: str, *, outputs: str, chunk: int, batch_size: int | None, device: str,
                 threads: int | None, raw_dtype: str | None, raw_channels: int | None):
        self.encoder = Encoder(model, device=device, threads=threads, batch_size=batch_size)
        self.folder = folder
        self.options = dict(outputs=outputs, chunk=chunk, raw_dtype=raw_dtype, raw_channels=raw_channels)

    def __call__(self, batch: dict) -> dict:
        results = [process_file(self.encoder, str(p), self.folder, **self.options) for p in batch["path"]]
        return {"input": [r.input for r in results], "output": [r.output or "" for r in results],
                "error": [r.error or "" for r in results], "provider": [r.provider or "" for r in results]}


def infer_files(model: str | os.PathLike, sources, output: str | os.PathLike, *, outputs: str = "codes",
                batch_size: int | None = None, chunk: int = 32768, device: str = "auto", threads: int | None = None,
                raw_dtype: str | None = None, raw_channels: int | None = None, actors: int | None = None,
                address: str | None = None, progress: bool = False) -> RayInferSummary:
    """Run ``model`` over many files as a Ray Data pipeline and write one output per file into folder ``output``.

    Parameters
    ----------
    model : .onnx file written by ``crsae export``
    sources : a file, a folder, or a list of them (see ``list_sources``)
    output : a new (or empty) folder
    outputs : "codes", "reconstruction" or "both"
    batch_size, chunk, device, raw_dtype, raw_channels : as for ``crsae.serving.infer.infer``
    threads : onnxruntime CPU threads per actor (default 1 on CPU actors); each CPU actor reserves that many CPUs
    actors : actors in the pool (default: one per GPU, else one per ``threads`` CPUs; never more than the files)
    address : a running Ray cluster to use (default: the one this process is connected to, else a local one,
        shut down at the end)
    progress : show Ray Data's progress bars

    Returns
    -------
    summary : RayInferSummary, with one FileResult per input (in input order) and the failed ones in ``errors``
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"--engine ray needs Ray, which is not installed; {RAY_HINT}") from None
    if outputs not in OUTPUTS:
        raise DataError(f"--outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
    if chunk < 1:
        raise ShapeError(f"--chunk must be at least 1, got {chunk}")
    if actors is not None and actors < 1:
        raise DataError(f"--actors must be at least 1, got {actors}")
    output = Path(output)
    if output.suffix.lower() in (".npy", ".npz"):
        raise DataError(f"output {output} is a file; with --engine ray the output is a folder (one file per input)")
    files = list_sources(sources)
    probe = Encoder(model, device="cpu", threads=1)    # a bad model fails here, before Ray starts
    for name in OUTPUTS[outputs]:
        probe.require_output(name)
    del probe
    started = False
    try:
        with atomic_folder(output) as staging:
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
                started = True
            summary = _run_pipeline(ray, Path(model).resolve(), files, staging.resolve(), outputs=outputs,
                                    batch_size=batch_size, chunk=chunk, device=device, threads=threads,
                                    raw_dtype=raw_dtype, raw_channels=raw_channels, actors=actors,
                                    progress=progress)
            summary.output = output
            if summary.errors:
                (staging / ERRORS_FILE).write_text(json.dumps(
                    [{"input": r.input, "error": r.error} for r in summary.errors], indent=2) + "\n")
    finally:
        if started:
            ray.shutdown()
    return summary


def _run_pipeline(ray, model: Path, files: list[Path], staging: Path, *, outputs, batch_size, chunk, device,
                  threads, raw_dtype, raw_channels, actors, progress) -> RayInferSummary:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    gpu = device != "cpu" and gpus > 0
    if device == "cuda" and not gpu:
        raise ProviderUnavailableError("--device cuda: the Ray cluster has no GPUs; use --device auto or cpu")
    threads_per_actor = threads or (None if gpu else 1)
    size = actors or (gpus if gpu else max(1, cpus // threads_per_actor))
    size = min(size, len(files))
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress
    dataset = ray.data.from_items([{"path": str(f.resolve())} for f in files], override_num_blocks=len(files))
    mapped = dataset.map_batches(
        EncoderActor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=size),
        num_gpus=1 if gpu else 0, num_cpus=1 if gpu else threads_per_actor,
        fn_constructor_kwargs=dict(model=str(model), folder=str(staging), outputs=outputs, chunk=chunk,
                                   batch_size=batch_size, device=device, threads=threads_per_actor,
                                   raw_dtype=raw_dtype, raw_channels=raw_channels))
    rows = {row["input"]: row for row in mapped.take_all()}
    results = []
    for f in files:
        row = rows[str(f.resolve())]
        results.append(FileResult(str(f), row["output"] or None, row["error"] or None, row["provider"] or None))
    return RayInferSummary(staging, size, gpu, results)
