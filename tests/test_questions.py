"""What counts as a question, checked before any model runs: rag.questions, and `rag ask`
refusing empty, wordless and over-long questions, or reading one from standard input."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, RealIndex
from rag.cli import app
from rag.errors import UsageError
from rag.questions import MAX_QUESTION_CHARS, checked_question, question_problem, spans_documents

UNASKABLE = ["", "   ", "\n\t", "؟", "?", "？", "...", "«»", "—?!"]


@pytest.mark.parametrize("text", UNASKABLE)
def test_empty_and_wordless_questions_are_refused(text: str) -> None:
    problem = question_problem(text)
    assert problem and "\n" not in problem
    with pytest.raises(UsageError):
        checked_question(text)


@pytest.mark.parametrize("text", ["Who?", "كم؟", "谁？", "2021?", "  SCO  "])
def test_a_short_question_with_a_word_is_a_question(text: str) -> None:
    assert question_problem(text) is None
    assert checked_question(text) == text.strip()


def test_the_length_limit_counts_the_stripped_question() -> None:
    assert question_problem("字" * MAX_QUESTION_CHARS + "   ") is None
    problem = question_problem("字" * (MAX_QUESTION_CHARS + 1))
    assert problem is not None and f"{MAX_QUESTION_CHARS + 1:,} characters" in problem and "limit" in problem


# -- rag ask -----------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("text", ["", "   ", "؟", "?", "？"])
def test_ask_refuses_an_unaskable_question_as_bad_usage(runner: CliRunner, tmp_path: Path, text: str) -> None:
    # No index exists: had anything been loaded first, the error would be the missing index.
    result = runner.invoke(app, ["ask", text, "--index", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the question "), result.stderr


def test_ask_refuses_an_over_long_question_before_loading_anything(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ask", "How many? " * 2000, "--index", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: the question is 19,999 characters long; the limit is 2,000 (ask about one thing at a time)"
    ]


def test_ask_reads_the_question_from_standard_input(runner: CliRunner, real_index: RealIndex) -> None:
    index = str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]
    result = runner.invoke(app, ["ask", "-", "--index", index, "--llm", "none", "--json"],
                           input="How many SCO companies have set up in Chongqing?\n".encode())
    assert result.exit_code == 0, result.output
    assert '"question": "How many SCO companies have set up in Chongqing?"' in result.stdout  # newline gone


@pytest.mark.parametrize(("given", "expected"), [(b"", "the question is empty"), (b"\n\n", "the question is empty"),
                                                 (b"\xff\xfeW\x00", "standard input is not UTF-8 text (byte 0 is 0xff)")])
def test_ask_dash_with_nothing_usable_on_stdin_is_bad_usage(runner: CliRunner, tmp_path: Path, given: bytes,
                                                            expected: str) -> None:
    result = runner.invoke(app, ["ask", "-", "--index", str(tmp_path / "none")], input=given)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"Error: {expected}"]


def test_ask_dash_through_a_real_pipe(real_index: RealIndex, tmp_path: Path) -> None:
    """Chinese through an actual pipe into the console script: decoded as UTF-8, answered,
    and the output (not a terminal) is the plain checked answer without escape codes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["RAG_THREADS"] = os.environ.get("RAG_THREADS", "1")
    run = subprocess.run(
        [str(RAG_BIN), "ask", "-", "--index", str(real_index.settings.store.index_dir), "--llm", "none"],  # type: ignore[attr-defined]
        input="目前大約有多少家上合組織國家的企業在重慶落戶？\n".encode(), capture_output=True, env=env,
        cwd=tmp_path, timeout=180,
    )
    assert run.returncode == 0, run.stderr.decode()
    out = run.stdout.decode("utf-8")
    assert "\x1b" not in out
    assert "003_3e9024b6c632520f.txt ¶" in out


@pytest.mark.parametrize(("question", "across"), [
    ("Which articles mention Russia?", True),
    ("Compare the populations of Guam and Montana.", True),
    ("When did Tunisia and Jordan become independent?", True),  # two names coordinated
    ("How many people died, and how many were injured?", True),  # a second question joined on
    ("阿曼和西班牙的面積分別是多少？", True),
    ("河南的汽車要幾天到歐洲？重慶又是哪一年開出中歐班列的？", True),  # two questions in one
    ("ما مساحة كل من عمان وإسبانيا؟", True),
    ("في أي مدينة عقد المنتدى، ومتى عقد؟", True),
    ("How many companies work in Henan's car industry?", False),
    ("目前大約有多少家上合組織國家的企業在重慶落戶？", False),
    ("كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟", False),
])
def test_a_question_that_spans_documents_is_told_by_its_function_words(question: str, across: bool) -> None:
    assert spans_documents(question) is across
