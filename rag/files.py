"""Files rag writes whole: into a temp file beside the target, then renamed into place.

    with atomic_write(path) as out:            # text, UTF-8
        out.write(text)
    with atomic_write(path, binary=True) as out:  # bytes, streamed in blocks
        for block in blocks:
            out.write(block)

A reader (another process, or the next run after a crash) sees the old file or the new
one, never half of one: the bytes are flushed and fsync'd before ``os.replace``, and a
failure anywhere before it (an exception in the ``with`` body included) removes the temp
file and leaves the target as it was.

Saved numpy arrays (the keyword index, the language centroids, llama.cpp prefix states)
are read back with ``read_arrays``, which treats any unreadable file as ``UNREADABLE``:

    try:
        with read_arrays(path) as saved:
            ...
    except UNREADABLE:
        ...  # missing, cut short or foreign: build it again
"""

from __future__ import annotations

import os
import secrets
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

UNREADABLE = (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError)
"""What reading a saved ``.npz`` raises when it is missing, cut short or not one of ours."""


@contextmanager
def atomic_write(path: Path, *, binary: bool = False, newline: str | None = None) -> Iterator[IO[Any]]:
    """Yield a file to write PATH's new content to; PATH gets it only if the body ends normally.

    Text is UTF-8 (NEWLINE as for ``open``); BINARY gives a byte stream. PATH's folder is
    made if it is missing. The body may raise to discard what it wrote, as a check of the
    written bytes does when they are wrong."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline=newline)) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temp_beside(path: Path) -> tuple[int, Path]:
    """A new file next to PATH (same file system, so renaming it over PATH is atomic),
    open for writing. It gets PATH's mode if PATH exists, else what the umask gives a new
    file (mkstemp's 0600 would make answers, indexes and a shared model cache unreadable
    to the user's group)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))
    except FileNotFoundError:
        pass
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    return fd, tmp


@contextmanager
def read_arrays(path: Path) -> Iterator[Any]:
    """PATH's saved arrays (an ``.npz``, no pickles), closed on leaving the ``with``.

    The file is opened here and handed to ``np.load``: given a path, ``np.load`` leaves the
    file it opened unclosed when the content is not a whole zip (a file cut short by a
    crash), and a reader that runs for hours would leak one descriptor per bad file."""
    import numpy as np

    with path.open("rb") as file, np.load(file, allow_pickle=False) as saved:
        yield saved
