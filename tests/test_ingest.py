"""rag.ingest over one folder: the incremental rules (added, changed, deleted, unreadable
files), and large files: progress in chunks, smallest files first, each file written as
soon as it is complete, Ctrl-C (a real SIGINT, in process) and the long-file warning.
Several roots, --sync and rm: test_ingest_roots.py."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rag.ingest
from conftest import (
    SAMPLE_FILES,
    SAMPLE_PARAGRAPHS,
    FakeEmbedder,
    assert_matches_files,
    assert_store_consistent,
    expected_chunks,
    store_chunks,
)
from rag.config import Settings
from rag.documents import read_document
from rag.errors import DocumentError
from rag.index import Index, index_status, open_index
from rag.ingest import IngestInterrupted, ingest

TOTAL_PARAGRAPHS = sum(SAMPLE_PARAGRAPHS.values())  # 95, counted by hand


# -- first ingest and the incremental rules ------------------------------------------------


def test_first_ingest(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    report = ingest([corpus], settings, embedder=fake_embedder)
    chunks = expected_chunks(corpus, SAMPLE_FILES)
    assert (report.added, report.updated, report.removed, report.unchanged) == (5, 0, 0, 0)
    assert report.skipped == []
    assert report.paragraphs == TOTAL_PARAGRAPHS
    assert report.chunks == len(chunks) >= TOTAL_PARAGRAPHS
    assert sorted(fake_embedder.embedded) == sorted(c.text for c in chunks)  # each chunk once
    assert report.seconds > 0
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)

    index = open_index(settings.store.index_dir, None)
    manifest = index.files()
    assert sorted(manifest) == SAMPLE_FILES
    for name, record in manifest.items():
        assert record.paragraphs == SAMPLE_PARAGRAPHS[name]
        assert record.kind == "text"
        assert record.sha256 == read_document(corpus / name, name).sha256
    status = index_status(index)
    assert (status.files, status.paragraphs, status.chunks) == (5, TOTAL_PARAGRAPHS, len(chunks))
    assert status.embedder == fake_embedder.id and status.dim == fake_embedder.dim
    assert status.chunking == settings.store.chunking and status.consistent


def test_unchanged_reingest_embeds_nothing(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    first = ingest([corpus], settings, embedder=fake_embedder)
    before = {c.id: c for c in store_chunks(settings)}
    fake_embedder.passage_calls.clear()

    again = ingest([corpus], settings, embedder=fake_embedder)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    assert fake_embedder.passage_calls == []
    assert (again.paragraphs, again.chunks) == (first.paragraphs, first.chunks)
    assert {c.id: c for c in store_chunks(settings)} == before


def test_modified_file_replaces_its_chunks(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    fake_embedder.passage_calls.clear()
    name = "003_3e9024b6c632520f.txt"
    new_text = "A new first paragraph.\n\nSecond one,\nover two lines.\n\n\nThird and last."
    (corpus / name).write_text(new_text, "utf-8")

    report = ingest([corpus], settings, embedder=fake_embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 0, 4)
    assert fake_embedder.embedded == ["A new first paragraph.", "Second one,\nover two lines.", "Third and last."]
    mine = sorted((c.paragraph.number, c.paragraph.start_line, c.paragraph.end_line, c.text)
                  for c in store_chunks(settings) if c.file == name)
    assert mine == [(1, 1, 1, "A new first paragraph."), (2, 3, 4, "Second one,\nover two lines."),
                    (3, 7, 7, "Third and last.")]
    assert report.paragraphs == TOTAL_PARAGRAPHS - 55 + 3
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_deleted_file_is_removed(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    (corpus / "000_0f425e83b5bd7ec2.txt").unlink()
    report = ingest([corpus], settings, embedder=fake_embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 1, 4)
    assert report.paragraphs == TOTAL_PARAGRAPHS - 21
    assert not [c for c in store_chunks(settings) if c.file == "000_0f425e83b5bd7ec2.txt"]
    assert "000_0f425e83b5bd7ec2.txt" not in open_index(settings.store.index_dir, None).files()
    assert_store_consistent(settings)


def test_added_file_in_a_subfolder(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    (corpus / "news" / "2024").mkdir(parents=True)
    (corpus / "news" / "2024" / "note.md").write_text("# Heading\n\nBody text.\n", "utf-8")
    report = ingest([corpus], settings, embedder=fake_embedder)
    assert (report.added, report.unchanged) == (1, 5)
    got = sorted((c.paragraph.number, c.text) for c in store_chunks(settings) if c.file == "news/2024/note.md")
    assert got == [(1, "# Heading"), (2, "Body text.")]
    assert_store_consistent(settings)


def _break_utf8(path: Path) -> None:
    path.write_bytes(b"first line\nsecond \xff\xfe line\n")


def _dangle(path: Path) -> None:
    gone = path.with_name("gone-target.bin")
    path.unlink()
    path.symlink_to(gone)  # inside the root, but nothing is there


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize(("breaker", "reason"), [
    (_break_utf8, "not UTF-8 (from line 2"),
    (_dangle, "cannot read"),
    (_fifo, "not a regular file"),
])
def test_changed_file_that_became_unreadable_keeps_its_chunks(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder, breaker, reason: str
) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    name = "001_2284b7fc3385c695.txt"
    before = sorted((c.id, c.text) for c in store_chunks(settings) if c.file == name)
    assert len(before) >= 9

    breaker(corpus / name)
    report = ingest([corpus], settings, embedder=fake_embedder)
    assert [s.path for s in report.skipped] == [name]
    assert reason in report.skipped[0].reason
    assert (report.updated, report.removed, report.unchanged) == (0, 0, 4)
    assert sorted((c.id, c.text) for c in store_chunks(settings) if c.file == name) == before
    assert report.paragraphs == TOTAL_PARAGRAPHS
    assert_store_consistent(settings)


def test_bad_files_are_skipped_and_the_rest_ingested(
    tmp_path: Path, corpus: Path, settings: Settings, fake_embedder: FakeEmbedder
) -> None:
    (corpus / "blob.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.md").write_text("  \n\n\t\n", "utf-8")
    (corpus / "latin1.txt").write_bytes("ok\n\ncaf\u00e9\n".encode("latin-1"))
    (corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    (corpus / "broken.docx").write_bytes(b"not a zip")
    (tmp_path / "outside.txt").write_text("secret", "utf-8")
    (corpus / "escape.txt").symlink_to(tmp_path / "outside.txt")

    report = ingest([corpus], settings, embedder=fake_embedder)
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"blob.txt", "empty.txt", "blank.md", "latin1.txt", "table.xlsx",
                            "broken.docx", "escape.txt"}
    assert "binary" in reasons["blob.txt"]
    assert "empty" in reasons["empty.txt"] and "empty" in reasons["blank.md"]
    assert "line 3" in reasons["latin1.txt"]
    assert "unsupported type" in reasons["table.xlsx"]
    assert "DOCX" in reasons["broken.docx"]
    assert "outside" in reasons["escape.txt"]
    assert report.added == 5 and report.paragraphs == TOTAL_PARAGRAPHS
    assert sorted(open_index(settings.store.index_dir, None).files()) == SAMPLE_FILES
    assert_store_consistent(settings)


def test_missing_path_changes_nothing(corpus: Path, tmp_path: Path, settings: Settings,
                                      fake_embedder: FakeEmbedder) -> None:
    """A mistyped PATH must not be read as 'every indexed file vanished'."""
    ingest([corpus], settings, embedder=fake_embedder)
    before = sorted(c.id for c in store_chunks(settings))
    with pytest.raises(DocumentError) as info:
        ingest([corpus, tmp_path / "corpsu"], settings, embedder=fake_embedder)
    assert str(tmp_path / "corpsu") in info.value.message
    assert sorted(c.id for c in store_chunks(settings)) == before

# -- large files --------------------------------------------------------------------------


def _big_folder(root: Path, big: int = 300, small: int = 5) -> dict[str, int]:
    """SMALL files of 1-3 paragraphs and one of BIG one-line paragraphs named to sort
    first (a_big.txt), as the folder of the issue; returns paragraphs per file."""
    root.mkdir()
    counts = {"a_big.txt": big}
    (root / "a_big.txt").write_text("".join(f"Line {i} of the big file, about item {i * 7}.\n" for i in range(big)),
                                    "utf-8")
    for k in range(small):
        counts[f"small_{k}.txt"] = k % 3 + 1
        (root / f"small_{k}.txt").write_text("\n\n".join(f"Small {k} paragraph {j}." for j in range(k % 3 + 1)),
                                             "utf-8")
    return counts


@pytest.fixture
def ctrl_c() -> Iterator[Callable[[], None]]:
    """Presses Ctrl-C: a real SIGINT to this process, with Python's own handler in place
    (a runner that ignores SIGINT would pass that on)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield lambda: os.kill(os.getpid(), signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


def test_progress_counts_chunks_within_a_file(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.ingest, "MAX_BATCH", 16)
    counts = _big_folder(tmp_path / "docs")
    calls: list[tuple[int, int]] = []
    report = ingest([tmp_path / "docs"], settings, progress=lambda done, total: calls.append((done, total)), embedder=fake_embedder)
    total = sum(counts.values())  # one chunk a paragraph here
    assert report.chunks == total == len(fake_embedder.embedded)
    assert calls[0] == (0, total)  # the total is known before anything is embedded
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(set(done))  # it only moves forward
    assert len(calls) > 300 // 16  # and moves while the 300-paragraph file is embedded
    assert sum(len(c) > 16 for c in fake_embedder.passage_calls) == 0


def test_smallest_files_first_each_written_as_soon_as_complete(tmp_path: Path, settings: Settings,
                                                               fake_embedder: FakeEmbedder,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.ingest, "MAX_BATCH", 16)
    _big_folder(tmp_path / "docs")
    events: list[tuple[str, set[str]]] = []
    real_add, real_embed = Index.add_chunks, fake_embedder.embed_passages

    def add(self, chunks, vectors):  # type: ignore[no-untyped-def]
        events.append(("write", {c.file for c in chunks}))
        real_add(self, chunks, vectors)

    def embed(texts):  # type: ignore[no-untyped-def]
        events.append(("embed", {"a_big.txt" if t.startswith("Line ") else "small" for t in texts}))
        return real_embed(texts)

    monkeypatch.setattr(Index, "add_chunks", add)
    monkeypatch.setattr(fake_embedder, "embed_passages", embed)
    ingest([tmp_path / "docs"], settings, embedder=fake_embedder)
    writes = [names for kind, names in events if kind == "write"]
    assert writes[-1] == {"a_big.txt"} and all("a_big.txt" not in w for w in writes[:-1])
    assert set().union(*writes[:-1]) == {f"small_{k}.txt" for k in range(5)}
    # Every small file is in the store before the big file's second embedding call starts.
    big_calls = [i for i, (kind, names) in enumerate(events) if kind == "embed" and names == {"a_big.txt"}]
    last_small_write = max(i for i, (kind, names) in enumerate(events) if kind == "write" and "a_big.txt" not in names)
    assert len(big_calls) > 2 and last_small_write < big_calls[1]


def test_ctrl_c_while_a_big_file_embeds_keeps_the_finished_files(tmp_path: Path, settings: Settings,
                                                                 fake_embedder: FakeEmbedder, ctrl_c,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.ingest, "MAX_BATCH", 16)
    counts = _big_folder(tmp_path / "docs")
    real_embed = fake_embedder.embed_passages

    def embed(texts):  # type: ignore[no-untyped-def]
        if len(fake_embedder.passage_calls) == 6:  # well into the big file
            ctrl_c()
        return real_embed(texts)

    monkeypatch.setattr(fake_embedder, "embed_passages", embed)
    with pytest.raises(IngestInterrupted) as info:
        ingest([tmp_path / "docs"], settings, embedder=fake_embedder)
    report = info.value.report
    small = {n: c for n, c in counts.items() if n != "a_big.txt"}
    assert (report.added, report.updated, report.paragraphs) == (5, 0, sum(small.values()))
    assert sorted(open_index(settings.store.index_dir, None).files()) == sorted(small)  # nothing half-written
    assert_store_consistent(settings)

    monkeypatch.setattr(fake_embedder, "embed_passages", real_embed)
    fake_embedder.passage_calls.clear()
    again = ingest([tmp_path / "docs"], settings, embedder=fake_embedder)
    assert (again.added, again.unchanged) == (1, 5)
    assert all(t.startswith("Line ") for t in fake_embedder.embedded)  # only the big file is embedded now
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_ctrl_c_during_a_write_lets_the_write_finish(corpus: Path, settings: Settings,
                                                     fake_embedder: FakeEmbedder, ctrl_c,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_add = Index.add_chunks
    written: list[set[str]] = []

    def add(self, chunks, vectors):  # type: ignore[no-untyped-def]
        ctrl_c()  # between "old chunks deleted" and "new chunks written": the worst moment
        real_add(self, chunks, vectors)
        written.append({c.file for c in chunks})

    monkeypatch.setattr(Index, "add_chunks", add)
    with pytest.raises(IngestInterrupted) as info:
        ingest([corpus], settings, embedder=fake_embedder)
    assert len(written) == 1
    status = index_status(open_index(settings.store.index_dir, None))
    assert status.pending == () and status.files == len(written[0]) == info.value.report.added
    assert_store_consistent(settings)


def test_ctrl_c_twice_during_a_write_stops_at_once_and_the_next_run_repairs(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder, ctrl_c, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_add = Index.add_chunks

    def add(self, chunks, vectors):  # type: ignore[no-untyped-def]
        ctrl_c()
        ctrl_c()  # pressed again: the write is cut here, as a kill would cut it
        real_add(self, chunks, vectors)

    monkeypatch.setattr(Index, "add_chunks", add)
    with pytest.raises(IngestInterrupted) as info:
        ingest([corpus], settings, embedder=fake_embedder)
    status = index_status(open_index(settings.store.index_dir, None))
    assert len(status.pending) >= 1 and status.files == info.value.report.added == 0
    monkeypatch.setattr(Index, "add_chunks", real_add)
    report = ingest([corpus], settings, embedder=fake_embedder)
    assert report.added + report.updated == 5
    assert_store_consistent(settings)
    assert_matches_files(settings)


class _SlowEmbedder(FakeEmbedder):
    """Takes SECONDS per text, like a real model, only faster."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        time.sleep(self.seconds * len(texts))
        return super().embed_passages(texts)


def test_a_file_that_will_take_long_gets_one_warning_with_its_estimate(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rag.ingest, "LONG_FILE_SECONDS", 0.25)  # the big file needs ~0.6 s; a small one 0.01 s
    monkeypatch.setattr(rag.ingest, "MAX_BATCH", 16)
    _big_folder(tmp_path / "docs")
    notices: list[str] = []
    ingest([tmp_path / "docs"], settings, embedder=_SlowEmbedder(0.002), notify=notices.append)  # ~500 chunks/s
    assert len(notices) == 1, notices
    assert notices[0].startswith("a_big.txt: 300 paragraphs (300 chunks) to embed, about ")
    rate = int(re.search(r"at (\d+) chunks/s", notices[0]).group(1))  # type: ignore[union-attr]
    assert 50 <= rate <= 600  # measured in this run (sleeping sets its upper bound)
    assert "Ctrl-C" in notices[0]
