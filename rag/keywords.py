"""The keyword (BM25) index over the store's chunks, kept on disk between processes.

Building it means reading every chunk from Chroma and tokenizing it: ~1 s at 10k
paragraphs, but ~40 s at 100k, which every `rag ask` process would pay again. So the
index is saved once built, next to the store (or, for a Chroma server, in the user cache
directory), with a fingerprint of the manifest it was built from; a process whose
manifest has the same fingerprint loads it instead, and any ingest that changes a file
changes the fingerprint. It is only saved from a settled index (no file pending), and
written to a temporary file then renamed, so a reader never sees half of one.

Postings are flat numpy arrays, so a query costs a few vector operations per query term
instead of a Python loop over every chunk that contains a common word.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag.files import UNREADABLE, atomic_write, read_arrays
from rag.lang import tokenize

FORMAT = "rag-keywords-v2"  # v2: traditional Chinese folded to simplified (rag.lang.normalize)


class KeywordIndex:
    """Okapi BM25 over chunk ids; ``search`` returns (chunk id, coverage)."""

    def __init__(self, ids: list[str], lengths: np.ndarray, terms: list[str], offsets: np.ndarray,
                 docs: np.ndarray, tfs: np.ndarray, fingerprint: str = "", k1: float = 1.2, b: float = 0.75) -> None:
        self.ids, self.lengths, self.terms = ids, lengths, terms
        self.offsets, self.docs, self.tfs = offsets, docs, tfs
        self.fingerprint = fingerprint
        self._k1, self._b = k1, b
        self._term_row = {t: i for i, t in enumerate(terms)}
        self._avg = float(lengths.mean()) if len(lengths) else 1.0
        self._file_terms: dict[str, frozenset[str]] = {}

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str]], fingerprint: str = "") -> KeywordIndex:
        """From (chunk id, text) pairs."""
        ids: list[str] = []
        lengths: list[int] = []
        postings: dict[str, list[tuple[int, int]]] = {}
        for n, (cid, text) in enumerate(chunks):
            counts = Counter(tokenize(text))
            ids.append(cid)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                postings.setdefault(term, []).append((n, tf))
        terms = sorted(postings)
        offsets = np.zeros(len(terms) + 1, np.int64)
        np.cumsum([len(postings[t]) for t in terms], out=offsets[1:])
        pairs = np.array([p for t in terms for p in postings[t]], np.int32).reshape(-1, 2)
        return cls(ids, np.array(lengths, np.float32), terms, offsets, pairs[:, 0].copy(), pairs[:, 1].copy(),
                   fingerprint)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top k chunk ids by BM25, each with its *coverage*: the share of the query's idf
        weight the chunk matches (0..1). Coverage, unlike raw BM25, says whether a chunk
        holds what the question names, and is comparable across queries."""
        n = len(self.ids)
        scores = np.zeros(n, np.float64)
        matched = np.zeros(n, np.float64)
        total_idf = 0.0
        for term in set(tokenize(query)):
            row = self._term_row.get(term)
            df = 0 if row is None else int(self.offsets[row + 1] - self.offsets[row])
            idf = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
            total_idf += idf
            if row is None:
                continue
            docs = self.docs[self.offsets[row] : self.offsets[row + 1]]
            tf = self.tfs[self.offsets[row] : self.offsets[row + 1]].astype(np.float64)
            norm = tf + self._k1 * (1 - self._b + self._b * self.lengths[docs] / self._avg)
            scores[docs] += idf * tf * (self._k1 + 1) / norm
            matched[docs] += idf
        hit = np.flatnonzero(scores)
        if not len(hit) or total_idf == 0:
            return []
        top = hit[np.argsort(-scores[hit], kind="stable")[:k]]
        return [(self.ids[i], float(matched[i] / total_idf)) for i in top]

    def file_terms(self, file: str) -> frozenset[str]:
        """Every term of FILE's chunks: what a document holds, for asking whether it names
        what a question is about (rag.abstention). Built on first use per file, from the
        postings, so no chunk text is read again."""
        if file not in self._file_terms:
            mine = np.array([i for i, cid in enumerate(self.ids) if cid.rsplit("::", 2)[0] == file], np.int64)
            rows = np.searchsorted(self.offsets, np.flatnonzero(np.isin(self.docs, mine)), side="right") - 1
            self._file_terms[file] = frozenset(self.terms[r] for r in np.unique(rows))
        return self._file_terms[file]

    def document_frequency(self, term: str) -> int:
        """In how many files TERM occurs."""
        row = self._term_row.get(term)
        if row is None:
            return 0
        docs = self.docs[self.offsets[row] : self.offsets[row + 1]]
        return len({self.ids[int(d)].rsplit("::", 2)[0] for d in docs})

    def files(self) -> int:
        """How many files the index holds."""
        return len({cid.rsplit("::", 2)[0] for cid in self.ids})

    def save(self, path: Path) -> None:
        """Write atomically (``rag.files.atomic_write``): a reader never sees half an index."""
        with atomic_write(path, binary=True) as out:
            np.savez(out, format=np.array(FORMAT), fingerprint=np.array(self.fingerprint), ids=_blob(self.ids),
                     lengths=self.lengths, terms=_blob(self.terms), offsets=self.offsets, docs=self.docs,
                     tfs=self.tfs)

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> KeywordIndex | None:
        """The index saved at PATH if it was built from this fingerprint; else None."""
        try:
            with read_arrays(path) as saved:
                if str(saved["format"]) != FORMAT or str(saved["fingerprint"]) != fingerprint:
                    return None
                return cls(_unblob(saved["ids"]), saved["lengths"], _unblob(saved["terms"]), saved["offsets"],
                           saved["docs"], saved["tfs"], fingerprint)
        except UNREADABLE:
            return None  # missing, cut short or foreign: build it again


def _blob(strings: list[str]) -> np.ndarray:
    """Strings as one NUL-separated UTF-8 buffer: no file name or token holds a NUL, and a
    fixed-width string array would cost the longest one (a 2 MB token) times their number."""
    return np.frombuffer("\0".join(strings).encode(), np.uint8)


def _unblob(blob: np.ndarray) -> list[str]:
    return blob.tobytes().decode().split("\0") if len(blob) else []


def fingerprint(records: Iterable[tuple[str, str, str, int]], embedder: str, chunking: str) -> str:
    """A digest of the manifest: (name, sha256, state, chunks) of every file, plus how the
    chunks were made. Equal digests mean the same chunk texts under the same ids."""
    h = hashlib.sha256(f"{FORMAT}\0{embedder}\0{chunking}".encode())
    for record in sorted(records):
        h.update("\0".join(map(str, record)).encode() + b"\n")
    return h.hexdigest()
