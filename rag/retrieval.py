"""Question -> ranked Hits: language-centred dense retrieval, gated keyword boost.

Multilingual embedders score a passage in the question's own language above an equally
relevant one in another language: every vector carries a component of its language, so a
Chinese question about an Arabic article finds Chinese passages about something else first,
and the bilingual article of eval/dev outranks the Arabic one that answers (issue 14). So
each vector is *centred* before it is compared: its language's mean vector over the index
(rag.centroids) is taken off, for the question and for every passage, and each model of a
fused embedder (rag.embeddings.vector_parts) is compared on its own, by cosine:

    score = sum over models m of  w_m * cos(q_m - mean_m[question language],
                                            p_m - mean_m[passage language])

with w_m the embedder's weights for a passage in the question's language and
CROSS_LANGUAGE_SHARE for one in another. Per model, because the models' centred cosines have
different spreads: one cosine over the whole centred vector took dev same-language hit@5 from
84% to 79%. The candidates are the store's nearest chunks to the centred question plus BM25's,
each scored exactly.

Measured with bench/retrieval.py (hit@5 / hit@3; the answer stage shows the top ~5), against
the previous ranking (plain cosine, other-language passages given every second place):

    set (questions)                     interleaved     centred         + CROSS_LANGUAGE_SHARE
    eval/dev cross-language (13)        77% / 62%       85% / 77%       100% / 85%
    eval/dev same-language (19)         84% / 84%       89% / 89%       89% / 89%
    eval/heldout answerable (9)         89% / 78%       100% / 89%      100% / 100%
    eval/wiki cross-language (120)      82% / 75%       92% / 86%       92% / 85%
    eval/wiki same-language (60)        97% / 97%       100% / 100%     100% / 100%

(wiki zh->ar, the weakest pair: 45% -> 80%.) Interleaving languages is dropped: on top of
centring it moved nothing on dev or wiki and cost heldout same-language hit@3 (100% -> 80%).

BM25 only adds a bounded bonus to chunks it actually matched, scaled by how much of the
question they cover (``keyword_weight`` times the coverage above ``keyword_gate``): plain
reciprocal-rank fusion with BM25 pulls cross-language questions to passages in the
question's own language. The keyword index (rag.keywords) and the centroids are built once
from the store and kept on disk until an ingest changes the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.centroids import Centroids
from rag.embeddings import E5Embedder, Embedder, USEEmbedder, vector_parts
from rag.index import Index
from rag.keywords import KeywordIndex, fingerprint
from rag.lang import detect_language
from rag.types import Chunk, Hit

DENSE_CANDIDATES = 30
KEYWORD_CANDIDATES = 30
DEFAULT_KEYWORD_WEIGHT = 0.10
KEYWORD_GATE = 0.5
# Stored vectors read per request when the centroids are made. A read that races an ingest's
# unflushed write falls back to one read per id (rag.index, ~1 ms each): this bounds that to ~1 s.
VECTOR_PAGE = 1000
# Each model's share of the score of a passage in another language than the question's.
# Centred, the two models are far apart across languages: e5 alone puts the gold paragraph in
# the top 5 for 100% of eval/dev and 90% of eval/wiki cross-language questions, USE alone for
# 54% and 71%. With the same-language mix (0.7 / 0.3) for every passage, dev cross-language
# hit@5 is 85%; with e5 at 0.9 for other-language passages 100% (0.8: 85%), wiki 92% either way
# (hit@3 86% -> 85%; 1.0 drops it to 82%). Models not listed keep their same-language weight.
CROSS_LANGUAGE_SHARE = {E5Embedder.id: 0.9, USEEmbedder.id: 0.1}


@dataclass
class Retrieved:
    """Ranked hits, the best plain (uncentred) cosine of the question to a candidate (an
    evidence signal), timing, and ``relevance``: the score the hits were ranked by, for any
    other texts (the answer stage ranks evidence sentences with it, so the question is
    embedded once and a sentence in another language is not put behind one in the
    question's own)."""

    hits: list[Hit]
    best_dense: float
    ms: float
    relevance: Callable[[list[str], np.ndarray], np.ndarray]


@dataclass
class _Candidate:
    chunk: Chunk
    score: float
    via: list[str] = field(default_factory=list)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


class Retriever:
    """Centred dense + keyword retrieval over one opened index, reused across questions."""

    def __init__(self, index: Index, embedder: Embedder, keyword_weight: float = DEFAULT_KEYWORD_WEIGHT,
                 keyword_gate: float = KEYWORD_GATE, keyword_cache: Path | None = None,
                 centroid_cache: Path | None = None) -> None:
        """``centroid_cache`` defaults to a file beside ``keyword_cache``."""
        self._index = index
        self._embedder = embedder
        self.keyword_weight = keyword_weight
        self.keyword_gate = keyword_gate
        self._keyword_cache = keyword_cache
        if centroid_cache is None and keyword_cache is not None:
            centroid_cache = keyword_cache.with_suffix(".centroids.npz")
        self._centroid_cache = centroid_cache
        self._parts = vector_parts(embedder)
        # Each model part's weight for passages in the question's language, and in another.
        self.weights = [p.weight for p in self._parts]
        cross = [CROSS_LANGUAGE_SHARE.get(p.model, p.weight) for p in self._parts]
        self.cross_weights = [w / sum(cross) for w in cross]
        self._keywords: KeywordIndex | None = None
        self._centroids: Centroids | None = None
        self._manifest: tuple[str, bool] | None = None
        self._means: dict[str, np.ndarray] = {}

    def _stamp(self) -> tuple[str, bool]:
        """The manifest's fingerprint, and whether no file is pending (only a settled index's
        keyword index and centroids are saved). Read once per process: a long-lived chat sees
        a later ingest's new chunks densely, and keyword-matched and centred after a restart."""
        if self._manifest is None:
            records = self._index.files().values()
            stamp = fingerprint(((r.name, r.sha256, r.state, r.chunks) for r in records),
                                self._index.info.embedder, self._index.info.chunking)
            self._manifest = (stamp, all(r.state == "done" for r in records))
        return self._manifest

    @property
    def keywords(self) -> KeywordIndex:
        """Loaded from the keyword cache when it was built from this manifest, else built."""
        if self._keywords is None:
            stamp, settled = self._stamp()
            cached = KeywordIndex.load(self._keyword_cache, stamp) if self._keyword_cache else None
            if cached is None:
                cached = KeywordIndex.build(((c.id, c.text) for c in self._index.iter_chunks()), stamp)
                if self._keyword_cache and settled:
                    try:
                        cached.save(self._keyword_cache)
                    except OSError:
                        pass  # a read-only or full disk: build again next time, answer now
            self._keywords = cached
        return self._keywords

    @property
    def centroids(self) -> Centroids:
        """Loaded from the centroid cache when made from this manifest, else made from every
        stored vector (one read of the store, like the keyword index) and saved."""
        if self._centroids is None:
            stamp, settled = self._stamp()
            cached = Centroids.load(self._centroid_cache, stamp) if self._centroid_cache else None
            if cached is None:
                cached = Centroids.build(self._stored_vectors(), stamp)
                if self._centroid_cache and settled:
                    try:
                        cached.save(self._centroid_cache)
                    except OSError:
                        pass  # as for the keyword index
            self._centroids = cached
        return self._centroids

    def _stored_vectors(self) -> Iterator[tuple[str, np.ndarray]]:
        ids = self.keywords.ids  # every chunk id of this manifest
        for start in range(0, len(ids), VECTOR_PAGE):
            for chunk, vector in self._index.chunks_with_vectors(ids[start : start + VECTOR_PAGE]):
                yield detect_language(chunk.text), vector

    def _mean(self, language: str) -> np.ndarray:
        if language not in self._means:
            self._means[language] = self.centroids.mean(language, self._embedder.dim)
        return self._means[language]

    def retrieve(self, question: str, k: int) -> Retrieved:
        started = time.perf_counter()
        q = self._embedder.embed_query(question)
        language = detect_language(question)
        centred = q - self._mean(language)
        q_parts = [(p.span, p.weight, _unit(centred[p.span])) for p in self._parts]

        def score(text: str, v: np.ndarray) -> float:
            passage_language = detect_language(text)
            p = v - self._mean(passage_language)
            weights = self.weights if passage_language == language else self.cross_weights
            return sum(w * float(qc @ _unit(p[span])) for (span, _, qc), w in zip(q_parts, weights, strict=True))

        def relevance(texts: list[str], vectors: np.ndarray) -> np.ndarray:
            return np.array([score(t, v) for t, v in zip(texts, vectors, strict=True)], np.float32)

        # The store ranks by cosine with this vector: per model, the centred question against
        # the stored (uncentred) passage. Within a language that is the centred ranking up to
        # a constant; ranking candidates by the plain question instead loses cross-language
        # answers (eval/wiki cross-language hit@5 87% with a plain pool of 30, 92% centred).
        probe = np.concatenate([np.sqrt(w) * qc for _, w, qc in q_parts]).astype(np.float32)
        dense = self._index.query(probe, max(k, DENSE_CANDIDATES))
        keyword = self.keywords.search(question, KEYWORD_CANDIDATES) if self.keyword_weight > 0 else []
        ids = list(dict.fromkeys([c.id for c, _ in dense] + [cid for cid, _ in keyword]))
        found: dict[str, _Candidate] = {}
        best_dense = 0.0
        from_store = {c.id for c, _ in dense}
        # Chunks the store no longer holds (an ingest since the keyword index) are left out.
        for chunk, v in self._index.chunks_with_vectors(ids):
            best_dense = max(best_dense, float(v @ q))
            found[chunk.id] = _Candidate(chunk, score(chunk.text, v), ["dense"] if chunk.id in from_store else [])
        for cid, coverage in keyword:
            # Gate: only a chunk that matches most of what the question names gets a
            # bonus; incidental matches of common words (the cross-language case) don't.
            if coverage > self.keyword_gate and cid in found:
                found[cid].score += self.keyword_weight * (coverage - self.keyword_gate) / (1 - self.keyword_gate)
                found[cid].via.append("keyword")
        ranked = sorted(found.values(), key=lambda f: -f.score)[:k]
        return Retrieved([Hit(f.chunk, f.score, tuple(f.via)) for f in ranked], best_dense,
                         (time.perf_counter() - started) * 1000, relevance)
