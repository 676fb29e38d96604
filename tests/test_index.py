"""The Chroma store and ingest: counts, incremental updates, settings checks, locking,
and crash safety (in-process at the exact dangerous moments, and real killed processes).

Most tests use the deterministic fake embedder against a real embedded ChromaDB; one
group uses the real default embedder on the sample corpus (session fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import rag.ingest
from conftest import (
    RAG_BIN,
    SAMPLE_CORPUS,
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
from rag.errors import DocumentError, IndexError_, StoreError
from rag.index import Index, index_status, ingest_lock, open_index
from rag.ingest import ingest

TOTAL_PARAGRAPHS = sum(SAMPLE_PARAGRAPHS.values())  # 95, counted by hand


# -- first ingest and the incremental rules ------------------------------------------------


def test_first_ingest(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    report = ingest([corpus], settings)
    chunks = expected_chunks(corpus, SAMPLE_FILES)
    assert (report.added, report.updated, report.removed, report.unchanged) == (5, 0, 0, 0)
    assert report.skipped == []
    assert report.paragraphs == TOTAL_PARAGRAPHS
    assert report.chunks == len(chunks) >= TOTAL_PARAGRAPHS
    assert sorted(fake_embedder.embedded) == sorted(c.text for c in chunks)  # each chunk once
    assert report.seconds > 0
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)

    index = open_index(settings.index_dir, None)
    manifest = index.files()
    assert sorted(manifest) == SAMPLE_FILES
    for name, record in manifest.items():
        assert record.paragraphs == SAMPLE_PARAGRAPHS[name]
        assert record.kind == "text"
        assert record.sha256 == read_document(corpus / name, name).sha256
    status = index_status(index)
    assert (status.files, status.paragraphs, status.chunks) == (5, TOTAL_PARAGRAPHS, len(chunks))
    assert status.embedder == fake_embedder.id and status.dim == fake_embedder.dim
    assert status.chunking == settings.chunking and status.consistent


def test_unchanged_reingest_embeds_nothing(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    first = ingest([corpus], settings)
    before = {c.id: c for c in store_chunks(settings)}
    fake_embedder.passage_calls.clear()

    again = ingest([corpus], settings)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    assert fake_embedder.passage_calls == []
    assert (again.paragraphs, again.chunks) == (first.paragraphs, first.chunks)
    assert {c.id: c for c in store_chunks(settings)} == before


def test_modified_file_replaces_its_chunks(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings)
    fake_embedder.passage_calls.clear()
    name = "003_3e9024b6c632520f.txt"
    new_text = "A new first paragraph.\n\nSecond one,\nover two lines.\n\n\nThird and last."
    (corpus / name).write_text(new_text, "utf-8")

    report = ingest([corpus], settings)
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
    ingest([corpus], settings)
    (corpus / "000_0f425e83b5bd7ec2.txt").unlink()
    report = ingest([corpus], settings)
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 1, 4)
    assert report.paragraphs == TOTAL_PARAGRAPHS - 21
    assert not [c for c in store_chunks(settings) if c.file == "000_0f425e83b5bd7ec2.txt"]
    assert "000_0f425e83b5bd7ec2.txt" not in open_index(settings.index_dir, None).files()
    assert_store_consistent(settings)


def test_added_file_in_a_subfolder(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings)
    (corpus / "news" / "2024").mkdir(parents=True)
    (corpus / "news" / "2024" / "note.md").write_text("# Heading\n\nBody text.\n", "utf-8")
    report = ingest([corpus], settings)
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
    (_break_utf8, "not valid UTF-8 at line 2"),
    (_dangle, "cannot read"),
    (_fifo, "not a regular file"),
])
def test_changed_file_that_became_unreadable_keeps_its_chunks(
    corpus: Path, settings: Settings, fake_embedder: FakeEmbedder, breaker, reason: str
) -> None:
    ingest([corpus], settings)
    name = "001_2284b7fc3385c695.txt"
    before = sorted((c.id, c.text) for c in store_chunks(settings) if c.file == name)
    assert len(before) >= 9

    breaker(corpus / name)
    report = ingest([corpus], settings)
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

    report = ingest([corpus], settings)
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
    assert sorted(open_index(settings.index_dir, None).files()) == SAMPLE_FILES
    assert_store_consistent(settings)


def test_missing_path_changes_nothing(corpus: Path, tmp_path: Path, settings: Settings,
                                      fake_embedder: FakeEmbedder) -> None:
    """A mistyped PATH must not be read as 'every indexed file vanished'."""
    ingest([corpus], settings)
    before = sorted(c.id for c in store_chunks(settings))
    with pytest.raises(DocumentError) as info:
        ingest([corpus, tmp_path / "corpsu"], settings)
    assert str(tmp_path / "corpsu") in info.value.message
    assert sorted(c.id for c in store_chunks(settings)) == before


def test_formats_round_trip_through_the_store(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    from test_documents import make_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paper.pdf").write_bytes(make_pdf([[(720, "Page one text.")], [(720, "Page two text.")]]))
    (docs / "page.html").write_text("<html>\n<body>\n<p>Hello\nworld</p>\n</body></html>\n", "utf-8")
    ingest([docs], settings)
    got = {(c.file, c.paragraph.number): c.paragraph for c in store_chunks(settings)}
    assert got[("paper.pdf", 2)].page == 2 and got[("paper.pdf", 2)].page_paragraph == 1
    assert got[("paper.pdf", 2)].location() == "p. 2 ¶1"
    assert got[("page.html", 1)].location() == "¶1 (lines 3-4)"
    assert {r.kind for r in open_index(settings.index_dir, None).files().values()} == {"pdf", "html"}


def test_paragraph_spaces_survive_the_store(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    # A chunk is stripped; the paragraph it cites must still be the file's lines as written.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("  indented first\n\nplain second  \n\n\tTabbed third.\n", "utf-8")
    ingest([docs], settings)
    stored = {c.paragraph.number: c for c in store_chunks(settings)}
    assert [stored[n].paragraph.text for n in (1, 2, 3)] == ["  indented first", "plain second  ", "\tTabbed third."]
    assert stored[1].text == "indented first"
    assert_matches_files(settings, docs)


def test_long_paragraph_parts_keep_their_paragraph(corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    settings = Settings(index_dir=tmp_path / "small", embed="fake", max_chars=150)
    report = ingest([corpus], settings)
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
    ingest([corpus], settings)
    index = open_index(settings.index_dir, None)
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
    ingest([corpus], settings)
    real = open_index(settings.index_dir, None)
    ids = [c.id for c in real.iter_chunks()][:3]
    index = Index(real._client, _MidWrite(real._chunks, ids[1]), real._files, real.location)  # type: ignore[arg-type]
    assert [c.id for c, _ in index.chunks_with_vectors(ids)] == [ids[0], ids[2]]
    broken = Index(real._client, _MidWrite(real._chunks, "x"), real._files, real.location)  # type: ignore[arg-type]
    broken._chunks.get = lambda **kw: (_ for _ in ()).throw(RuntimeError("disk I/O error"))  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="disk I/O error"):  # any other failure is still an error
        broken.chunks_with_vectors(ids)


# -- settings the index was built with ---------------------------------------------------


def test_other_embedder_is_refused_until_rebuild(corpus: Path, settings: Settings, fake_models) -> None:
    ingest([corpus], settings)
    fake_models.current = FakeEmbedder(id="another-model", dim=24)
    with pytest.raises(IndexError_) as info:
        ingest([corpus], settings)
    assert "rag ingest --rebuild" in str(info.value)
    assert "another-model" in info.value.message and "fake-trigram-v1" in info.value.message
    assert index_status(open_index(settings.index_dir, None)).embedder == "fake-trigram-v1"

    report = ingest([corpus], settings, rebuild=True)
    assert (report.added, report.unchanged, report.paragraphs) == (5, 0, TOTAL_PARAGRAPHS)
    status = index_status(open_index(settings.index_dir, None))
    assert (status.embedder, status.dim, status.chunks) == ("another-model", 24, report.chunks)
    assert_store_consistent(settings)


def test_other_chunking_is_refused(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings)
    with pytest.raises(IndexError_, match="--rebuild"):
        ingest([corpus], replace(settings, max_chars=300))


def test_rebuild_reembeds_everything(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    first = ingest([corpus], settings)
    fake_embedder.passage_calls.clear()
    report = ingest([corpus], settings, rebuild=True)
    assert (report.added, report.unchanged, report.chunks) == (5, 0, first.chunks)
    assert len(fake_embedder.embedded) == first.chunks
    assert_store_consistent(settings)


def test_missing_index_is_named(tmp_path: Path) -> None:
    with pytest.raises(IndexError_) as info:
        open_index(tmp_path / "nothing-here", None)
    assert "nothing-here" in info.value.message and "rag ingest" in str(info.value)


def test_second_ingest_refuses_while_one_runs(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    with ingest_lock(settings.index_dir):
        with pytest.raises(IndexError_) as info:
            ingest([corpus], settings)
        assert f"pid {os.getpid()}" in info.value.message
        assert "wait" in (info.value.hint or "")
    assert fake_embedder.passage_calls == []
    assert ingest([corpus], settings).added == 5  # the lock is free again


# -- crash safety, in process, at the exact dangerous moments ----------------------------


class Crash(RuntimeError):
    pass


def test_crash_after_old_chunks_deleted(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings)
    name = "004_19d5bed1d5b90f32.txt"
    (corpus / name).write_text("Rewritten.\n\nEntirely new text.\n", "utf-8")
    deleted: list[list[str]] = []
    real_delete = Index.delete_chunks

    def delete_then_note(self, files):
        real_delete(self, files)
        deleted.append(list(files))

    def add_fails(self, chunks, vectors):
        assert deleted, "add_chunks ran before the old chunks were deleted"
        raise Crash("killed between delete and add")

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "delete_chunks", delete_then_note)
        m.setattr(Index, "add_chunks", add_fails)
        ingest([corpus], settings)

    status = index_status(open_index(settings.index_dir, None))
    assert status.pending == (name,) and not status.consistent
    assert not [c for c in store_chunks(settings) if c.file == name]  # old ones are gone
    assert status.files == 4  # the others are intact

    report = ingest([corpus], settings)
    assert (report.updated, report.unchanged) == (1, 4)
    assert sorted(c.text for c in store_chunks(settings) if c.file == name) == ["Entirely new text.", "Rewritten."]
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_crash_after_chunks_written_before_done(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = Index.put_files

    def put_fails_on_done(self, records):
        if all(r.state == "done" for r in records):
            raise Crash("killed before marking done")
        real_put(self, records)

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "put_files", put_fails_on_done)
        ingest([corpus], settings)
    status = index_status(open_index(settings.index_dir, None))
    assert status.files == 0 and status.pending == tuple(SAMPLE_FILES)
    assert status.chunks_in_store > 0  # written, but not vouched for

    report = ingest([corpus], settings)
    # A half-written file is redone; the manifest can't tell whether it was new or an
    # update when the crash came (pending records carry the new hash), so either count.
    assert report.added + report.updated == 5 and report.unchanged == 0
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_crash_while_removing(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings)
    (corpus / "002_cd0030e963fe94eb.txt").unlink()
    def forget_fails(self, names):
        raise Crash("killed after the chunks were deleted, before the manifest forgot them")

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "forget_files", forget_fails)
        ingest([corpus], settings)
    assert index_status(open_index(settings.index_dir, None)).pending == ("002_cd0030e963fe94eb.txt",)

    report = ingest([corpus], settings)
    assert report.unchanged == 4
    assert "002_cd0030e963fe94eb.txt" not in open_index(settings.index_dir, None).files()
    assert_store_consistent(settings)


def test_crash_in_a_later_group(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.ingest, "GROUP_CHUNKS", 10)
    real_add = Index.add_chunks
    calls = []

    def add_fails_third(self, chunks, vectors):
        calls.append(len(chunks))
        if len(calls) == 3:
            raise Crash("killed in group 3")
        real_add(self, chunks, vectors)

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "add_chunks", add_fails_third)
        ingest([corpus], settings)
    # Groups close once they hold >= 10 chunks: {000 (21 ¶)}, {001 (9 ¶), 002}, {003}...
    status = index_status(open_index(settings.index_dir, None))
    assert calls[:2] == [len(expected_chunks(corpus, SAMPLE_FILES[:1])), len(expected_chunks(corpus, SAMPLE_FILES[1:3]))]
    assert status.files == 3 and status.pending == ("003_3e9024b6c632520f.txt",)
    assert not [c for c in store_chunks(settings) if c.file == "003_3e9024b6c632520f.txt"]

    fake_embedder.passage_calls.clear()
    report = ingest([corpus], settings)
    assert report.added + report.updated == 2 and report.unchanged == 3
    assert sorted(fake_embedder.embedded) == sorted(c.text for c in expected_chunks(corpus, SAMPLE_FILES[3:]))
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_store_failure_is_a_store_error(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings)
    index = open_index(settings.index_dir, None)
    with pytest.raises(StoreError) as info:
        index.add_chunks(store_chunks(settings)[:1], np.zeros((1, fake_embedder.dim + 5), np.float32))
    assert str(settings.index_dir) in info.value.message and "writing chunks" in info.value.message


# -- crash safety with real processes killed by SIGKILL ----------------------------------

# Runs the real CLI with small groups (so a run has many write windows). With CRASH_AT
# set ("delete:N" / "add:N") the process SIGKILLs itself right after its N-th
# delete_chunks / add_chunks returns: the dangerous moments, hit exactly.
LAUNCHER = r"""
import os, signal, sys
import rag.ingest as ingest
from rag.index import Index
ingest.GROUP_CHUNKS = 4
where, _, nth = os.environ.get("CRASH_AT", "").partition(":")
count = {"delete": 0, "add": 0}
def crashing(step, real):
    def run(self, *args):
        real(self, *args)
        if not len(args[0]):
            return  # an empty call (nothing to clear) is no write window
        count[step] += 1
        print(step, count[step], flush=True)
        if step == where and count[step] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
    return run
