"""Finding files under PATHs, the names they get in the index, and which indexed files a
PATH typed by a person means (rag.sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import IndexError_
from rag.index import FileRecord
from rag.sources import Source, find_sources, matching, name_sources, select, source_at

# -- find_sources ------------------------------------------------------------------------


def _tree(root: Path, outside: Path) -> None:
    files = {
        "a.txt": "alpha",
        "B.md": "# bravo",
        "noext": "no suffix is plain text",
        "z.bin": "not a supported type",
        ".hidden.txt": "hidden file",
        ".git/config.txt": "hidden folder",
        "sub/c.txt": "charlie",
        "sub/.cache/y.txt": "hidden nested folder",
        "sub/deeper/d.html": "<p>delta</p>",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, "utf-8")
    (outside / "secret.txt").write_text("outside the root", "utf-8")
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "link_in.txt").symlink_to(root / "a.txt")


def test_find_sources_walks_a_tree(tmp_path: Path) -> None:
    root, outside = tmp_path / "docs", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    _tree(root, outside)

    sources, skipped = find_sources([root])

    # Files of a folder (sorted) before its subfolders (sorted); hidden ones silently left out.
    assert [s.relpath for s in sources] == ["B.md", "a.txt", "link_in.txt", "noext", "sub/c.txt", "sub/deeper/d.html"]
    assert all(s.path == root / s.relpath for s in sources)
    assert all(s.root == root.resolve() and s.location == root.resolve() / s.relpath for s in sources)
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"link_out.txt", "z.bin"}
    assert "symlink points outside" in reasons["link_out.txt"]
    assert "unsupported type '.bin'" in reasons["z.bin"] and ".pdf" in reasons["z.bin"]
    # The same walk again gives the same answer.
    assert find_sources([root]) == (sources, skipped)


def test_same_name_under_two_roots_is_two_files(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "x.txt").write_text("x", "utf-8")
    (tmp_path / "two" / "x.txt").write_text("other x", "utf-8")
    sources, skipped = find_sources([tmp_path / "one" / "x.txt", tmp_path / "two" / "x.txt"])
    assert [(s.relpath, s.path) for s in sources] == [("x.txt", tmp_path / "one" / "x.txt"),
                                                     ("x.txt", tmp_path / "two" / "x.txt")]
    assert skipped == []


def test_a_file_reached_twice_counts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "sub" / "x.txt").write_text("x", "utf-8")
    monkeypatch.chdir(tmp_path)
    sources, skipped = find_sources([Path("docs"), tmp_path / "docs" / "sub", Path("docs/sub/x.txt")])
    assert [(s.relpath, s.root) for s in sources] == [("sub/x.txt", tmp_path / "docs")]  # the first PATH's view
    assert skipped == []


def test_find_sources_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    (tmp_path / "ok.txt").write_text("fine", "utf-8")
    sources, skipped = find_sources([missing, tmp_path / "ok.txt"])
    assert [s.relpath for s in sources] == ["ok.txt"]
    assert [(s.path, s.reason) for s in skipped] == [(str(missing), "no such file or folder")]


def test_source_at_finds_a_recorded_file_only_while_it_is_fit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("a", "utf-8")
    (tmp_path / "outside.txt").write_text("not under the root", "utf-8")
    assert source_at(str(root), "a.txt") == Source(root / "a.txt", root, "a.txt")
    assert source_at(str(root), "gone.txt") is None
    (root / "escape.txt").symlink_to(tmp_path / "outside.txt")
    assert source_at(str(root), "escape.txt") is None


# -- names -------------------------------------------------------------------------------


def _src(root: str, relpath: str) -> Source:
    return Source(Path(root) / relpath, Path(root), relpath)


def _rec(name: str, root: str | None, relpath: str | None) -> FileRecord:
    return FileRecord(name, "0" * 64, "done", "text", 1, 1, root, relpath)


def test_names_are_paths_under_the_root_when_nothing_clashes() -> None:
    new = [_src("/data/corpus", "003_3e9024b6c632520f.txt"), _src("/data/corpus", "news/a.md")]
    indexed = [_rec("other.txt", "/data/other", "other.txt")]
    assert name_sources(new, indexed) == ["003_3e9024b6c632520f.txt", "news/a.md"]


def test_same_names_in_one_run_all_take_their_folder() -> None:
    new = [_src("/home/u/a", "notes.txt"), _src("/home/u/b", "notes.txt"), _src("/home/u/b", "solo.txt")]
    assert name_sources(new, []) == ["a/notes.txt", "b/notes.txt", "solo.txt"]
    assert name_sources(new[::-1], []) == ["solo.txt", "b/notes.txt", "a/notes.txt"]  # order-free


def test_a_name_already_indexed_is_kept_and_the_newcomer_moves() -> None:
    assert name_sources([_src("/home/u/b", "notes.txt")], [_rec("notes.txt", "/home/u/a", "notes.txt")]) == [
        "b/notes.txt"]
    old = _rec("notes.txt", None, None)  # indexed before roots were recorded: its name is taken all the same
    assert name_sources([_src("/home/u/b", "notes.txt")], [old]) == ["b/notes.txt"]


def test_a_path_other_files_share_under_their_roots_is_taken() -> None:
    indexed = [_rec("a/notes.txt", "/home/u/a", "notes.txt"), _rec("b/notes.txt", "/home/u/b", "notes.txt")]
    assert name_sources([_src("/home/u/c", "notes.txt")], indexed) == ["c/notes.txt"]


def test_roots_with_the_same_folder_name_take_more_of_their_path() -> None:
    new = [_src("/x/docs", "notes.txt"), _src("/y/docs", "notes.txt")]
    assert name_sources(new, []) == ["x/docs/notes.txt", "y/docs/notes.txt"]
    # a root's whole path not being enough, the absolute path is the last resort
    new = [_src("/docs", "notes.txt"), _src("/other/docs", "notes.txt")]
    indexed = [_rec("other/docs/notes.txt", "/elsewhere", "other/docs/notes.txt")]
    assert name_sources(new, indexed) == ["/docs/notes.txt", "/other/docs/notes.txt"]
    assert name_sources([_src("/", "notes.txt")], [_rec("notes.txt", "/a", "notes.txt")]) == ["/notes.txt"]


# -- which indexed files a typed PATH means -----------------------------------------------


RECORDS = [
    _rec("a/notes.txt", "/home/u/a", "notes.txt"),
    _rec("b/notes.txt", "/home/u/b", "notes.txt"),
    _rec("sub/deep.txt", "/home/u/b", "sub/deep.txt"),
    _rec("old.txt", None, None),  # indexed before roots were recorded
]


@pytest.mark.parametrize(("given", "names"), [
    ("/home/u/b", ["b/notes.txt", "sub/deep.txt"]),  # a folder on disk: everything under it
    ("/home/u/b/", ["b/notes.txt", "sub/deep.txt"]),
    ("/home/u/b/sub/deep.txt", ["sub/deep.txt"]),  # a file on disk (it need not exist)
    ("/home/u", ["a/notes.txt", "b/notes.txt", "sub/deep.txt"]),
    ("/home/u/bb", []),  # a path, not a string prefix
    ("b/notes.txt", ["b/notes.txt"]),  # the name citations show
    ("sub", ["sub/deep.txt"]),  # a folder of names
    ("old.txt", ["old.txt"]),  # the only way to reach a record without a root
    ("notes.txt", []),  # ambiguous: names no file (neither name is that)
])
def test_matching(given: str, names: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative names are not found on disk here
    assert sorted(r.name for r in matching(RECORDS, given)) == names


def test_a_relative_path_on_disk_is_resolved_against_the_working_folder(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    records = [_rec("x.txt", str(tmp_path / "docs"), "x.txt"), _rec("y.txt", str(tmp_path / "other"), "y.txt")]
    monkeypatch.chdir(tmp_path)
    assert [r.name for r in matching(records, "docs")] == ["x.txt"]
    assert [r.name for r in matching(records, "./docs/x.txt")] == ["x.txt"]
    assert [r.name for r in matching(records, ".")] == ["x.txt", "y.txt"]


def test_select_refuses_a_path_that_matches_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert [r.name for r in select(RECORDS, ["sub", "a/notes.txt", "sub/deep.txt"])] == ["a/notes.txt", "sub/deep.txt"]
    with pytest.raises(IndexError_) as info:
        select(RECORDS, ["a/notes.txt", "no-such.txt"])
    assert info.value.message.startswith("no-such.txt: no indexed file matches it")
    assert "rag ls" in (info.value.hint or "")
