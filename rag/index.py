"""The Chroma store: chunk vectors plus a manifest of indexed files, crash-safe.

Two collections live side by side, in an embedded ``PersistentClient`` under
``--index`` or on a Chroma server (``--chroma-url``), so the manifest always travels
with the vectors it describes:

    rag_chunks  one record per chunk: vector, text, file/paragraph/line metadata
    rag_files   one record per file, keyed by its name: sha256, state, paragraph and
                chunk counts, and where it was read (root folder + path under it)

Crash safety comes from ordering, not transactions: a file is first marked
``pending`` in rag_files, then its old chunks are deleted and the new ones written,
then it is marked ``done``; a file being removed is marked ``removing``, then its
chunks are deleted, then its record. A process killed anywhere leaves at worst some
``pending`` files, whose chunks the next ingest deletes and writes again, or some
``removing`` ones, whose removal it finishes. Chunk ids are stable, and writes are
upserts, so a repeated write never duplicates. (rag.ingest runs these steps.)

chromadb is imported here and nowhere else.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexError_, StoreError
from rag.types import Chunk, Paragraph

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

CHUNKS = "rag_chunks"
FILES = "rag_files"
PAGE = 5000  # records per get(); keeps memory flat on large indexes
# Each part of a split paragraph carries the whole paragraph's text, which is quadratic in its
# length (one 2 MB line: ~2,900 parts x 2 MB). Parts of a longer paragraph keep only their own
# text, still an exact slice of the paragraph, so quotes taken from it stay checkable.
PARAGRAPH_TEXT_MAX = 20_000


DONE, PENDING, REMOVING = "done", "pending", "removing"


@dataclass(frozen=True)
class FileRecord:
    """One manifest entry. ``state`` is PENDING while its chunks are being replaced and
    REMOVING while it is being removed. ``root`` (absolute) and ``relpath`` say where the
    file was read; both are None in indexes built before they were recorded: such a file
    is never removed by an ingest of some PATH (only by ``rag rm`` or ``--sync``), and the
    first file an ingest finds at that path under its PATH takes the record over."""

    name: str
    sha256: str
    state: str
    kind: str
    paragraphs: int
    chunks: int
    root: str | None = None
    relpath: str | None = None

    @property
    def location(self) -> Path | None:
        return Path(self.root) / self.relpath if self.root is not None and self.relpath is not None else None


@dataclass(frozen=True)
class IndexInfo:
    """What shaped the vectors: opening with another embedder or chunker is refused."""

    embedder: str
    dim: int
    chunking: str


def _client(index_dir: Path, chroma_url: str | None) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    try:
        if chroma_url:
            url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=settings,
            )
        index_dir.mkdir(parents=True, exist_ok=True)
        # Absolute: chromadb caches one client per path string, so a relative path would
        # reach another folder's cached store after a chdir in the same process.
        return chromadb.PersistentClient(path=str((index_dir / "chroma").resolve()), settings=settings)
    except Exception as exc:  # chromadb raises bare Exception/ValueError for connection failures
        where = chroma_url or str(index_dir)
        raise StoreError(
            f"cannot open the Chroma store at {where}: {exc}",
            "is `chroma run` up at that address?" if chroma_url else "check the --index folder",
        ) from exc


# Chroma's error for an id whose metadata another process has written but whose vector it
# has not yet flushed: a read racing an ingest, not a broken store.
_MID_WRITE = "Error finding id"
WRITE_HINT = "free disk space (or restart the server), then run `rag ingest` again: finished files are kept, the rest is repaired"


def _translate(where: str, hint: str | None = None) -> Any:
    """Decorator mapping chromadb failures to StoreError naming the store."""

    def wrap(fn: Any) -> Any:
        def inner(self: Index, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except (StoreError, IndexError_):
                raise
            except Exception as exc:
                raise StoreError(f"the Chroma store at {self.location} failed while {where}: {exc}", hint) from exc

        return inner

    return wrap


class Index:
    """An opened store. Build with :func:`open_index`."""

    def __init__(self, client: ClientAPI, chunks: Collection, files: Collection, location: str) -> None:
        self._client = client
        self._chunks = chunks
        self._files = files
        self.location = location
        meta = chunks.metadata or {}
        self.info = IndexInfo(str(meta.get("embedder", "")), int(meta.get("dim", 0)), str(meta.get("chunking", "")))
        self.embed_spec = str(meta.get("embed_spec", ""))  # how to load the embedder that built it

    # -- manifest ---------------------------------------------------------------
    @_translate("reading the manifest")
    def files(self) -> dict[str, FileRecord]:
        records: dict[str, FileRecord] = {}
        for offset in range(0, self._files.count(), PAGE):
            got = self._files.get(include=["metadatas"], limit=PAGE, offset=offset)
            for name, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                records[name] = FileRecord(
                    name, str(meta["sha256"]), str(meta["state"]), str(meta["kind"]),
                    int(meta["paragraphs"]), int(meta["chunks"]),
                    _optional(meta, "root"), _optional(meta, "relpath"),
                )
        return records

    @_translate("writing the manifest", WRITE_HINT)
    def put_files(self, records: Sequence[FileRecord]) -> None:
        """Upsert manifest records (mark pending before writing chunks, done after)."""
        for batch in _batches(list(records), self._batch):
            self._files.upsert(
                ids=[r.name for r in batch],
                embeddings=[[1.0]] * len(batch),  # the manifest is looked up by id, never by vector
                documents=[r.name for r in batch],
                metadatas=[_record_meta(r) for r in batch],
            )

    @_translate("removing files from the manifest", WRITE_HINT)
    def forget_files(self, names: Sequence[str]) -> None:
        for batch in _batches(list(names), self._batch):
            self._files.delete(ids=batch)

    # -- chunks -----------------------------------------------------------------
    @property
    def _batch(self) -> int:
        return min(self._client.get_max_batch_size(), 4000)

    @_translate("deleting old chunks", WRITE_HINT)
    def delete_chunks(self, files: Sequence[str]) -> None:
        """Delete every chunk of these files, whatever ids they had."""
        for batch in _batches(list(files), 100):
            self._chunks.delete(where={"file": {"$in": batch}})

    @_translate("writing chunks", WRITE_HINT)
    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Upsert, never add: Chroma's add silently keeps an existing id's old record."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        step = self._batch
        for i in range(0, len(chunks), step):
            batch = chunks[i : i + step]
            self._chunks.upsert(
                ids=[c.id for c in batch],
                embeddings=vectors[i : i + step].tolist(),
                documents=[c.text for c in batch],
                metadatas=[_chunk_meta(c) for c in batch],
            )

    @_translate("searching")
    def query(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        """The k nearest chunks with cosine similarity (1 - distance)."""
        if k <= 0 or self.count() == 0:
            return []
        got = self._chunks.query(
            query_embeddings=[vector.tolist()], n_results=k, include=["documents", "metadatas", "distances"]
        )
        return [
            (_chunk_from(cid, doc, meta), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
            )
        ]

    @_translate("reading chunks")
    def chunks_with_vectors(self, ids: Sequence[str]) -> list[tuple[Chunk, np.ndarray]]:
        """These chunks and their stored vectors, in the order given; ids the store does
        not hold are left out, and so are ids another process is writing at this moment
        (Chroma then knows the id but not yet its vector, and fails the whole read with
        "Error finding id": those are read one by one and the unfinished ones skipped)."""
        if not ids:
            return []
        try:
            got = self._chunks.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        except Exception as exc:
            if _MID_WRITE not in str(exc):
                raise
            return [] if len(ids) == 1 else [pair for i in ids for pair in self.chunks_with_vectors([i])]
        by_id = {
            cid: (_chunk_from(cid, doc, meta), np.asarray(vec, np.float32))
            for cid, doc, meta, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"],
                                           strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    @_translate("reading chunks")
    def texts_containing(self, file: str, text: str, limit: int = 5) -> list[str]:
        """Up to LIMIT chunk texts of FILE that contain TEXT. The store filters by content,
        so asking whether a 20 MB file states "2021" does not read the whole file."""
        got = self._chunks.get(where={"file": file}, where_document={"$contains": text}, limit=limit,
                               include=["documents"])
        return list(got["documents"] or [])

    @_translate("reading chunks")
    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk, page by page (for keyword search and status checks)."""
        for offset in range(0, self.count(), PAGE):
            got = self._chunks.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield _chunk_from(cid, doc, meta)

    @_translate("counting chunks")
    def count(self) -> int:
        return self._chunks.count()


