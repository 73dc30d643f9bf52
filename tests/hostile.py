"""Shared pieces of the hostile-input tests (tests/test_hostile_*.py): crafted files and the one-line-error check."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from crsae.cli import app

runner = CliRunner()


def invoke(*args, cwd: Path | None = None):
    previous = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, [a if isinstance(a, str) else os.fspath(a) if isinstance(a, os.PathLike)
                                   else str(a) for a in args])
    finally:
        os.chdir(previous)


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: relative path -> content hash ('dir' for folders, 'link:...' for links)."""
    state = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(root) / name
            rel = os.fsdecode(path.relative_to(folder))
            if path.is_symlink():
                state[rel] = f"link:{os.readlink(path)}"
            elif path.is_dir():
                state[rel] = "dir"
            elif path.is_file():
                state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                state[rel] = "special"
    return state


def assert_one_line_error(result, *, code: int = 1, match: str | None = None) -> str:
    """Exit ``code``, one ``error:`` line (usage errors: click's ``Error:``), no traceback; returns the line."""
    output = result.output
    assert result.exit_code == code, f"exit {result.exit_code} (want {code}): {output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert "Traceback" not in output, output
    if code == 2:
        lines = [line for line in output.splitlines() if "Error" in line or "error:" in line]
        assert lines, output
        line = lines[0]
    else:
        lines = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, output
        line = lines[0]
    if match is not None:
        assert match.lower() in line.lower(), f"{match!r} not in {line!r}"
    return line


# --- crafted files -----------------------------------------------------------------------------------------
def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npy_header_only(shape, dtype="<f4", fortran=False) -> bytes:
    """An .npy header declaring ``shape`` followed by no data (a file that lies about its size)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": fortran, "shape": tuple(shape)})
    return buffer.getvalue()


def npz_lying(path: Path, shape=(1 << 20, 1 << 20, 1 << 20), claim_size: int | None = None) -> None:
    """An .npz whose member's header claims ``shape`` (terabytes) over a few real bytes; ``claim_size`` also
    makes the zip directory claim that many uncompressed bytes."""
    data = npy_header_only(shape) + b"\0" * 64
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("signal.npy", data)
    if claim_size is not None:                        # patch the sizes in the local header and the directory
        raw = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            at = raw.find(signature)
            raw[at + offset:at + offset + 4] = struct.pack("<I", min(claim_size, 0xFFFFFFFF))
        path.write_bytes(bytes(raw))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(pixels: np.ndarray, *, bit_depth: int, color_type: int, width: int | None = None,
              height: int | None = None) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour), optionally with a lying header size."""
    h, w = pixels.shape[:2]
    big = pixels.astype(">u2" if bit_depth == 16 else "u1")
    rows = b"".join(b"\0" + big[r].tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", width or w, height or h, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def onnx_add_model(path: Path, metadata: dict | None, *, names=("x", "y"), rank: int = 3, channels=1,
                   out_channels=None) -> Path:
    """A valid ONNX model that is not a crsae encoder (one Add node), optionally with crsae metadata."""
    import onnx
    from onnx import TensorProto, helper
    dims = ["batch", channels] + ["length"] * (rank - 2)
    out_dims = ["batch", out_channels if out_channels is not None else channels] + ["length"] * (rank - 2)
    graph = helper.make_graph([helper.make_node("Add", [names[0], names[0]], [names[1]])], "not_crsae",
                              [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, out_dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))
    onnx.save(model, path)
    return path


def sidecar_metadata(onnx_path: Path) -> dict:
    """The metadata of a real export (its sidecar .json), as ONNX metadata_props values."""
    return json.loads(onnx_path.with_suffix(".json").read_text())
