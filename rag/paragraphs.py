"""Where paragraph numbers are made: the SPEC 2 paragraph rule.

A paragraph is a maximal run of consecutive non-blank lines when the document puts at
least one blank line between two text lines; a document with no blank line between any
two text lines has one paragraph per non-blank line. Paragraphs count from 1 and keep
their 1-based physical ``start_line``/``end_line``, so a citation can be checked by
opening the file at that line.

Run ``python -m rag.paragraphs FILE`` to list the paragraphs of a file.
"""

from __future__ import annotations

import sys

from rag.types import Paragraph


def normalize_newlines(text: str) -> str:
    """Drop a BOM and turn CRLF and lone CR into LF (SPEC 2), so line numbers agree
    with what an editor shows."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


def split_paragraphs(file: str, text: str) -> list[Paragraph]:
    """Split already-normalised text into numbered paragraphs with line spans.

    Paragraph text is the lines joined with '\\n', each line as in the file, so
    ``lines[start_line-1:end_line]`` reproduces it exactly.
    """
    lines = text.split("\n")
    by_blank = _has_separating_blank(lines)
    paragraphs: list[Paragraph] = []
    start: int | None = None

    def close(end: int) -> None:
        nonlocal start
        if start is not None:
            body = "\n".join(lines[start:end])
            paragraphs.append(Paragraph(file, len(paragraphs) + 1, start + 1, end, body))
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
    return paragraphs


def _main(argv: list[str]) -> int:
    from pathlib import Path

    from rag.documents import read_document

    for name in argv:
        for p in read_document(Path(name), name).paragraphs:
            print(f"{p.file} {p.location()}: {p.text[:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
