"""Turn library results into terminal text or JSON, and say where a citation points for
every output; no work happens here."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.batch import Summary
    from rag.config import Threads
    from rag.index import Status
    from rag.logs import Entry
    from rag.types import Answer, Citation, IngestReport


def to_json(obj: object) -> str:
    """One-line JSON of a dataclass, keeping Arabic and Chinese readable."""
    return json.dumps(asdict(obj), ensure_ascii=False)  # type: ignore[call-overload]


def status_json(status: Status, threads: Threads) -> str:
    """``rag status --json``: the index's Status, plus the thread counts under "threads"."""
    return json.dumps({**asdict(status), "threads": asdict(threads)}, ensure_ascii=False)


def ingest_text(report: IngestReport) -> str:
    lines = [
        f"added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}, skipped {len(report.skipped)} "
        f"in {report.seconds:.1f} s",
        f"index now holds {report.paragraphs} paragraphs in {report.chunks} chunks",
    ]
    if report.encodings:
        lines.append(encodings_line(report.encodings))
    lines += [f"skipped {s.path}: {s.reason}" for s in report.skipped]
    return "\n".join(lines)


def encodings_line(encodings: dict[str, str], shown: int = 3) -> str:
    """``read 3 files not in UTF-8: 2 as cp1256 (a.txt, b.txt), 1 as big5 (c.txt)``, so a
    wrong guess can be seen and the file converted."""
    by: dict[str, list[str]] = {}
    for name, encoding in encodings.items():
        by.setdefault(encoding, []).append(name)
    parts = []
    for encoding, names in sorted(by.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
        parts.append(f"{len(names)} as {encoding} ({listed})")
    noun = "file" if len(encodings) == 1 else "files"
    return f"read {len(encodings)} {noun} not in UTF-8: " + ", ".join(parts)


def status_text(status: Status, threads: Threads) -> str:
    lines = [
        f"store:      {status.location}",
        f"files:      {status.files}",
        f"paragraphs: {status.paragraphs}",
        f"chunks:     {status.chunks} (store holds {status.chunks_in_store})",
        f"embedder:   {status.embedder} ({status.dim} dims)",
        f"chunking:   {status.chunking}",
        f"threads:    e5 {threads.e5}, use {threads.use}, llm generate {threads.generate}, "
        f"llm prompt {threads.prompt} ({threads.source})",
    ]
    if status.pending:
        lines.append(
            f"interrupted: {len(status.pending)} file(s) half-written by a stopped ingest "
            f"({', '.join(status.pending[:5])}); run `rag ingest` again to repair"
        )
    return "\n".join(lines)


def citation_line(c: Citation) -> str:
    """``[2] 003_3e9024b6c632520f.txt ¶26 (line 55)`` as SPEC 2 shows citations; a PDF's
    ``[1] lighthouse.pdf p. 2 ¶3``, a DOCX's ``[1] notes.docx ¶4``."""
    return f"[{c.marker}] {c.file} {c.location()}"


def answer_text(answer: Answer, quotes: bool = True) -> str:
    """The checked answer, then one line per citation (with its quote)."""
    if answer.error:
        return f"error: {answer.error}"
    lines = [answer.answer]
    if answer.citations:
        lines.append("")
        for c in answer.citations:
            lines.append(citation_line(c))
            if quotes:
                lines.append(f"    “{c.quote}”")
    return "\n".join(lines)


def batch_summary_text(s: Summary) -> str:
    """The closing line of ``rag batch`` (stderr)."""
    kept = f", {s.skipped} already in {s.output.name}" if s.skipped else ""
    return (f"answered {s.answered}, abstained {s.abstained}, failed {s.failed}{kept} "
            f"in {s.seconds:.1f} s -> {s.output}")


def log_entries_text(entries: list[Entry]) -> str:
    """``rag logs``: each entry's header, question (and what was typed, when a chat
    rewrote it), the answer and its citation lines; newest first, as given."""
    from rag.types import Citation

    blocks = []
    for e in entries:
        state = "error" if e.error else "abstained" if e.abstained else f"{len(e.citations)} citation(s)"
        lines = [f"#{e.id}  {e.datetime_utc}  {e.command}  {e.model}  {state}  {e.index}", f"Q: {e.question}"]
        if e.asked != e.question:
            lines.append(f"   (typed: {e.asked})")
        lines.append(f"A: {e.answer}" if not e.error else f"error: {e.error}")
        # Only the fields every logged citation has: a row written by another rag version
        # may carry more (or fewer optional) keys than today's Citation.
        lines += [f"   {citation_line(Citation(c['marker'], c['file'], c['paragraph'], c['start_line'], c['end_line'], ''))}"
                  for c in e.citations]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
