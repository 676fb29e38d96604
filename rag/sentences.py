"""Where text is cut into sentences, for Arabic, Chinese and English alike.

Two users: ``rag.chunks`` cuts a long paragraph at sentence ends, and ``rag.evidence``
numbers the sentences of retrieved passages for the model to choose from. Both need
spans (offsets into the paragraph), not copies, so every piece stays an exact slice
of the source and a quote built from it can be checked by a plain substring test.

A sentence ends at . ! ? (Latin), 。！？ (CJK), ؟ (Arabic) or … , plus closing quotes.
A CJK stop needs nothing after it; the others need a space, punctuation or a CJK
character next, so the dots inside "example.com" or "3.5" never end a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_CLOSERS = "[\"'”’»)\\]」』]*+"
SENTENCE_END = re.compile(
    rf"(?:[。！？]++{_CLOSERS}|[.!?؟…]++{_CLOSERS}(?=\s|[^\w\s]|[\u3400-\u9fff]))\s*"
)
# Where a sentence too long to show whole may be cut: after a clause mark.
_CLAUSE_END = re.compile(r"[，；、,;،؛:：]\s*")


def sentence_spans(text: str, max_chars: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each sentence of TEXT, without surrounding whitespace.

    A line break also ends a sentence (a heading, a list line). With MAX_CHARS, a longer
    sentence is cut after its last clause mark (comma, semicolon, 、 ، ؛) before the limit,
    or at a space: a 600-character Arabic run-on sentence would otherwise fill the
    model's whole evidence budget with one item.
    """
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        start = line_start
        for match in SENTENCE_END.finditer(text, line_start, line_end):
            spans.extend(_trimmed(text, start, match.end(), max_chars))
            start = match.end()
        spans.extend(_trimmed(text, start, line_end, max_chars))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of TEXT as strings (see ``sentence_spans``)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def _lines(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in re.finditer("\n", text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _trimmed(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return []
    if not max_chars or end - start <= max_chars:
        return [(start, end)]
    pieces = []
    while end - start > max_chars:
        limit = start + max_chars
        cuts = [m.end() for m in _CLAUSE_END.finditer(text, start + max_chars // 3, limit)]
        cut = cuts[-1] if cuts else (text.rfind(" ", start + 1, limit) + 1 or limit)
        pieces.extend(_trimmed(text, start, cut, 0))
        start = cut
    return pieces + _trimmed(text, start, end, 0)
