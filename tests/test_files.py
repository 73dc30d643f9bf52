"""crsae/files.py: outputs are written to a temporary beside them and renamed into place only on success, so a
failed write leaves neither a partial file nor a temporary, and an existing output stays as it was."""

import os
import stat

import pytest

from crsae.errors import DataError
from crsae.files import atomic_folder, atomic_path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_path_renames_into_place_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert target.read_bytes() == b"old"                 # untouched until the block succeeds
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()   # normal permissions, not mkstemp's 0600


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_leaves_no_temporary_and_keeps_the_old_file_on_failure(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise error()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_path_failure_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "new.npy") as tmp:
            tmp.write_bytes(b"partial")
            raise ValueError("the run failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_refuses_a_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        with atomic_path(tmp_path / "missing" / "out.npy"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_renames_a_filled_folder_into_place(tmp_path):
    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        assert tmp.parent == tmp_path and tmp.is_dir() and not target.exists()
        (tmp / "a.png").write_bytes(b"a")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["a.png"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()
    target.joinpath("a.png").unlink()
    with atomic_folder(target) as tmp:                      # an existing empty folder is replaced
        (tmp / "b.png").write_bytes(b"b")
    assert [p.name for p in target.iterdir()] == ["b.png"]


def test_atomic_folder_removes_its_temporary_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "out") as tmp:
            (tmp / "a.png").write_bytes(b"a")
            raise RuntimeError()
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_refuses_a_folder_that_holds_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("keep")
    with pytest.raises(DataError, match="already exists and is not empty"):
        with atomic_folder(tmp_path / "out"):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (tmp_path / "out" / "keep.txt").read_text() == "keep"
