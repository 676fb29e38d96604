"""Temporary files for what rag writes in full and then renames into place."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def temp_beside(path: Path) -> tuple[int, Path]:
    """A new file next to PATH (same file system, so renaming it over PATH is atomic),
    open for writing. It gets PATH's mode if PATH exists, else what the umask gives a new
    file (mkstemp's 0600 would make answers and indexes unreadable to the user's group)."""
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
    return fd, tmp
