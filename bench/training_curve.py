"""One point of a training run's curve: BSD68 PSNR of a checkpoint against the hours of training behind it.

    python bench/training_curve.py export/models/runs/em-tied-s20/checkpoint.pt --sigma 20 \
        --curve export/models/runs/em-tied-s20/curve.json

The checkpoint is exported to ONNX (a temporary file, validated against torch like every export) and scored with
``crsae evaluate``'s score (crsae.metrics.denoise_score) under onnxruntime on one thread: all 68 full-size BSD68
images by default, seeded Gaussian noise of std ``--sigma`` on the 0-255 scale, PSNR with peak 255, the denoised
image not clipped. Training hours are the sum of the epochs' wall seconds in the checkpoint's history; epochs
recorded before crsae kept them take ``--hours`` (from the run's progress record) instead. The point is appended
to ``--curve`` (a JSON list, one point per checkpoint epoch and sigma; an existing point is replaced) and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "BSD68")
    parser.add_argument("--sigma", type=float, default=20.0, help="test noise std on the 0-255 scale")
    parser.add_argument("--max-images", type=int, default=None, help="first N images (default all 68)")
    parser.add_argument("--hours", type=float, default=None,
                        help="training hours, when the checkpoint's history lacks epoch seconds")
    parser.add_argument("--curve", type=Path, required=True, help="JSON list the point is added to")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"error: {args.data} is not a folder; BSD68 lives in ../shared/data/BSD68 (pass --data)")

    from crsae.exporter.onnx_export import export_checkpoint
    from crsae.metrics import denoise_score
    from crsae.model.checkpoint import read_checkpoint
    from crsae.readers import load_images
    from crsae.serving.runtime import Encoder

    state = read_checkpoint(args.checkpoint)
    history = state.get("history", [])
    seconds = [r.get("seconds") for r in history]
    if None in seconds and args.hours is None:
        sys.exit(f"error: {args.checkpoint} records no wall time for epochs "
                 f"{[r['epoch'] for r in history if 'seconds' not in r]}; pass --hours from the run's progress record")
    hours = args.hours if args.hours is not None else sum(seconds) / 3600
    train = state["train_config"]
    data = state.get("data") or {}
    steps = int(state["epoch"]) * -(-int(data.get("crops_per_epoch", 0)) // int(train["batch_size"]))

    images = load_images(args.data, 1, args.max_images)
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "model.onnx"
        export_checkpoint(args.checkpoint, model, outputs="reconstruction")
        encoder = Encoder(model, device="cpu", threads=1)
        start = time.perf_counter()
        score = denoise_score(encoder.reconstruct, images, args.sigma / 255, seed=args.seed,
                              min_size=encoder.min_size, channels=1)
        seconds_eval = time.perf_counter() - start
    point = {"epoch": int(state["epoch"]), "steps": steps, "train_hours": round(hours, 3), "sigma": args.sigma,
             "images": score.count, "noisy_psnr": round(score.noisy_psnr, 3),
             "denoised_psnr": round(score.denoised_psnr, 3), "final_loss": history[-1]["loss"] if history else None,
             "eval_seconds": round(seconds_eval, 1), "load": [round(x, 2) for x in os.getloadavg()],
             "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    curve = json.loads(args.curve.read_text()) if args.curve.exists() else []
    curve = [p for p in curve if (p["epoch"], p["sigma"], p["images"]) != (point["epoch"], point["sigma"],
                                                                           point["images"])]
    curve = sorted(curve + [point], key=lambda p: (p["sigma"], p["epoch"]))
    args.curve.write_text(json.dumps(curve, indent=1) + "\n")
    print(f"epoch {point['epoch']} ({steps} steps, {hours:.2f} h): BSD68 x{score.count} sigma {args.sigma:g}: "
          f"noisy {score.noisy_psnr:.2f} dB -> denoised {score.denoised_psnr:.2f} dB")


if __name__ == "__main__":
    main()
