"""Draw a 2-D checkpoint's learned filters, one grey tile each (scaled to its own range), as a PNG.

    python bench/draw_filters.py export/models/runs/em-untied-s20/checkpoint.pt \
        -o export/models/runs/em-untied-s20/filters_epoch38.png

A tied model has one bank (H); an untied one gets three panels side by side: Wd (synthesis: the dictionary the
decoder uses), We (analysis) and H (recurrence). The printed line gives each untied bank's relative Frobenius
distance to the others, and, with ``--init``, to the filters the run started from (C, 1, K, K) .npy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--init", type=Path, default=None, help="(C, 1, K, K) .npy the run started from")
    args = parser.parse_args()

    from crsae.experiments.denoise import tile_filters
    from crsae.experiments.report import pyplot, save_figure
    from crsae.model.checkpoint import model_from_state, read_checkpoint
    state = read_checkpoint(args.checkpoint)
    model = model_from_state(state, str(args.checkpoint))
    if model.config.kind != "2d" or model.config.channels != 1:
        sys.exit(f"error: {args.checkpoint} is not a one-channel 2-D model; "
                 "pass a 2-D image checkpoint (e.g. export/models/image2d.pt)")
    banks = {"H": model.H.detach().numpy()} if model.config.tied else {
        "Wd (synthesis)": model.synthesis_filters.detach().numpy(),
        "We (analysis)": model.analysis_filters.detach().numpy(), "H (recurrence)": model.H.detach().numpy()}
    epoch = state.get("epoch", len(state.get("history", [])))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(banks), figsize=(3 * len(banks), 3.3), squeeze=False)
    for ax, (name, bank) in zip(axes[0], banks.items()):
        ax.imshow(tile_filters(bank), cmap="gray", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    cfg = model.config
    fig.suptitle(f"{args.checkpoint.parent.name} epoch {epoch}: {cfg.num_filters} filters "
                 f"{cfg.kernel_size}x{cfg.kernel_size}{'' if cfg.tied else ' in each bank'}", fontsize=9)
    save_figure(fig, args.output.parent, args.output.name)
    distance = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))   # noqa: E731
    names = list(banks)
    parts = [f"{a} vs {b} {distance(banks[a], banks[b]):.3f}" for i, a in enumerate(names) for b in names[i + 1:]]
    if args.init is not None:
        init = np.load(args.init)
        parts += [f"{a} vs init {distance(bank, init):.3f}" for a, bank in banks.items()]
    print(f"wrote {args.output} (epoch {epoch}); relative distances: " + ("; ".join(parts) or "one bank"))


if __name__ == "__main__":
    main()
