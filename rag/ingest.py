"""Write the index from files on disk: ``ingest`` adds and updates, ``remove`` removes.

``ingest(PATHS)`` adds the new files under PATHS, re-embeds the changed ones and removes
the files indexed from under a PATH that are no longer there; files indexed from
anywhere else are left alone. ``sync=True`` (``rag ingest --sync``) makes the index
exactly PATHS instead. Only new or changed files are embedded. A run goes:

1. Plan, writing nothing: match the files found to the manifest by location
   (rag.sources); decide what is unchanged, what to embed, what to remove.
2. Finish what a stopped run left (``removing`` records; ``pending`` files are read
   again from where they were found, even outside this run's PATHs), remove vanished
   files, and name the new ones.
3. Read and chunk every file to embed, so progress counts chunks from the start.
4. Embed, smallest file first, in batches sized to take about EMBED_SECONDS each, and
   write each file as soon as its last chunk is embedded, in the crash-safe order of
   rag.index: pending -> delete old chunks -> upsert -> done. Small batches are what
   let Ctrl-C through: an embedding model's C call holds a signal until it returns, and
   one call over a 10,000-paragraph file took minutes. Smallest first, so a stopped run
   has finished as many files as it could.

Ctrl-C waits for a write under way (at most WRITE_STEP chunks, about a second), then
raises IngestInterrupted: every file finished before it stays. A second Ctrl-C, or a
kill, stops at once and leaves a store the next run repairs.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from types import FrameType

import numpy as np

from rag.chunks import chunk_paragraphs
from rag.config import DEFAULT_EMBED, Settings
from rag.documents import file_sha256, read_document
from rag import embeddings
from rag.embeddings import Embedder
from rag.errors import DocumentError
from rag.index import (
    DONE, PENDING, REMOVING, FileRecord, Index, IndexInfo, drop_index, ingest_lock, open_index,
)
from rag.sources import Source, find_sources, name_sources, select, source_at
from rag.types import Chunk, IngestReport, RemoveReport, Skipped

FIRST_BATCH = 8  # chunks in the first embedding call, which also loads the model
MAX_BATCH = 256  # most chunks in one call
EMBED_SECONDS = 0.5  # what one embedding call should take: how long Ctrl-C may wait
WRITE_STEP = 1000  # chunks upserted in one store call, ~1 s in a 10k-chunk store
LONG_FILE_SECONDS = 60.0  # a file expected to take longer to embed gets a warning

Progress = Callable[[int, int], None]
"""Called with (chunks embedded, chunks to embed in this run), from (0, total) on."""
Notify = Callable[[str], None]
"""Gets one-line notices meant for a person (a file that will take long)."""


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped an ingest. ``report`` counts what was finished before it, and the
    index keeps all of it; the next ``rag ingest`` does the rest."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingest interrupted")
        self.report = report


def ingest(paths: list[Path], settings: Settings, *, embedder: Embedder | None = None, rebuild: bool = False,
           sync: bool = False, progress: Progress | None = None, notify: Notify | None = None) -> IngestReport:
    """Add and update what is under PATHs, and report what changed (SPEC 3).

    Args:
        embedder: the model that embeds the chunks (default: the one ``settings.models``
            names, loaded once per process); its ``id`` is recorded in the index.
        sync: also remove every indexed file not under PATHs (the index becomes PATHs).
        progress: told (chunks embedded, chunks to embed) after every embedding call.
        notify: given one line for each file expected to take over LONG_FILE_SECONDS.

    Raises IngestInterrupted on Ctrl-C, with the report of what was finished (and kept).

    Usage: ``ingest([Path("examples/corpus")], Settings(store=StoreSettings(index_dir=Path(".rag"))))`` (rag.config).
    """
    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:  # a mistyped PATH would otherwise read as "every file vanished" and empty it
        raise DocumentError(f"{missing[0]}: no such file or folder", "check the PATH; the index was not changed")
    with ingest_lock(settings.store.index_dir):
        if rebuild:
            drop_index(settings.store.index_dir, settings.store.chroma_url)
        embedder = embedder or embeddings.load_embedder(settings.models.embed or DEFAULT_EMBED, settings.models)
        index = open_index(settings.store.index_dir, settings.store.chroma_url,
                           create=IndexInfo(embedder.id, embedder.dim, settings.store.chunking),
                           embed_spec=settings.models.embed or DEFAULT_EMBED)
        found, skipped = find_sources(paths)
        report = IngestReport(skipped=skipped)
        writer = _Writer(index)
        try:
            plan = _plan(found, writer.manifest, paths, sync, report)
            # A file a killed run left half-written: clear its chunks now; it is redone below.
            index.delete_chunks([r.name for _, r, _ in plan.todo if r is not None and r.state == PENDING])
            writer.remove(plan.remove)
            writer.put(plan.placed)
            names = name_sources(plan.new, writer.manifest.values())
            todo = plan.todo + [(s, None, n) for s, n in zip(plan.new, names, strict=True)]
            files = _read(todo, settings.store.max_chars, report, writer)
            _embed(files, embedder, writer, report, progress, notify)
        except KeyboardInterrupt:
            writer.totals(report)
            report.seconds = round(time.perf_counter() - started, 3)
            raise IngestInterrupted(report) from None
        writer.totals(report)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def remove(paths: list[str], settings: Settings) -> RemoveReport:
    """Remove the indexed files that PATHs name (``rag rm``; see rag.sources.matching).
    A PATH that names nothing is an error, and then nothing is removed."""
    started = time.perf_counter()
    index = open_index(settings.store.index_dir, settings.store.chroma_url)  # first: a missing index stays missing
    with ingest_lock(settings.store.index_dir):
        writer = _Writer(index)
        chosen = select(writer.manifest.values(), paths)
        picked = {r.name for r in chosen}
        leftovers = [r for r in writer.manifest.values() if r.state == REMOVING and r.name not in picked]
        writer.remove([*chosen, *leftovers])
        report = RemoveReport([r.name for r in chosen])
        writer.totals(report)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class _Plan:
    todo: list[tuple[Source, FileRecord | None, str]] = field(default_factory=list)  # indexed files to redo
    new: list[Source] = field(default_factory=list)  # files to name and embed
    placed: list[FileRecord] = field(default_factory=list)  # unchanged, now with their root recorded
    remove: list[FileRecord] = field(default_factory=list)


def _plan(found: list[Source], manifest: dict[str, FileRecord], paths: list[Path], sync: bool,
          report: IngestReport) -> _Plan:
    """Match FOUND to the manifest and decide every file's fate; writes nothing.

    A file is the indexed one at the same location. A record made before roots were
    recorded has no location: the first file found whose path under its PATH equals the
    record's name is taken to be it, since such indexes were always named that way."""
    plan = _Plan(remove=[r for r in manifest.values() if r.state == REMOVING])
    live = [r for r in manifest.values() if r.state != REMOVING]
    at = {r.location: r for r in live if r.location is not None}
    unplaced = {r.name: r for r in live if r.location is None}
    reached: set[str] = set()
    for source in found:
        old = at.get(source.location) or unplaced.pop(source.relpath, None)
        if old is None:
            plan.new.append(source)
            continue
        reached.add(old.name)
        if old.state == DONE:
            try:
                sha = file_sha256(source.path)
            except DocumentError as exc:
                report.skipped.append(Skipped(old.name, exc.message))  # unreadable now: keep what was indexed
                continue
            if sha == old.sha256:
                report.unchanged += 1
                if old.location is None:
                    plan.placed.append(replace(old, root=str(source.root), relpath=source.relpath))
                continue
        plan.todo.append((source, old, old.name))

    scopes = [p.resolve() for p in paths if p.is_dir()]
    for r in live:
        if r.name in reached:
            continue
        if r.state == PENDING:  # half-written by a stopped run: redo it if it is still where it was read
            again = None if sync or r.root is None or r.relpath is None else source_at(r.root, r.relpath)
            if again is not None:
                plan.todo.append((again, r, r.name))
            else:
                plan.remove.append(r)
        elif sync or (r.location is not None and any(r.location.is_relative_to(s) for s in scopes)):
            plan.remove.append(r)  # vanished from under its PATH (or, with sync, not under any)
            report.removed += 1
    return plan


