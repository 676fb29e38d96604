"""Where indexed files come from: find them under the PATHs given, name them, and tell
which indexed files a PATH a person types means.

A file is identified by its *location*: the absolute path of the root it was ingested
from (a folder PATH, or a file PATH's folder) joined with its path relative to that
root. Its *name* is what citations show and what the index is keyed by.

Naming rule (SPEC 2: a citation's path is relative to the folder that was ingested):

1. A file already indexed keeps its name, so citations, logs and eval sets stay valid.
2. A new file is named by its path relative to its root (``notes.txt``). One folder
   ingested alone therefore gets exactly these names, as before roots were recorded.
3. When that name is taken (another indexed file has it, or has that path under its own
   root: after ``a/notes.txt`` and ``b/notes.txt``, a third ``notes.txt`` is ambiguous
   too), or another new file of the same run wants it, each new file involved takes one
   more folder of its root in front: ``a/notes.txt`` and ``b/notes.txt``; then
   ``x/a/notes.txt``..., up to the root's whole path, and last the absolute path
   ``/x/a/notes.txt``, which no relative name can be. Every file of a clash moves up
   together, so the result does not depend on the order the PATHs were given in.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.documents import HTML_SUFFIXES, SUPPORTED, TEXT_SUFFIXES
from rag.errors import IndexError_
from rag.types import Skipped

if TYPE_CHECKING:
    from rag.index import FileRecord

READABLE = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}


@dataclass(frozen=True)
class Source:
    """A file found on disk: ``path`` as walked, ``root`` (absolute, symlinks resolved) and
    ``relpath`` (relative to root, with '/')."""

    path: Path
    root: Path
    relpath: str

    @property
    def location(self) -> Path:
        """Where the file is, the same however its PATH was spelled: how a file found is
        matched to its manifest record."""
        return self.root / self.relpath


def find_sources(paths: list[Path]) -> tuple[list[Source], list[Skipped]]:
    """Walk PATHs (files or folders, recursively) in a stable order.

    Each PATH is a root: files are named relative to it (a file PATH by its file name).
    Hidden files and folders are passed over silently, so an index kept inside the
    folder (``./.rag``) is never ingested. Symlinks that leave their root are skipped, so
    a document tree can't pull in files from elsewhere on the machine. A file reached
    twice (``rag ingest docs docs/sub``) counts once, under the first PATH.
    """
    sources: list[Source] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            skipped.append(Skipped(str(given), "no such file or folder"))
            continue
        root = given if given.is_dir() else given.parent
        real_root = root.resolve()
        candidates = [given] if given.is_file() else _walk(given)
        for path in candidates:
            relpath = path.relative_to(root).as_posix()
            reason = _unfit(path, real_root)
            if reason:
                skipped.append(Skipped(relpath, reason))
            elif real_root / relpath not in seen:
                seen.add(real_root / relpath)
                sources.append(Source(path, real_root, relpath))
    return sources, skipped


def source_at(root: str, relpath: str) -> Source | None:
    """The file a manifest record points to, if it is still there and still fit to index
    (a killed run's half-written file is read again from where it was found)."""
    path = Path(root) / relpath
    if not path.exists() or _unfit(path, Path(root)):
        return None
    return Source(path, Path(root), relpath)


def _unfit(path: Path, real_root: Path) -> str | None:
    if not path.resolve().is_relative_to(real_root):
        return "symlink points outside the ingested folder"
    if path.suffix.lower() not in READABLE:
        return f"unsupported type '{path.suffix}' (supported: {' '.join(SUPPORTED)})"
    return None


def _walk(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if not filename.startswith("."):
                yield Path(dirpath) / filename


def _candidates(source: Source) -> list[str]:
    """The names SOURCE may take, in order of preference (the module docstring's rule)."""
    folders = source.root.parts[1:]  # without the leading "/"
    names = [source.relpath]
    names += ["/".join((*folders[-k:], source.relpath)) for k in range(1, len(folders) + 1)]
    names.append((source.root / source.relpath).as_posix())  # absolute: unique to its location
    return names


def name_sources(new: list[Source], indexed: Iterable[FileRecord]) -> list[str]:
    """A unique index name for each of NEW, beside the INDEXED files that stay (the
    module docstring's rule). Chunk ids embed the name, so they stay unique too."""
    taken: set[str] = set()
    for r in indexed:
        taken.add(r.name)
        if r.relpath is not None:
            taken.add(r.relpath)
    options = [_candidates(s) for s in new]
    level = [0] * len(new)
    while True:
        names = [opts[k] for opts, k in zip(options, level, strict=True)]
        wanted = Counter(names)
        clashing = [i for i, n in enumerate(names) if n in taken or wanted[n] > 1]
        if not clashing:
            return names
        movable = [i for i in clashing if level[i] < len(options[i]) - 1]
        if not movable:  # cannot happen: an absolute name is its file's alone
            raise ValueError(f"no unique index name for {names[clashing[0]]}")
        for i in movable:
            level[i] += 1


def select(records: Iterable[FileRecord], paths: list[str]) -> list[FileRecord]:
    """The indexed files PATHs mean (``rag rm``, ``rag ls PATH``), sorted by name; a PATH
    that means none of them is an error naming it, so a typo never passes silently."""
    records = list(records)
    chosen: dict[str, FileRecord] = {}
    for given in paths:
        found = matching(records, given)
        if not found:
            raise IndexError_(f"{given}: no indexed file matches it, by its place on disk or by its name",
                              "`rag ls` lists the indexed files")
        chosen.update((r.name, r) for r in found)
    return [chosen[name] for name in sorted(chosen)]


def matching(records: Iterable[FileRecord], given: str) -> list[FileRecord]:
    """The indexed files a PATH typed by a person means (``rag rm``, ``rag ls``): the file
    or everything under the folder at that place on disk (it need not exist any more),
    or the file or folder of that name as the index shows it (``b/notes.txt``; the only
    way to reach files indexed before roots were recorded)."""
    typed = Path(given).expanduser()
    places = {Path(os.path.abspath(typed)), typed.resolve()}
    name = given.strip("/") if not typed.is_absolute() else None
    found = []
    for r in records:
        location = r.location
        if (location is not None and any(location.is_relative_to(p) for p in places)) or (
            name is not None and (r.name == name or r.name.startswith(f"{name}/"))
        ):
            found.append(r)
    return found
