"""Make the index match the given paths: add new files, replace changed ones, drop
vanished ones, and embed only what changed.

Work goes in groups of files. Each group is parsed and embedded first (the slow part,
touching nothing), then written in the crash-safe order of ``rag.index``: mark pending,
delete old chunks, upsert new chunks, mark done. Killing the process at any moment
leaves a store the next run repairs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path

from rag.chunks import chunk_paragraphs
from rag.config import DEFAULT_EMBED, Settings
from rag.documents import Source, file_sha256, find_sources, read_document
from rag.embeddings import Embedder, load_embedder
from rag.errors import DocumentError
from rag.index import FileRecord, Index, IndexInfo, drop_index, ingest_lock, open_index
from rag.types import Chunk, IngestReport, Skipped

GROUP_CHUNKS = 256  # chunks embedded and written per group: bounds memory and lost work

Progress = Callable[[int, int], None]
"""Called with (files done, files to embed) as groups finish."""


def ingest(paths: list[Path], settings: Settings, *, rebuild: bool = False,
           progress: Progress | None = None) -> IngestReport:
    """Bring the index in line with PATHs and report what changed (SPEC 3)."""
    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:  # a mistyped PATH would otherwise read as "every file vanished" and empty the index
        raise DocumentError(f"{missing[0]}: no such file or folder", "check the PATH; the index was not changed")
    with ingest_lock(settings.index_dir):
        if rebuild:
            drop_index(settings.index_dir, settings.chroma_url)
        embedder = load_embedder(settings.embed or DEFAULT_EMBED, settings.threads)
        index = open_index(settings.index_dir, settings.chroma_url,
                           create=IndexInfo(embedder.id, embedder.dim, settings.chunking),
                           embed_spec=settings.embed or DEFAULT_EMBED)
        sources, skipped = find_sources(paths)
        report = IngestReport(skipped=skipped)
        manifest = index.files()

        # Files a killed run left half-written: clear their chunks; they are redone below.
        interrupted = [name for name, rec in manifest.items() if rec.state != "done"]
        index.delete_chunks(interrupted)

        todo: list[tuple[Source, FileRecord | None]] = []
        kept: set[str] = set()
        for source in sources:
            old = manifest.get(source.name)
            try:
                sha = file_sha256(source.path)
            except DocumentError as exc:
                report.skipped.append(Skipped(source.name, exc.message))
                kept.add(source.name)  # unreadable now: keep what was indexed, lose nothing
                continue
            if old is not None and old.state == "done" and old.sha256 == sha:
                report.unchanged += 1
            else:
                todo.append((source, old))

        wanted = {s.name for s in sources}
        gone = [n for n in manifest if n not in wanted and n not in kept]
        _remove(index, [manifest[n] for n in gone])
        report.removed = sum(1 for n in gone if manifest[n].state == "done")

        done = 0
        group: list[tuple[FileRecord, list[Chunk], bool]] = []
        for source, old in todo:
            try:
                doc = read_document(source.path, source.name)
            except DocumentError as exc:
                report.skipped.append(Skipped(source.name, exc.message.removeprefix(f"{source.name}: ")))
                if old is not None and old.state != "done":
                    _remove(index, [old])  # its chunks are already gone; drop the stale entry
                continue
            if doc.encoding not in (None, "utf-8"):
                report.encodings[doc.path] = doc.encoding
            chunks = chunk_paragraphs(doc.paragraphs, settings.max_chars)
            record = FileRecord(doc.path, doc.sha256, "done", doc.kind, len(doc.paragraphs), len(chunks))
            group.append((record, chunks, old is not None))
            if sum(len(c) for _, c, _ in group) >= GROUP_CHUNKS:
                done += _write_group(index, embedder, group, report)
                group = []
                if progress:
                    progress(done, len(todo))
        if group:
            done += _write_group(index, embedder, group, report)
        if progress:
            progress(len(todo), len(todo))

        final = [r for r in index.files().values() if r.state == "done"]
        report.paragraphs = sum(r.paragraphs for r in final)
        report.chunks = sum(r.chunks for r in final)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _write_group(index: Index, embedder: Embedder, group: list[tuple[FileRecord, list[Chunk], bool]],
                 report: IngestReport) -> int:
    chunks = [c for _, cs, _ in group for c in cs]
    vectors = embedder.embed_passages([c.text for c in chunks])
    records = [r for r, _, _ in group]
    index.put_files([replace(r, state="pending") for r in records])
    index.delete_chunks([r.name for r in records])
    index.add_chunks(chunks, vectors)
    index.put_files(records)
    for _, _, existed in group:
        if existed:
            report.updated += 1
        else:
            report.added += 1
    return len(group)


def _remove(index: Index, records: list[FileRecord]) -> None:
    if not records:
        return
    index.put_files([replace(r, state="pending") for r in records])
    index.delete_chunks([r.name for r in records])
    index.forget_files([r.name for r in records])
