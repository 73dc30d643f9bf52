"""Writing files safely: every output goes to a temporary name in the same folder and is renamed into place,
so a failed run never leaves a partial file behind and an existing output stays byte-identical.

Temporaries are named ``.NAME.crsae-PID-HOST-RANDOM.tmp`` (files and folders alike): PID is the writing process,
HOST a short hash of its host name. A process killed before it could clean up (SIGKILL, power loss) leaves one
behind; the next crsae run that writes into the same folder removes every such temporary whose process, on this
host, no longer runs (``remove_stale_temporaries``). A live process's temporaries, and other hosts' (a shared file
system), are never touched. Temporaries of earlier versions named no process; ``crsae clean FOLDER`` lists them
and, with ``--remove``, removes those no process can still be writing (``find_temporaries``).

``check_output`` is the check every command runs on each output path before any work: the folder exists and is
a folder, it is writable, the output is not a folder (or, for folder outputs, not a file), not one of the inputs,
and, where the size is known, fits the free space.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

from crsae.errors import DataError

_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:8]
_TEMPORARY = re.compile(r"^\..+\.crsae-(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[A-Za-z0-9_]+\.tmp$")


def _prefix(path: Path) -> str:
    return f".{path.name}.crsae-{os.getpid()}-{_HOST}-"


def _folder_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                     # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of crsae processes on this host that are no longer running; returns what went."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass                                # another process cleaned it, or we may not: leave it
    return removed


# Temporaries of earlier versions, which named no process: crsae < 0.2 ``.NAME.XXXXXXXX.tmp`` files (mkstemp) and
# ``.NAME.XXXXXXXX`` folders (mkdtemp), crsae-node ``.NAME.PID.XXXXXXXX.tmp``. Only ``crsae clean`` removes them.
_OLD_FILE = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.[0-9a-f]{8}|[a-z0-9_]{8})\.tmp$")
_OLD_FOLDER = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}$")
OUTPUT_SUFFIXES = (".npy", ".npz", ".pt", ".onnx", ".json", ".csv", ".png", ".tif", ".tiff", ".pbtxt")
OLD_AGE_S = 3600


@dataclasses.dataclass
class Temporary:
    path: Path
    reason: str                 # why it may go, or why it is kept
    removable: bool


def find_temporaries(folder: str | os.PathLike, *, min_age_s: float = OLD_AGE_S) -> list[Temporary]:
    """Every temporary crsae (or an earlier version, or crsae-node) could have left in ``folder``, each with
    whether it may be removed safely (``crsae clean``):

    - ``.NAME.crsae-PID-HOST-RANDOM.tmp``: when process PID no longer runs on this host (other hosts' are kept);
    - the older names (``_OLD_FILE``, ``_OLD_FOLDER``), which name no host: only when NAME ends in a suffix crsae
      writes (a folder: when it holds only such files), no process this one can see has it open (Linux
      ``/proc/*/fd``; elsewhere they are kept), a named PID no longer runs, and it is unchanged for
      ``min_age_s`` seconds (a writer would have touched it).
    Anything else, and symbolic links, are never listed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass the folder a crsae run wrote into")
    found, open_files = [], None
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_symlink():
            continue
        current = _TEMPORARY.match(entry.name)
        if current:
            if current["host"] != _HOST:
                found.append(Temporary(Path(entry.path), "another host's run (shared file system): kept", False))
            elif _alive(int(current["pid"])):
                found.append(Temporary(Path(entry.path), f"process {current['pid']} still runs: kept", False))
            else:
                found.append(Temporary(Path(entry.path), f"process {current['pid']} no longer runs", True))
            continue
        old = (_OLD_FILE.match(entry.name) if entry.is_file() else
               _OLD_FOLDER.match(entry.name) if entry.is_dir() else None)
        if not old or not old["name"].lower().endswith(OUTPUT_SUFFIXES) and not entry.is_dir():
            continue
        path = Path(entry.path)
        if entry.is_dir() and not _holds_outputs_only(path):
            continue
        if open_files is None:
            open_files = _open_files()
        age = time.time() - _newest_change(path)
        if open_files is None:
            found.append(Temporary(path, "old-style temporary; cannot tell here whether a process has it open: "
                                         "kept", False))
        elif _identities(path) & open_files:
            found.append(Temporary(path, "old-style temporary, open in a running process: kept", False))
        elif old.groupdict().get("pid") and _alive(int(old["pid"])):
            found.append(Temporary(path, f"old-style temporary of process {old['pid']}, which still runs: kept",
                                   False))
        elif age < min_age_s:
            found.append(Temporary(path, f"old-style temporary changed {age:.0f} s ago (under {min_age_s:.0f} s): "
                                         "kept", False))
        else:
            found.append(Temporary(path, f"old-style temporary, unchanged for {age / 3600:.1f} h and open nowhere",
                                   True))
    return found


def remove_temporary(temporary: Temporary) -> None:
    if temporary.path.is_dir() and not temporary.path.is_symlink():
        shutil.rmtree(temporary.path)
    else:
        temporary.path.unlink()


def _holds_outputs_only(folder: Path) -> bool:
    try:
        return all(p.is_file() and not p.is_symlink() and p.name.lower().endswith(OUTPUT_SUFFIXES)
                   for p in folder.rglob("*") if not p.is_dir() or p.is_symlink())
    except OSError:
        return False


def _newest_change(path: Path) -> float:
    times = [path.lstat().st_mtime]
    if path.is_dir():
        times += [p.lstat().st_mtime for p in path.rglob("*")]
    return max(times)


def _identities(path: Path) -> set[tuple[int, int]]:
    """(device, inode) of ``path`` and, for a folder, of everything in it."""
    paths = [path, *(path.rglob("*") if path.is_dir() else ())]
    return {(info.st_dev, info.st_ino) for info in map(os.lstat, paths)}


def _open_files() -> set[tuple[int, int]] | None:
    """(device, inode) of every file any process visible here holds open, and every working folder; None where
    /proc cannot tell (not Linux)."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    held = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        for link in [*_listdir(proc / pid / "fd"), proc / pid / "cwd"]:
            try:
                info = os.stat(link)
            except OSError:
                continue
            held.add((info.st_dev, info.st_ino))
    return held


def _listdir(folder: Path) -> list[Path]:
    try:
        return [folder / name for name in os.listdir(folder)]
    except OSError:
        return []


def check_folder(folder: Path, what: str = "output") -> None:
    """Raise DataError unless ``folder`` exists, is a folder and is writable."""
    if folder.is_dir():
        try:                                    # the real test (permissions, read-only mounts, also for root)
            fd, probe = tempfile.mkstemp(prefix=_prefix(Path("probe")), suffix=".tmp", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise DataError(f"{what} folder {folder} is not writable ({err.strerror}); choose another path or fix "
                            "its permissions") from None
        return
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise DataError(f"cannot write into {folder}: {parent} is a file, not a folder; choose another path")
        if parent.exists():
            break
    raise DataError(f"{what} folder {folder} does not exist; create it or choose another path")


RUNS = Path("runs")              # the commands' default outputs live in runs/ in the current folder, made on demand


def check_output_folder(path: str | os.PathLike, what: str = "--output") -> Path:
    """Check, before any work, a folder that a command writes several files into (an experiment's results,
    ``crsae demo``'s work folder): an existing writable folder, or a new one whose parent is a writable folder
    (``runs/`` in the current folder, the defaults' parent, may be missing: it is made too)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise DataError(f"{what} {path} is a file; pass a folder for the results")
        check_folder(path, what)
        return path
    parent = _folder_of(path)
    check_folder(_folder_of(parent) if parent == RUNS and not parent.exists() else parent, what)
    return path


def make_runs_folder(path: str | os.PathLike) -> None:
    """Make ``runs/`` in the current folder when ``path`` is directly in it (the defaults' and the README's
    examples' parent) and it is missing; any other missing parent is left for ``check_output`` to refuse."""
    parent = _folder_of(Path(path))
    if parent == RUNS and not parent.exists() and not parent.is_symlink():
        check_folder(Path("."), "the current")
        parent.mkdir(exist_ok=True)


def make_folder(path: str | os.PathLike) -> Path:
    """Make a folder ``check_output_folder`` passed (with ``runs/`` above it if need be), when its first file is
    written: a run that fails before writing anything leaves no folder behind."""
    path = Path(path)
    path.mkdir(parents=_folder_of(path) == RUNS, exist_ok=True)
    return path


def check_output(path: str | os.PathLike, *, what: str = "output", inputs=(), folder: bool = False,
                 size: int | None = None, others=()) -> Path:
    """Check, before any work, that ``path`` can be written: see the module doc. ``inputs`` are paths the run
    reads (an output must not replace one), ``others`` the run's other outputs (each output needs its own path),
    ``size`` the bytes it will take, if known. Returns ``path`` as a Path."""
    path = Path(path)
    if not str(path) or path.name in ("", ".", ".."):
        raise DataError(f"{what} {str(path)!r} is not a file name; pass e.g. out.npy")
    parent = _folder_of(path)
    check_folder(parent, what)
    if folder:
        if path.exists() and not path.is_dir():
            raise DataError(f"{what} {path} is a file; pass a new folder")
    elif path.is_dir():
        raise DataError(f"{what} {path} is a folder; pass a file name inside it, e.g. {path / ('out' + (path.suffix or '.npy'))}")
    elif path.is_symlink() and not path.exists():
        raise DataError(f"{what} {path} is a dangling symbolic link; remove it or choose another path")
    resolved = _resolve(path)
    for other in inputs:
        if other is not None and _same(resolved, Path(other)):
            raise DataError(f"{what} {path} is also an input ({other}); write to a new file so the input is kept")
    for other in others:
        if other is not None and _same(resolved, Path(other)):
            raise DataError(f"{what} {path} is also given for another output ({other}); give each output its own "
                            "path")
    if size is not None:
        try:
            free = shutil.disk_usage(parent).free
        except OSError:
            free = None
        if free is not None and size > free:
            raise DataError(f"{what} {path} needs {_bytes(size)} but {parent} has {_bytes(free)} free; free space "
                            "or choose another disk")
    return path


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _same(resolved: Path, other: Path) -> bool:
    if resolved == _resolve(other):
        return True
    try:
        return resolved.exists() and other.exists() and os.path.samefile(resolved, other)
    except OSError:
        return False


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds, delete it if not."""
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike):
    """Temporary paths beside each of ``paths``; all are renamed into place only if the block succeeds (write both
    or neither), all deleted if not."""
    paths = [Path(p) for p in paths]
    temporaries = []
    try:
        for path in paths:
            folder = _folder_of(path)
            check_folder(folder)
            if path.is_dir():
                raise DataError(f"output {path} is a folder; pass a file name")
            remove_stale_temporaries(folder)
            fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=folder)
            os.close(fd)
            temporaries.append(Path(tmp))
            os.chmod(tmp, 0o666 & ~_umask())           # mkstemp makes 0600; give the file normal permissions
        yield tuple(temporaries)
        for tmp, path in zip(temporaries, paths):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temporaries:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike):
    """Yield a new temporary folder beside ``path`` to fill; rename it onto ``path`` (which must be absent or an empty
    folder) if the block succeeds, delete it if not."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DataError(f"output folder {path} already exists and is not empty; choose a new folder")
    parent = _folder_of(path)
    check_folder(parent)
    remove_stale_temporaries(parent)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())            # mkdtemp makes 0700; give the folder normal permissions
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class NpyWriter:
    """A (rows, columns) C-order .npy file written in column windows, ``writer[:, a:b] = values``, with
    ``os.pwrite``: no memory map, so the resident set stays bounded by the window, however large the file. Every
    64 MiB written, the kernel is told to write back and drop the pages behind (``posix_fadvise(DONTNEED)``), so
    the page cache does not fill with the output either. Close it (or use it as a context manager) when done."""

    FLUSH_EVERY = 64 << 20

    def __init__(self, path: str | os.PathLike, dtype, shape: tuple[int, int]):
        import numpy as np
        self.dtype, self.shape = np.dtype(dtype), (int(shape[0]), int(shape[1]))
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(os.dup(self._fd), "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                     "fortran_order": False, "shape": self.shape})
            self.offset = f.tell()
        os.ftruncate(self._fd, self.offset + self.shape[0] * self.shape[1] * self.dtype.itemsize)
        self._since_flush = 0

    def __setitem__(self, key, values) -> None:
        import numpy as np
        rows, cols = key
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise IndexError("an NpyWriter is written as writer[:, start:stop] = values")
        start, stop, _ = cols.indices(self.shape[1])
        values = np.ascontiguousarray(np.broadcast_to(values, (self.shape[0], max(0, stop - start))),
                                      dtype=self.dtype)
        item = self.dtype.itemsize
        for r in range(self.shape[0]):
            data, position = memoryview(values[r]).cast("B"), self.offset + (r * self.shape[1] + start) * item
            while len(data):
                written = os.pwrite(self._fd, data, position)
                data, position = data[written:], position + written
        self._since_flush += values.nbytes
        if self._since_flush >= self.FLUSH_EVERY and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_DONTNEED)
            self._since_flush = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NpzWriter:
    """An .npz archive (what ``numpy.load`` reads) written member by member, so no more than one member, or one
    column window of a long one, is in memory: ``add(name, array)`` streams a whole array; ``columns(name, dtype,
    shape)`` is a (rows, columns) member written in consecutive column windows (``member[:, a:b] = values``, in
    order), stored in Fortran order so that each window is contiguous in the file. Members are stored
    uncompressed (as ``numpy.savez``), zip64 so any size fits; every 64 MiB written, the kernel is told to drop
    the pages behind (``posix_fadvise(DONTNEED)``). Close it (or use it as a context manager) when done."""

    FLUSH_EVERY = 64 << 20

    def __init__(self, path: str | os.PathLike):
        import zipfile
        self._file = open(path, "wb")
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_STORED, allowZip64=True)
        self._since_flush = 0

    def add(self, name: str, array) -> None:
        import numpy as np
        array = np.asanyarray(array)
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array(f, array, allow_pickle=False)
        self._written(array.nbytes)

    @contextlib.contextmanager
    def columns(self, name: str, dtype, shape: tuple[int, int]):
        import numpy as np
        dtype, shape = np.dtype(dtype), (int(shape[0]), int(shape[1]))
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                     "fortran_order": True, "shape": shape})
            member = _ColumnMember(f, dtype, shape, self._written)
            yield member
            if member.done != shape[1]:
                raise RuntimeError(f"{name}: {member.done} of {shape[1]} columns were written")

    def _written(self, nbytes: int) -> None:
        self._since_flush += nbytes
        if self._since_flush >= self.FLUSH_EVERY and hasattr(os, "posix_fadvise"):
            self._file.flush()
            os.posix_fadvise(self._file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            self._since_flush = 0

    def close(self) -> None:
        if self._zip is not None:
            try:
                self._zip.close()
            finally:
                self._file.close()
                self._zip = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ColumnMember:
    """One long member of an NpzWriter: ``member[:, a:b] = values`` (rows, b - a), a == the columns so far."""

    def __init__(self, stream, dtype, shape, written):
        self._stream, self.dtype, self.shape, self._report = stream, dtype, shape, written
        self.done = 0

    def __setitem__(self, key, values) -> None:
        import numpy as np
        rows, cols = key
        if rows != slice(None) or not isinstance(cols, slice) or cols.step not in (None, 1):
            raise IndexError("an .npz column member is written as member[:, start:stop] = values")
        start, stop, _ = cols.indices(self.shape[1])
        if start != self.done:
            raise IndexError(f"an .npz column member is written in order: columns {self.done}.. next, not {start}")
        values = np.ascontiguousarray(np.broadcast_to(values, (self.shape[0], stop - start)).T, dtype=self.dtype)
        self._stream.write(memoryview(values).cast("B"))
        self.done = stop
        self._report(values.nbytes)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