def _record_meta(r: FileRecord) -> dict[str, Any]:
    meta: dict[str, Any] = {"sha256": r.sha256, "state": r.state, "kind": r.kind,
                            "paragraphs": r.paragraphs, "chunks": r.chunks}
    if r.root is not None and r.relpath is not None:
        meta["root"], meta["relpath"] = r.root, r.relpath
    return meta


def _optional(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return None if value is None else str(value)


def _chunk_meta(c: Chunk) -> dict[str, Any]:
    p = c.paragraph
    meta: dict[str, Any] = {
        "file": p.file, "paragraph": p.number, "part": c.part,
        "start_line": p.start_line, "end_line": p.end_line,
    }
    if p.page is not None:
        meta["page"] = p.page
        meta["page_paragraph"] = p.page_paragraph
    if p.text != c.text and len(p.text) <= PARAGRAPH_TEXT_MAX:
        # A part of a long paragraph, or a paragraph with leading or trailing spaces (a chunk
        # is stripped): store the paragraph as the file has it, to show and quote it whole.
        meta["paragraph_text"] = p.text
    return meta


def _chunk_from(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    paragraph = Paragraph(
        str(meta["file"]), int(meta["paragraph"]), int(meta["start_line"]), int(meta["end_line"]),
        str(meta.get("paragraph_text", text)), meta.get("page"), meta.get("page_paragraph"),
    )
    return Chunk(cid, paragraph, int(meta["part"]), text)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def describe_location(index_dir: Path, chroma_url: str | None) -> str:
    return f"Chroma server {chroma_url}" if chroma_url else str(index_dir / "chroma")


def open_index(index_dir: Path, chroma_url: str | None, create: IndexInfo | None = None,
               embed_spec: str = "") -> Index:
    """Open the store. With ``create``, make the collections if missing and refuse
    ones built with other settings; without it, a missing index is an error naming
    the command that builds it."""
    location = describe_location(index_dir, chroma_url)
    if create is None and not chroma_url and not (index_dir / "chroma").exists():
        raise IndexError_(f"no index at {index_dir}", "build it with `rag ingest PATH` (or set --index / RAG_INDEX)")
    client = _client(index_dir, chroma_url)
    try:
        if create is None:
            names = {getattr(c, "name", c) for c in client.list_collections()}
            if CHUNKS not in names or FILES not in names:
                raise IndexError_(f"no index at {location}", "build it with `rag ingest PATH`")
            chunks = client.get_collection(CHUNKS, embedding_function=None)
            files = client.get_collection(FILES, embedding_function=None)
        else:
            chunks = client.get_or_create_collection(
                CHUNKS, embedding_function=None,
                metadata={"hnsw:space": "cosine", "embedder": create.embedder, "dim": create.dim,
                          "chunking": create.chunking, "embed_spec": embed_spec},
            )
            files = client.get_or_create_collection(FILES, embedding_function=None)
    except IndexError_:
        raise
    except Exception as exc:
        raise StoreError(f"cannot open the collections in {location}: {exc}") from exc
    index = Index(client, chunks, files, location)
    if create is not None and index.info != create:
        raise IndexError_(
            f"the index at {location} was built with embedder {index.info.embedder!r} "
            f"({index.info.dim} dims, chunking {index.info.chunking!r}), not {create.embedder!r} "
            f"({create.dim} dims, chunking {create.chunking!r})",
            "run `rag ingest --rebuild PATH` to rebuild it, or choose the same --embed",
        )
    return index


def drop_index(index_dir: Path, chroma_url: str | None) -> None:
    """Delete both collections (``rag ingest --rebuild``)."""
    client = _client(index_dir, chroma_url)
    names = {getattr(c, "name", c) for c in client.list_collections()}
    for name in (CHUNKS, FILES):
        if name in names:
            client.delete_collection(name)


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """One ingest at a time per index: a second one refuses at once, naming the holder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / "ingest.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise IndexError_(
                f"another `rag ingest` (pid {holder}) is writing the index at {index_dir}",
                "wait for it to finish, then run again",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Status:
    """What ``rag status`` shows; ``consistent`` is False while a crash awaits repair
    (``pending`` lists the files a stopped run left half-written or half-removed)."""

    location: str
    embedder: str
    dim: int
    chunking: str
    files: int
    paragraphs: int
    chunks: int
    chunks_in_store: int
    pending: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        return not self.pending and self.chunks == self.chunks_in_store


def index_status(index: Index) -> Status:
    """Totals from the manifest, checked against what the store actually holds."""
    records = index.files().values()
    done = [r for r in records if r.state == DONE]
    return Status(
        index.location, index.info.embedder, index.info.dim, index.info.chunking,
        len(done), sum(r.paragraphs for r in done), sum(r.chunks for r in done), index.count(),
        tuple(sorted(r.name for r in records if r.state != DONE)),
    )
