"""Files of one record a line (.txt questions, .jsonl questions, answers and eval sets), read
with their line numbers, where one bad line is data about that line, never a crash.

    for line in read_jsonl(path.read_bytes()):
        if line.error:            # "not UTF-8 text", "not valid JSON (...)"
            report(f"{path}:{line.number}: {line.error}")
        else:
            use(line.value)

Lines end at "\\n" alone (after ``normalize_newlines``: CRLF and CR are "\\n", a BOM is
dropped), never at what ``str.splitlines`` also cuts at: U+2028, NEL or a form feed may
sit inside a question. Blank lines are passed over; the numbers still count them, so
they are the line numbers an editor shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rag.paragraphs import normalize_newlines

_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
NOT_UTF8 = "not UTF-8 text"


@dataclass(frozen=True)
class Line:
    """One non-blank line. ``text`` keeps bytes that are not UTF-8 as lone surrogates
    (U+DC80..U+DCFF; ``shown`` makes them U+FFFD), so the rest of the line can still be
    read; ``error`` says why the line cannot be used whole. ``value`` is the parsed JSON
    (``read_jsonl`` only), set whenever the line parses, even if it is not UTF-8, so a
    caller can still name the record."""

    number: int
    text: str
    error: str | None = None
    value: Any = None


def decode(data: bytes) -> str:
    """DATA as text: bytes that are not UTF-8 kept as lone surrogates (so only their own
    line fails), the BOM dropped and line ends made "\\n"."""
    return normalize_newlines(data.decode("utf-8", errors="surrogateescape"))


def undecodable(text: str) -> bool:
    """True when TEXT holds bytes that were not UTF-8 (or a lone surrogate from elsewhere),
    which no UTF-8 file can hold."""
    return _UNDECODED.search(text) is not None


def shown(text: str) -> str:
    """TEXT fit to print or write: undecodable bytes as U+FFFD."""
    return _UNDECODED.sub("\ufffd", text)


def read_lines(data: bytes) -> Iterator[Line]:
    """Every non-blank line of DATA, numbered from 1; one that is not UTF-8 has ``error``."""
    for number, text in enumerate(decode(data).split("\n"), start=1):
        if text.strip():
            yield Line(number, text, NOT_UTF8 if undecodable(text) else None)


def read_jsonl(data: bytes) -> Iterator[Line]:
    """Every non-blank line of DATA parsed as JSON; a line that does not parse, or is not
    UTF-8, has ``error`` (a line that is not UTF-8 but parses keeps its ``value`` too)."""
    for line in read_lines(data):
        try:
            value = json.loads(line.text)
        except json.JSONDecodeError as exc:
            yield Line(line.number, line.text, line.error or f"not valid JSON ({exc.msg} at column {exc.colno})")
        except RecursionError:  # "[[[[..." nested deeper than the json module can follow
            yield Line(line.number, line.text, line.error or "not valid JSON (nested too deeply)")
        else:
            yield Line(line.number, line.text, line.error, value)
