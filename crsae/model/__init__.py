"""The model (torch): the math of docs/math.md in code.

- ``fista``: the encoder, T unrolled FISTA steps with the two-sided (or one-sided) ReLU, and L by power iteration
- ``autoencoder``: ``CRsAE``, encoder + tied (or untied) decoder, thresholds, the EM lambda loss, the stride trick
- ``checkpoint``: checkpoints as tensors plus a readable config (no pickled objects)
"""

from crsae.extras import require

require("torch", what="crsae's torch model")
