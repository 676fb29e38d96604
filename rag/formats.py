"""HTML, PDF and DOCX -> blocks a person can find again; the only home of bs4, pypdf
and python-docx.

- HTML: the innermost block elements (``<p>``, ``<li>``, headings...) by source line; a
  table row is one block whose text names each cell by its column header.
- PDF: per page, the lines pypdf extracts, grouped into paragraphs by their layout (a
  wider gap than the page's line spacing, a change of font size, a jump back up to a new
  column), the wrapped lines joined into one text.
- DOCX: Word paragraphs and table rows in document order (Word has no lines).

``rag.paragraphs.number_paragraphs`` numbers the blocks; errors are DocumentErrors that
name the file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import DocumentError
from rag.paragraphs import Block, table_row

# -- HTML ------------------------------------------------------------------------------

_BLOCKS = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "dt", "dd",
           "figcaption", "caption", "title"]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def html_blocks(text: str) -> list[Block]:
    """Innermost block elements and table rows in document order, by source lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    rows: dict[int, str] = {}  # id(<tr>) -> its paragraph text, filled a table at a time
    blocks: list[Block] = []
    for el in soup.find_all([*_BLOCKS, "tr"]):
        if el.name == "tr":
            if el.find("tr"):
                continue  # a layout table's outer row: its inner rows are the paragraphs
            if id(el) not in rows:
                rows.update(_html_table(el.find_parent("table") or el))
            body = rows[id(el)]
        elif el.find([*_BLOCKS, "tr"]) or el.find_parent("tr"):
            continue  # its inner blocks are paragraphs of their own / part of its row
        else:
            body = _flat(el.get_text(" "))
        if body:
            start = el.sourceline or 1
            blocks.append(Block(body, start, start + str(el).count("\n")))
    return blocks


def _html_table(table: Any) -> dict[int, str]:
    """The paragraph text of each row of TABLE (not of tables inside it): a data row named
    by the closest header row (all ``<th>``) above it; a header row only when no data
    row follows it, else nothing (each data row repeats it)."""
    own = [r for r in table.find_all("tr") if r.find_parent("table") is table] if table.name == "table" else [table]
    cells = [_html_cells(r) for r in own]
    texts: dict[int, str] = {}
    header: list[str] = []
    for i, (row, (values, labels, is_header)) in enumerate(zip(own, cells, strict=True)):
        if is_header:
            header = labels
            data_follows = any(not h for _, _, h in cells[i + 1:])
            texts[id(row)] = "" if data_follows else "; ".join(v for v in values if v)
        else:
            texts[id(row)] = table_row(header, values)
    return texts


def _html_cells(tr: Any) -> tuple[list[str], list[str], bool]:
    """The row's cells one per column (a cell spanning columns fills the first of them),
    the same as header labels (a label spans all its columns), and whether every cell
    is a ``<th>``."""
    values: list[str] = []
    labels: list[str] = []
    tags = tr.find_all(["td", "th"], recursive=False)
    for cell in tags:
        try:
            span = max(1, min(int(cell.get("colspan", 1)), 100))
        except ValueError:
            span = 1
        text = _flat(cell.get_text(" "))
        values += [text] + [""] * (span - 1)
        labels += [text] * span
    return values, labels, bool(tags) and all(c.name == "th" for c in tags)


# -- PDF -------------------------------------------------------------------------------

PARAGRAPH_GAP = 1.25
"""A line starts a paragraph when its distance below the previous line exceeds the
page's usual line pitch (for its font size) by this factor. Paragraph spacing in word
processors and typesetters adds at least a third of a line (Word: 8 pt after 11 pt
Calibri; LibreOffice: 0.25 cm), while wrapped lines keep the pitch exactly."""

SIZE_CHANGE = 1.15
"""A line whose font size differs from the previous line's by this factor (a heading)
starts a paragraph."""


@dataclass
class _Line:
    text: str
    y: float | None = None  # baseline, in points from the page's bottom
    size: float = 0.0  # font size on the page
    weight: int = 0  # characters of the fragment that gave y and size


def pdf_blocks(name: str, path: Path) -> list[Block]:
    """Paragraphs of each page: layout-grouped lines of its text, wrapped lines joined."""
    from pypdf import PdfReader

    try:
        pages = [_page_lines(page) for page in PdfReader(path).pages]
    except MemoryError:
        raise
    except Exception as exc:  # a malformed file fails in any way inside the parser; it is the file's failure
        raise DocumentError(f"{name}: unreadable PDF: {exc}") from exc
    words = _words(line.text for lines in pages for line in lines)
    blocks: list[Block] = []
    for page_no, lines in enumerate(pages, start=1):
        for first, last in _paragraph_spans(lines):
            text = _reflow([line.text for line in lines[first : last + 1]], words)
            blocks.append(Block(text, first + 1, last + 1, page_no))
    return blocks


def _page_lines(page: Any) -> list[_Line]:
    """The lines of pypdf's text of PAGE, each with the baseline and font size of its
    longest fragment (pypdf's visitor reports the pieces that make up its output)."""
    lines = [_Line("")]

    def visit(text: str, cm: list[float], tm: list[float], font: Any, font_size: float) -> None:
        # Text space -> page: the text matrix, then the current transformation matrix. The
        # size on the page is the font size times how much that stretches text's y axis.
        _, _, c, d, e, f = (float(v) for v in tm)
        ca, cb, cc, cd, _, cf = (float(v) for v in cm)
        y = e * cb + f * cd + cf
        size = abs(float(font_size)) * ((c * ca + d * cc) ** 2 + (c * cb + d * cd) ** 2) ** 0.5
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append(_Line(""))
            line = lines[-1]
            line.text += piece
            if len(piece.strip()) > line.weight:
                line.y, line.size, line.weight = y, size, len(piece.strip())

    page.extract_text(visitor_text=visit)
    if lines and not lines[-1].text:
        lines.pop()  # the text ends with a newline: no line after it
    return lines


