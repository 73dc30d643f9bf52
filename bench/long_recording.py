"""A long 1-D recording through ``Encoder.run_long`` (issue 6 item 4): its chunks run concurrently, one thread
each, against one chunk at a time with onnxruntime's threads split across each chunk's operators (what run_long
did before), in one run on the same model and recording.

Workload: the spike-sorting shape, 10 filters of 45 taps, T = 50, one channel of --seconds at 30 kHz, for each chunk
length in --chunks (run_long's default is 32768; each window adds a halo of T (K - 1) samples on each side). Prints a
table and writes bench/results/long_recording.json. Run by hand: ``.venv/bin/python bench/long_recording.py [--threads 2]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure, pin_threads, versions, write_json  # noqa: E402

pin_threads(2)                                  # thread variables before numpy / onnxruntime load

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from crsae.serving.chunking import plan_chunks  # noqa: E402
from crsae.config import ModelConfig  # noqa: E402
from crsae.model.autoencoder import CRsAE  # noqa: E402
from crsae.exporter.onnx_export import to_onnx, write_export  # noqa: E402
from crsae.serving.runtime import Encoder  # noqa: E402


def one_chunk_at_a_time(encoder: Encoder, signal: np.ndarray, chunk: int) -> np.ndarray:
    """run_long's result computed chunk by chunk, each chunk one session call on all of the encoder's threads."""
    halo, K = encoder.metadata["chunk_halo"], encoder.kernel_size
    out = np.empty((encoder.metadata["num_filters"], signal.shape[1] - K + 1), np.float32)
    for piece in plan_chunks(signal.shape[1], K, halo, chunk, "codes"):
        codes = encoder.encode(signal[None, :, piece.window_start:piece.window_stop])[0]
        out[:, piece.start:piece.stop] = codes[:, piece.offset:piece.offset + piece.stop - piece.start]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0, help="recording length at 30 kHz")
    parser.add_argument("--chunks", default="8192,32768,65536", help="chunk lengths to time (run_long's default 32768)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = ModelConfig(kind="1d", num_filters=10, kernel_size=45, num_layers=50, lam_init=0.5, two_sided=False)
    signal = np.random.default_rng(0).standard_normal((1, int(args.seconds * 30_000))).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "long.onnx"
        write_export(to_onnx(CRsAE(config, seed=0), outputs="codes"), path)
        encoder = Encoder(path, device="cpu", threads=args.threads)
        for chunk in (int(c) for c in args.chunks.split(",")):
            concurrent_t, concurrent = measure(lambda: encoder.run_long(signal, "codes", chunk=chunk),
                                               repeats=args.repeats)
            sequential_t, sequential = measure(lambda: one_chunk_at_a_time(encoder, signal, chunk),
                                               repeats=args.repeats)
            concurrent_s, sequential_s = concurrent_t.median, sequential_t.median
            pieces = plan_chunks(signal.shape[1], config.kernel_size, config.chunk_halo, chunk, "codes")
            rows.append({"chunk": chunk, "chunks": len(list(pieces)),
                         "sequential_s": sequential_s, "concurrent_s": concurrent_s,
                         "sequential": sequential_t.as_dict(), "concurrent": concurrent_t.as_dict(),
                         "speedup": sequential_s / concurrent_s,
                         "max_abs_diff": float(np.abs(concurrent - sequential).max())})
    print(f"{signal.shape[1]} samples, T 50, {args.threads} threads, median of {args.repeats} after a warm-up, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"| chunk (chunks) | one chunk at a time, {args.threads} threads each (s) | {args.threads} chunks at once, "
          "one thread each (s) | speed-up | max abs diff |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['chunk']} ({r['chunks']}) | {r['sequential_s']:.3f} | {r['concurrent_s']:.3f} | "
              f"{r['speedup']:.2f}x | {r['max_abs_diff']:.2g} |")
    write_json("long_recording.json", {"threads": args.threads, "samples": signal.shape[1], "repeats": args.repeats,
                                       "rows": rows, "loadavg_1m": os.getloadavg()[0], "versions": versions()})


if __name__ == "__main__":
    main()
