"""crsae: CRsAE convolutional dictionary learning (Tolooshams, Dey & Ba, arXiv:1904.08827), exportable to ONNX.

The public API, imported lazily so that ``import crsae`` (and everything inference needs) never imports torch:

- inference, onnxruntime only: ``Encoder`` (an exported model), ``infer`` (files in, codes / images / events out)
- the model (torch): ``CRsAE``, ``ModelConfig``; checkpoints: ``load_model``, ``save_checkpoint``
- training (torch): ``Trainer``, ``TrainConfig``
- export (torch, onnx): ``export_checkpoint`` (trace, validate, write), and its steps ``to_onnx``,
  ``validate_onnx``, ``write_export``; ``build_model``: a model from a dictionary learned elsewhere
- scikit-learn (``crsae[sklearn]``): ``ConvDictionaryLearning1D``, ``ConvDictionaryLearning2D`` (fit trains with
  torch, transform runs the exported encoder with onnxruntime)
- errors: ``CrsaeError`` and its subclasses in ``crsae.errors``

The package: ``model`` (the math, docs/math.md), ``training``, ``exporter``, ``serving`` (no torch),
``experiments``; ``cli`` is the ``crsae`` command.
"""

from importlib import import_module

_API = {
    "Encoder": "crsae.serving.runtime",
    "infer": "crsae.serving.infer",
    "CRsAE": "crsae.model.autoencoder",
    "ModelConfig": "crsae.config",
    "TrainConfig": "crsae.config",
    "load_model": "crsae.model.checkpoint",
    "save_checkpoint": "crsae.model.checkpoint",
    "Trainer": "crsae.training.mstep",
    "export_checkpoint": "crsae.exporter.onnx_export",
    "to_onnx": "crsae.exporter.onnx_export",
    "validate_onnx": "crsae.exporter.onnx_export",
    "write_export": "crsae.exporter.onnx_export",
    "build_model": "crsae.model.build",
    "ConvDictionaryLearning1D": "crsae.estimator",
    "ConvDictionaryLearning2D": "crsae.estimator",
    "CrsaeError": "crsae.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name == "__version__":                     # read on first use: importlib.metadata costs ~40 ms at start-up
        from importlib.metadata import PackageNotFoundError, version
        try:
            globals()[name] = version("crsae")
        except PackageNotFoundError:              # a source tree that was never installed
            globals()[name] = "unknown"
        return globals()[name]
    if name not in _API:
        raise AttributeError(f"module 'crsae' has no attribute {name!r}")
    value = getattr(import_module(_API[name]), name)
    globals()[name] = value                       # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
