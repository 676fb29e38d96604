"""Paragraph -> Chunk: the unit that is embedded and retrieved.

A chunk is one paragraph, or, for a paragraph longer than ``max_chars``, one run of its
sentences. Every chunk's text is an exact slice of its paragraph, so a quote taken from
a chunk is always a substring of the paragraph it cites.

We split ourselves instead of using llama-index's ``SentenceSplitter``: its sentence
regex knows CJK punctuation but not Arabic (؟ ، ؛), it strips chunks so they stop being
slices of the source, and its default tokenizer is tiktoken, whose vocabulary is fetched
from the network on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from rag.config import StoreSettings
from rag.sentences import SENTENCE_END
from rag.types import Chunk, Paragraph


def chunk_id(file: str, paragraph: int, part: int) -> str:
    """Stable id from file + paragraph + part: unchanged text gets the same id again."""
    return f"{file}::{paragraph}::{part}"


def _spans(text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """(start, end) slices of ``text``, cut at sentence ends, each at most max_chars
    unless a single sentence is longer (then cut at the last space before the limit)."""
    n = len(text.rstrip())  # trailing spaces must not push a fitting paragraph over
    start = 0
    while start < n:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            return
        if n - start <= max_chars:
            end = n
        else:
            limit = start + max_chars
            ends = [m.end() for m in SENTENCE_END.finditer(text, start, limit) if m.end() > start]
            if ends:
                end = ends[-1]
            else:
                space = text.rfind(" ", start + 1, limit)
                end = space if space > start else limit
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        yield start, stop
        start = end


def chunk_paragraph(paragraph: Paragraph, max_chars: int = StoreSettings.max_chars) -> list[Chunk]:
    """One chunk for a short paragraph, several (all citing it) for a long one."""
    return [
        Chunk(chunk_id(paragraph.file, paragraph.number, part), paragraph, part, paragraph.text[a:b])
        for part, (a, b) in enumerate(_spans(paragraph.text, max_chars))
    ]


def chunk_paragraphs(paragraphs: Iterable[Paragraph], max_chars: int = StoreSettings.max_chars) -> list[Chunk]:
    """Chunks of many paragraphs, in order; never crosses a paragraph, so never a file."""
    return [c for p in paragraphs for c in chunk_paragraph(p, max_chars)]
