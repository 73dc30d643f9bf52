"""``crsae sort RECORDING -o OUTDIR``: fit a CRsAE sorter on the recording (or load one), sort the whole
recording through the ONNX encoder with a progress bar, write the Sorting and a Phy folder.

OUTDIR/sorter/      the fitted sorter (model.onnx, sorter.json, sorter.npz): ``--sorter OUTDIR/sorter`` reuses it
OUTDIR/sorting/     the spikeinterface Sorting (``spikeinterface.load(OUTDIR/sorting)``)
OUTDIR/amplitudes.npy  CRsAE's amplitude of every spike, in ``sorting.to_spike_vector()`` order
OUTDIR/phy/         the Phy template-gui folder (``phy template-gui OUTDIR/phy/params.py``), unless --no-phy
OUTDIR/summary.json units, spike counts, timings
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
    sorter: Annotated[Optional[Path], typer.Option(help="A fitted sorter folder to reuse (no fitting, no "
                                                        "torch needed).")] = None,
    num_units: Annotated[Optional[int], typer.Option(help="Expected units (a hint for the k-means k).")] = None,
    fit_seconds: Annotated[float, typer.Option(help="Seconds from the start to learn templates on.")] = 60.0,
    epochs: Annotated[int, typer.Option(help="CRsAE EM epochs after k-means (0: k-means templates).")] = 2,
    num_layers: Annotated[int, typer.Option(help="T, unrolled FISTA steps of the encoder.")] = 20,
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
    from crsae.sorting.recording import attach_probe, read_recording
    from crsae.sorting.sorter import CRsAESorter, export_phy
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise DataError(f"output {output} exists and is not an empty folder; pass a new folder")
    rec = read_recording(recording, format=format, sampling_frequency=sampling_rate, num_channels=num_channels,
                         dtype=None if dtype is None else dtype.value, gain_to_uV=gain, offset_to_uV=0.0 if gain is not None else None,
                         stream_id=stream_id)
    if probe is not None:
        rec = attach_probe(rec, probe)
    echo = lambda line: typer.echo(line, err=True)                                  # noqa: E731
    start = time.perf_counter()
    if sorter is not None:
        model = CRsAESorter.load(sorter)
        if channels is not None:
            model.params = model.params.replace(channels=channels.value)
    else:
        model = CRsAESorter(num_units=num_units, fit_seconds=fit_seconds, epochs=epochs, num_layers=num_layers,
                            **({} if channels is None else {"channels": channels.value}))
        model.fit(rec, output / "sorter", log=echo)
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
    output.mkdir(parents=True, exist_ok=True)
    import numpy as np
    sorting.save(folder=output / "sorting", overwrite=True)
    np.save(output / "amplitudes.npy", amplitudes)
    if phy:
        export_phy(sorting, rec, output / "phy", sorter=model, amplitudes=amplitudes, copy_binary=copy_binary,
                   threads=threads)
    counts = {str(u): int(len(sorting.get_unit_spike_train(u, segment_index=s)))
              for u in sorting.unit_ids for s in range(sorting.get_num_segments())}
    summary = {"recording": str(recording), "seconds": total_s, "channels": rec.get_num_channels(),
               "units": len(sorting.unit_ids), "spikes": int(sum(counts.values())), "spikes_per_unit": counts,
               "fit_s": fit_s, "sort_s": sort_s, "times_real_time": total_s / sort_s if sort_s else None,
               "sort_stages": model.timings, "channels_mode": model.params.channels,
               "threads": threads, "phy": str(output / "phy") if phy else None}
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if json_output:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"{summary['units']} units, {summary['spikes']} spikes in {total_s:.1f} s of recording; sorted in "
               f"{sort_s:.1f} s ({summary['times_real_time']:.2f}x real time, {threads} thread(s)); "
               f"results in {output}")
