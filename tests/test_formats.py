"""Each format's reader over a real file of its kind, against paragraphs counted by hand:
PDF (reportlab), DOCX (python-docx) and HTML tables; and the one numbering rule they share."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from samples import (CHONGQING, COUNCIL, FESTIVAL_HTML, FESTIVAL_HTML_PARAGRAPHS, FESTIVAL_PARAGRAPHS,
                     LIGHTHOUSE_PARAGRAPHS, festival_docx, flowed_pdf, lighthouse_pdf)
from rag.documents import read_document
from rag.formats import _reflow
from rag.paragraphs import Block, number_paragraphs, table_row
from rag.render import citation_line
from rag.types import Citation


def _page_text_lines(path: Path, page: int) -> list[str]:
    from pypdf import PdfReader

    return PdfReader(path).pages[page - 1].extract_text().split("\n")


# -- PDF -------------------------------------------------------------------------------


def test_pdf_paragraphs_are_reflowed_blocks_on_their_pages(tmp_path: Path) -> None:
    path = lighthouse_pdf(tmp_path / "lighthouse.pdf")
    doc = read_document(path, "lighthouse.pdf")
    assert doc.kind == "pdf" and doc.encoding is None
    got = [(p.number, p.page, p.page_paragraph, p.start_line, p.end_line, p.text) for p in doc.paragraphs]
    assert got == LIGHTHOUSE_PARAGRAPHS
    # start_line/end_line are lines of the page's text as pypdf extracts it
    for p in doc.paragraphs:
        lines = _page_text_lines(path, p.page)
        assert lines[p.start_line - 1].split()[0] == p.text.split()[0]
        assert lines[p.end_line - 1].split()[-1].rstrip("-") in p.text.split()[-1]


def test_pdf_citation_shows_the_page(tmp_path: Path) -> None:
    doc = read_document(lighthouse_pdf(tmp_path / "lighthouse.pdf"), "lighthouse.pdf")
    lamp = doc.paragraphs[6]
    assert lamp.location() == "p. 2 ¶3"
    citation = Citation.of(1, lamp, "can be seen from twenty-two nautical miles away")
    assert citation_line(citation) == "[1] lighthouse.pdf p. 2 ¶3"
    assert asdict(citation) == {"marker": 1, "file": "lighthouse.pdf", "paragraph": 3, "start_line": 3,
                                "end_line": 4, "page": 2,
                                "quote": "can be seen from twenty-two nautical miles away"}
    assert list(asdict(citation)).index("page") == list(asdict(citation)).index("end_line") + 1


def test_pdf_wrapped_by_reportlab_gives_its_paragraphs(tmp_path: Path) -> None:
    path = flowed_pdf(tmp_path / "minutes.pdf")
    doc = read_document(path, "minutes.pdf")
    assert [(p.page, p.page_paragraph, p.text) for p in doc.paragraphs] == [
        (1, 1, "Harbour Council Minutes"), *((1, i + 2, t) for i, t in enumerate(COUNCIL[:3])),
        (2, 1, "Later Meetings"), *((2, i + 2, t) for i, t in enumerate(COUNCIL[3:])),
    ]
    assert max(p.end_line - p.start_line for p in doc.paragraphs) >= 1  # they really were wrapped
    for p in doc.paragraphs:  # no hyphens here: the lines, joined by spaces, are the paragraph
        lines = _page_text_lines(path, p.page)[p.start_line - 1 : p.end_line]
        assert " ".join(line.strip() for line in lines) == p.text


def test_pdf_two_columns_keep_reading_order(tmp_path: Path) -> None:
    """The left column, then the right: the paragraph the column break cuts is two."""
    doc = read_document(flowed_pdf(tmp_path / "columns.pdf", columns=2), "columns.pdf")
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "Harbour Council Minutes"
    assert " ".join(texts[1:]) == " ".join(COUNCIL)
    assert len(texts) == 1 + len(COUNCIL) + 1
    assert {p.page for p in doc.paragraphs} == {1}


def test_pdf_chinese_lines_join_without_spaces(tmp_path: Path) -> None:
    doc = read_document(flowed_pdf(tmp_path / "zh.pdf", chinese=True), "zh.pdf")
    assert [p.text for p in doc.paragraphs] == ["重慶物流報告", *CHONGQING]
    assert doc.paragraphs[1].end_line > doc.paragraphs[1].start_line  # wrapped over lines


@pytest.mark.parametrize(("lines", "joined"), [
    (["a line that wraps", "onto the next"], "a line that wraps onto the next"),
    (["the restor-", "ation fund"], "the restoration fund"),  # 'restoration' is written whole elsewhere
    (["twenty-", "two miles"], "twenty-two miles"),  # 'twentytwo' is not: the hyphen is the word's
    (["Jean-", "Pierre came"], "Jean-Pierre came"),
    (["from 2021-", "2022"], "from 2021-2022"),
    (["soft\u00ad", "ware"], "software"),
    (["a dash -", "then more"], "a dash - then more"),
    (["重慶市政府宣布，中歐班列今年已開行", "超過五千列"], "重慶市政府宣布，中歐班列今年已開行超過五千列"),
    (["  padded  ", "  lines "], "padded lines"),
])
def test_reflow_joins_wrapped_lines(lines: list[str], joined: str) -> None:
    assert _reflow(lines, {"restoration", "the", "fund"}) == joined


# -- DOCX ------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_rows(tmp_path: Path) -> None:
    doc = read_document(festival_docx(tmp_path / "notes.docx"), "notes.docx")
    assert doc.kind == "docx"
    assert [(p.number, p.text) for p in doc.paragraphs] == FESTIVAL_PARAGRAPHS
    assert {(p.start_line, p.end_line, p.page) for p in doc.paragraphs} == {(0, 0, None)}  # Word has no lines
    row = doc.paragraphs[3]
    assert row.location() == "¶4"
    assert citation_line(Citation.of(2, row, "Count: 36")) == "[2] notes.docx ¶4"


# -- HTML ------------------------------------------------------------------------------


def test_html_table_rows_are_paragraphs_with_their_header(tmp_path: Path) -> None:
    (tmp_path / "festival.html").write_text(FESTIVAL_HTML, "utf-8")
    doc = read_document(tmp_path / "festival.html", "festival.html")
    got = [(p.number, p.start_line, p.end_line, p.text) for p in doc.paragraphs]
    assert got == FESTIVAL_HTML_PARAGRAPHS
    lines = FESTIVAL_HTML.split("\n")
    for p in doc.paragraphs:  # the row's first value is in the source at its lines
        first = p.text.split("; ")[0].split(": ")[-1]
        assert first in "\n".join(lines[p.start_line - 1 : p.end_line])
    assert citation_line(Citation.of(1, doc.paragraphs[4], "36")) == "[1] festival.html ¶5 (lines 10-13)"


def test_html_header_only_table_and_nested_layout_table(tmp_path: Path) -> None:
    html = ("<table><tr><th>Only</th><th>headers</th></tr></table>\n"
            "<table><tr><td><table><tr><th>A</th></tr><tr><td>1</td></tr></table></td></tr></table>\n")
    (tmp_path / "t.html").write_text(html, "utf-8")
    assert [p.text for p in read_document(tmp_path / "t.html", "t.html").paragraphs] == ["Only; headers", "A: 1"]


# -- the one numbering rule ------------------------------------------------------------


def test_table_row_text() -> None:
    assert table_row(["Event", "Count"], ["Food stalls", "140"]) == "Event: Food stalls; Count: 140"
    assert table_row(["Event", "Count"], ["Concerts", ""]) == "Event: Concerts"
    assert table_row(["", "2023"], ["Visitors", "12,000"]) == "Visitors; 2023: 12,000"
    assert table_row([], ["Organised by", "Harbour Trust"]) == "Organised by; Harbour Trust"
    assert table_row(["A"], ["1", "2"]) == "A: 1; 2"  # more cells than header labels


def test_blocks_are_numbered_in_order_and_per_page() -> None:
    blocks = [Block("one", 1, 1, page=1), Block("  ", 2, 2, page=1), Block("two", 3, 4, page=1),
              Block("three", 1, 1, page=3), Block("four", 2, 2, page=3)]
    got = [(p.number, p.page, p.page_paragraph, p.start_line, p.text) for p in number_paragraphs("f.pdf", blocks)]
    assert got == [(1, 1, 1, 1, "one"), (2, 1, 2, 3, "two"), (3, 3, 1, 1, "three"), (4, 3, 2, 2, "four")]
    plain = number_paragraphs("f.docx", [Block("a"), Block(""), Block("b")])
    assert [(p.number, p.start_line, p.page_paragraph) for p in plain] == [(1, 0, None), (2, 0, None)]


def test_paragraphs_does_not_import_the_readers() -> None:
    """documents -> paragraphs, never back (the old debug helper made a cycle)."""
    code = "import sys, rag.paragraphs; print(sorted(m for m in sys.modules if m.startswith('rag.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "['rag.paragraphs', 'rag.types']"
