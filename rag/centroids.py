"""Per-language mean vectors of the index's chunks, kept on disk between processes.

Multilingual embedders put a text close to other texts *of its language*, whatever they are
about: every vector carries a language component. Subtracting each language's mean vector
("centring", Libovický et al. 2020, "On the Language Neutrality of Pre-trained Multilingual
Representations") removes most of it, so a question is compared with a passage in another
language on content. rag.retrieval uses the means this module keeps.

The means come from the vectors already in the store (nothing is embedded again): one read of
every chunk's vector and text, grouped by ``detect_language`` of the text. Like the keyword
index they are saved beside the store with the fingerprint of the manifest they were made
from, so a later process loads them, and any ingest that changes a file makes them stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag.files import UNREADABLE, atomic_write, read_arrays

FORMAT = "rag-centroids-v1"
# A language with n chunks has its mean scaled by n / (n + PRIOR_CHUNKS). The mean of a few
# paragraphs of one document is mostly that document's topic, not its language, and
# subtracting it removes what a question about that document would match: with one
# three-paragraph document in a language (eval/wiki, 6 draws per language), unshrunk centring
# found its questions' paragraph in the top 5 for 55-73%, against 79-94% without centring
# and 91-97% with this shrinkage. On the full sets 5 or 20 instead of 10 lose one dev question.
PRIOR_CHUNKS = 10


class Centroids:
    """Chunk count and vector sum per language; ``mean`` gives the shrunk mean."""

    def __init__(self, counts: dict[str, int], sums: dict[str, np.ndarray], fingerprint: str = "") -> None:
        self.counts, self.sums, self.fingerprint = counts, sums, fingerprint

    @classmethod
    def build(cls, vectors: Iterable[tuple[str, np.ndarray]], fingerprint: str = "") -> Centroids:
        """From (language, vector) pairs, one per chunk."""
        counts: dict[str, int] = {}
        sums: dict[str, np.ndarray] = {}
        for language, vector in vectors:
            counts[language] = counts.get(language, 0) + 1
            if language in sums:
                sums[language] += vector
            else:
                sums[language] = np.asarray(vector, np.float64).copy()
        return cls(counts, sums, fingerprint)

    def mean(self, language: str, dim: int) -> np.ndarray:
        """The language's mean vector, shrunk toward zero when it has few chunks (zero when
        it has none: a question in a language the index lacks is left as it is)."""
        n = self.counts.get(language, 0)
        if not n:
            return np.zeros(dim, np.float32)
        return (self.sums[language] / (n + PRIOR_CHUNKS)).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write atomically (rag.files.atomic_write): a reader never sees half of it."""
        languages = sorted(self.counts)
        with atomic_write(path, binary=True) as out:
            np.savez(out, format=np.array(FORMAT), fingerprint=np.array(self.fingerprint),
                     languages=np.array(languages), counts=np.array([self.counts[x] for x in languages], np.int64),
                     sums=np.array([self.sums[x] for x in languages], np.float64).reshape(len(languages), -1))

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> Centroids | None:
        """The centroids saved at PATH if made from this fingerprint; else None."""
        try:
            with read_arrays(path) as saved:
                if str(saved["format"]) != FORMAT or str(saved["fingerprint"]) != fingerprint:
                    return None
                languages = [str(x) for x in saved["languages"]]
                counts = dict(zip(languages, (int(c) for c in saved["counts"]), strict=True))
                sums = dict(zip(languages, saved["sums"], strict=True))
                return cls(counts, sums, fingerprint)
        except UNREADABLE:
            return None  # missing, cut short or foreign: build them again
