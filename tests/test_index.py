"""The Chroma store (rag.index): what it keeps of chunks and of the manifest, queries,
the settings an index was built with, the ingest lock, failures, and the real default
embedder on the sample corpus. How ingest fills it: test_ingest*.py; crashes:
test_ingest_crash.py.

Most tests use the deterministic fake embedder against a real embedded ChromaDB; one
group uses the real default embedder on the sample corpus (session fixture)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    SAMPLE_CORPUS,
    SAMPLE_FILES,
    SAMPLE_PARAGRAPHS,
    FakeEmbedder,
    assert_matches_files,
    assert_store_consistent,
    expected_chunks,
    store_chunks,
)
from rag.config import ModelSettings, Settings, StoreSettings
from rag.documents import read_document
from rag.errors import IndexError_, StoreError
from rag.index import FileRecord, Index, IndexInfo, index_status, ingest_lock, open_index
from rag.ingest import ingest

TOTAL_PARAGRAPHS = sum(SAMPLE_PARAGRAPHS.values())  # 95, counted by hand


# -- the manifest ---------------------------------------------------------------------------


def test_manifest_records_where_each_file_was_read(corpus: Path, settings: Settings,
                                                   fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    for name, record in open_index(settings.store.index_dir, None).files().items():
        assert (record.root, record.relpath) == (str(corpus.resolve()), name)
        assert record.location == corpus.resolve() / name


def test_a_manifest_written_before_roots_were_recorded_still_reads(tmp_path: Path) -> None:
    """Indexes built before this change have records without root/relpath: they open,
    with root None, and keep every other field."""
    index = open_index(tmp_path / "index", None, create=IndexInfo("fake", 4, "paragraph-v1:max_chars=700"))
    old = {"sha256": "ab" * 32, "state": "done", "kind": "text", "paragraphs": 3, "chunks": 4}
    index._files.upsert(ids=["notes.txt"], embeddings=[[1.0]], documents=["notes.txt"], metadatas=[old])
    record = open_index(tmp_path / "index", None).files()["notes.txt"]
    assert record == FileRecord("notes.txt", "ab" * 32, "done", "text", 3, 4, None, None)
    assert record.location is None
    index.put_files([replace(record, root="/data/docs", relpath="notes.txt")])  # as an ingest places it
    assert open_index(tmp_path / "index", None).files()["notes.txt"].location == Path("/data/docs/notes.txt")


def test_formats_round_trip_through_the_store(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    from test_documents import make_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paper.pdf").write_bytes(make_pdf([[(720, "Page one text.")], [(720, "Page two text.")]]))
    (docs / "page.html").write_text("<html>\n<body>\n<p>Hello\nworld</p>\n</body></html>\n", "utf-8")
    ingest([docs], settings, embedder=fake_embedder)
    got = {(c.file, c.paragraph.number): c.paragraph for c in store_chunks(settings)}
    assert got[("paper.pdf", 2)].page == 2 and got[("paper.pdf", 2)].page_paragraph == 1
    assert got[("paper.pdf", 2)].location() == "p. 2 ¶1"
    assert got[("page.html", 1)].location() == "¶1 (lines 3-4)"
    assert {r.kind for r in open_index(settings.store.index_dir, None).files().values()} == {"pdf", "html"}


def test_paragraph_spaces_survive_the_store(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    # A chunk is stripped; the paragraph it cites must still be the file's lines as written.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("  indented first\n\nplain second  \n\n\tTabbed third.\n", "utf-8")
    ingest([docs], settings, embedder=fake_embedder)
    stored = {c.paragraph.number: c for c in store_chunks(settings)}
    assert [stored[n].paragraph.text for n in (1, 2, 3)] == ["  indented first", "plain second  ", "\tTabbed third."]
    assert stored[1].text == "indented first"
    assert_matches_files(settings, docs)


def test_long_paragraph_parts_keep_their_paragraph(corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    settings = Settings(store=StoreSettings(index_dir=tmp_path / "small", max_chars=150), models=ModelSettings(embed="fake"))
    report = ingest([corpus], settings, embedder=fake_embedder)
    chunks = store_chunks(settings)
    parts = Counter((c.file, c.paragraph.number) for c in chunks)
    assert report.chunks == len(chunks) > report.paragraphs  # some paragraphs split
    originals = {(p.file, p.number): p for n in SAMPLE_FILES for p in read_document(corpus / n, n).paragraphs}
    for c in chunks:
        p = originals[(c.file, c.paragraph.number)]
        assert c.paragraph == p  # the whole paragraph comes back, even for a part
        assert c.text in p.text and len(c.text) <= 150
        assert 0 <= c.part < parts[(c.file, p.number)]
    assert_store_consistent(settings)


def test_query_and_vectors(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    index = open_index(settings.store.index_dir, None)
    target = next(c for c in index.iter_chunks() if c.id == "003_3e9024b6c632520f.txt::26::0")
    vector = fake_embedder.embed_query(target.text)
    hits = index.query(vector, 3)
    assert len(hits) == 3
    assert hits[0][0] == target
    assert hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert hits[0][1] >= hits[1][1] >= hits[2][1]
    stored = index.chunks_with_vectors([target.id, "000_0f425e83b5bd7ec2.txt::3::0", "no-such-id"])
    assert [c.id for c, _ in stored] == [target.id, "000_0f425e83b5bd7ec2.txt::3::0"]  # the unknown id left out
    assert stored[0][0] == target and stored[0][1].shape == (fake_embedder.dim,)
    assert np.allclose(stored[0][1], vector, atol=1e-5)
    assert index.query(vector, 0) == []
    own = [c.text for c in index.iter_chunks() if c.file == "003_3e9024b6c632520f.txt" and "2021" in c.text]
    found = index.texts_containing("003_3e9024b6c632520f.txt", "2021", limit=100)
    assert sorted(found) == sorted(own) and len(own) > 1  # that file's chunks with 2021, and only those
    assert index.texts_containing("001_2284b7fc3385c695.txt", "2021") == []  # its article is from 2024
    assert len(index.texts_containing("003_3e9024b6c632520f.txt", "2021", limit=1)) == 1


class _MidWrite:
    """The real chunk collection, except that reading the vector of WRITING fails the way
    Chroma fails while another process has written that id but not yet its vector."""

    def __init__(self, real, writing: str) -> None:  # type: ignore[no-untyped-def]
        self._real, self._writing, self.metadata = real, writing, real.metadata

    def get(self, ids=None, **kw):  # type: ignore[no-untyped-def]
        if ids and self._writing in ids and "embeddings" in kw.get("include", []):
            raise RuntimeError("Error executing plan: Internal error: Error finding id")
        return self._real.get(ids=ids, **kw)


def test_chunks_being_written_by_another_process_are_left_out(corpus: Path, settings: Settings,
                                                               fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    real = open_index(settings.store.index_dir, None)
    ids = [c.id for c in real.iter_chunks()][:3]
    index = Index(real._client, _MidWrite(real._chunks, ids[1]), real._files, real.location)  # type: ignore[arg-type]
    assert [c.id for c, _ in index.chunks_with_vectors(ids)] == [ids[0], ids[2]]
    broken = Index(real._client, _MidWrite(real._chunks, "x"), real._files, real.location)  # type: ignore[arg-type]
    broken._chunks.get = lambda **kw: (_ for _ in ()).throw(RuntimeError("disk I/O error"))  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="disk I/O error"):  # any other failure is still an error
        broken.chunks_with_vectors(ids)


# -- settings the index was built with ---------------------------------------------------


def test_other_embedder_is_refused_until_rebuild(corpus: Path, settings: Settings,
                                                 fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    other = FakeEmbedder(id="another-model", dim=24)
    with pytest.raises(IndexError_) as info:
        ingest([corpus], settings, embedder=other)
    assert "rag ingest --rebuild" in str(info.value)
    assert "another-model" in info.value.message and "fake-trigram-v1" in info.value.message
    assert index_status(open_index(settings.store.index_dir, None)).embedder == "fake-trigram-v1"

    report = ingest([corpus], settings, embedder=other, rebuild=True)
    assert (report.added, report.unchanged, report.paragraphs) == (5, 0, TOTAL_PARAGRAPHS)
    status = index_status(open_index(settings.store.index_dir, None))
    assert (status.embedder, status.dim, status.chunks) == ("another-model", 24, report.chunks)
    assert_store_consistent(settings)


def test_other_chunking_is_refused(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    with pytest.raises(IndexError_, match="--rebuild"):
        ingest([corpus], replace(settings, store=replace(settings.store, max_chars=300)), embedder=fake_embedder)


def test_rebuild_reembeds_everything(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    first = ingest([corpus], settings, embedder=fake_embedder)
    fake_embedder.passage_calls.clear()
    report = ingest([corpus], settings, rebuild=True, embedder=fake_embedder)
    assert (report.added, report.unchanged, report.chunks) == (5, 0, first.chunks)
    assert len(fake_embedder.embedded) == first.chunks
    assert_store_consistent(settings)


def test_missing_index_is_named(tmp_path: Path) -> None:
    with pytest.raises(IndexError_) as info:
        open_index(tmp_path / "nothing-here", None)
    assert "nothing-here" in info.value.message and "rag ingest" in str(info.value)


def test_second_ingest_refuses_while_one_runs(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    with ingest_lock(settings.store.index_dir):
        with pytest.raises(IndexError_) as info:
            ingest([corpus], settings, embedder=fake_embedder)
        assert f"pid {os.getpid()}" in info.value.message
        assert "wait" in (info.value.hint or "")
    assert fake_embedder.passage_calls == []
    assert ingest([corpus], settings, embedder=fake_embedder).added == 5  # the lock is free again


def test_store_failure_is_a_store_error(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    index = open_index(settings.store.index_dir, None)
    with pytest.raises(StoreError) as info:
        index.add_chunks(store_chunks(settings)[:1], np.zeros((1, fake_embedder.dim + 5), np.float32))
    assert str(settings.store.index_dir) in info.value.message and "writing chunks" in info.value.message


# -- the real default embedder on the sample corpus --------------------------------------


def test_real_embedder_ingest(real_index) -> None:
    report = real_index.report
    assert (report.added, report.updated, report.removed, report.unchanged) == (5, 0, 0, 0)
    assert report.skipped == []
    assert report.paragraphs == TOTAL_PARAGRAPHS
    assert report.chunks == len(expected_chunks(SAMPLE_CORPUS, SAMPLE_FILES))
    assert_store_consistent(real_index.settings)
    assert_matches_files(real_index.settings, SAMPLE_CORPUS)
    status = index_status(open_index(real_index.settings.store.index_dir, None))
    assert "multilingual-e5-small" in status.embedder and "use-multilingual-v3" in status.embedder
    assert status.dim == 384 + 512


@pytest.mark.parametrize(("question", "wanted"), [
    ("How many cars did Chang'an Auto export in the first half of the year?",
     {("003_3e9024b6c632520f.txt", 26), ("003_3e9024b6c632520f.txt", 27)}),
    ("长安汽车上半年出口了多少辆汽车？",
     {("003_3e9024b6c632520f.txt", 26), ("003_3e9024b6c632520f.txt", 27)}),
    ("When was the Shanghai Cooperation Organization founded?",
     {("003_3e9024b6c632520f.txt", 13), ("003_3e9024b6c632520f.txt", 14)}),
])
def test_real_embedder_query_finds_the_paragraph(real_index, question: str, wanted: set) -> None:
    from rag.embeddings import load_embedder

    settings = real_index.settings
    index = open_index(settings.store.index_dir, None)
    hits = index.query(load_embedder(settings.models.embed, settings.models).embed_query(question), 5)
    assert len(hits) == 5
    assert {(c.file, c.paragraph.number) for c, _ in hits} & wanted, [(c.file, c.paragraph.number) for c, _ in hits]


def test_real_embedder_unchanged_reingest_embeds_nothing(real_index, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.embeddings import load_embedder

    calls = []

    class Recording:
        def __init__(self, inner):
            self._inner, self.id, self.dim = inner, inner.id, inner.dim

        def embed_passages(self, texts):
            calls.append(texts)
            return self._inner.embed_passages(texts)

        def embed_query(self, text):
            return self._inner.embed_query(text)

    settings = real_index.settings
    report = ingest([SAMPLE_CORPUS], settings,
                    embedder=Recording(load_embedder(settings.models.embed, settings.models)))
    assert (report.unchanged, report.added, report.updated, report.removed) == (5, 0, 0, 0)
    assert calls == []
    assert report.chunks == real_index.report.chunks


def test_relative_index_dirs_in_different_folders_stay_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_embedder: FakeEmbedder
) -> None:
    """Same relative --index in two working folders of one process: two indexes."""
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, text in ((one, "only in one"), (two, "only in two")):
        (folder / "docs").mkdir(parents=True)
        (folder / "docs" / f"{folder.name}.txt").write_text(text, "utf-8")
    settings = Settings(store=StoreSettings(index_dir=Path("idx")), models=ModelSettings(embed="fake"))
    monkeypatch.chdir(one)
    ingest([Path("docs")], settings, embedder=fake_embedder)
    monkeypatch.chdir(two)
    report = ingest([Path("docs")], settings, embedder=fake_embedder)
    assert (report.added, report.removed) == (1, 0)
    assert [c.text for c in store_chunks(settings)] == ["only in two"]
    monkeypatch.chdir(one)
    assert [c.text for c in store_chunks(settings)] == ["only in one"]

