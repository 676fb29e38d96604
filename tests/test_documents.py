"""Reading each format into cited paragraphs (finding the files: test_sources.py)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from rag.documents import file_sha256, read_document
from rag.errors import DocumentError

# -- unreadable and unsuitable files -----------------------------------------------------


def _read_error(path: Path, name: str | None = None) -> str:
    with pytest.raises(DocumentError) as info:
        read_document(path, name or path.name)
    return info.value.message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"GIF89a\x00\x01\x02text")
    message = _read_error(path)
    assert message.startswith("image.txt: ") and "binary" in message


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("line one\nline two\ncaf\u00e9 on line three\n".encode("latin-1"))
    message = _read_error(path)
    assert "latin1.txt" in message and "UTF-8" in message and "line 3" in message


def test_invalid_utf8_line_counts_cr_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "cr.txt").write_bytes(b"one\rtwo\r\xff")
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\n\r\n\xff")
    assert "line 3" in _read_error(tmp_path / "cr.txt")
    assert "line 4" in _read_error(tmp_path / "crlf.txt")


@pytest.mark.parametrize("content", [b"", b"   \n\t\n\r\n", "\ufeff\n".encode()])
def test_empty_or_blank_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert "empty" in _read_error(path)


def test_vanished_file(tmp_path: Path) -> None:
    """A path that is gone (here: a symlink whose target was deleted) fails even as root."""
    target = tmp_path / "target.txt"
    target.write_text("soon gone", "utf-8")
    link = tmp_path / "doc.txt"
    link.symlink_to(target)
    target.unlink()
    message = _read_error(link)
    assert message.startswith("doc.txt: cannot read")
    with pytest.raises(DocumentError, match="cannot read"):
        file_sha256(link)
    with pytest.raises(DocumentError, match="cannot read"):
        read_document(tmp_path / "never-existed.txt", "never-existed.txt")


def test_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    """Opening a named pipe for reading blocks until a writer comes: ingest must not hang."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    from rag.sources import find_sources

    sources, _ = find_sources([tmp_path])
    assert [s.relpath for s in sources] == ["pipe.txt"]
    with pytest.raises(DocumentError, match="not a regular file"):
        file_sha256(fifo)
    assert "not a regular file" in _read_error(fifo)


def test_file_sha256_is_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfhello\r\n")
    assert file_sha256(path) == hashlib.sha256(b"\xef\xbb\xbfhello\r\n").hexdigest()
    assert read_document(path, "x.txt").sha256 == file_sha256(path)


# -- formats ---------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html>
<head><title>Report title</title>
<script>var s = "<p>not a paragraph</p>";</script>
</head>
<body>
<h1>Main   heading</h1>
<div>
  <p>First paragraph
  continues here.</p>
  <ul><li>Item one</li>
  <li><p>Nested para</p></li></ul>
</div>
<p>   </p>
<style>p { color: red }</style>
<p>Last &amp; final</p>
</body></html>
"""


def test_html_blocks_cite_their_source_lines(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, "utf-8")
    doc = read_document(path, "page.html")
    assert doc.kind == "html"
    got = [(p.number, p.start_line, p.end_line, p.text) for p in doc.paragraphs]
    assert got == [
        (1, 3, 3, "Report title"),
        (2, 7, 7, "Main heading"),
        (3, 9, 10, "First paragraph continues here."),
        (4, 11, 11, "Item one"),
        (5, 12, 12, "Nested para"),
        (6, 16, 16, "Last & final"),
    ]
    lines = HTML.split("\n")
    for p in doc.paragraphs:  # a person opening the file at start_line finds the text
        first_word = p.text.split()[0].replace("&", "&amp;")
        assert first_word in lines[p.start_line - 1]


def test_markdown_follows_the_paragraph_rule(tmp_path: Path) -> None:
    text = "# Title\n\nSome *emphasis* here\nand a second line.\n\n- item a\n- item b\n"
    path = tmp_path / "notes.md"
    path.write_text(text, "utf-8")
    doc = read_document(path, "notes.md")
    assert doc.kind == "markdown"
    assert [(p.start_line, p.end_line, p.text) for p in doc.paragraphs] == [
        (1, 1, "# Title"),
        (3, 4, "Some *emphasis* here\nand a second line."),
        (6, 7, "- item a\n- item b"),
    ]


def test_plain_text_kind(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x\n", "utf-8")
    (tmp_path / "README").write_text("y\n", "utf-8")
    assert read_document(tmp_path / "a.txt", "a.txt").kind == "text"
    assert read_document(tmp_path / "README", "README").kind == "text"


def test_docx_paragraphs_by_position(tmp_path: Path) -> None:
    """Empty Word paragraphs are not counted; Word has no lines, so both line fields are 0."""
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("")
    document.add_paragraph("First body paragraph.")
    document.add_paragraph("   ")
    document.add_paragraph("صادرات السيارات الصينية")
    document.add_paragraph("重慶數字經濟")
    path = tmp_path / "report.docx"
    document.save(str(path))

    doc = read_document(path, "report.docx")
    assert doc.kind == "docx"
    assert [(p.number, p.start_line, p.end_line, p.text) for p in doc.paragraphs] == [
        (1, 0, 0, "Quarterly report"),
        (2, 0, 0, "First body paragraph."),
        (3, 0, 0, "صادرات السيارات الصينية"),
        (4, 0, 0, "重慶數字經濟"),
    ]


def test_docx_empty_document(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "blank.docx"
    docx.Document().save(str(path))
    assert "empty" in _read_error(path)


@pytest.mark.parametrize(
    "content",
    [b"this is not a zip file", b"PK\x03\x04 truncated zip", "zip-without-word-parts"],
)
def test_corrupt_docx_is_a_document_error(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "broken.docx"
    if isinstance(content, str):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("hello.txt", "a zip, but no Word document inside")
    else:
        path.write_bytes(content)
    message = _read_error(path)
    assert message.startswith("broken.docx: ") and "DOCX" in message


def make_pdf(pages: list[list[tuple[int, str]]]) -> bytes:
    """A minimal valid PDF written by hand: one Helvetica text line per (y, text)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    contents = []
    for lines in pages:
        stream = b"".join(b"BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (y, t.encode("latin-1")) for y, t in lines)
        contents.append(add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)))
    pages_id = len(objects) + len(pages) + 1
    kids = [
        add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, c, font))
        for c in contents
    ]
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>"
               % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)


def test_pdf_page_and_paragraph_on_page(tmp_path: Path) -> None:
    """Page 1's two lines, one pitch apart with nothing else on the page, are one wrapped
    paragraph (tests/test_formats.py has real layouts); an empty page adds nothing."""
    path = tmp_path / "paper.pdf"
    path.write_bytes(make_pdf([
        [(720, "Chongqing opened the first freight train."), (700, "It runs to Europe.")],
        [(720, "Exports grew in 2021.")],
        [],  # a page with no text adds no paragraph
        [(720, "Last page.")],
    ]))
    doc = read_document(path, "paper.pdf")
    assert doc.kind == "pdf"
    got = [(p.number, p.page, p.page_paragraph, p.text, p.location()) for p in doc.paragraphs]
    assert got == [
        (1, 1, 1, "Chongqing opened the first freight train. It runs to Europe.", "p. 1 ¶1"),
        (2, 2, 1, "Exports grew in 2021.", "p. 2 ¶1"),
        (3, 4, 1, "Last page.", "p. 4 ¶1"),
    ]


def test_corrupt_pdf_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    message = _read_error(path)
    assert message.startswith("broken.pdf: ") and "PDF" in message
