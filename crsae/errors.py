"""Named errors. Every message is one sentence naming the bad value and the fix.

All subclass :class:`CrsaeError`; those about bad values also subclass ``ValueError`` so callers can
catch them either precisely or broadly. The CLI prints ``error: <message>`` and exits 1 for any of them.
"""


class CrsaeError(Exception):
    """Base class of every error crsae raises on purpose."""


class ConfigError(CrsaeError, ValueError):
    """A hyperparameter is out of range or inconsistent with another."""


class ShapeError(CrsaeError, ValueError):
    """An input array has the wrong rank, channel count or size, or holds NaN/Inf."""


class DataError(CrsaeError, ValueError):
    """A data file or folder is missing, unreadable or of an unknown type."""


class CheckpointError(CrsaeError, ValueError):
    """A checkpoint is missing, corrupt, or not a crsae checkpoint."""


class ModelFormatError(CrsaeError, ValueError):
    """An ONNX file is corrupt, or not a crsae export of a contract version we know."""


class ProviderUnavailableError(CrsaeError, RuntimeError):
    """An onnxruntime execution provider was requested but cannot run here."""


class ExportValidationError(CrsaeError, ValueError):
    """An exported model does not match the contract or the torch reference."""


class OutputMismatchError(ExportValidationError):
    """The exported model's outputs, names or axes differ from the contract."""


class ToleranceError(ExportValidationError):
    """Exported outputs differ from torch by more than the contract's tolerance.

    ``failures`` lists ``(output, shape, max_abs_diff, atol)`` for every failing output.
    """

    def __init__(self, failures):
        self.failures = list(failures)
        detail = "; ".join(f"{name} {tuple(shape)}: max |diff| {diff:.3g} > atol {atol:.3g}"
                           for name, shape, diff, atol in self.failures)
        super().__init__(f"exported model disagrees with torch beyond tolerance ({detail}); "
                         "re-export with float32 or report a bug")


class MissingDependencyError(CrsaeError, ImportError):
    """An optional dependency (an extra such as ``crsae[ray]``) is not installed."""


class StepConstantWarning(UserWarning):
    """The trained dictionary's ||H||_2^2 exceeds the encoder's step constant L (FISTA's step 1/L is too long)."""


class DataWarning(UserWarning):
    """Input data were changed on the way in (colour to grayscale, alpha dropped, integers rounded to float32);
    ``crsae`` prints each such warning once as ``warning: ...`` on stderr."""
