"""`rag ingest` and `rag ask` over real files of every format, as a user sees them: the
ingest summary naming the encodings it read, and each format's citation in the terminal
and in JSON. The real CLI, the real Chroma store, the fake embedder of conftest.py and
``--llm none`` (extractive answers), so what is checked is where citations point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FakeEmbedder, FakeModels
from samples import (FESTIVAL_HTML, LIGHTHOUSE_PARAGRAPHS, arabic_text, chinese_text, festival_docx,
                     lighthouse_pdf)
from rag.cli import app

SPEC_KEYS = ["added", "updated", "removed", "unchanged", "skipped", "paragraphs", "chunks", "seconds"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def fake_everywhere(fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """The fake embedder behind the loader (conftest), for ingest and questions, with room
    enough (512 dimensions) that trigram overlap, not hash collisions, ranks these short
    paragraphs: what is checked here is where a citation points, not retrieval."""
    fake_models.current = FakeEmbedder(dim=512)
    return fake_models.current


def _json_line(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return json.loads(lines[0])


def _notepad(path: Path) -> None:
    path.write_bytes("Shopping list\r\n\r\nzaatar, 重慶 noodles\r\n".encode("utf-16"))  # Notepad's "Unicode"


def test_ingest_reads_every_format_and_names_the_encodings(runner: CliRunner, tmp_path: Path,
                                                           fake_everywhere: FakeEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    lighthouse_pdf(docs / "lighthouse.pdf")
    festival_docx(docs / "notes.docx")
    (docs / "festival.html").write_text(FESTIVAL_HTML, "utf-8")
    (docs / "arabic.txt").write_bytes(arabic_text().encode("cp1256"))
    (docs / "chinese.txt").write_bytes(chinese_text().encode("big5"))
    _notepad(docs / "notepad.txt")
    (docs / "short.txt").write_bytes("قمة السيارات".encode("cp1256"))  # too short to tell
    (docs / "plain.md").write_text("# Plain\n\nUTF-8, named nowhere.\n", "utf-8")

    result = runner.invoke(app, ["ingest", str(docs), "--index", "idx", "--json"])

    assert result.exit_code == 0, result.output
    report = _json_line(result.stdout)
    assert list(report) == [*SPEC_KEYS, "encodings"]
    assert report["added"] == 7
    assert report["encodings"] == {"arabic.txt": "cp1256", "chinese.txt": "big5", "notepad.txt": "utf-16le"}
    [skipped] = report["skipped"]
    assert skipped["path"] == "short.txt"
    assert skipped["reason"].startswith("not UTF-8 (from line 1, byte 0)")
    assert "iconv -f ENCODING -t UTF-8 short.txt > short.utf8.txt" in skipped["reason"]
    zh_paragraphs = chinese_text().count("\n\n") + 1
    assert report["paragraphs"] == 8 + 9 + 8 + 3 + zh_paragraphs + 2 + 2

    text = runner.invoke(app, ["ingest", str(docs), "--index", "idx2"])
    assert text.exit_code == 0
    assert ("read 3 files not in UTF-8: 1 as big5 (chinese.txt), 1 as cp1256 (arabic.txt), "
            "1 as utf-16le (notepad.txt)") in text.stdout.splitlines()
    assert "skipped short.txt: not UTF-8 (from line 1, byte 0) and in no encoding" in text.stdout
    again = runner.invoke(app, ["ingest", str(docs), "--index", "idx2"])
    assert "not in UTF-8" not in again.stdout  # nothing was read again: nothing to name


Make = Callable[[Path], Path]


def _write(name: str, data: bytes) -> Make:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name
    return make


# (file maker, question, terminal citation line, JSON citation without its quote, cited text)
CASES = {
    "pdf": (lambda d: lighthouse_pdf(d / "lighthouse.pdf"), "How far away can the new lamp be seen?",
            "[1] lighthouse.pdf p. 2 ¶3",
            {"file": "lighthouse.pdf", "paragraph": 3, "start_line": 3, "end_line": 4, "page": 2},
            LIGHTHOUSE_PARAGRAPHS[6][5]),
    "docx": (lambda d: festival_docx(d / "notes.docx"), "How many food stalls were there?",
             "[1] notes.docx ¶3",
             {"file": "notes.docx", "paragraph": 3, "start_line": 0, "end_line": 0, "page": None},
             "Event: Food stalls; Count: 140"),
    "html": (_write("festival.html", FESTIVAL_HTML.encode()), "How many boat rides were there?",
             "[1] festival.html ¶5 (lines 10-13)",
             {"file": "festival.html", "paragraph": 5, "start_line": 10, "end_line": 13, "page": None},
             "Event: Boat rides; Count: 36"),
    "cp1256": (_write("arabic.txt", arabic_text().encode("cp1256")), "متى عقدت قمة صادرات السيارات الصينية؟",
               "[1] arabic.txt ¶1 (line 1)",
               {"file": "arabic.txt", "paragraph": 1, "start_line": 1, "end_line": 1, "page": None},
               arabic_text().split("\n")[0]),
    "utf-16": (lambda d: (_notepad(d / "notepad.txt"), d / "notepad.txt")[1], "Zaatar and which noodles?",
               "[1] notepad.txt ¶2 (line 3)",
               {"file": "notepad.txt", "paragraph": 2, "start_line": 3, "end_line": 3, "page": None},
               "zaatar, 重慶 noodles"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_citations_as_a_user_sees_them(runner: CliRunner, tmp_path: Path, fake_everywhere: FakeEmbedder,
                                       kind: str) -> None:
    make, question, line, where, cited = CASES[kind]
    docs = tmp_path / "docs"
    docs.mkdir()
    make(docs)
    assert runner.invoke(app, ["ingest", str(docs), "--index", "idx"]).exit_code == 0

    shown = runner.invoke(app, ["ask", question, "--index", "idx", "--llm", "none"])
    assert shown.exit_code == 0, shown.output
    assert line in shown.stdout.splitlines(), shown.stdout

    answer = _json_line(runner.invoke(app, ["ask", question, "--index", "idx", "--llm", "none", "--json"]).stdout)
    citation = answer["citations"][0]
    assert {k: v for k, v in citation.items() if k not in ("marker", "quote")} == where
    assert citation["quote"] and citation["quote"] in cited
