"""``rag.batch_out``'s writers, and ``--resume`` reading back what they wrote.

Whatever a question file holds, each entry is written in each format and read back under
its id; CSV starts with a BOM and still resumes; a citation reads the same in the CSV,
the Markdown report and the terminal. Pure file work with stand-in assistants, no models.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag.batch import plan_batch, run_batch
from rag.batch_in import read_entries
from rag.render import citation_line
from rag.types import Answer, Citation
from test_batch_in import PROPERTY, TEXT

CITED = [Citation(1, "003_3e9024b6c632520f.txt", 24, 51, 51, "40 companies"),
         Citation(2, "notes/a b.txt", 3, 5, 7, "a quote\nover lines")]


class Echo:
    """Answers every question by echoing it: whatever the file held reaches the output."""

    llm = None

    def ask(self, question: str, *, qid: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(answer=Answer(qid, question, f"You asked:\n{question}", False, "en"))


class Cites:
    """Answers every question with the same two citations."""

    llm = None

    def ask(self, question: str, *, qid: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(answer=Answer(qid, question, "About 40. [1][2]", False, "en", CITED))


def _batch(tmp_path: Path, questions: str, output: str, assistant: object) -> Path:
    (tmp_path / "q.txt").write_text(questions, encoding="utf-8")
    plan = plan_batch(tmp_path / "q.txt", tmp_path / output)
    run_batch(plan, assistant)  # type: ignore[arg-type]
    return tmp_path / output


@st.composite
def hostile_jsonl(draw: st.DrawFn) -> list[bytes]:
    """Valid questions and ids chosen to break output formats, plus malformed lines."""
    out = []
    nasty = st.sampled_from([
        "-->", '<!-- rag-batch {"id": "x", "status": "answered"} -->', "a\nb",  # fake .md markers
        '\n<!-- rag-batch {"id": "ghost", "status": "answered"} -->\n', '"quoted", comma',
        "\r\n", "line\u2028separator", "next\x85line", "## heading", "x\x00y",  # str.splitlines() cuts at these
    ])
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["q", "q", "bad"]))
        if kind == "q":
            qid = draw(st.one_of(st.none(), st.just(f"q{n}"), nasty.map(lambda s, n=n: f"{s}{n}")))
            text = draw(st.one_of(TEXT, nasty))
            obj = {"question": text} if qid is None else {"id": qid, "question": text}
            out.append(json.dumps(obj, ensure_ascii=False).encode())
        else:
            out.append(draw(st.sampled_from([b"not json", b"\xff\xfe", b"[" * 5000, b'{"question": ""}'])))
    return out


@PROPERTY
@given(rows=hostile_jsonl(), fmt=st.sampled_from([".jsonl", ".csv", ".md"]))
def test_every_entry_is_written_and_read_back_under_its_id(tmp_path: Path, rows: list[bytes], fmt: str) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_bytes(b"\n".join(rows) + b"\n")
    output = tmp_path / f"answers{fmt}"
    output.unlink(missing_ok=True)
    plan = plan_batch(questions, output)
    summary = run_batch(plan, Echo())
    assert summary.failed == sum(1 for i in plan.items if i.error)
    entries = read_entries(output)
    assert [e[0] for e in entries] == [i.id for i in plan.items]  # no entry lost, none invented
    assert [ok for _, ok, _ in entries] == [i.error is None for i in plan.items]
    resumed = plan_batch(questions, output, resume=True)
    assert resumed.todo == [i for i in plan.items if i.error], "--resume must ask again exactly the failed ones"


@pytest.mark.parametrize("junk", [b"[" * 100_000, b"not json", b"\xff\xfe", b'{"id": 5}', b"[1, 2]"])
def test_resume_reads_junk_lines_in_the_output_as_dropped_entries(tmp_path: Path, junk: bytes) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("first question\nsecond question\n", encoding="utf-8")
    output = tmp_path / "a.jsonl"
    kept = json.dumps({"id": "line-1", "question": "first question", "answer": "yes", "abstained": False,
                       "language": "en", "citations": [], "timings_ms": {}, "error": None})
    output.write_bytes(kept.encode() + b"\n" + junk + b"\n")
    plan = plan_batch(questions, output, resume=True)
    assert [k.id for k in plan.kept] == ["line-1"] and plan.dropped == 1
    assert [i.id for i in plan.todo] == ["line-2"]


def test_csv_starts_with_a_bom_and_resume_reads_it(tmp_path: Path) -> None:
    out = _batch(tmp_path, "first?\nsecond?\n", "a.csv", Echo())
    data = out.read_bytes()
    assert data[:3] == b"\xef\xbb\xbf"  # Excel then reads the file as UTF-8
    assert data[3:].startswith(b"id,question,answer,abstained,citations,error\r\n")
    assert data.count(b"\xef\xbb\xbf") == 1  # appending answers adds no second BOM

    (tmp_path / "q.txt").write_text("first?\nsecond?\nthird?\n", encoding="utf-8")
    plan = plan_batch(tmp_path / "q.txt", out, resume=True)
    assert [k.id for k in plan.kept] == ["line-1", "line-2"] and [i.id for i in plan.todo] == ["line-3"]
    run_batch(plan, Echo())
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert [r["id"] for r in rows] == ["line-1", "line-2", "line-3"]


def test_resume_reads_a_csv_written_without_a_bom(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    out.write_text("id,question,answer,abstained,citations,error\r\nline-1,first?,yes,false,,\r\n", encoding="utf-8")
    (tmp_path / "q.txt").write_text("first?\nsecond?\n", encoding="utf-8")
    plan = plan_batch(tmp_path / "q.txt", out, resume=True)
    assert [k.id for k in plan.kept] == ["line-1"] and [i.id for i in plan.todo] == ["line-2"]
    run_batch(plan, Echo())
    assert out.read_bytes().startswith(b"\xef\xbb\xbfid,question,")  # rewritten with one
    assert [e[0] for e in read_entries(out)] == ["line-1", "line-2"]


def test_a_citation_reads_the_same_in_csv_markdown_and_the_terminal(tmp_path: Path) -> None:
    terminal = [citation_line(c) for c in CITED]
    assert terminal == ["[1] 003_3e9024b6c632520f.txt ¶24 (line 51)", "[2] notes/a b.txt ¶3 (lines 5-7)"]

    rows = list(csv.DictReader(io.StringIO(_batch(tmp_path, "q?\n", "a.csv", Cites()).read_text("utf-8-sig"),
                                           newline="")))
    assert rows[0]["citations"] == "; ".join(terminal)

    report = _batch(tmp_path, "q?\n", "a.md", Cites()).read_text(encoding="utf-8")
    assert "- [1] `003_3e9024b6c632520f.txt` ¶24 (line 51): “40 companies”\n" in report
    assert "- [2] `notes/a b.txt` ¶3 (lines 5-7): “a quote over lines”\n" in report


@pytest.mark.parametrize("fmt", [".jsonl", ".md", ".csv"])
def test_resume_over_the_old_numeric_txt_ids_asks_again_and_keeps_the_old_entries(tmp_path: Path,
                                                                                  fmt: str) -> None:
    """rag once numbered .txt questions "1", "2"...: those ids match no question now."""
    out = _batch(tmp_path, "first?\nsecond?\n", f"a{fmt}", Echo())
    old = out.read_text(encoding="utf-8").replace("line-1", "1").replace("line-2", "2")
    out.write_text(old, encoding="utf-8")
    assert [e[0] for e in read_entries(out)] == ["1", "2"]

    plan = plan_batch(tmp_path / "q.txt", out, resume=True)
    assert [i.id for i in plan.todo] == ["line-1", "line-2"]  # asked again
    run_batch(plan, Echo())
    assert [(e[0], e[1]) for e in read_entries(out)] == [("1", True), ("2", True), ("line-1", True), ("line-2", True)]
