"""Peak resident memory of ``crsae infer`` on long recordings: it should follow --chunk, not the file size.

Generates int16 recordings of the given sizes in a temporary folder (deleted at the end), exports a small 1-D model
(as many channels as the recording), runs ``crsae infer`` on each as a subprocess along each of ``--paths``:

    bin-npy          REC.bin --raw-dtype int16 -o codes.npy                 (pread in, pwrite out)
    bin-npz-events   REC.bin --raw-dtype int16 -o out.npz --outputs both --events events.csv
                     (both outputs streamed into the .npz member by member, events found chunk by chunk)
    npz-npz          REC.npz -o out.npz   (the recording as a stored .npz member, read in windows)

and reads the child's peak resident set (VmHWM) plus its peak file-backed and anonymous parts (RssFile, RssAnon
sampled every 50 ms). Writes bench/results/long_recording_memory.json.

    nice python bench/long_recording_memory.py --sizes-gib 0.2 1 --channels 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("bin-npy", "bin-npz-events", "npz-npz")


def make_recording(path: Path, gib: float, channels: int, seed: int = 0) -> int:
    """An int16 interleaved recording of about ``gib`` GiB; returns its samples per channel."""
    rng = np.random.default_rng(seed)
    samples = int(gib * 2 ** 30) // (2 * channels)
    block = 1 << 22
    with open(path, "wb") as f:
        for start in range(0, samples, block):
            n = min(block, samples - start)
            (rng.standard_normal((n, channels), dtype=np.float32) * 800).astype(np.int16).tofile(f)
    return samples


def export_model(folder: Path, channels: int) -> Path:
    from crsae.config import ModelConfig
    from crsae.exporter.onnx_export import export_checkpoint
    from crsae.model.autoencoder import CRsAE
    from crsae.model.checkpoint import save_checkpoint
    config = ModelConfig(kind="1d", channels=channels, num_filters=2, kernel_size=8, num_layers=4, lam_init=0.5)
    save_checkpoint(folder / "m.pt", CRsAE(config, seed=0))
    export_checkpoint(folder / "m.pt", folder / "m.onnx", outputs="both")
    return folder / "m.onnx"


def _status(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return values


def npz_recording(raw: Path, path: Path, channels: int, samples: int) -> None:
    """The raw int16 recording as one stored .npz member (channels, samples), copied window by window."""
    from crsae.files import NpzWriter
    block = 1 << 22
    with NpzWriter(path) as archive, archive.columns("recording", np.int16, (channels, samples)) as member, \
            open(raw, "rb") as f:
        for start in range(0, samples, block):
            n = min(block, samples - start)
            member[:, start:start + n] = np.fromfile(f, np.int16, n * channels).reshape(n, channels).T


def member_shapes(path: Path) -> dict[str, tuple]:
    """Each .npz member's shape, from its header alone."""
    import zipfile
    from crsae.readers import read_npy_header
    with zipfile.ZipFile(path) as archive:
        shapes = {}
        for member in archive.infolist():
            with archive.open(member) as f:
                shapes[member.filename[:-4]] = read_npy_header(f, member.filename).shape
        return shapes


def run_infer(model: Path, recording: Path, output: Path, channels: int, chunk: int, threads: int | None,
              extra=()) -> dict:
    raw = ["--raw-dtype", "int16", "--raw-channels", str(channels)] if recording.suffix == ".bin" else []
    argv = [sys.executable, "-m", "crsae.cli", "infer", str(model), str(recording), *raw, "-o", str(output),
            "--chunk", str(chunk), "--quiet", *extra]
    if threads:
        argv += ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
    while proc.poll() is None:
        status = _status(proc.pid)
        for key in peak:
            peak[key] = max(peak[key], status.get(key, 0))
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"crsae infer failed ({proc.returncode}): {err.strip()}")
    return {"seconds": round(wall, 2), "peak_rss_mib": round(peak["VmHWM"] / 2 ** 20, 1),
            "peak_rss_anon_mib": round(peak["RssAnon"] / 2 ** 20, 1),
            "peak_rss_file_mib": round(peak["RssFile"] / 2 ** 20, 1), "stdout": out.strip()}


LOAD_BEFORE = list(os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gib", type=float, nargs="+", default=[0.2, 2.0])
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=32768)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--folder", default=None, help="where the recordings go (default: a new folder in /tmp)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "long_recording_memory.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crsae-memory-", dir=args.folder) as tmp:
        tmp = Path(tmp)
        model = export_model(tmp, args.channels)
        rows = []
        for gib in args.sizes_gib:
            rec = tmp / "rec.bin"
            samples = make_recording(rec, gib, args.channels)
            for path in args.paths:
                source, output, extra = rec, tmp / "out.npz", ()
                if path == "bin-npy":
                    output = tmp / "codes.npy"
                elif path == "bin-npz-events":
                    extra = ("--outputs", "both", "--events", str(tmp / "events.csv"))
                else:
                    source = tmp / "rec.npz"
                    npz_recording(rec, source, args.channels, samples)
                result = run_infer(model, source, output, args.channels, args.chunk, args.threads, extra)
                if output.suffix == ".npy":
                    codes = np.load(output, mmap_mode="r")
                    shape = codes.shape
                    del codes
                else:
                    shape = member_shapes(output)["codes"]
                assert shape == (2, samples - 7), shape
                row = {"path": path, "recording_gib": round(rec.stat().st_size / 2 ** 30, 3),
                       "channels": args.channels, "samples_per_channel": samples,
                       "output_gib": round(output.stat().st_size / 2 ** 30, 3), **result}
                if extra:
                    row["events_mib"] = round((tmp / "events.csv").stat().st_size / 2 ** 20, 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
                for done in (output, tmp / "events.csv", tmp / "rec.npz"):
                    done.unlink(missing_ok=True)
            rec.unlink()
    report = {"command": "python bench/long_recording_memory.py " + " ".join(sys.argv[1:]),
              "chunk": args.chunk, "threads": args.threads, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "runs": rows,
              "self_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "load_before": LOAD_BEFORE, "load_after": list(os.getloadavg())}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