def _paragraph_spans(lines: list[_Line]) -> list[tuple[int, int]]:
    """(first, last) line indices of each paragraph of a page (blank lines belong to none)."""
    pitch = _pitches(lines)
    spans: list[tuple[int, int]] = []
    prev: _Line | None = None
    for i, line in enumerate(lines):
        if not line.text.strip():
            prev = None  # a blank line in the extracted text ends a paragraph
            continue
        if prev is None or _starts_paragraph(prev, line, pitch):
            spans.append((i, i))
        else:
            spans[-1] = (spans[-1][0], i)
        prev = line
    return spans


def _size_key(size: float) -> int:
    return round(size * 2)


def _pitches(lines: list[_Line]) -> dict[int, float]:
    """The usual distance between consecutive lines of each font size on the page: the
    lower quartile of the distances, which are line pitches in running text with a few
    paragraph gaps among them."""
    placed = [(ln.y, ln.size) for ln in lines if ln.text.strip() and ln.y is not None]
    gaps: dict[int, list[float]] = {}
    for (y1, size1), (y2, size2) in zip(placed, placed[1:]):
        if abs(size1 - size2) <= 0.05 * max(size1, 1.0) and 0.8 * size1 <= y1 - y2 <= 4 * size1:
            gaps.setdefault(_size_key(size1), []).append(y1 - y2)
    return {k: sorted(v)[(len(v) - 1) // 4] for k, v in gaps.items()}


def _starts_paragraph(prev: _Line, line: _Line, pitch: dict[int, float]) -> bool:
    if prev.y is None or line.y is None:
        return False  # a line pypdf gave no position: keep it with the one before
    big, small = max(prev.size, line.size), min(prev.size, line.size)
    if small <= 0 or big / small > SIZE_CHANGE:
        return True  # a heading (or a size we can't compare: one paragraph per line, as before)
    dy = prev.y - line.y
    if dy < -0.5 * line.size:
        return True  # back up the page: the next column or box
    usual = pitch.get(_size_key(line.size), 1.2 * line.size)
    return dy > PARAGRAPH_GAP * usual + 0.5  # (+0.5 pt: rounding in the file's coordinates)


_WORD = re.compile(r"[^\W\d_]+")
_HYPHENATED = re.compile(r"(\w+)-$")
_CONTINUED = re.compile(r"^(\w+)")


def _words(lines: Iterable[str]) -> set[str]:
    """Every word the document writes whole (lowercased): the evidence for undoing a
    line-end hyphen (a word broken as 'restor-/ation' is joined when 'restoration'
    appears elsewhere; 'twenty-/two' keeps its hyphen)."""
    found: set[str] = set()
    for line in lines:
        found.update(w.lower() for w in _WORD.findall(line))
    return found


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _reflow(lines: list[str], words: set[str]) -> str:
    """Wrapped lines as one text: a space between lines, but none after a soft hyphen,
    at a line break in Chinese or Japanese text, or after a hyphen inside a word
    ('twenty-/two' -> 'twenty-two'; the hyphen is dropped when it only broke a word the
    document writes whole elsewhere: 'restor-/ation' -> 'restoration')."""
    text = ""
    for raw in lines:
        line = raw.strip()
        if not text:
            text = line
        elif text.endswith("\u00ad"):
            text = text[:-1] + line
        elif _is_wide(text[-1]) or _is_wide(line[0]):
            text += line
        elif (end := _HYPHENATED.search(text)) and (start := _CONTINUED.match(line)):
            broken = start.group(1)[0].islower() and (end.group(1) + start.group(1)).lower() in words
            text = (text[:-1] if broken else text) + line
        else:
            text += " " + line
    return text


# -- DOCX ------------------------------------------------------------------------------


def docx_blocks(name: str, path: Path) -> list[Block]:
    """Word paragraphs and table rows (one block each) in document order. A table's
    first row is its header when it has more rows: Word marks no header cells."""
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks += _docx_table(item)
            else:
                blocks.append(Block(item.text.strip()))
    except (zipfile.BadZipFile, KeyError, ValueError, OpcError) as exc:
        raise DocumentError(f"{name}: unreadable DOCX: {exc}") from exc
    return blocks


def _docx_table(table: Any) -> list[Block]:
    rows = list(table.rows)
    if len(rows) < 2:
        return [Block(table_row([], _docx_cells(row))) for row in rows]
    header = _docx_cells(rows[0], spread=True)
    return [Block(table_row(header, _docx_cells(row))) for row in rows[1:]]


def _docx_cells(row: Any, spread: bool = False) -> list[str]:
    """One text per grid column; a merged cell's text in its first column only, or,
    with SPREAD (header labels), in every column it spans."""
    cells = [""] * row.grid_cols_before
    seen: set[int] = set()
    for cell in row.cells:
        key = id(cell._tc)
        cells.append("" if key in seen and not spread else _flat(cell.text))
        seen.add(key)
    return cells