Index.delete_chunks = crashing("delete", Index.delete_chunks)
Index.add_chunks = crashing("add", Index.add_chunks)
from rag.cli import app
app(sys.argv[1:], prog_name="rag")
"""


def _split_corpus(dest: Path) -> list[str]:
    """The sample corpus cut into 27 files of up to 4 paragraphs."""
    dest.mkdir()
    names = []
    for name in SAMPLE_FILES:
        ps = read_document(SAMPLE_CORPUS / name, name).paragraphs
        for i in range(0, len(ps), 4):
            names.append(f"{name[:3]}_{i // 4:02d}.txt")
            (dest / names[-1]).write_text("\n\n".join(p.text for p in ps[i : i + 4]) + "\n", "utf-8")
    return names


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_INDEX", "RAG_CHROMA", "OPENAI_"))}
    env.update(RAG_EMBED="use", ANONYMIZED_TELEMETRY="False")
    return env


def _status(index_dir: Path) -> dict | None:
    """`rag status --json` in a fresh process; None when no index exists yet."""
    run = subprocess.run([str(RAG_BIN), "status", "--index", str(index_dir), "--json"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    if run.returncode == 1 and "no index" in run.stderr:
        return None
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return json.loads(run.stdout)


def _killed_run(corpus: Path, index_dir: Path, *, crash_at: str = "", after: float | None = None) -> int:
    env = _env()
    if crash_at:
        env["CRASH_AT"] = crash_at
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "ingest", str(corpus), "--index", str(index_dir)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if after is not None:
            time.sleep(after)
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode


def test_sigkilled_ingests_are_repaired(tmp_path: Path) -> None:
    corpus, index_dir = tmp_path / "split", tmp_path / "index"
    names = _split_corpus(corpus)
    assert len(names) == 27
    seen = []

    # Killed by the clock (during start-up or embedding), then at exact moments.
    assert _killed_run(corpus, index_dir, after=0.5) == -signal.SIGKILL
    seen.append(_status(index_dir))
    assert _killed_run(corpus, index_dir, crash_at="delete:3") == -signal.SIGKILL
    seen.append(_status(index_dir))
    assert seen[-1] is not None and len(seen[-1]["pending"]) >= 1 and seen[-1]["files"] >= 2
    assert _killed_run(corpus, index_dir, crash_at="add:4") == -signal.SIGKILL
    seen.append(_status(index_dir))
    assert len(seen[-1]["pending"]) >= 1
    rc = _killed_run(corpus, index_dir, after=2.5)
    assert rc in (-signal.SIGKILL, 0)
    seen.append(_status(index_dir))
    partial = [s for s in seen if s and 0 < s["files"] < len(names)]
    assert partial, seen

    # Change the tree, and die right after the first old chunks were deleted.
    (corpus / "003_00.txt").write_text("Replaced paragraph one.\n\nReplaced two.\n", "utf-8")
    (corpus / "000_01.txt").unlink()
    assert _killed_run(corpus, index_dir, crash_at="delete:1") == -signal.SIGKILL
    assert _status(index_dir) is not None

    # A normal ingest completes and leaves a store with no trace of the crashes.
    run = subprocess.run([str(RAG_BIN), "ingest", str(corpus), "--index", str(index_dir), "--json"],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["skipped"] == []
    final = _status(index_dir)
    assert final["pending"] == [] and final["files"] == len(names) - 1
    assert final["chunks"] == final["chunks_in_store"] == report["chunks"]

    settings = Settings(index_dir=index_dir, embed="use")
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)
    index = open_index(index_dir, None)
    assert "000_01.txt" not in index.files()
    ids = [c.id for c in index.iter_chunks()]
    for chunk, vector in index.chunks_with_vectors(ids[::9]):  # the vector index answers for what sqlite lists
        assert index.query(vector, 1)[0][0].id == chunk.id


# -- the real default embedder on the sample corpus --------------------------------------


def test_real_embedder_ingest(real_index) -> None:
    report = real_index.report
    assert (report.added, report.updated, report.removed, report.unchanged) == (5, 0, 0, 0)
    assert report.skipped == []
    assert report.paragraphs == TOTAL_PARAGRAPHS
    assert report.chunks == len(expected_chunks(SAMPLE_CORPUS, SAMPLE_FILES))
    assert_store_consistent(real_index.settings)
    assert_matches_files(real_index.settings, SAMPLE_CORPUS)
    status = index_status(open_index(real_index.settings.index_dir, None))
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
    index = open_index(settings.index_dir, None)
    hits = index.query(load_embedder(settings.embed, settings.threads).embed_query(question), 5)
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

    monkeypatch.setattr(rag.ingest, "load_embedder", lambda spec, threads=None: Recording(load_embedder(spec, threads)))
    report = ingest([SAMPLE_CORPUS], real_index.settings)
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
    settings = Settings(index_dir=Path("idx"), embed="fake")
    monkeypatch.chdir(one)
    ingest([Path("docs")], settings)
    monkeypatch.chdir(two)
    report = ingest([Path("docs")], settings)
    assert (report.added, report.removed) == (1, 0)
    assert [c.text for c in store_chunks(settings)] == ["only in two"]
    monkeypatch.chdir(one)
    assert [c.text for c in store_chunks(settings)] == ["only in one"]
