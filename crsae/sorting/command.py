"""``crsae sort RECORDING -o OUTDIR``: fit a CRsAE sorter on the recording (or load one), sort the whole
recording through the ONNX encoder with a progress bar, write the Sorting and a Phy folder.

OUTDIR/sorter/      the fitted sorter (model.onnx, sorter.json, sorter.npz): ``--sorter OUTDIR/sorter`` reuses it
OUTDIR/sorting/     the spikeinterface Sorting (``spikeinterface.load(OUTDIR/sorting)``)
OUTDIR/amplitudes.npy  CRsAE's amplitude of every spike, in ``sorting.to_spike_vector()`` order
OUTDIR/phy/         the Phy template-gui folder (``phy template-gui OUTDIR/phy/params.py``), unless --no-phy
OUTDIR/summary.json units, spike counts, timings

Every option and OUTDIR (new or empty, in a writable folder, not an input) is checked before the recording is
read; OUTDIR is filled under a temporary name beside it and renamed when complete, so a failed or killed run
leaves no partial results (``crsae.files.atomic_folder``).
"""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from crsae.errors import DataError


class SampleType(str, Enum):
    """Sample types of a raw binary recording (as ``crsae infer --raw-dtype`` names them)."""
    int16 = "int16"
    uint16 = "uint16"
    int32 = "int32"
    float32 = "float32"
    float64 = "float64"


class ChannelLayout(str, Enum):
    """How the filters span the probe (SorterParams.channels)."""
    all = "all"
    local = "local"


