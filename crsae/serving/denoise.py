"""``crsae denoise IN OUT``: denoise an image (or a folder of them) with the shipped image model, in one line.

The image model ships inside the package (``crsae/models/image2d.onnx``, the same file as
``export/models/image2d.onnx`` in a checkout), so an installed wheel has it; ``model`` picks another crsae 2-D
export with a reconstruction output. It runs as ``crsae infer --outputs reconstruction`` does (``crsae.serving.infer``,
onnxruntime only): images read and written at their real depth, every path checked before the run, the output written
atomically. The noise level is given on the 0-255 scale of 8-bit pixels (images are fed on [0, 1], so it is divided by
255), or ``"auto"``: estimated from each image in the graph (``crsae.model.noise``).
"""

from __future__ import annotations

import os
from pathlib import Path

from crsae.errors import DataError, ModelFormatError
from crsae.readers import IMAGE_SUFFIXES
from crsae.serving.infer import IMAGE_OUTPUT_SUFFIXES, InferSummary, infer

SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "image2d.onnx"
SHIPPED_NOISE_MODEL = SHIPPED_MODEL.with_name("image2d_sigma.onnx")     # the same model with the noise_sigma input
PIXEL_SCALE = 255.0                     # --sigma is on the 0-255 scale; the model sees pixels on [0, 1]


def shipped_model(noise_input: bool = False) -> Path:
    """The image model that ships with crsae (``noise_input``: its export with the noise_sigma input, which
    ``--sigma`` needs), or ModelFormatError naming ``--model`` when this install lacks it."""
    path = SHIPPED_NOISE_MODEL if noise_input else SHIPPED_MODEL
    if not path.is_file():
        raise ModelFormatError(f"the shipped image model {path} is missing from this install; pass --model "
                               "with a crsae 2-D export (crsae export --outputs both)")
    return path


def denoise(source: str | os.PathLike, output: str | os.PathLike, *, model: str | os.PathLike | None = None,
            sigma: float | str | None = None, device: str = "auto", threads: int | None = None,
            progress=None) -> InferSummary:
    """Denoise the image ``source`` into the image file ``output`` (.png, .tif), or a folder of images into a new
    folder (each image as ``crsae infer`` names it).

    sigma : the noise std on the 0-255 scale, ``"auto"`` (estimated per image), or None (the model's own sigma);
        a number or "auto" needs a model exported with ``--noise-input`` (the shipped one then is
        ``image2d_sigma.onnx``).
    """
    source, output = Path(source), Path(output)
    if not (source.is_dir() or source.suffix.lower() in IMAGE_SUFFIXES):
        raise DataError(f"input {source} is not an image or a folder; pass a PNG, JPEG, BMP or TIFF file, or a "
                        "folder of them (crsae infer takes arrays)")
    if source.is_dir() and output.suffix:
        raise DataError(f"input {source} is a folder, so the output must be a new folder, not {output}")
    if not source.is_dir() and output.suffix.lower() not in IMAGE_OUTPUT_SUFFIXES:
        raise DataError(f"output {output} must be an image file (.png, .tif, .tiff) for an image input")
    if isinstance(sigma, bool) or not (sigma is None or sigma == "auto" or isinstance(sigma, (int, float))):
        raise DataError(f"sigma must be a number >= 0 or 'auto', got {sigma!r}")
    if isinstance(sigma, (int, float)) and not 0 <= sigma < float("inf"):
        raise DataError(f"sigma must be a number >= 0 (the noise std on the 0-255 scale) or 'auto', got {sigma!r}")
    model = shipped_model(noise_input=sigma is not None) if model is None else Path(model)
    noise_sigma = sigma / PIXEL_SCALE if isinstance(sigma, (int, float)) else sigma
    return infer(model, source, output, outputs="reconstruction", noise_sigma=noise_sigma, device=device,
                 threads=threads, progress=progress)
