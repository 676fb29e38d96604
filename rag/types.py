"""Plain records that flow through the pipeline; no I/O here.

Each type holds what it came from, so any answer walks back to its file:

    Document -> Paragraph -> Chunk -> Hit -> Citation -> Answer

Field names and order follow SPEC 4, so ``dataclasses.asdict`` of a Citation or an
Answer is already the JSON the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A file read and split into paragraphs. ``path`` is relative to the ingested
    root, with '/'; ``sha256`` is of the file's bytes, so a change is seen before parsing.
    ``encoding`` is the text encoding the file was read in ("utf-8", "utf-16le",
    "cp1256", ...), None for PDF and DOCX, which carry their own."""

    path: str
    sha256: str
    kind: str  # "text", "markdown", "html", "pdf", "docx"
    paragraphs: tuple[Paragraph, ...]
    encoding: str | None = None


NO_LINE = 0
"""``start_line``/``end_line`` of a paragraph whose format has no lines (DOCX)."""


def location(paragraph: int, start_line: int, end_line: int, page: int | None) -> str:
    """How a person finds a paragraph, the same in every output: ``¶26 (line 55)``,
    ``¶3 (lines 4-6)``, ``p. 2 ¶3`` (PDF: paragraph 3 of page 2), or ``¶4`` where the
    format has no lines (DOCX: ``NO_LINE``)."""
    if page is not None:
        return f"p. {page} ¶{paragraph}"
    if start_line == NO_LINE:
        return f"¶{paragraph}"
    lines = f"line {start_line}" if start_line == end_line else f"lines {start_line}-{end_line}"
    return f"¶{paragraph} ({lines})"


@dataclass(frozen=True)
class Paragraph:
    """One paragraph, numbered from 1 in document order (SPEC 2) by ``rag.paragraphs``.

    ``start_line``/``end_line`` say where it is:

    - text, Markdown: 1-based physical lines of the file (after CRLF/CR -> LF);
    - HTML: the source lines of its element (a table row: of its ``<tr>``);
    - PDF: lines of the page's text as ``pypdf`` extracts it (``page.extract_text()``);
      ``page`` is the 1-based page and ``page_paragraph`` counts paragraphs on that page;
    - DOCX: both ``NO_LINE`` (0), because Word has no lines: the paragraph number (Word
      paragraphs and table rows in document order, empty ones not counted) is the
      locator, and a citation shows only ``¶4``.
    """

    file: str
    number: int
    start_line: int
    end_line: int
    text: str
    page: int | None = None
    page_paragraph: int | None = None

    @property
    def cited_number(self) -> int:
        """The number a citation shows: within the page for PDF (SPEC 4), else ``number``."""
        return self.page_paragraph if self.page_paragraph is not None else self.number

    def location(self) -> str:
        """``¶26 (line 55)``, ``p. 3 ¶2`` or ``¶4``: see ``rag.types.location``."""
        return location(self.cited_number, self.start_line, self.end_line, self.page)


@dataclass(frozen=True)
class Chunk:
    """The unit that is embedded: one paragraph, or one part of a long paragraph.

    A chunk never spans files; ``paragraph`` is the one paragraph it cites, and
    ``part`` counts from 0 within that paragraph. The id is stable: re-ingesting the
    same text gives the same ids.
    """

    id: str
    paragraph: Paragraph
    part: int
    text: str

    @property
    def file(self) -> str:
        return self.paragraph.file


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, its fused score, and which retrievers found it."""

    chunk: Chunk
    score: float
    via: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    """A checked pointer from an answer marker to a retrieved paragraph (SPEC 4).

    For a PDF, ``page`` is set and ``paragraph`` counts within that page (SPEC 4); it is
    keyword-only so the positional SPEC order (..., end_line, quote) stays as it was
    while ``asdict`` still puts it after ``end_line``.
    """

    marker: int
    file: str
    paragraph: int
    start_line: int
    end_line: int
    page: int | None = field(default=None, kw_only=True)
    quote: str

    @classmethod
    def of(cls, marker: int, paragraph: Paragraph, quote: str) -> Citation:
        """The citation of PARAGRAPH under MARKER: the one way a paragraph's location
        becomes a citation's (page and page-relative number for PDF)."""
        p = paragraph
        return cls(marker, p.file, p.cited_number, p.start_line, p.end_line, quote, page=p.page)

    def location(self) -> str:
        """``¶26 (line 55)``, ``p. 2 ¶3`` or ``¶4``: see ``rag.types.location``."""
        return location(self.paragraph, self.start_line, self.end_line, self.page)


@dataclass
class Answer:
    """The answer object of SPEC 4; ``asdict`` gives its JSON."""

    id: str | None
    question: str
    answer: str
    abstained: bool
    language: str
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file ingest passed over, and why (one line a person can act on)."""

    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ``rag ingest`` did; ``asdict`` gives the ``--json`` object of SPEC 3."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    paragraphs: int = 0
    chunks: int = 0
    seconds: float = 0.0
    encodings: dict[str, str] = field(default_factory=dict)
    """Files this run read as text in another encoding than UTF-8, and that encoding."""


@dataclass
class RemoveReport:
    """What one ``rag rm`` did: the index names of the files removed, and the totals the
    index holds after it; ``asdict`` gives the ``--json`` object."""

    removed: list[str] = field(default_factory=list)
    paragraphs: int = 0
    chunks: int = 0
    seconds: float = 0.0
