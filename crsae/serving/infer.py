"""``crsae infer``: run an exported model over files and write codes, reconstructions, images and events.

Every option and output path is checked before the model runs (``check_options``, ``crsae.files.check_output``);
outputs go to temporary names and are renamed into place only when everything succeeded, all of them together
(``--events`` with the codes: both or neither). A long recording is read and its outputs written through bounded
windows (``crsae.readers.Recording``; ``crsae.files.NpyWriter`` for .npy, ``NpzWriter`` for .npz, member by
member), its events found as each chunk's codes are made (``EventStream``) and written as they come, so the
resident memory follows ``--chunk``, not the file size; every output of a long recording (and its events) comes
from one chunked pass of the model. An .npz output holds one item's outputs in memory at a time.

Denoised images are written at the input's depth: 8-bit inputs as 8-bit PNGs, 16-bit grayscale as 16-bit PNGs
(both clipped to the depth's range), 32-bit float ones as float32 TIFFs (unclipped); what Pillow cannot write
(16-bit or float colour) is refused before the run.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crsae import contract
from crsae.errors import DataError
from crsae.files import NpyWriter, NpzWriter, atomic_folder, atomic_paths, check_output
from crsae.readers import RAW_DTYPES, RAW_SUFFIXES, Item, read_input
from crsae.serving.events import EventStream, detect_events
from crsae.serving.runtime import Encoder

OUTPUTS = {"codes": ["codes"], "reconstruction": ["reconstruction"], "both": ["codes", "reconstruction"]}
IMAGE_OUTPUT_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass
class InferSummary:
    provider: str
    fallback_reason: str | None
    items: int = 0
    written: list[str] = field(default_factory=list)
    events: int = 0


def _number(name: str, value, *, minimum=None, above=None, integer=False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise DataError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise DataError(f"{name} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise DataError(f"{name} must be at least {minimum}, got {value!r}")
    if above is not None and value <= above:
        raise DataError(f"{name} must be greater than {above}, got {value!r}")


def check_options(*, outputs: str = "codes", chunk: int = 32768, event_threshold: float = 0.0,
                  sampling_rate: float | None = None, batch_size: int | None = None, threads: int | None = None,
                  raw_dtype: str | None = None, raw_channels: int | None = None) -> None:
    """Refuse a bad option value before anything is read or written (DataError naming the option)."""
    if outputs not in OUTPUTS:
        raise DataError(f"--outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
    _number("--chunk", chunk, minimum=1, integer=True)
    _number("--event-threshold", event_threshold, minimum=0)
    _number("--sampling-rate", sampling_rate, above=0)
    _number("--batch-size", batch_size, minimum=1, integer=True)
    _number("--threads", threads, minimum=1, integer=True)
    _number("--raw-channels", raw_channels, minimum=1, integer=True)
    if raw_dtype is not None and raw_dtype not in RAW_DTYPES:
        raise DataError(f"--raw-dtype must be one of {', '.join(RAW_DTYPES)}, got {raw_dtype!r}")


def infer(model: str | os.PathLike, source: str | os.PathLike, output: str | os.PathLike, *,
          outputs: str = "codes", events: str | os.PathLike | None = None, event_threshold: float = 0.0,
          sampling_rate: float | None = None, device: str = "auto", batch_size: int | None = None, chunk: int = 32768,
          threads: int | None = None, raw_dtype: str | None = None, raw_channels: int | None = None,
          noise_sigma=None, progress=None) -> InferSummary:
    """Run ``model`` on ``source`` and write ``output`` (.npy, .npz, an image file, or a folder of images for
    image input) and, with ``events``, a CSV of code peaks. ``noise_sigma``: the noise level the thresholds are
    set for (``Encoder.noise_values``: None for the model's own, a number, or "auto")."""
    check_options(outputs=outputs, chunk=chunk, event_threshold=event_threshold, sampling_rate=sampling_rate,
                  batch_size=batch_size, threads=threads, raw_dtype=raw_dtype, raw_channels=raw_channels)
    model, source, output = Path(model), Path(source), Path(output)
    events = None if events is None else Path(events)
    if (raw_dtype is not None or raw_channels is not None) and source.suffix.lower() not in RAW_SUFFIXES:
        raise DataError(f"--raw-dtype and --raw-channels are for raw recordings ({', '.join(RAW_SUFFIXES)}); "
                        f"{source} is not one: drop them")
    suffix = output.suffix.lower()
    if suffix not in (".npy", ".npz", "") + IMAGE_OUTPUT_SUFFIXES:
        raise DataError(f"output {output} must end in .npy or .npz, be an image (.png, .tif) or a folder (for "
                        "images)")
    if events is not None and suffix not in (".npy", ".npz"):
        raise DataError("--events goes with codes in a .npy or .npz output; write the codes there")
    check_output(output, inputs=[model, source], folder=suffix == "", others=[events])
    if events is not None:
        check_output(events, what="--events", inputs=[model, source], others=[output])
    encoder = Encoder(model, device=device, threads=threads, batch_size=batch_size)
    encoder.noise_values(noise_sigma, 1)                                # refuses a value the model cannot take
    names = OUTPUTS[outputs]
    for name in names:
        encoder.require_output(name)
    if events is not None:
        if encoder.kind != "1d":
            raise DataError("--events is for 1-D models; drop it for images")
        encoder.require_output("codes")
    items = read_input(source, kind=encoder.kind, channels=encoder.channels, raw_dtype=raw_dtype,
                       raw_channels=raw_channels, long_from=chunk)
    if noise_sigma == "auto" and any(item.long for item in items):
        raise DataError("--noise-sigma auto would estimate the noise per chunk of a long recording; pass the "
                        "recording's noise std")
    longest = max((item.array.shape[-1] for item in items if item.long), default=None)
    if encoder.step is not None and longest is not None:           # before any output: not chunkable
        raise DataError(contract.message("not_chunkable", model=Path(model).name)
                        + f" (--chunk {longest} or more runs the longest item whole)")
    plan_outputs(encoder, items, output, names=names, outputs=outputs)
    summary = InferSummary(encoder.provider, encoder.fallback_reason, items=len(items))
    if events is None:
        write_outputs(encoder, items, output, names=names, outputs=outputs, chunk=chunk, progress=progress,
                      noise_sigma=noise_sigma)
        summary.written.append(str(output))
        return summary
    with atomic_paths(output, events) as (tmp_output, tmp_events):     # both or neither
        with open(tmp_events, "w", newline="") as f:
            table = EventsTable(f, threshold=event_threshold, min_distance=max(1, encoder.kernel_size // 2),
                                sampling_rate=sampling_rate)
            _fill(encoder, items, output, tmp_output, names=names, outputs=outputs, chunk=chunk,
                  progress=progress, events=table, noise_sigma=noise_sigma)
        summary.events = table.count
    summary.written += [str(output), str(events)]
    return summary


def image_suffix(item: Item) -> str:
    """The file type a denoised image is written as: PNG for 8- and 16-bit inputs, TIFF for float ones."""
    return ".tiff" if item.depth == "float32" else ".png"


def plan_outputs(encoder: Encoder, items: list[Item], output: Path, *, names: list[str], outputs: str) -> None:
    """Refuse, before the run, an output that cannot hold what the run makes (and one that will not fit)."""
    suffix = output.suffix.lower()
    if suffix == ".npy":
        if len(items) != 1:
            raise DataError(f"the input holds {len(items)} arrays or images; write them to a .npz file or a folder")
        if outputs == "both":
            raise DataError("a .npy file holds one output; pass --outputs codes or reconstruction, or write a "
                            ".npz")
    elif suffix in IMAGE_OUTPUT_SUFFIXES or suffix == "":
        if not all(item.image for item in items):
            what = "a folder, which is" if suffix == "" else "an image file, which is"
            raise DataError(f"output {output} is {what} for image input; write arrays to .npy or .npz")
        if suffix and len(items) != 1:
            raise DataError(f"the input holds {len(items)} images; write them to a folder")
        encoder.require_output("reconstruction")
        for item in items:
            _check_image_output(item, suffix or image_suffix(item), output)
        if suffix == "":
            seen: dict[str, str] = {}
            for item in items:
                target = item.name + image_suffix(item)
                if target in seen:
                    raise DataError(f"inputs {seen[target]} and {item.name} would both be written as {target}; "
                                    "rename one")
                seen[target] = item.name
    size = 0
    itemsize = np.dtype(encoder.dtype).itemsize
    for item in items:
        for name in names:
            shape = (encoder.long_output_shape(item.array.shape, name) if item.long
                     else encoder.output_shape(item.array.shape, name))
            size += int(np.prod(shape, dtype=object)) * itemsize
    check_output(output, folder=suffix == "", size=size)


def _check_image_output(item: Item, suffix: str, output: Path) -> None:
    channels = item.array.shape[1]
    if suffix == ".png" and item.depth == "float32":
        raise DataError(f"{item.name} holds float32 pixels, which a PNG cannot hold; write {output.with_suffix('.tiff')} "
                        "instead")
    if channels == 3 and item.depth in ("uint16", "float32"):
        raise DataError(f"{item.name} is a {item.depth} image on a 3-channel model, and Pillow writes {item.depth} "
                        "images in grayscale only; use a 1-channel model or an 8-bit image")


def write_outputs(encoder: Encoder, items: list[Item], output: Path, *, names: list[str], outputs: str,
                  chunk: int = 32768, progress=None, noise_sigma=None) -> None:
    """Run ``encoder`` on ``items`` and write ``output`` atomically, by its suffix (``noise_sigma`` as in ``infer``).

    ``.npy``: the one output ``outputs`` of a single item; ``.npz``: every output in ``names`` of every item
    (keys ``name`` for one item, ``item.name``.``name`` for several); ``.png`` / ``.tif(f)``: the denoised image of
    a single image item; no suffix: a new folder of denoised images (image items, ``image_suffix``).
    """
    output = Path(output)
    plan_outputs(encoder, items, output, names=names, outputs=outputs)
    if output.suffix == "":
        with atomic_folder(output) as tmp:
            for item in items:
                _save_denoised_image(encoder, item, tmp / f"{item.name}{image_suffix(item)}",
                                     noise_sigma=noise_sigma)
                if progress is not None:
                    progress(1, 1)
        return
    with atomic_paths(output) as (tmp,):
        _fill(encoder, items, output, tmp, names=names, outputs=outputs, chunk=chunk, progress=progress,
              noise_sigma=noise_sigma)


def _fill(encoder, items, output: Path, tmp: Path, *, names, outputs, chunk, progress, events=None,
          noise_sigma=None) -> None:
    """Write ``output``'s content into ``tmp`` and, with ``events`` (an EventsTable), every 1-D signal's events
    as its codes are made: a long recording's outputs go to the file window by window, never whole in memory."""
    suffix = output.suffix.lower()
    if suffix == ".npy":
        _write_npy(encoder, items[0], OUTPUTS[outputs][0], tmp, chunk, progress, events, noise_sigma)
    elif suffix == ".npz":
        _write_npz(encoder, items, names, tmp, chunk, progress, events, noise_sigma)
    else:
        _save_denoised_image(encoder, items[0], tmp, suffix, noise_sigma=noise_sigma)


def _save_denoised_image(encoder: Encoder, item: Item, path: Path, suffix: str | None = None, *,
                         noise_sigma=None) -> None:
    """The reconstruction of one (1, channels, Hh, Ww) image item at the input's depth (module doc)."""
    from PIL import Image
    suffix = (suffix or path.suffix).lower()
    image = encoder.reconstruct(item.array, noise_sigma=noise_sigma)[0].astype(np.float64)   # (channels, Hh, Ww)
    if item.depth == "float32":
        pixels = image.astype(np.float32)
    else:
        top = 65535 if item.depth == "uint16" else 255
        pixels = np.clip(np.rint(image * top), 0, top).astype(np.uint16 if top > 255 else np.uint8)
    pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    Image.fromarray(pixels).save(path, format="PNG" if suffix == ".png" else "TIFF")


def _run_item(encoder: Encoder, item: Item, names, progress, noise_sigma=None) -> dict[str, np.ndarray]:
    """All ``names`` outputs of an item that is not long (a batch held in memory)."""
    result = encoder.run(item.array, names, noise_sigma=noise_sigma)
    if progress is not None:
        progress(len(item.array), len(item.array))
    return result


def _run_long(encoder: Encoder, item: Item, names: list[str], targets: dict, chunk, progress, events,
              noise_sigma=None) -> None:
    """The outputs ``names`` of a long item from one chunked pass (``Encoder.run_long``), each into its target in
    ``targets`` (a file's column writer; missing ones are made and dropped); its events too, from the codes (run
    for them alone when ``names`` lacks them), when ``events`` is given."""
    sink = events.stream(item.name) if events is not None else None
    run = list(names) + (["codes"] if sink is not None and "codes" not in names else [])
    out = {name: _Columns(targets.get(name), sink if name == "codes" else None) for name in run}
    encoder.run_long(item.array, run, chunk=chunk, progress=progress, out=out, noise_sigma=noise_sigma)
    if sink is not None:
        sink.close()


def _events_of(encoder: Encoder, item: Item, codes, events, noise_sigma=None) -> None:
    """A batch item's events into ``events`` (if given): from ``codes`` when at hand, else from codes made for
    the events alone."""
    if events is not None:
        events.batch(item.name, codes if codes is not None
                     else _run_item(encoder, item, ["codes"], None, noise_sigma)["codes"])


def _write_npy(encoder, item, name, path, chunk, progress, events, noise_sigma=None) -> None:
    if item.long:                                   # written in windows: memory bounded by the chunk
        with NpyWriter(path, encoder.dtype, encoder.long_output_shape(item.array.shape, name)) as out:
            _run_long(encoder, item, [name], {name: out}, chunk, progress, events, noise_sigma)
        return
    result = _run_item(encoder, item, [name], progress, noise_sigma)[name]
    with open(path, "wb") as f:
        np.save(f, result)
    _events_of(encoder, item, result if name == "codes" else None, events, noise_sigma)


def _write_npz(encoder, items, names, path, chunk, progress, events, noise_sigma=None) -> None:
    """Member by member (``NpzWriter``): one item's outputs in memory at a time, a long item's in windows."""
    with NpzWriter(path) as archive:
        for item in items:
            key = (lambda name: name) if len(items) == 1 else (lambda name: f"{item.name}.{name}")
            if item.long:
                _long_members(encoder, item, names, archive, key, Path(path).parent, chunk, progress, events,
                              noise_sigma)
                continue
            result = _run_item(encoder, item, names, progress, noise_sigma)
            for name in names:
                archive.add(key(name), result[name])
            _events_of(encoder, item, result.get("codes"), events, noise_sigma)


def _long_members(encoder, item, names, archive, key, folder: Path, chunk, progress, events, noise_sigma) -> None:
    """A long item's outputs as archive members from one chunked pass: a zip is written one member at a time, so
    the first output streams into its member and the others into temporary files in ``folder`` (``_Spill``,
    removed in any case), copied in after it."""
    import contextlib
    shapes = {name: encoder.long_output_shape(item.array.shape, name) for name in names}
    with contextlib.ExitStack() as stack:
        spills = {name: stack.enter_context(_Spill(folder, encoder.dtype, shapes[name])) for name in names[1:]}
        with archive.columns(key(names[0]), encoder.dtype, shapes[names[0]]) as member:
            _run_long(encoder, item, names, {names[0]: member, **spills}, chunk, progress, events, noise_sigma)
        for name in names[1:]:
            with archive.columns(key(name), encoder.dtype, shapes[name]) as member:
                spills[name].copy_to(member, chunk)


class _Spill:
    """A (rows, columns) output kept on disk while another archive member is being written: column windows
    (``spill[:, a:b] = values``, in order) go to an unnamed temporary file in column-major order; ``copy_to``
    passes them on, ``chunk`` columns at a time. A context manager: the file is gone when it exits."""

    def __init__(self, folder: Path, dtype, shape: tuple[int, int]):
        self.folder, self.dtype, self.shape, self.done = folder, np.dtype(dtype), shape, 0

    def __enter__(self):
        import tempfile
        self._file = tempfile.TemporaryFile(dir=self.folder, prefix=".crsae-", suffix=".tmp")
        return self

    def __exit__(self, *exc):
        self._file.close()

    def __setitem__(self, key, values) -> None:
        columns = key[1]
        if columns.start != self.done:
            raise RuntimeError(f"columns {columns.start}.. written after {self.done}: windows must come in order")
        values = np.asarray(values, dtype=self.dtype)
        self._file.write(values.tobytes(order="F"))
        self.done += values.shape[1]

    def copy_to(self, target, chunk: int) -> None:
        rows, total = self.shape
        self._file.seek(0)
        for a in range(0, total, chunk):
            n = min(chunk, total - a)
            block = np.frombuffer(self._file.read(rows * n * self.dtype.itemsize), dtype=self.dtype)
            target[:, a:a + n] = block.reshape(n, rows).T


class _Columns:
    """An ``Encoder.run_long`` target that passes each column window to every one of ``targets`` (a file's
    column writer, an event stream; None are skipped)."""

    def __init__(self, *targets):
        self.targets = [t for t in targets if t is not None]

    def __setitem__(self, key, values) -> None:
        for target in self.targets:
            target[key] = values


class EventsTable:
    """The ``--events`` CSV: rows signal, sample, time_s, filter, amplitude of every 1-D signal's code peaks
    (``detect_events``; a long recording's through an ``EventStream``, as its chunks are made)."""

    HEADER = ["signal", "sample", "time_s", "filter", "amplitude"]

    def __init__(self, file, *, threshold: float, min_distance: int, sampling_rate: float | None):
        self._writer = csv.writer(file)
        self._writer.writerow(self.HEADER)
        self.threshold, self.min_distance, self.sampling_rate = threshold, min_distance, sampling_rate
        self.count = 0

    def batch(self, name: str, codes: np.ndarray) -> None:
        """Events of a batch's codes (B, C, M): signal ``name`` for one signal, ``name[s]`` for several."""
        for s, signal_codes in enumerate(codes):
            self.rows(name if len(codes) == 1 else f"{name}[{s}]",
                      detect_events(signal_codes, threshold=self.threshold, min_distance=self.min_distance))

    def stream(self, name: str) -> "_EventColumns":
        """A column target for one long signal's codes (C, M), written in order; close it after the last."""
        return _EventColumns(self, name, EventStream(threshold=self.threshold, min_distance=self.min_distance))

    def rows(self, label: str, events: np.ndarray) -> None:
        rate = self.sampling_rate
        samples, filters = events[:, 0].astype(np.int64).tolist(), events[:, 1].astype(np.int64).tolist()
        times = [""] * len(samples) if rate is None else [f"{n / rate:.6f}" for n in samples]
        self._writer.writerows(zip(itertools.repeat(label), samples, times, filters,
                                   [f"{a:.6g}" for a in events[:, 2].tolist()]))
        self.count += len(events)


class _EventColumns:
    def __init__(self, table: EventsTable, label: str, stream: EventStream):
        self.table, self.label, self.stream = table, label, stream

    def __setitem__(self, key, values) -> None:
        self.table.rows(self.label, self.stream.push(values))         # run_long gives the windows in order

    def close(self) -> None:
        self.table.rows(self.label, self.stream.close())
