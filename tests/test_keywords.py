"""The keyword index: BM25 scores and coverage, and its life on disk between processes
(saved once built, loaded while the manifest is unchanged, rebuilt after an ingest)."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from conftest import FakeEmbedder
from rag.config import Settings
from rag.index import open_index
from rag.ingest import ingest
from rag.keywords import KeywordIndex
from rag.lang import tokenize
from rag.retrieval import Retriever

TEXTS = {
    "a": "The forum in Ningbo drew 700 representatives.",
    "b": "Henan plans an electric vehicle base; Henan exports grew.",
    "c": "重慶數字經濟論壇吸引了上合組織國家的企業。",
    "d": "عقد المنتدى العاشر لصناعة السباكة في نينغبو",
}


def reference_bm25(query: str, k1: float = 1.2, b: float = 0.75) -> dict[str, float]:
    """Okapi BM25 written out term by term, to check the vectorised one against."""
    docs = {cid: tokenize(t) for cid, t in TEXTS.items()}
    avg = sum(map(len, docs.values())) / len(docs)
    out = {}
    for cid, tokens in docs.items():
        score = 0.0
        for term in set(tokenize(query)):
            df = sum(term in d for d in docs.values())
            tf = tokens.count(term)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(tokens) / avg))
        if score:
            out[cid] = score
    return out


@pytest.mark.parametrize("query", ["Henan exports", "論壇企業", "المنتدى في نينغبو", "forum Ningbo 700", "nothing here"])
def test_scores_rank_like_textbook_bm25_in_three_scripts(query: str) -> None:
    index = KeywordIndex.build(TEXTS.items())
    want = reference_bm25(query)
    got = index.search(query, 10)
    assert [cid for cid, _ in got] == sorted(want, key=lambda c: -want[c])
    for cid, coverage in got:
        assert 0 < coverage <= 1


def test_coverage_is_the_share_of_the_query_the_chunk_matches() -> None:
    index = KeywordIndex.build(TEXTS.items())
    (top, coverage), *_ = index.search("Henan zebra", 3)
    assert top == "b" and 0.3 < coverage < 0.7  # "zebra" is in no chunk
    assert index.search("Henan electric vehicle base", 1)[0][1] == pytest.approx(1.0)


def test_save_and_load_round_trip_and_refuse_another_manifest(tmp_path: Path) -> None:
    texts = {**TEXTS, "long": "x" * 200_000, "name with spaces\nand a newline.txt::1::0": "Henan again"}
    built = KeywordIndex.build(texts.items(), "stamp-1")
    path = tmp_path / "k" / "keywords.npz"
    built.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["keywords.npz"]  # no temp file left behind
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # a new file, as the umask makes it
    assert path.stat().st_size < 1_000_000  # the 200k-character token once (a fixed-width array: ~25 MB)
    loaded = KeywordIndex.load(path, "stamp-1")
    assert loaded is not None and loaded.ids == built.ids
    for query in ["Henan", "論壇", "المنتدى", "x" * 200_000]:
        assert loaded.search(query, 5) == built.search(query, 5)
    assert KeywordIndex.load(path, "stamp-2") is None
    path.write_bytes(path.read_bytes()[:100])  # cut short
    assert KeywordIndex.load(path, "stamp-1") is None
    assert KeywordIndex.load(tmp_path / "missing.npz", "stamp-1") is None


def test_an_empty_index_finds_nothing(tmp_path: Path) -> None:
    empty = KeywordIndex.build([])
    assert empty.search("Henan", 5) == []
    empty.save(tmp_path / "e.npz")
    assert KeywordIndex.load(tmp_path / "e.npz", "").search("Henan", 5) == []


def _retriever(settings: Settings, embedder: FakeEmbedder) -> Retriever:
    return Retriever(open_index(settings.store.index_dir, None), embedder, keyword_cache=settings.store.keyword_cache)


def test_a_new_process_loads_the_saved_index_until_an_ingest_changes_it(
        corpus: Path, settings: Settings, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    first = _retriever(settings, fake_embedder)
    before = first.retrieve("Chang'an Auto exported cars in the first half", 5).hits
    assert settings.store.keyword_cache.exists()

    # A second retriever must not read the chunks again: it loads the saved index.
    import rag.index

    def no_reading(self):  # type: ignore[no-untyped-def]
        raise AssertionError("rebuilt the keyword index from the store")

    with monkeypatch.context() as m:
        m.setattr(rag.index.Index, "iter_chunks", no_reading)
        again = _retriever(settings, fake_embedder)
        assert [h.chunk.id for h in again.retrieve("Chang'an Auto exported cars in the first half", 5).hits] == [
            h.chunk.id for h in before]

    # An ingest that adds a file changes the manifest: the next process rebuilds and finds it.
    (corpus / "zz_new.txt").write_text("Zanzibar quokka festival tickets sold out.\n", "utf-8")
    ingest([corpus], settings, embedder=fake_embedder)
    fresh = _retriever(settings, fake_embedder)
    assert fresh.keywords.search("Zanzibar quokka", 1)[0][0] == "zz_new.txt::1::0"
    reloaded = KeywordIndex.load(settings.store.keyword_cache, fresh.keywords.fingerprint)
    assert reloaded is not None and "zz_new.txt::1::0" in reloaded.ids


def test_a_pending_index_is_searched_but_not_saved(corpus: Path, settings: Settings,
                                                   fake_embedder: FakeEmbedder) -> None:
    from dataclasses import replace

    ingest([corpus], settings, embedder=fake_embedder)
    settings.store.keyword_cache.unlink(missing_ok=True)
    index = open_index(settings.store.index_dir, None)
    name, record = next(iter(index.files().items()))
    index.put_files([replace(record, state="pending")])  # as a killed ingest leaves it
    retriever = _retriever(settings, fake_embedder)
    assert retriever.keywords.search("Chongqing", 1)
    assert not settings.store.keyword_cache.exists()


def test_a_keyword_hit_the_store_no_longer_holds_is_skipped(corpus: Path, settings: Settings,
                                                            fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    retriever = _retriever(settings, fake_embedder)
    gone = retriever.keywords.search("Chongqing SCO companies", 1)[0][0]
    open_index(settings.store.index_dir, None)._chunks.delete(ids=[gone])  # as an ingest in another process would
    hits = retriever.retrieve("Chongqing SCO companies", 5).hits
    assert hits and gone not in {h.chunk.id for h in hits}
    assert np.isfinite([h.score for h in hits]).all()
