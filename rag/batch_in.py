"""What ``rag batch`` reads: the questions of INPUT and, for ``--resume``, what OUTPUT holds.

    read_questions(INPUT) -> [Item]            every line a question or the error it holds
    read_entries(OUTPUT)  -> [(id, ok, raw)]   the entries a run already wrote

Both are here because together they decide which questions are asked: the ones of INPUT
whose ids OUTPUT does not already hold without an error. The output formats themselves
are ``rag.batch_out``'s; this module only reads them back.

Input, by suffix:
  ``.txt``    one question a line; the id is ``line-N`` (N = its line number); blank lines
              are passed over (they still count, so ids name the file's lines)
  ``.jsonl``  one object a line with ``question`` and optional ``id`` (string or integer;
              other keys are ignored, so an eval set works as input)
  ``.csv``    a header row naming ``question`` and optionally ``id`` (read with the csv
              module, UTF-8 with or without a BOM; quoted fields may span lines)

Ids, the rule:
  - a missing or empty id becomes ``line-N`` (N = the line the question starts on);
  - a repeated id is not answered: that line gets an error entry with id ``line-N`` (``line-N-2``
    if the file itself used ``line-N``) and error "duplicate id X (first at line M)", or its
    own error if the line was malformed anyway, so every id in OUTPUT is unique.

One bad line never stops the batch: a line that is not UTF-8, not JSON, not an object, or
has no question becomes an item with ``error`` set, named by its line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.batch_out import CSV_FIELD_MAX, MD_MARK, MD_STATUS_OK
from rag.errors import UsageError
from rag.lines import NOT_UTF8, Line, decode, read_jsonl, read_lines, shown, undecodable

INPUT_FORMATS = (".txt", ".jsonl", ".csv")
_SHOWN = 200  # characters of a malformed line kept as its entry's "question"


@dataclass(frozen=True)
class Item:
    """One question from INPUT, or the error that line holds instead."""

    id: str
    question: str
    line: int
    error: str | None = None


def read_questions(path: Path) -> list[Item]:
    """Every question in PATH with its id, malformed lines and repeated ids as error items.

    Raises UsageError for a file that cannot be read, or a CSV whose header is unusable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the questions file {path}: {exc.strerror}",
                         "check the path and its permissions") from exc
    suffix = path.suffix.lower()
    if suffix == ".txt":
        items = list(_read_txt(data))
    elif suffix == ".jsonl":
        items = list(_read_jsonl(data))
    else:
        items = list(_read_csv(decode(data), path))
    return _unique(items)


def _bad(line: int, raw: str, reason: str, qid: str | None = None) -> Item:
    return Item(qid or f"line-{line}", shown(raw.strip())[:_SHOWN], line, f"line {line}: {reason}")


def _read_txt(data: bytes) -> Iterator[Item]:
    for line in read_lines(data):
        if line.error:
            yield _bad(line.number, line.text, line.error)
        else:
            yield Item(f"line-{line.number}", line.text.strip(), line.number)


def _read_jsonl(data: bytes) -> Iterator[Item]:
    for line in read_jsonl(data):
        if isinstance(line.value, dict):
            yield _item(line.number, line.text, line.value.get("id"), line.value.get("question"), line.error)
        elif line.error:
            yield _bad(line.number, line.text, line.error)
        else:
            yield _bad(line.number, line.text, 'expected an object like {"id": "q1", "question": "..."}')


def _read_csv(text: str, path: Path) -> Iterator[Item]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UsageError(f"{path} line 1: cannot read the header row: {exc}") from exc
    names = [h.strip().lower() for h in header]
    if "question" not in names:
        raise UsageError(
            f"{path} line 1: the header row {header!r} has no 'question' column",
            "the first row must name the columns, e.g. id,question",
        )
    q_col, id_col = names.index("question"), (names.index("id") if "id" in names else None)
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _bad(start, "", f"cannot read this CSV row: {exc}")
            start = reader.line_num + 1
            continue
        n, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        qid = row[id_col] if id_col is not None and id_col < len(row) else None
        question = row[q_col] if q_col < len(row) else None
        yield _item(n, raw, qid, question, NOT_UTF8 if undecodable(raw) else None)


