"""Turn library results into terminal text or JSON, and say where a citation points for
every output; no work happens here."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import Threads

if TYPE_CHECKING:
    from rag.answer import Result
    from rag.batch import Summary
    from rag.config import Setting
    from rag.index import FileRecord, Status
    from rag.logs import Entry
    from rag.types import Answer, Citation, IngestReport, RemoveReport


def to_json(obj: object) -> str:
    """One-line JSON of a dataclass, keeping Arabic and Chinese readable."""
    return json.dumps(asdict(obj), ensure_ascii=False)  # type: ignore[call-overload]


def _count(n: int, word: str) -> str:
    """``1 paragraph``, ``2 paragraphs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _holds(paragraphs: int, chunks: int) -> str:
    return f"index now holds {_count(paragraphs, 'paragraph')} in {_count(chunks, 'chunk')}"


def status_json(status: Status, threads: Threads) -> str:
    """``rag status --json``: the index's Status, plus the thread counts under "threads"."""
    return json.dumps({**asdict(status), "threads": asdict(threads)}, ensure_ascii=False)


def ingest_text(report: IngestReport) -> str:
    lines = [
        f"added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}, skipped {len(report.skipped)} "
        f"in {report.seconds:.1f} s",
        _holds(report.paragraphs, report.chunks),
    ]
    if report.encodings:
        lines.append(encodings_line(report.encodings))
    lines += [f"skipped {s.path}: {s.reason}" for s in report.skipped]
    return "\n".join(lines)


def interrupted_text(report: IngestReport) -> str:
    """The stderr line of an ingest stopped by Ctrl-C."""
    finished = report.added + report.updated
    return (f"interrupted: {_count(finished, 'file')} finished before it "
            f"{'is' if finished == 1 else 'are'} kept; run the same `rag ingest` again to do the rest")


def remove_text(report: RemoveReport) -> str:
    lines = [f"removed {name}" for name in report.removed]
    lines.append(f"removed {_count(len(report.removed), 'file')}; {_holds(report.paragraphs, report.chunks)}")
    return "\n".join(lines)


def ls_json(records: list[FileRecord]) -> str:
    """``{"files": [...]}``, one object per manifest record, on one line."""
    return json.dumps({"files": [asdict(r) for r in records]}, ensure_ascii=False)


def ls_text(records: list[FileRecord]) -> str:
    """One line per indexed file: name, paragraphs, chunks, state, the folder it was read
    from; then the totals, and what to do about files a stopped run left."""
    if not records:
        return "no files indexed"
    width = max(len("FILE"), *(len(r.name) for r in records))
    lines = [f"{'FILE':<{width}}  PARAGRAPHS  CHUNKS  STATE     FROM"]
    for r in records:
        lines.append(f"{r.name:<{width}}  {r.paragraphs:>10}  {r.chunks:>6}  {r.state:<8}  "
                     f"{r.root if r.root is not None else '(not recorded: indexed before roots were)'}")
    done = [r for r in records if r.state == "done"]
    lines.append(f"{_count(len(done), 'file')}, {_count(sum(r.paragraphs for r in done), 'paragraph')}, "
                 f"{_count(sum(r.chunks for r in done), 'chunk')}")
    stopped = len(records) - len(done)
    if stopped:
        lines.append(f"{_count(stopped, 'file')} left half-written by a stopped run (not counted above); "
                     "run `rag ingest` again to finish")
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
            f"interrupted: {_count(len(status.pending), 'file')} half-written by a stopped ingest "
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


def verbose_text(result: Result) -> str:
    """``rag ask --verbose``: what the answer was made from, and why it answered or abstained."""
    lines = ["retrieved (score, found by):"]
    for rank, hit in enumerate(result.hits, start=1):
        p = hit.chunk.paragraph
        lines.append(f"  {rank}. {hit.score:.3f} {'+'.join(hit.via) or 'dense'}  {p.file} {p.location()}: "
                     f"{_flat(hit.chunk.text)[:90]}")
    lines.append("evidence shown to the model (similarity to the question):")
    for s in result.evidence.sentences:
        named = "*" if s.number in result.reply.evidence else " "
        lines.append(f" {named}[{s.number}] {s.similarity:.2f}  {s.paragraph.file} {s.paragraph.location()}: "
                     f"{_flat(s.text)[:90]}")
    signals = result.signals
    p_none = "–" if signals.p_none is None else f"{signals.p_none:.2f}"
    lines.append(f"model named: {list(result.reply.evidence) or 'none'} (p_none {p_none}); "
                 f"missing from the cited documents: {', '.join(signals.missing_subject) or 'nothing'}")
    lines.append(f"abstained: {result.decision.reason}" if result.decision.abstain else "answered: every check passed")
    return "\n".join(lines)


def _flat(text: str) -> str:
    return " ".join(text.split())


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


def _shown(setting: Setting) -> str:
    """A setting's value as a person types it; a key is never printed, only whether it is set."""
    if setting.key == "models.api_key":
        return "(set)" if setting.value else "(unset)"
    value = setting.value
    if isinstance(value, Threads):
        return f"e5 {value.e5}, use {value.use}, generate {value.generate}, prompt {value.prompt}"
    return "(unset)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def settings_text(settings: list[Setting], profile: str | None) -> str:
    """``rag settings``: one line per setting, its value and where it came from."""
    width = max(len(s.key) for s in settings)
    lines = [f"profile: {profile or '(none)'}"]
    lines += [f"{s.key:<{width}}  {_shown(s)}  ({s.source})" for s in settings]
    return "\n".join(lines)


def settings_json(settings: list[Setting], profile: str | None) -> str:
    """``rag settings --json``: the profile file and each setting with its variable and description."""
    def value(s: Setting) -> object:
        if s.key == "models.api_key":
            return "(set)" if s.value else None
        if isinstance(s.value, Threads):
            return {k: v for k, v in asdict(s.value).items() if k != "source"}
        return str(s.value) if isinstance(s.value, Path) else s.value

    return json.dumps({"profile": profile, "settings": [
        {"key": s.key, "value": value(s), "source": s.source, "env": s.env, "help": s.help} for s in settings
    ]}, ensure_ascii=False)
