"""Serving (no torch): everything inference needs, on onnxruntime and numpy alone.

- ``runtime``: ``Encoder``, one exported model ready to run (batches, long signals in chunks, zero-copy tensors)
- ``providers``: execution providers with no silent fallback
- ``chunking``: the contract's chunking rule for long 1-D signals
- ``infer``: ``crsae infer`` over files; ``events``: spike events from 1-D codes
- ``ray``: batch inference over many files as a Ray Data pipeline; ``triton``: a Triton model repository

``tests/test_serving_torch_free.py`` checks that importing this package never imports torch.
"""
