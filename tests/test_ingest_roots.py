"""Several roots in one index (rag.ingest with rag.sources): ingest adds and never touches
files from other roots, removes vanished files only from under its own PATHs, --sync
mirrors, same names under two roots are both kept and cited apart, indexes made before
roots were recorded keep working, and remove() (``rag rm``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import SAMPLE_FILES, FakeEmbedder, assert_matches_files, assert_store_consistent, store_chunks
from rag.config import Settings, StoreSettings
from rag.errors import IndexError_
from rag.index import Index, index_status, open_index
from rag.ingest import ingest, remove


def _folder(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    return root


def _names(settings: Settings) -> list[str]:
    return sorted(open_index(settings.store.index_dir, None).files())


def test_ingesting_one_more_file_adds_it_and_removes_nothing(corpus: Path, tmp_path: Path, settings: Settings,
                                                             fake_embedder: FakeEmbedder) -> None:
    """The issue's first case: `rag ingest page.html` printed `added 1, removed 5`."""
    ingest([corpus], settings, embedder=fake_embedder)
    page = _folder(tmp_path / "web", {"page.html": "<p>Opening hours: nine to five.</p>"}) / "page.html"
    report = ingest([page], settings, embedder=fake_embedder)
    assert (report.added, report.removed, report.unchanged) == (1, 0, 0)
    assert _names(settings) == sorted([*SAMPLE_FILES, "page.html"])
    record = open_index(settings.store.index_dir, None).files()["page.html"]
    assert (record.root, record.relpath) == (str((tmp_path / "web").resolve()), "page.html")
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_vanished_files_are_removed_only_from_under_their_own_path(tmp_path: Path, settings: Settings,
                                                                   fake_embedder: FakeEmbedder) -> None:
    a = _folder(tmp_path / "a", {"one.txt": "One in a.", "two.txt": "Two in a."})
    b = _folder(tmp_path / "b", {"three.txt": "Three in b.", "sub/four.txt": "Four in b."})
    ingest([a, b], settings, embedder=fake_embedder)
    (a / "one.txt").unlink()
    (b / "sub" / "four.txt").unlink()

    report = ingest([b], settings, embedder=fake_embedder)
    assert (report.removed, report.unchanged) == (1, 1)
    assert _names(settings) == ["one.txt", "three.txt", "two.txt"]  # a's vanished file stays until a is ingested

    report = ingest([a], settings, embedder=fake_embedder)
    assert (report.removed, report.unchanged) == (1, 1)
    assert _names(settings) == ["three.txt", "two.txt"]
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_sync_makes_the_index_exactly_the_paths(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder) -> None:
    a = _folder(tmp_path / "a", {"one.txt": "One in a.", "notes.txt": "Notes of a."})
    b = _folder(tmp_path / "b", {"notes.txt": "Notes of b."})
    ingest([a], settings, embedder=fake_embedder)
    ingest([b], settings, embedder=fake_embedder)
    assert _names(settings) == ["b/notes.txt", "notes.txt", "one.txt"]

    report = ingest([b], settings, sync=True, embedder=fake_embedder)
    assert (report.removed, report.unchanged, report.added) == (2, 1, 0)
    assert _names(settings) == ["b/notes.txt"]  # a file keeps its name
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_same_names_under_two_roots_are_both_kept_and_cited_apart(tmp_path: Path, settings: Settings,
                                                                  fake_embedder: FakeEmbedder) -> None:
    a = _folder(tmp_path / "a", {"notes.txt": "The bridge opened in 1932.\n\nIt is 503 metres long."})
    b = _folder(tmp_path / "b", {"notes.txt": "The library opened in 1980.", "only-b.txt": "Alone."})
    report = ingest([a, b], settings, embedder=fake_embedder)
    assert (report.added, report.skipped) == (3, [])
    assert _names(settings) == ["a/notes.txt", "b/notes.txt", "only-b.txt"]  # no clash, no prefix
    chunks = store_chunks(settings)
    assert len({c.id for c in chunks}) == len(chunks) == 4
    texts = {c.file: c.paragraph.text for c in chunks if c.paragraph.number == 1}
    assert texts["a/notes.txt"].startswith("The bridge") and texts["b/notes.txt"].startswith("The library")
    assert_matches_files(settings)

    # A third root's notes.txt is ambiguous beside those two: it takes its folder too.
    c = _folder(tmp_path / "c", {"notes.txt": "The museum opened in 2001."})
    assert ingest([c], settings, embedder=fake_embedder).added == 1
    assert "c/notes.txt" in _names(settings)
    # The names stay what they were when the folders are ingested again, in either order.
    again = ingest([b, a, c], settings, embedder=fake_embedder)
    assert (again.unchanged, again.added, again.removed) == (4, 0, 0)
    assert_store_consistent(settings)


