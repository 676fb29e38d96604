"""Read each file into a Document (finding them under the ingested paths is rag.sources).

Each format's reader gives blocks with their location (text and Markdown: the SPEC 2
rule on the file's lines, in ``rag.paragraphs``; HTML, PDF and DOCX: ``rag.formats``), and
``rag.paragraphs.number_paragraphs`` numbers them. Text is decoded by ``rag.decoding``
(UTF-8, UTF-16/32 with a byte-order mark, or a recognised legacy encoding). A file that
can't be read raises DocumentError naming the file and the reason; ingest records it as
skipped and goes on.

``python -m rag.documents FILE...`` lists the paragraphs of files as they would be indexed.
"""

from __future__ import annotations

import hashlib
import stat
import sys
from pathlib import Path

from rag.decoding import decode
from rag.errors import DocumentError
from rag.formats import docx_blocks, html_blocks, pdf_blocks
from rag.paragraphs import normalize_newlines, number_paragraphs, text_blocks
from rag.types import Document

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
    encoding = None
    if suffix == ".pdf":
        kind, blocks = "pdf", pdf_blocks(name, path)
    elif suffix == ".docx":
        kind, blocks = "docx", docx_blocks(name, path)
    else:
        text, encoding = decode(name, data)
        text = normalize_newlines(text)
        if suffix in HTML_SUFFIXES:
            kind, blocks = "html", html_blocks(text)
        else:
            kind = "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
            blocks = text_blocks(text)
    paragraphs = number_paragraphs(name, blocks)
    if not paragraphs:
        raise DocumentError(f"{name}: empty file (no text to index)")
    return Document(name, sha, kind, tuple(paragraphs), encoding)


def _main(argv: list[str]) -> int:
    """List each file's paragraphs as they would be indexed and cited."""
    for name in argv:
        try:
            doc = read_document(Path(name), name)
        except DocumentError as exc:
            print(f"skipped {exc.message}", file=sys.stderr)
            continue
        for p in doc.paragraphs:
            print(f"{p.file} {p.location()}: {p.text[:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