@dataclass(eq=False)  # one file is itself only: batches are cut into runs by identity
class _File:
    """A file read and chunked, collecting its vectors until it can be written."""

    record: FileRecord
    chunks: list[Chunk]
    existed: bool
    vectors: list[np.ndarray] = field(default_factory=list)
    embedded: int = 0

    def take(self, vectors: np.ndarray) -> None:
        self.vectors.append(vectors)
        self.embedded += len(vectors)

    @property
    def complete(self) -> bool:
        return self.embedded == len(self.chunks)


def _read(todo: list[tuple[Source, FileRecord | None, str]], max_chars: int, report: IngestReport,
          writer: _Writer) -> list[_File]:
    files: list[_File] = []
    for source, old, name in todo:
        try:
            doc = read_document(source.path, name)
        except DocumentError as exc:
            report.skipped.append(Skipped(name, exc.message.removeprefix(f"{name}: ")))
            if old is not None and old.state != DONE:
                writer.remove([old])  # its chunks are already gone; drop the stale entry
            continue
        if doc.encoding not in (None, "utf-8"):
            report.encodings[name] = doc.encoding
        chunks = chunk_paragraphs(doc.paragraphs, max_chars)
        record = FileRecord(name, doc.sha256, DONE, doc.kind, len(doc.paragraphs), len(chunks),
                            str(source.root), source.relpath)
        files.append(_File(record, chunks, old is not None))
    return sorted(files, key=lambda f: (len(f.chunks), f.record.name))


