"""The llama-index comparison pipeline of ``rag eval --baseline``.

The real llama-index pipeline, the real Chroma store and the real default embedder run
here; the LLM is a stand-in that records its prompt, because what is under test is how
the baseline's chunks and ``[n]`` markers are mapped back to paragraphs and scored, not
what a model writes. (The comparison with the real model is in the README, with its
command.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SAMPLE_CORPUS
from rag import evaluate as ev
from rag.baseline import says_not_found
from rag.paragraphs import split_paragraphs


class RecordingLLM:
    id = "recording"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    def stream(self, messages: list[dict[str, str]], **kw: object) -> Iterator[str]:
        self.prompts.append(messages[-1]["content"])
        yield self.reply


@pytest.fixture(scope="module")
def baseline_parts():
    from rag.baseline import Baseline
    from rag.config import DEFAULT_EMBED
    from rag.embeddings import load_embedder

    llm = RecordingLLM("About 40 SCO companies are in Chongqing [1].")
    base = Baseline(SAMPLE_CORPUS, load_embedder(DEFAULT_EMBED), llm)
    yield base, llm
    base.close()


def test_baseline_citations_are_the_paragraphs_of_the_cited_chunk(baseline_parts) -> None:
    base, llm = baseline_parts
    answered = base.ask("How many companies from SCO countries have settled in Chongqing?", "q1")
    answer, retrieved = answered.answer, answered.retrieved
    assert not answer.abstained and answer.citations
    assert {c.marker for c in answer.citations} == {1}
    sources = llm.prompts[-1].split("Now it's your turn", 1)[1]  # after the template's worked example
    source_1 = sources.split("Source 1:\n", 1)[1].split("\nSource 2:", 1)[0]
    for c in answer.citations:
        paragraph = split_paragraphs(c.file, (SAMPLE_CORPUS / c.file).read_text(encoding="utf-8"))[c.paragraph - 1]
        assert (paragraph.start_line, paragraph.end_line) == (c.start_line, c.end_line)
        # every cited paragraph overlaps the chunk the model saw as Source 1 (the chunk
        # may begin inside its first paragraph and end inside its last)
        assert paragraph.text[:30] in source_1 or paragraph.text[-30:] in source_1
        assert (c.file, c.paragraph) in retrieved
    # the answer is in 003 ¶24/¶25; the baseline retrieved them
    assert {("003_3e9024b6c632520f.txt", 24), ("003_3e9024b6c632520f.txt", 25)} & set(retrieved)


def test_baseline_refusal_counts_as_abstention_and_is_scored(baseline_parts) -> None:
    base, llm = baseline_parts
    llm.reply = "The sources do not contain this information."
    answered = base.ask("Who is the mayor of Chongqing?", "q2")
    assert answered.answer.abstained and not answered.answer.citations and answered.retrieved
    q = ev.Question("q2", "Who is the mayor of Chongqing?", "en", "unanswerable", frozenset(), ())
    assert ev.score(q, answered).abstained


@pytest.mark.parametrize("text", [
    "The documents do not mention the mayor.",
    "لا توجد معلومات في المصادر عن عدد الشركات.",
    "文件中沒有提到市長的名字。",
])
def test_refusals_in_three_languages_are_recognised(text: str) -> None:
    assert says_not_found(text)


@pytest.mark.parametrize("text", [
    "About 40 companies settled in Chongqing [1]. The sources do not mention their names.",
    "يعمل في القطاع أكثر من 600 شركة [1].",
    "重慶有約40家上合組織企業[1]。",
])
def test_answers_that_state_a_fact_first_are_not_refusals(text: str) -> None:
    assert not says_not_found(text)


def test_comparison_table_has_both_columns_and_the_latency_ratio() -> None:
    q = ev.Question("q", "?", "en", "same-language", frozenset({("a.txt", 1)}), (("40",),))
    from rag.types import Answer, Citation

    fast = Answer("q", "?", "40 [1]", False, "en", [Citation(1, "a.txt", 1, 1, 1, "40")], {"total": 100.0})
    slow = Answer("q", "?", "no idea", False, "en", [], {"total": 300.0})
    ours = ev.report([ev.score(q, ev.Answered(fast, [("a.txt", 1)]))])
    theirs = ev.report([ev.score(q, ev.Answered(slow, [("b.txt", 1)]))])
    table = ev.compare_markdown(ours, theirs, "t")
    assert "| correctness | overall | 100% | 0% |" in table
    assert "| hit_at_k | overall | 100% | 0% |" in table
    assert "| latency ratio (baseline / rag) | overall | 1 | 3.00 |" in table


def test_eval_refuses_baseline_with_answers_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    answers = tmp_path / "a.jsonl"
    answers.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "eval/dev.jsonl", "--answers", str(answers), "--baseline"])
    assert result.exit_code == 2 and "choose one" in result.output


def test_reports_that_cannot_be_written_leave_the_printed_scores(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from conftest import REPO
    from rag.cli import app

    first = json.loads((REPO / "eval" / "dev.jsonl").read_text("utf-8").split("\n")[0])
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"id": first["id"], "question": first["question"], "answer": "?",
                                   "abstained": False, "language": first["language"]}) + "\n", "utf-8")
    blocker = tmp_path / "out"
    blocker.write_text("a file where the report folder should go", "utf-8")
    result = CliRunner().invoke(app, ["eval", str(REPO / "eval" / "dev.jsonl"), "--answers", str(answers),
                                      "--out", str(blocker)])
    assert result.exit_code == 1
    assert "correctness" in result.stdout and "| overall |" in result.stdout  # the scores were printed
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"cannot write the reports in {blocker}" in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert blocker.read_text("utf-8") == "a file where the report folder should go"


def test_answers_file_lines_split_only_at_newlines_and_bad_files_are_usage_errors(tmp_path: Path) -> None:
    from rag.errors import UsageError

    good = tmp_path / "a.jsonl"
    good.write_text('{"id": "q1", "question": "a\u2028b", "answer": "x", "abstained": false, "language": "en"}\n',
                    encoding="utf-8")
    assert ev.read_answers(good)["q1"].question == "a\u2028b"
    nested = tmp_path / "n.jsonl"
    nested.write_text("[" * 100_000 + "\n", encoding="utf-8")
    for bad in (nested, tmp_path / "missing.jsonl"):
        with pytest.raises(UsageError):
            ev.read_answers(bad)
