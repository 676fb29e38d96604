"""Where paragraph numbers are made: blocks of any format -> numbered Paragraphs.

Every reader (``rag.documents`` for text and Markdown, ``rag.formats`` for HTML, PDF and
DOCX) turns a file into ``Block``s: the text of one paragraph and where it is (a line
span; for PDF also the page). ``number_paragraphs`` is the one place that numbers them,
so every format counts the same way: from 1 in document order, blank blocks dropped, and
for PDF also from 1 on each page (SPEC 4: a PDF citation counts within its page).

For text the SPEC 2 rule makes the blocks (``text_blocks``): a paragraph is a maximal
run of consecutive non-blank lines when the document puts at least one blank line
between two text lines; a document with no blank line between any two text lines has
one paragraph per non-blank line. Blocks keep their 1-based physical
``start_line``/``end_line``, so a citation can be checked by opening the file at that line.

This module imports no reader: ``python -m rag.documents FILE`` lists a file's paragraphs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rag.types import NO_LINE, Paragraph


@dataclass(frozen=True)
class Block:
    """The text of one paragraph-to-be and where a person finds it.

    ``start_line``/``end_line`` are 1-based lines of the file (text, Markdown, HTML) or of
    the page's extracted text (PDF, with ``page``); ``NO_LINE`` where the format has no
    lines (DOCX: the paragraph number is the only locator).
    """

    text: str
    start_line: int = NO_LINE
    end_line: int = NO_LINE
    page: int | None = None


def normalize_newlines(text: str) -> str:
    """Drop a BOM and turn CRLF and lone CR into LF (SPEC 2), so line numbers agree
    with what an editor shows. Everything that counts lines in a file read as text
    (documents, batch question files) should see the file through this."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def number_paragraphs(file: str, blocks: Iterable[Block]) -> list[Paragraph]:
    """Number the non-blank blocks from 1; on a page, also count from 1 within it."""
    paragraphs: list[Paragraph] = []
    on_page: Counter[int] = Counter()
    for block in blocks:
        if not block.text.strip():
            continue
        page_paragraph = None
        if block.page is not None:
            on_page[block.page] += 1
            page_paragraph = on_page[block.page]
        paragraphs.append(Paragraph(file, len(paragraphs) + 1, block.start_line, block.end_line,
                                    block.text, block.page, page_paragraph))
    return paragraphs


def _is_blank(line: str) -> bool:
    return not line.strip()


def _has_separating_blank(lines: list[str]) -> bool:
    """True when some blank line stands between two text lines (not just at the ends)."""
    seen_text = False
    blank_after_text = False
    for line in lines:
        if _is_blank(line):
            blank_after_text = seen_text
        else:
            if blank_after_text:
                return True
            seen_text = True
    return False


def text_blocks(text: str) -> list[Block]:
    """The SPEC 2 rule on already-normalised text: one block per paragraph, with its lines.

    A block's text is its lines joined with '\\n', each line as in the file, so
    ``lines[start_line-1:end_line]`` reproduces it exactly.
    """
    lines = text.split("\n")
    by_blank = _has_separating_blank(lines)
    blocks: list[Block] = []
    start: int | None = None

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            blocks.append(Block("\n".join(lines[start:end]), start + 1, end))
            start = None

    for i, line in enumerate(lines):
        if _is_blank(line):
            close(i)
        elif by_blank:
            if start is None:
                start = i
        else:
            start = i
            close(i + 1)
    close(len(lines))
    return blocks


def split_paragraphs(file: str, text: str) -> list[Paragraph]:
    """The numbered paragraphs of already-normalised text (SPEC 2)."""
    return number_paragraphs(file, text_blocks(text))


def table_row(header: list[str], cells: list[str]) -> str:
    """One table row as the text of its paragraph: ``Event: Food stalls; Count: 140``.

    Each cell is named by its column's header, so a row read alone (as a retrieved
    passage is) still says what its numbers are. Empty cells are left out; a cell with
    no header, or a row of a table without one, is its text alone. HTML and DOCX tables
    both go through here, so a row reads the same in either.
    """
    parts = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        label = header[i] if i < len(header) else ""
        parts.append(f"{label}: {cell}" if label else cell)
    return "; ".join(parts)
