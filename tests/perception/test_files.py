"""perception.files: the one input check, file hash and atomic writes."""
from __future__ import annotations

import hashlib
import os

import pytest

from perception.errors import InputError
from perception.files import atomic_path, check_file, file_sha256, move_folder_atomic, write_bytes_atomic


def test_check_file_names_the_problem(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        check_file(tmp_path / "gone.mp4")
    with pytest.raises(InputError, match="is a folder, not a video file"):
        check_file(tmp_path, "video file")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.bin: empty file \(0 bytes\)"):
        check_file(empty)
    assert check_file(empty, allow_empty=True) == empty
    with pytest.raises(TypeError, match="path must be str or os.PathLike"):
        check_file(3)


def test_file_sha256_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20 | 17)  # more than one 1 MB block, not a whole number of them
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert file_sha256(p) == hashlib.sha256(data).hexdigest()


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    out = write_bytes_atomic(tmp_path / "sub" / "a.json", b"{}")
    assert out.read_bytes() == b"{}"
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp != tmp_path / "plot.png"
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "sub"]
    assert os.stat(tmp_path / "plot.png").st_mode & 0o777 == 0o666 & ~_umask()


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "v.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_move_folder_replaces_a_partial_one(tmp_path):
    built, target = tmp_path / ".build", tmp_path / "model"
    (built / "sub").mkdir(parents=True)
    (built / "sub" / "w.bin").write_bytes(b"w")
    target.mkdir()
    (target / "partial").write_bytes(b"x")
    move_folder_atomic(built, target)
    assert not built.exists() and (target / "sub" / "w.bin").read_bytes() == b"w" and not (target / "partial").exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
