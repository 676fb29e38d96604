"""Crash safety of ingest: in process at the exact dangerous moments, and real `rag
ingest` processes SIGKILLed at moments chosen by the clock and by the write they are in.
Every crash leaves a store the next ingest repairs, with the files finished before it
kept. (Random kills at 10k paragraphs: test_crash_concurrency.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rag.ingest
from conftest import (
    RAG_BIN,
    SAMPLE_CORPUS,
    SAMPLE_FILES,
    FakeEmbedder,
    assert_matches_files,
    assert_store_consistent,
    expected_chunks,
    store_chunks,
)
from rag.config import ModelSettings, Settings, StoreSettings
from rag.documents import read_document
from rag.index import Index, index_status, open_index
from rag.ingest import ingest


# -- crash safety, in process, at the exact dangerous moments ----------------------------


class Crash(RuntimeError):
    pass


def test_crash_after_old_chunks_deleted(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
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
        ingest([corpus], settings, embedder=fake_embedder)

    status = index_status(open_index(settings.store.index_dir, None))
    assert status.pending == (name,) and not status.consistent
    assert not [c for c in store_chunks(settings) if c.file == name]  # old ones are gone
    assert status.files == 4  # the others are intact

    report = ingest([corpus], settings, embedder=fake_embedder)
    assert (report.updated, report.unchanged) == (1, 4)
    assert sorted(c.text for c in store_chunks(settings) if c.file == name) == ["Entirely new text.", "Rewritten."]
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_crash_after_chunks_written_before_done(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = Index.put_files
    crashed_on: list[str] = []

    def put_fails_on_done(self, records):
        if all(r.state == "done" for r in records):
            crashed_on.extend(r.name for r in records)
            raise Crash("killed before marking done")
        real_put(self, records)

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "put_files", put_fails_on_done)
        ingest([corpus], settings, embedder=fake_embedder)
    status = index_status(open_index(settings.store.index_dir, None))
    assert status.files == 0 and status.pending == tuple(sorted(crashed_on)) and crashed_on
    assert status.chunks_in_store > 0  # written, but not vouched for

    report = ingest([corpus], settings, embedder=fake_embedder)
    # A half-written file is redone; the manifest can't tell whether it was new or an
    # update when the crash came (pending records carry the new hash), so either count.
    assert report.added + report.updated == 5 and report.unchanged == 0
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


def test_crash_while_removing(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    (corpus / "002_cd0030e963fe94eb.txt").unlink()
    def forget_fails(self, names):
        raise Crash("killed after the chunks were deleted, before the manifest forgot them")

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "forget_files", forget_fails)
        ingest([corpus], settings, embedder=fake_embedder)
    assert index_status(open_index(settings.store.index_dir, None)).pending == ("002_cd0030e963fe94eb.txt",)

    report = ingest([corpus], settings, embedder=fake_embedder)
    assert report.unchanged == 4
    assert "002_cd0030e963fe94eb.txt" not in open_index(settings.store.index_dir, None).files()
    assert_store_consistent(settings)


def test_crash_in_a_later_write(corpus: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.ingest, "FIRST_BATCH", 10)
    monkeypatch.setattr(rag.ingest, "MAX_BATCH", 10)
    real_add = Index.add_chunks
    calls: list[set[str]] = []

    def add_fails_third(self, chunks, vectors):
        calls.append({c.file for c in chunks})
        if len(calls) == 3:
            raise Crash("killed in the third write")
        real_add(self, chunks, vectors)

    with monkeypatch.context() as m, pytest.raises(Crash):
        m.setattr(Index, "add_chunks", add_fails_third)
        ingest([corpus], settings, embedder=fake_embedder)
    status = index_status(open_index(settings.store.index_dir, None))
    written = calls[0] | calls[1]
    assert status.files == len(written) >= 2 and status.pending == tuple(sorted(calls[2]))
    assert not [c for c in store_chunks(settings) if c.file in calls[2]]

    fake_embedder.passage_calls.clear()
    report = ingest([corpus], settings, embedder=fake_embedder)
    rest = [n for n in SAMPLE_FILES if n not in written]
    assert report.added + report.updated == len(rest) and report.unchanged == len(written)
    assert sorted(fake_embedder.embedded) == sorted(c.text for c in expected_chunks(corpus, rest))
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)


# -- crash safety with real processes killed by SIGKILL ----------------------------------

# Runs the real CLI with small batches (so a run has many write windows). With CRASH_AT
# set ("delete:N" / "add:N") the process SIGKILLs itself right after its N-th
# delete_chunks / add_chunks returns: the dangerous moments, hit exactly.
LAUNCHER = r"""
import os, signal, sys
import rag.ingest as ingest
from rag.index import Index
ingest.FIRST_BATCH = ingest.MAX_BATCH = 4
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

    settings = Settings(store=StoreSettings(index_dir=index_dir), models=ModelSettings(embed="use"))
    assert_store_consistent(settings)
    assert_matches_files(settings, corpus)
    index = open_index(index_dir, None)
    assert "000_01.txt" not in index.files()
    ids = [c.id for c in index.iter_chunks()]
    for chunk, vector in index.chunks_with_vectors(ids[::9]):  # the vector index answers for what sqlite lists
        assert index.query(vector, 1)[0][0].id == chunk.id
