"""rag.files.atomic_write: a file is replaced whole or not at all, and no temp file stays."""

from __future__ import annotations

import gc
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest

from rag.files import UNREADABLE, atomic_write, read_arrays


def test_writes_text_and_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o640)
    with atomic_write(path, newline="") as out:
        out.write("id,question\r\nq1,كم شركة؟\r\n")
    assert path.read_bytes() == "id,question\r\nq1,كم شركة؟\r\n".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["answers.csv"]


def test_a_new_file_gets_what_the_umask_gives_and_its_folder_is_made(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "cache" / "model.bin", binary=True) as out:
            for block in (b"a" * 10, b"b" * 10):  # streamed, not one string
                out.write(block)
    finally:
        os.umask(old)
    path = tmp_path / "cache" / "model.bin"
    assert path.read_bytes() == b"a" * 10 + b"b" * 10
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # not mkstemp's 0600


def test_a_failure_leaves_the_old_file_whole_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "keywords.npz"
    path.write_bytes(b"the old index")
    with pytest.raises(ValueError, match="checked and refused"):
        with atomic_write(path, binary=True) as out:
            out.write(b"half of a new one")
            raise ValueError("checked and refused")
    assert path.read_bytes() == b"the old index"
    assert os.listdir(tmp_path) == ["keywords.npz"]


def test_an_error_in_a_write_itself_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("# old\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        with atomic_write(path) as out:
            out.write("# new\n")
            out.write("\udcff")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text(encoding="utf-8") == "# old\n"
    assert os.listdir(tmp_path) == ["report.md"]


def test_saved_arrays_read_back_and_a_file_cut_short_is_unreadable_and_closed(tmp_path: Path) -> None:
    path = tmp_path / "saved.npz"
    with atomic_write(path, binary=True) as out:
        np.savez(out, numbers=np.arange(5))
    with read_arrays(path) as saved:
        assert saved["numbers"].tolist() == [0, 1, 2, 3, 4]

    path.write_bytes(path.read_bytes()[:40])  # a crash cut it short
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UNREADABLE):
            with read_arrays(path):
                pass
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    with pytest.raises(UNREADABLE):
        with read_arrays(tmp_path / "missing.npz"):
            pass