def test_a_folder_inside_an_indexed_folder_is_not_indexed_twice(tmp_path: Path, settings: Settings,
                                                                fake_embedder: FakeEmbedder) -> None:
    docs = _folder(tmp_path / "docs", {"top.txt": "Top.", "sub/inner.txt": "Inner.", "sub/gone.txt": "Gone soon."})
    ingest([docs / "sub"], settings, embedder=fake_embedder)
    assert _names(settings) == ["gone.txt", "inner.txt"]
    report = ingest([docs], settings, embedder=fake_embedder)
    assert (report.added, report.unchanged) == (1, 2)  # the same files, at the same places
    assert _names(settings) == ["gone.txt", "inner.txt", "top.txt"]
    (docs / "sub" / "gone.txt").unlink()
    assert ingest([docs], settings, embedder=fake_embedder).removed == 1  # under docs, whatever root it was read from
    assert_store_consistent(settings)
    assert_matches_files(settings)


def _as_before_roots(settings: Settings) -> None:
    """Rewrite the manifest the way indexes built before roots were recorded hold it."""
    index = open_index(settings.store.index_dir, None)
    records = list(index.files().values())
    index._files.delete(ids=[r.name for r in records])
    index._files.add(
        ids=[r.name for r in records], embeddings=[[1.0]] * len(records), documents=[r.name for r in records],
        metadatas=[{"sha256": r.sha256, "state": r.state, "kind": r.kind, "paragraphs": r.paragraphs,
                    "chunks": r.chunks} for r in records],
    )


