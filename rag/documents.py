"""Read each file into a Document (finding them under the ingested paths is rag.sources).

Text and Markdown follow the SPEC 2 paragraph rule on the file's own lines. HTML, PDF
and DOCX are parsed by their libraries into blocks that a person can find again: HTML by
the source line of each block, PDF by page and paragraph on the page, DOCX by paragraph
position. A file that can't be read raises DocumentError naming the file and the reason;
ingest records it as skipped and goes on.
"""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path

from rag.errors import DocumentError
from rag.paragraphs import normalize_newlines, split_paragraphs
from rag.types import Document, Paragraph

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED = sorted(TEXT_SUFFIXES - {""} | HTML_SUFFIXES | {".pdf", ".docx"})


def file_sha256(path: Path) -> str:
    """Hash of the file's bytes: the manifest compares this to decide what changed."""
    digest = hashlib.sha256()
    try:
        _require_regular(path, str(path))
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _require_regular(path: Path, name: str) -> None:
    """Opening a FIFO would block ingest forever; a device or socket is no document."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise DocumentError(f"{name}: not a regular file (a pipe, socket or device)")


def read_document(path: Path, name: str) -> Document:
    """Read one file into a Document with its paragraphs; DocumentError if it can't."""
    try:
        _require_regular(path, name)
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    sha = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        kind, paragraphs = "pdf", _pdf_paragraphs(name, path)
    elif suffix == ".docx":
        kind, paragraphs = "docx", _docx_paragraphs(name, path)
    else:
        text = _decode(name, data)
        if suffix in HTML_SUFFIXES:
            kind, paragraphs = "html", _html_paragraphs(name, text)
        else:
            kind = "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
            paragraphs = split_paragraphs(name, text)
    if not paragraphs:
        raise DocumentError(f"{name}: empty file (no text to index)")
    return Document(name, sha, kind, tuple(paragraphs))


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise DocumentError(
            f"{name}: not valid UTF-8 at line {line} (byte {exc.start}); re-save it as UTF-8"
        ) from exc
    return normalize_newlines(text)


_BLOCKS = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th",
           "dt", "dd", "figcaption", "caption", "title"]


def _html_paragraphs(name: str, text: str) -> list[Paragraph]:
    """Innermost block elements in document order, each cited by its source lines."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    paragraphs: list[Paragraph] = []
    for el in soup.find_all(_BLOCKS):
        if el.find(_BLOCKS):
            continue  # its inner blocks are paragraphs of their own
        body = re.sub(r"\s+", " ", el.get_text(" ")).strip()
        if body:
            start = el.sourceline or 1
            end = start + str(el).count("\n")
            paragraphs.append(Paragraph(name, len(paragraphs) + 1, start, end, body))
    return paragraphs


def _pdf_paragraphs(name: str, path: Path) -> list[Paragraph]:
    """The paragraph rule applied to each page's text; citations give page + ¶ on page."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"{name}: unreadable PDF: {exc}") from exc
    paragraphs: list[Paragraph] = []
    for page_no, page_text in enumerate(pages, start=1):
        for p in split_paragraphs(name, normalize_newlines(page_text)):
            paragraphs.append(
                Paragraph(name, len(paragraphs) + 1, p.start_line, p.end_line, p.text,
                          page=page_no, page_paragraph=p.number)
            )
    return paragraphs


def _docx_paragraphs(name: str, path: Path) -> list[Paragraph]:
    """Non-empty Word paragraphs; the position among them stands in for a line number."""
    import zipfile

    import docx
    from docx.opc.exceptions import OpcError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OpcError) as exc:
        raise DocumentError(f"{name}: unreadable DOCX: {exc}") from exc
    texts = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    return [Paragraph(name, i, i, i, t) for i, t in enumerate(texts, start=1)]