class _Speed:
    """Chunks embedded per second in this run, leaving out the first call (it loads the
    model); a moving average, so batches follow a machine that gets busier."""

    def __init__(self) -> None:
        self.calls = 0
        self.rate: float | None = None

    def add(self, chunks: int, seconds: float) -> None:
        self.calls += 1
        if self.calls > 1 and seconds > 0:
            now = chunks / seconds
            self.rate = now if self.rate is None else 0.7 * self.rate + 0.3 * now

    def batch(self) -> int:
        if self.rate is None:
            return FIRST_BATCH
        return max(1, min(MAX_BATCH, int(self.rate * EMBED_SECONDS)))


def _embed(files: list[_File], embedder: Embedder, writer: _Writer, report: IngestReport,
           progress: Progress | None, notify: Notify | None) -> None:
    queue = [(f, c) for f in files for c in f.chunks]
    waiting = deque(files)
    speed = _Speed()
    warned: set[str] = set()
    done = 0
    if progress:
        progress(0, len(queue))
    while True:
        finished = []
        while waiting and waiting[0].complete:
            finished.append(waiting.popleft())
        writer.write(finished, report)
        if done == len(queue):
            return
        if notify and speed.rate is not None:
            _warn_if_long(waiting[0], speed.rate, warned, notify)
        batch = queue[done : done + speed.batch()]
        t0 = time.perf_counter()
        vectors = embedder.embed_passages([c.text for _, c in batch])
        speed.add(len(batch), time.perf_counter() - t0)
        start = 0
        for f, run in groupby(f for f, _ in batch):
            n = sum(1 for _ in run)
            f.take(vectors[start : start + n])
            start += n
        done += len(batch)
        if progress:
            progress(done, len(queue))


def _warn_if_long(f: _File, rate: float, warned: set[str], notify: Notify) -> None:
    """One line for a file that will take long, with the time this run's speed gives it."""
    seconds = len(f.chunks) / rate
    if f.record.name in warned or seconds < LONG_FILE_SECONDS:
        return
    warned.add(f.record.name)
    minutes = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    notify(f"{f.record.name}: {f.record.paragraphs:,} paragraphs ({len(f.chunks):,} chunks) to embed, "
           f"about {minutes} at {rate:.0f} chunks/s; Ctrl-C stops and keeps the files finished so far")


class _Writer:
    """The crash-safe write steps of rag.index, with the manifest read at the start kept
    in step with them, so totals need no second read (and are right after a Ctrl-C)."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self.manifest = index.files()

    def write(self, files: list[_File], report: IngestReport) -> None:
        if not files:
            return
        records = [f.record for f in files]
        chunks = [c for f in files for c in f.chunks]
        vectors = np.vstack([v for f in files for v in f.vectors]) if chunks else np.zeros((0, 1), np.float32)
        with _ctrl_c_waits() as section:
            self._index.put_files([replace(r, state=PENDING) for r in records])
            self.manifest.update((r.name, replace(r, state=PENDING)) for r in records)
            self._index.delete_chunks([r.name for r in records])
            for i in range(0, len(chunks), WRITE_STEP):
                if i:
                    section.stop_if_pressed()  # a long write: stop here, leaving these files pending
                self._index.add_chunks(chunks[i : i + WRITE_STEP], vectors[i : i + WRITE_STEP])
            self._index.put_files(records)
            self.manifest.update((r.name, r) for r in records)
            for f in files:  # counted before a held Ctrl-C goes off at the end of the block
                if f.existed:
                    report.updated += 1
                else:
                    report.added += 1

    def remove(self, records: list[FileRecord]) -> None:
        if not records:
            return
        names = [r.name for r in records]
        with _ctrl_c_waits():
            self._index.put_files([replace(r, state=REMOVING) for r in records])
            self._index.delete_chunks(names)
            self._index.forget_files(names)
            for name in names:
                self.manifest.pop(name, None)

    def put(self, records: list[FileRecord]) -> None:
        """Manifest records whose chunks stay as they are."""
        if records:
            with _ctrl_c_waits():
                self._index.put_files(records)
                self.manifest.update((r.name, r) for r in records)

    def totals(self, report: IngestReport | RemoveReport) -> None:
        done = [r for r in self.manifest.values() if r.state == DONE]
        report.paragraphs = sum(r.paragraphs for r in done)
        report.chunks = sum(r.chunks for r in done)


class _Section:
    """Holds a first Ctrl-C until the write it arrived in is finished."""

    def __init__(self) -> None:
        self.pressed = False

    def on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.pressed:
            raise KeyboardInterrupt  # pressed again: stop now; the next run repairs
        self.pressed = True

    def stop_if_pressed(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt


@contextmanager
def _ctrl_c_waits() -> Iterator[_Section]:
    """Inside, a first Ctrl-C waits for the block to end (or for its section's
    ``stop_if_pressed``), so one press never leaves a file half-written."""
    section = _Section()
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield section  # signals reach only the main thread; an ignored Ctrl-C needs no holding
        return
    signal.signal(signal.SIGINT, section.on_sigint)
    try:
        yield section
    finally:
        signal.signal(signal.SIGINT, previous)
    section.stop_if_pressed()
