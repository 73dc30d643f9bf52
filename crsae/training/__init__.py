"""Training (torch): the two-stage M-step and what feeds it.

- ``mstep``: ``Trainer``, stage 1 (dictionary by backpropagation) and stage 2 (EM lambda), exact resume
- ``run``: a whole ``crsae train`` run: data, defaults, initial dictionary, recovery error
- ``datasets``: batches from arrays, simulations and image crops, seeded by (seed, epoch)
- ``distributed``: data-parallel training under torchrun
"""

from crsae.extras import require

require("torch", what="training")
