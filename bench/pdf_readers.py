"""How well PDF readers recover paragraphs: the measurement behind ``rag.formats.pdf_blocks``.

    PYTHONPATH=. python bench/pdf_readers.py [--pages 40]

The PDFs are the reader tests' own (tests/samples.py, made with reportlab): a two-page
document drawn line by line (heading, wrapped lines, a hyphenated word, a paragraph cut
by the page break), the same text wrapped by reportlab over two pages, two columns, a
Chinese CID font, and a long document (``--pages``, 8 paragraphs a page) for speed. Each
reader's paragraphs are compared with the paragraphs the file was made from:

- ``pypdf + layout``: what rag uses (pypdf's text, lines grouped by gaps and font size);
- ``pypdf lines``: pypdf's text with one paragraph per line (what rag did before);
- ``pdfminer boxes``: pdfminer.six's LTTextBox layout analysis (default LAParams), its
  lines joined the same way; only if pdfminer.six is installed (it is not a dependency).

A paragraph counts as right when a produced paragraph on the same page has exactly its
text (whitespace squeezed); "in order" means the whole sequence matches. In two columns
the paragraph the column break cuts is two on the page, so 14/15 is the best a reader
that keeps reading order can score there (tests/test_formats.py checks that the pieces
are in order).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import samples  # noqa: E402  (tests/samples.py: the PDFs and their paragraphs)

from rag.formats import _reflow, _words, pdf_blocks  # noqa: E402

Paragraphs = list[tuple[int, str]]  # (page, text)


def _squeeze(paragraphs: Paragraphs) -> Paragraphs:
    return [(page, " ".join(text.split())) for page, text in paragraphs]


def ours(path: Path) -> Paragraphs:
    return [(b.page or 0, b.text) for b in pdf_blocks(path.name, path)]


def lines(path: Path) -> Paragraphs:
    from pypdf import PdfReader

    return [(n, line) for n, page in enumerate(PdfReader(path).pages, 1)
            for line in page.extract_text().split("\n") if line.strip()]


def pdfminer_boxes(path: Path) -> Paragraphs:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextBox

    boxes = [(n, [line.get_text().strip() for line in box]) for n, page in enumerate(extract_pages(path), 1)
             for box in page if isinstance(box, LTTextBox)]
    words = _words(line for _, box in boxes for line in box)
    return [(n, _reflow(box, words)) for n, box in boxes]


def documents(folder: Path, pages: int) -> dict[str, tuple[Path, Paragraphs]]:
    council, zh = samples.COUNCIL, samples.CHONGQING
    long_story = [(p, f"Section {p}") for p in range(1, pages + 1)]
    return {
        "lines drawn, 2 pages": (samples.lighthouse_pdf(folder / "lighthouse.pdf"),
                                 [(p, t) for _, p, _, _, _, t in samples.LIGHTHOUSE_PARAGRAPHS]),
        "wrapped by reportlab": (samples.flowed_pdf(folder / "minutes.pdf"),
                                 [(1, "Harbour Council Minutes"), *((1, t) for t in council[:3]),
                                  (2, "Later Meetings"), *((2, t) for t in council[3:])]),
        "two columns": (samples.flowed_pdf(folder / "columns.pdf", columns=2),
                        [(1, "Harbour Council Minutes"), *((1, t) for t in council)]),
        "Chinese CID font": (samples.flowed_pdf(folder / "zh.pdf", chinese=True),
                             [(1, "重慶物流報告"), *((1, t) for t in zh)]),
        f"{pages} pages": (_long_pdf(folder / "long.pdf", pages),
                           [x for p, h in long_story for x in [(p, h), *((p, t) for t in council[:7])]]),
    }


def _long_pdf(path: Path, pages: int) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    story = []
    for p in range(1, pages + 1):
        story += [Paragraph(f"Section {p}", styles["Heading2"]),
                  *(Paragraph(t, styles["BodyText"]) for t in samples.COUNCIL[:7]), PageBreak()]
    SimpleDocTemplate(str(path), pagesize=A4).build(story)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()
    readers: dict[str, Callable[[Path], Paragraphs]] = {"pypdf + layout (rag)": ours, "pypdf lines (before)": lines}
    try:
        import pdfminer  # noqa: F401
        readers["pdfminer boxes"] = pdfminer_boxes
    except ImportError:
        print("(pdfminer.six is not installed: pip install pdfminer.six to compare it)")
    print("| document | reader | right | produced | in order | ms |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for title, (path, want) in documents(Path(tmp), args.pages).items():
            want = _squeeze(want)
            for name, read in readers.items():
                read(path)  # warm: imports and first-use caches are not the reader's speed
                started = time.perf_counter()
                got = _squeeze(read(path))
                ms = (time.perf_counter() - started) * 1000
                right = sum(1 for p in want if p in got)
                print(f"| {title} | {name} | {right}/{len(want)} | {len(got)} | {got == want} | {ms:.0f} |")


if __name__ == "__main__":
    main()
