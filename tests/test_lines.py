"""rag.lines: one line reader for .txt and .jsonl, where a bad line is data about that line;
and the eval readers built on it, which name such a line as ``path:line``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.errors import UsageError
from rag.evaluate import load_questions, read_answers
from rag.lines import Line, read_jsonl, read_lines, shown


def test_lines_end_only_at_newline_and_keep_their_numbers() -> None:
    data = "\ufeffone\u2028same line\r\n\r\n  \ntwo\x85\x0cstill two\rthree\n".encode()
    assert [(line.number, line.text, line.error) for line in read_lines(data)] == [
        (1, "one\u2028same line", None),  # a BOM dropped; U+2028 is not a line end
        (4, "two\x85\x0cstill two", None),  # blank lines 2 and 3 passed over, still counted
        (5, "three", None),  # a lone CR ends a line, as CRLF does
    ]


def test_jsonl_a_question_holding_u2028_is_one_line() -> None:
    record = {"id": "q1", "question": "first part\u2028second part\u2029third\x85"}
    data = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    assert list(read_jsonl(data)) == [Line(1, data.decode().rstrip("\n"), None, record)]


def test_jsonl_a_bad_line_is_an_error_and_its_neighbours_are_read() -> None:
    data = b'{"id": 1}\n{"id": 2,\n\xff{"id": 3}\n{"id": "\xfe"}\n' + b"[" * 100_000 + b'\n{"id": 6}\n'
    lines = list(read_jsonl(data))
    assert [(line.number, line.error) for line in lines] == [
        (1, None),
        (2, "not valid JSON (Expecting property name enclosed in double quotes at column 10)"),
        (3, "not UTF-8 text"),
        (4, "not UTF-8 text"),
        (5, "not valid JSON (nested too deeply)"),
        (6, None),
    ]
    assert [line.value for line in lines] == [{"id": 1}, None, None, {"id": "\udcfe"}, None, {"id": 6}]
    assert shown(lines[3].text) == '{"id": "\ufffd"}'  # parsed, so its record can be named; shown fit to print


def test_eval_readers_name_the_bad_line_as_path_and_number(tmp_path: Path) -> None:
    question = {"id": "q1", "question": "كم؟\u2028", "language": "ar", "kind": "unanswerable", "gold": [], "facts": []}
    evalset = tmp_path / "set.jsonl"
    evalset.write_bytes(b"\xef\xbb\xbf" + json.dumps(question, ensure_ascii=False).encode() + b"\r\n\r\n\xff\n")
    with pytest.raises(UsageError, match=rf"^{re.escape(str(evalset))}:3: not an evaluation question \(not UTF-8"):
        load_questions(evalset)
    evalset.write_bytes(json.dumps(question, ensure_ascii=False).encode() + b"\n")
    assert [q.question for q in load_questions(evalset)] == ["كم؟\u2028"]

    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"id": "q1", "question": "x", "answer": "", "abstained": true, "language": "en"}\n'
                       '["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(UsageError, match=rf"^{re.escape(str(answers))}:2: not a SPEC 4 answer object"):
        read_answers(answers)
