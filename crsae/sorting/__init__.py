"""Spike sorting with CRsAE on spikeinterface recordings (the ``spikes`` extra: ``pip install 'crsae[spikes]'``).

- ``crsae.sorting.recording``: any spikeinterface ``BaseRecording`` in, checked and preprocessed
  (``read_recording`` opens one from disk).
- ``crsae.sorting.templates``: templates from the recording (k-means of thresholded snippets, then CRsAE's EM).
- ``crsae.sorting.sorter``: ``CRsAESorter`` (``fit`` needs torch; ``sort`` runs the exported ONNX encoder under
  onnxruntime) giving a spikeinterface Sorting, and ``export_phy``.

Importing this package imports neither spikeinterface nor torch; they load when a sorter is fitted or run.
"""

from crsae.sorting.sorter import CRsAESorter, SorterParams, export_phy

__all__ = ["CRsAESorter", "SorterParams", "export_phy"]