def test_an_index_made_before_roots_were_recorded_keeps_working(corpus: Path, tmp_path: Path, settings: Settings,
                                                                fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    _as_before_roots(settings)
    assert all(r.root is None for r in open_index(settings.store.index_dir, None).files().values())

    other = _folder(tmp_path / "other", {"extra.txt": "Another folder's file."})
    report = ingest([other], settings, embedder=fake_embedder)  # unknown roots are never removed by another PATH's ingest
    assert (report.removed, report.added) == (0, 1)
    assert _names(settings) == sorted([*SAMPLE_FILES, "extra.txt"])

    (corpus / "004_19d5bed1d5b90f32.txt").write_text("Changed since.\n", "utf-8")
    (corpus / "002_cd0030e963fe94eb.txt").unlink()
    fake_embedder.passage_calls.clear()
    report = ingest([corpus], settings, embedder=fake_embedder)  # the files found under their names are adopted
    assert (report.unchanged, report.updated, report.added, report.removed) == (3, 1, 0, 0)
    assert fake_embedder.embedded == ["Changed since."]
    manifest = open_index(settings.store.index_dir, None).files()
    assert manifest["003_3e9024b6c632520f.txt"].location == corpus.resolve() / "003_3e9024b6c632520f.txt"
    assert manifest["002_cd0030e963fe94eb.txt"].root is None  # not found: kept, as nothing says where it was

    assert remove(["002_cd0030e963fe94eb.txt"], settings).removed == ["002_cd0030e963fe94eb.txt"]  # by name
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_a_half_written_file_of_another_root_is_redone_by_the_next_ingest(
    tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _folder(tmp_path / "a", {"alpha.txt": "Alpha one.\n\nAlpha two."})
    b = _folder(tmp_path / "b", {"beta.txt": "Beta."})
    ingest([a, b], settings, embedder=fake_embedder)
    (a / "alpha.txt").write_text("Alpha, rewritten.\n", "utf-8")

    def add_fails(self, chunks, vectors):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed between deleting alpha's old chunks and writing its new ones")

    with monkeypatch.context() as m, pytest.raises(RuntimeError):
        m.setattr(Index, "add_chunks", add_fails)
        ingest([a], settings, embedder=fake_embedder)
    assert index_status(open_index(settings.store.index_dir, None)).pending == ("alpha.txt",)

    report = ingest([b], settings, embedder=fake_embedder)  # another PATH: alpha.txt is repaired all the same
    assert (report.updated, report.unchanged) == (1, 1)
    assert_store_consistent(settings)
    assert_matches_files(settings)


def test_remove_by_place_on_disk_or_by_name(tmp_path: Path, settings: Settings, fake_embedder: FakeEmbedder,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    a = _folder(tmp_path / "a", {"notes.txt": "A notes.", "sub/x.txt": "X.", "sub/y.txt": "Y."})
    b = _folder(tmp_path / "b", {"notes.txt": "B notes."})
    ingest([a, b], settings, embedder=fake_embedder)
    before = open_index(settings.store.index_dir, None).files()

    monkeypatch.chdir(tmp_path)
    report = remove(["a/sub"], settings)  # a folder on disk, relative to the working folder
    assert report.removed == ["sub/x.txt", "sub/y.txt"]
    assert (report.paragraphs, report.chunks) == (2, 2)
    assert remove(["b/notes.txt"], settings).removed == ["b/notes.txt"]  # a name as citations show it
    shutil.rmtree(a)
    assert remove([str(a / "notes.txt")], settings).removed == ["a/notes.txt"]  # gone from disk already
    assert _names(settings) == []
    assert not store_chunks(settings)
    assert set(before) == {"a/notes.txt", "b/notes.txt", "sub/x.txt", "sub/y.txt"}
    assert_store_consistent(settings)


def test_remove_of_a_path_that_matches_nothing_changes_nothing(corpus: Path, settings: Settings,
                                                               fake_embedder: FakeEmbedder) -> None:
    ingest([corpus], settings, embedder=fake_embedder)
    before = sorted(c.id for c in store_chunks(settings))
    with pytest.raises(IndexError_) as info:
        remove(["003_3e9024b6c632520f.txt", "no-such-file.txt"], settings)
    assert info.value.message.startswith("no-such-file.txt: no indexed file matches it")
    assert sorted(c.id for c in store_chunks(settings)) == before
    with pytest.raises(IndexError_, match="no index"):
        remove(["x"], Settings(store=StoreSettings(index_dir=settings.store.index_dir.parent / "none")))
    assert not (settings.store.index_dir.parent / "none").exists()


def test_a_removal_cut_short_is_finished_by_the_next_run(corpus: Path, settings: Settings,
                                                         fake_embedder: FakeEmbedder,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ingest([corpus], settings, embedder=fake_embedder)

    def forget_fails(self, names):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed after the chunks were deleted")

    with monkeypatch.context() as m, pytest.raises(RuntimeError):
        m.setattr(Index, "forget_files", forget_fails)
        remove([str(corpus / "001_2284b7fc3385c695.txt")], settings)
    status = index_status(open_index(settings.store.index_dir, None))
    assert status.pending == ("001_2284b7fc3385c695.txt",) and status.files == 4

    elsewhere = _folder(corpus.parent / "elsewhere", {"new.txt": "A new file."})
    report = ingest([elsewhere], settings, embedder=fake_embedder)  # any next run finishes it
    assert "001_2284b7fc3385c695.txt" not in _names(settings)  # and does not bring the file back
    assert (report.added, report.removed) == (1, 0)
    assert_store_consistent(settings)