def command(
    recording: Annotated[Path, typer.Argument(help="A saved spikeinterface recording (folder or .json/.pkl), a raw "
                                                   ".bin/.dat/.raw file, or with --format any format "
                                                   "spikeinterface reads.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (created; must be empty or new).")],
    format: Annotated[Optional[str], typer.Option(help="spikeinterface reader: openephys, spikeglx, nwb, "
                                                       "intan, maxwell, ... (read_<format>).")] = None,
    stream_id: Annotated[Optional[str], typer.Option(help="Stream of a multi-stream format.")] = None,
    sampling_rate: Annotated[Optional[float], typer.Option(help="Raw binary: sampling rate (Hz).")] = None,
    num_channels: Annotated[Optional[int], typer.Option(help="Raw binary: channels.")] = None,
    dtype: Annotated[Optional[SampleType], typer.Option("--raw-dtype", "--dtype", help="Raw binary: sample type.")]
    = None,
    gain: Annotated[Optional[float], typer.Option(help="Raw binary: microvolts per unit.")] = None,
    probe: Annotated[Optional[Path], typer.Option(help="A probeinterface .json giving the channel geometry (for "
                                                       "formats without it, e.g. raw binary).")] = None,
    channels: Annotated[Optional[ChannelLayout], typer.Option(help="Filters span 'all' channels (one model) or 'local' "
                                                         "neighbourhoods (a model per probe block; needs the "
                                                         "geometry). Default: the sorter's.")] = None,
    motion: Annotated[Optional[str], typer.Option(help="Correct the probe's drift first: a spikeinterface "
                                                       "correct_motion preset (dredge_fast, rigid_fast, dredge, "
                                                       "...; needs the geometry). Default: the sorter's (none).")]
    = None,
    motion_sigma_um: Annotated[Optional[float], typer.Option(help="--motion: width (um) of the kriging kernel that "
                                                                  "interpolates the corrected traces. Default: the "
                                                                  "sorter's (30; 20 for sorters saved before it).")]
    = None,
    sorter: Annotated[Optional[Path], typer.Option(help="A fitted sorter folder to reuse (no fitting, no "
                                                        "torch needed).")] = None,
    num_units: Annotated[Optional[int], typer.Option(help="Expected units (a hint for the k-means k).")] = None,
    fit_seconds: Annotated[float, typer.Option(help="Seconds from the start to learn templates on.")] = 60.0,
    epochs: Annotated[int, typer.Option(help="CRsAE EM epochs after k-means (0: k-means templates).")] = 2,
    num_layers: Annotated[int, typer.Option(help="T, unrolled FISTA steps of the encoder.")] = 20,
    rank: Annotated[Optional[int], typer.Option(help="Fitting: the dictionary is the rank-r SVD truncation of the "
                                                     "trained filters (spatial x temporal), coded through its "
                                                     "factors; 0: the trained filters. Default: the sorter's (3).")]
    = None,
    threads: Annotated[int, typer.Option(help="onnxruntime threads (chunks run concurrently, one each).")] = 1,
    phy: Annotated[bool, typer.Option(help="Write the Phy folder.")] = True,
    copy_binary: Annotated[bool, typer.Option(help="Phy folder: copy the filtered recording as recording.dat "
                                                   "(Phy's waveform view needs it).")] = True,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary (units, spikes, timings) as one "
                                                             "JSON object.")] = False,
):
    """Spike-sort a recording with CRsAE: templates learned from it (k-means of snippets, then EM), spikes from
    the exported ONNX encoder, a spikeinterface Sorting and a Phy folder out."""
    from crsae import extras
    extras.require("spikeinterface", "sklearn", what="crsae sort")
    extras.onnxruntime(what="crsae sort")
    if sorter is None:
        extras.require("torch", "onnx", "onnxscript", what="crsae sort (fitting; pass --sorter to reuse one)")
    from crsae.files import atomic_folder
    from crsae.sorting.recording import attach_probe, read_recording
    from crsae.sorting.sorter import CRsAESorter
    check_options(output, recording=recording, sorter=sorter, sampling_rate=sampling_rate, gain=gain,
                  threads=threads, rank=rank, motion=motion, motion_sigma_um=motion_sigma_um)
    rec = read_recording(recording, format=format, sampling_frequency=sampling_rate, num_channels=num_channels,
                         dtype=None if dtype is None else dtype.value, gain_to_uV=gain,
                         offset_to_uV=0.0 if gain is not None else None,
                         stream_id=stream_id)
    if probe is not None:
        rec = attach_probe(rec, probe)
    echo = lambda line: typer.echo(line, err=True)                                  # noqa: E731
    if sorter is not None:
        model = CRsAESorter.load(sorter)
        if channels is not None:
            model.params = model.params.replace(channels=channels.value)
        if motion is not None:
            model.params = model.params.replace(motion=motion)
        if motion_sigma_um is not None:
            if model.params.motion is None:
                raise DataError(f"--motion-sigma-um sets how --motion interpolates the corrected traces, and the "
                                f"sorter {sorter} corrects no motion; add --motion PRESET (e.g. dredge_fast)")
            model.params = model.params.replace(motion_sigma_um=motion_sigma_um)
    else:
        model = CRsAESorter(num_units=num_units, fit_seconds=fit_seconds, epochs=epochs, num_layers=num_layers,
                            **({} if channels is None else {"channels": channels.value}),
                            **({} if motion is None else {"motion": motion}),
                            **({} if motion_sigma_um is None else {"motion_sigma_um": motion_sigma_um}),
                            **({} if rank is None else {"rank": rank or None}))
    with atomic_folder(output) as folder:        # every file in a temporary folder, renamed onto OUTDIR at the end
        summary = {"recording": str(recording),
                   **_sort(rec, model, folder, fit=sorter is None, threads=threads, phy=phy,
                           copy_binary=copy_binary, quiet=quiet, log=echo),
                   "phy": str(output / "phy") if phy else None}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if json_output:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{summary['units']} units, {summary['spikes']} spikes in {summary['seconds']:.1f} s of recording; "
               f"sorted in {summary['sort_s']:.1f} s ({summary['times_real_time']:.2f}x real time, {threads} "
               f"thread(s)); results in {output}")


