"""Export (torch, onnx): the contract of export/CONTRACT.md applied to a trained model.

- ``onnx_export``: trace (``to_onnx``), validate against torch under onnxruntime (``validate_onnx``), write
  (``write_export``) as separate steps; ``export_checkpoint`` and ``export_triton`` run them in order
- ``golden``: the shipped models' golden vectors (``python -m crsae.exporter.golden``)
"""

from crsae.extras import require

require("torch", "onnx", "onnxscript", what="export")