def _item(n: int, raw: str, qid: object, question: object, error: str | None) -> Item:
    """An item from an id and a question as read; anything unusable becomes an error item.
    A line with an ERROR (not UTF-8) still keeps its id when the id itself reads cleanly."""
    if isinstance(qid, bool) or not isinstance(qid, str | int | None):
        return _bad(n, raw, f"the id must be a string or an integer, not {json.dumps(qid, ensure_ascii=False)}")
    ident = str(qid).strip() if qid is not None else ""
    if undecodable(ident):
        return _bad(n, raw, NOT_UTF8)
    if not isinstance(question, str) or not question.strip():
        return _bad(n, raw, error or 'no question (a non-empty "question" is needed)', ident or None)
    if error or undecodable(question):  # a JSON "\udcff" escape is no more writable than a raw byte
        return _bad(n, raw, error or NOT_UTF8, ident or None)
    return Item(ident or f"line-{n}", question.strip(), n)


def _unique(items: list[Item]) -> list[Item]:
    """The duplicate rule: the first use of an id is answered; a repeat becomes an error
    item with a fresh id (``line-N``, or ``line-N-2``...), so ids in OUTPUT stay unique."""
    first: dict[str, int] = {}
    out = []
    for item in items:
        if item.id in first:
            # A line that is already an error keeps its own reason; and since a file may
            # itself use ids like "line-N", the new id is made fresh, never assumed free.
            error = item.error or f"line {item.line}: duplicate id {item.id!r} (first at line {first[item.id]})"
            fresh, n = f"line-{item.line}", 1
            while fresh in first:
                n += 1
                fresh = f"line-{item.line}-{n}"
            item = Item(fresh, item.question, item.line, error)
        first.setdefault(item.id, item.line)
        out.append(item)
    return out


def read_entries(path: Path) -> list[tuple[str, bool, Any]]:
    """The entries OUTPUT already holds, as (id, has no error, raw entry); [] if none.

    The raw entry is what ``rag.batch_out.Writer`` writes back when it keeps one. A line
    cut short by a crash, or anything else unreadable, counts as an entry with an error
    (so it is dropped and its question asked again). Ids written by an older rag (``.txt``
    questions were once numbered "1", "2"...) simply match no question: those questions
    are asked again under their ``line-N`` ids, and the old entries stay as they were."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read the output file {path} to resume: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return [_jsonl_entry(line) for line in read_jsonl(data)]
    # Not decode(): a CR inside an answer's CSV cell or Markdown text is kept as written.
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if suffix == ".csv":
        return _csv_entries(text)
    return _md_entries(text)


def _jsonl_entry(line: Line) -> tuple[str, bool, Any]:
    obj = line.value
    if not isinstance(obj, dict):
        return ("", False, line.text)  # dropped: never written back
    qid = obj.get("id", "")
    return (qid, not line.error and isinstance(qid, str) and not obj.get("error"), line.text)


def _csv_entries(text: str) -> list[tuple[str, bool, Any]]:
    entries: list[tuple[str, bool, Any]] = []
    limit = csv.field_size_limit(CSV_FIELD_MAX)  # what we wrote must read back, however long
    try:
        for row in csv.DictReader(io.StringIO(text, newline="")):
            complete = None not in row.values() and None not in row  # a cut-off row is short
            entries.append((row.get("id") or "", complete and not row.get("error"), row))
    finally:
        csv.field_size_limit(limit)
    return entries


def _md_entries(text: str) -> list[tuple[str, bool, Any]]:
    entries: list[tuple[str, bool, Any]] = []
    marks = list(MD_MARK.finditer(text))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        section = text[mark.start() : after.start() if after else len(text)]
        try:
            head = json.loads(mark.group(1))
            qid, ok = str(head["id"]), head.get("status") in MD_STATUS_OK
        except (json.JSONDecodeError, KeyError, TypeError):
            qid, ok = "", False
        complete = after is not None or section.endswith("\n\n")  # the last may be cut off
        entries.append((qid, ok and complete, section))
    return entries