def check_options(output: Path, *, recording: Path, sorter: Path | None, sampling_rate: float | None,
                  gain: float | None, threads: int, rank: int | None = None, motion: str | None = None,
                  motion_sigma_um: float | None = None) -> None:
    """Refuse, before the recording is read, a bad option value or an output folder that cannot be made: OUTDIR
    must be new (or an empty folder) in a writable folder, and neither the recording nor --sorter."""
    import math
    from crsae.files import check_output, make_runs_folder
    if sampling_rate is not None and not (math.isfinite(sampling_rate) and sampling_rate > 0):
        raise DataError(f"--sampling-rate must be a positive number of Hz, got {sampling_rate!r}")
    if gain is not None and not (math.isfinite(gain) and gain != 0):
        raise DataError(f"--gain must be a finite, non-zero number of microvolts per unit, got {gain!r}")
    if threads < 1:
        raise DataError(f"--threads must be at least 1, got {threads}")
    if rank is not None and rank < 0:
        raise DataError(f"--rank must be 0 (the trained filters) or a positive integer, got {rank}")
    if rank is not None and sorter is not None:
        raise DataError("--rank sets how a fit truncates its filters; a --sorter keeps the rank it was fitted with "
                        "(fit again, or re-export it with CRsAESorter.with_rank)")
    if motion is not None:
        from crsae.sorting.recording import check_motion
        check_motion(motion)
    if motion_sigma_um is not None and not (math.isfinite(motion_sigma_um) and motion_sigma_um > 0):
        raise DataError(f"--motion-sigma-um must be a positive number of micrometres, got {motion_sigma_um!r}")
    if motion_sigma_um is not None and motion is None and sorter is None:
        raise DataError("--motion-sigma-um sets how --motion interpolates the corrected traces; add --motion "
                        "PRESET (e.g. dredge_fast)")
    make_runs_folder(output)                    # -o runs/sort1 in a fresh folder, as the README shows
    check_output(output, what="--output", folder=True, inputs=[recording, sorter])
    if output.is_dir() and any(output.iterdir()):
        raise DataError(f"--output {output} is a folder that is not empty; pass a new folder")


def _sort(rec, model, folder: Path, *, fit: bool, threads: int, phy: bool, copy_binary: bool, quiet: bool,
          log) -> dict:
    """Fit (unless ``model`` is loaded), sort and write everything into ``folder``; returns the summary."""
    import numpy as np
    from crsae.sorting.sorter import export_phy
    start = time.perf_counter()
    if fit:
        model.fit(rec, folder / "sorter", log=log)
    fit_s = time.perf_counter() - start
    fs = rec.get_sampling_frequency()
    total_s = sum(rec.get_num_samples(s) for s in range(rec.get_num_segments())) / fs
    start = time.perf_counter()
    if quiet:
        sorting, amplitudes = model.sort(rec, threads=threads, return_amplitudes=True)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        with Progress(TextColumn("sorting"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                      TimeElapsedColumn(), TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("sort", total=total_s)
            sorting, amplitudes = model.sort(rec, threads=threads, return_amplitudes=True,
                                             progress=lambda done, total: bar.update(task, completed=done / fs))
    sort_s = time.perf_counter() - start
    import warnings
    with warnings.catch_warnings():
        # the sorting is crsae's, in memory (a NumpySorting): spikeinterface saves all of it but no provenance (the
        # recipe that rebuilds an extractor; summary.json records the recording and sorter) and says so with a
        # UserWarning on every save. That one message only: it tells nothing about the data
        warnings.filterwarnings("ignore", message="The extractor is not serializable to file", category=UserWarning)
        sorting.save(folder=folder / "sorting", overwrite=True)
    np.save(folder / "amplitudes.npy", amplitudes)
    if phy:
        export_phy(sorting, rec, folder / "phy", sorter=model, amplitudes=amplitudes, copy_binary=copy_binary,
                   threads=threads)
    counts = {str(u): int(len(sorting.get_unit_spike_train(u, segment_index=s)))
              for u in sorting.unit_ids for s in range(sorting.get_num_segments())}
    return {"seconds": total_s, "channels": rec.get_num_channels(), "units": len(sorting.unit_ids),
            "spikes": int(sum(counts.values())), "spikes_per_unit": counts, "fit_s": fit_s, "sort_s": sort_s,
            "times_real_time": total_s / sort_s if sort_s else None,
            "sort_stages": model.timings, "channels_mode": model.params.channels, "motion": model.params.motion,
            "motion_sigma_um": model.params.motion_sigma_um if model.params.motion else None, "threads": threads}
