"""``crsae infer``: run an exported model over files and write codes, reconstructions, images and events.

Outputs go to temporary names and are renamed into place only when everything succeeded.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crsae.errors import DataError, ShapeError
from crsae.serving.events import detect_events
from crsae.files import atomic_folder, atomic_path
from crsae.readers import Item, read_input
from crsae.serving.runtime import Encoder

OUTPUTS = {"codes": ["codes"], "reconstruction": ["reconstruction"], "both": ["codes", "reconstruction"]}


@dataclass
class InferSummary:
    provider: str
    fallback_reason: str | None
    items: int = 0
    written: list[str] = field(default_factory=list)
    events: int = 0


def infer(model: str | os.PathLike, source: str | os.PathLike, output: str | os.PathLike, *,
          outputs: str = "codes", events: str | os.PathLike | None = None, event_threshold: float = 0.0,
          sampling_rate: float | None = None, device: str = "auto", batch_size: int | None = None, chunk: int = 32768,
          threads: int | None = None, raw_dtype: str | None = None, raw_channels: int | None = None,
          progress=None) -> InferSummary:
    """Run ``model`` on ``source`` and write ``output`` (.npy, .npz, or a folder of images for image input)."""
    if outputs not in OUTPUTS:
        raise DataError(f"--output must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
    if chunk < 1:
        raise ShapeError(f"--chunk must be at least 1, got {chunk}")
    output = Path(output)
    encoder = Encoder(model, device=device, threads=threads, batch_size=batch_size)
    names = OUTPUTS[outputs]
    for name in names:
        encoder.require_output(name)
    if events is not None:
        if encoder.kind != "1d":
            raise DataError("--events is for 1-D models; drop it for images")
        if "codes" not in names:
            names = ["codes"] + names
    items = read_input(source, kind=encoder.kind, channels=encoder.channels, raw_dtype=raw_dtype,
                       raw_channels=raw_channels, long_from=chunk)
    summary = InferSummary(encoder.provider, encoder.fallback_reason, items=len(items))
    suffix = output.suffix.lower()
    write_outputs(encoder, items, output, names=names, outputs=outputs, chunk=chunk, progress=progress)
    summary.written.append(str(output))
    if events is not None:
        written_codes = output if suffix == ".npy" and outputs == "codes" else None
        summary.events = _write_events(encoder, items, written_codes, Path(events), event_threshold,
                                       sampling_rate, chunk)
        summary.written.append(str(events))
    return summary


def write_outputs(encoder: Encoder, items: list[Item], output: Path, *, names: list[str], outputs: str,
                  chunk: int = 32768, progress=None) -> None:
    """Run ``encoder`` on ``items`` and write ``output`` atomically, by its suffix.

    ``.npy``: the one output ``outputs`` of a single item; ``.npz``: every output in ``names`` of every item
    (keys ``name`` for one item, ``item.name``.``name`` for several); ``.png``: the denoised image of a single
    image item; no suffix: a new folder of denoised PNGs (image items).
    """
    suffix = output.suffix.lower()
    if suffix == ".npy":
        _write_npy(encoder, items, names, outputs, output, chunk, progress)
    elif suffix == ".npz":
        _write_npz(encoder, items, names, output, chunk, progress)
    elif suffix == ".png" and len(items) == 1 and items[0].image:
        encoder.require_output("reconstruction")
        with atomic_path(output) as tmp:
            _save_denoised_png(encoder, items[0], tmp)
    elif suffix == "":
        _write_images(encoder, items, output, progress)
    else:
        raise DataError(f"output {output} must end in .npy or .npz, or be a folder (for images)")


def _save_denoised_png(encoder: Encoder, item: Item, path: Path) -> None:
    """The reconstruction of one (1, channels, Hh, Ww) image item as an 8-bit PNG."""
    from PIL import Image
    image = encoder.reconstruct(item.array)[0]                      # (channels, Hh, Ww) in [0, 1]
    pixels = np.clip(np.rint(image.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    Image.fromarray(pixels).save(path, format="PNG")


def _run_item(encoder: Encoder, item: Item, names, chunk, progress, out=None) -> dict[str, np.ndarray]:
    if item.long:
        return {name: encoder.run_long(item.array, name, chunk=chunk, progress=progress,
                                       out=None if out is None else out.get(name)) for name in names}
    result = encoder.run(item.array, names)
    if progress is not None:
        progress(len(item.array), len(item.array))
    return result


def _write_npy(encoder, items, names, outputs, path, chunk, progress) -> None:
    if len(items) != 1:
        raise DataError(f"the input holds {len(items)} arrays or images; write them to a .npz file or a folder")
    if outputs == "both":
        raise DataError("a .npy file holds one output; pass --output codes or reconstruction, or write a .npz")
    item, name = items[0], OUTPUTS[outputs][0]
    with atomic_path(path) as tmp:
        if item.long:                                   # memory-mapped output: memory bounded by the chunk
            shape = encoder.long_output_shape(item.array.shape, name)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=encoder.dtype, shape=shape)
            _run_item(encoder, item, [name], chunk, progress, out={name: out})
            out.flush()
            del out
        else:
            with open(tmp, "wb") as f:
                np.save(f, _run_item(encoder, item, [name], chunk, progress)[name])


def _write_npz(encoder, items, names, path, chunk, progress) -> None:
    arrays = {}
    for item in items:
        result = _run_item(encoder, item, names, chunk, progress)
        for name, value in result.items():
            arrays[name if len(items) == 1 else f"{item.name}.{name}"] = value
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _write_images(encoder, items, folder: Path, progress) -> None:
    if not all(item.image for item in items):
        raise DataError(f"output {folder} is a folder, which is for image input; write arrays to .npy or .npz")
    encoder.require_output("reconstruction")
    with atomic_folder(folder) as tmp:
        for item in items:
            _save_denoised_png(encoder, item, tmp / f"{item.name}.png")
            if progress is not None:
                progress(1, 1)


def _write_events(encoder, items, written_codes, path: Path, threshold, sampling_rate, chunk) -> int:
    """Events of every 1-D signal: CSV rows signal, sample, time_s, filter, amplitude."""
    min_distance = max(1, encoder.kernel_size // 2)
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["signal", "sample", "time_s", "filter", "amplitude"])
        for item in items:
            codes = (np.load(written_codes, mmap_mode="r") if written_codes is not None
                     else _run_item(encoder, item, ["codes"], chunk, None)["codes"])
            codes = codes[None] if item.long else codes
            for s, signal_codes in enumerate(codes):
                label = item.name if len(codes) == 1 else f"{item.name}[{s}]"
                for block_start, rows in _blocked_events(signal_codes, threshold, min_distance):
                    for sample, filt, amp in rows:
                        n = int(sample) + block_start
                        t = "" if sampling_rate is None else f"{n / sampling_rate:.6f}"
                        writer.writerow([label, n, t, int(filt), f"{amp:.6g}"])
                        count += 1
    return count


def _blocked_events(codes, threshold, min_distance, block: int = 1 << 20):
    """Events of (C, M) codes in blocks with a min_distance overlap, so memory stays bounded."""
    M = codes.shape[1]
    for start in range(0, M, block):
        lo, hi = max(0, start - min_distance), min(M, start + block + min_distance)
        rows = detect_events(np.asarray(codes[:, lo:hi]), threshold=threshold, min_distance=min_distance)
        keep = (rows[:, 0] + lo >= start) & (rows[:, 0] + lo < min(M, start + block))
        yield lo, rows[keep]
