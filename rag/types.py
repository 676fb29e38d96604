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
    root, with '/'; ``sha256`` is of the file's bytes, so a change is seen before parsing."""

    path: str
    sha256: str
    kind: str  # "text", "markdown", "html", "pdf", "docx"
    paragraphs: tuple[Paragraph, ...]


@dataclass(frozen=True)
class Paragraph:
    """One paragraph, numbered from 1 in document order (SPEC 2).

    ``start_line``/``end_line`` are 1-based physical lines in the file (for PDF: lines
    of the page's extracted text; for DOCX: the paragraph's position in the document).
    ``page`` is set for PDF only, where ``page_paragraph`` counts paragraphs on that page.
    """

    file: str
    number: int
    start_line: int
    end_line: int
    text: str
    page: int | None = None
    page_paragraph: int | None = None

    def location(self) -> str:
        """How a person finds this paragraph: ``¶26 (line 55)`` or ``p. 3 ¶2``."""
        if self.page is not None:
            return f"p. {self.page} ¶{self.page_paragraph}"
        lines = (
            f"line {self.start_line}"
            if self.start_line == self.end_line
            else f"lines {self.start_line}-{self.end_line}"
        )
        return f"¶{self.number} ({lines})"


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
    """A checked pointer from an answer marker to a retrieved paragraph (SPEC 4)."""

    marker: int
    file: str
    paragraph: int
    start_line: int
    end_line: int
    quote: str


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


@dataclass
class RemoveReport:
    """What one ``rag rm`` did: the index names of the files removed, and the totals the
    index holds after it; ``asdict`` gives the ``--json`` object."""

    removed: list[str] = field(default_factory=list)
    paragraphs: int = 0
    chunks: int = 0
    seconds: float = 0.0
