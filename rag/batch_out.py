"""What ``rag batch`` writes: one entry per answer, in the format OUTPUT's suffix names.

  ``.jsonl``  SPEC 4 answer objects, one a line
  ``.csv``    UTF-8 with a BOM (Excel reads a file without one in the local code page, which
              garbles Arabic and Chinese); columns id, question, answer, abstained, citations
              (each as the terminal shows it, ``[1] file ¶P (line L)``, joined with "; "), error
  ``.md``     a readable report; each question's section starts with
              ``<!-- rag-batch {"id": ..., "status": ...} -->`` so ``--resume`` finds the ids again

``Writer`` first rewrites OUTPUT, atomically, with the header and the entries ``--resume``
keeps; then every answer is appended, flushed and fsync'd before the next question, so a
crash loses at most the entry being written. Reading these files back is
``rag.batch_in.read_entries``'s; the marks it needs are defined here, with the writing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from rag.errors import OutputError
from rag.files import atomic_write
from rag.render import citation_line
from rag.types import Answer

OUTPUT_FORMATS = (".jsonl", ".csv", ".md")
CSV_COLUMNS = ("id", "question", "answer", "abstained", "citations", "error")
CSV_FIELD_MAX = 2**31 - 1  # csv's default field limit (128 KiB) would refuse a long question we wrote
MD_MARK = re.compile(r"^<!-- rag-batch (\{.*\}) -->$", re.M)
MD_STATUS_OK = ("answered", "abstained")  # a section whose status is "error" is asked again


class Writer:
    """Appends entries to OUTPUT, each flushed and fsync'd before the next question.

    Opening writes the header and the KEPT entries (as ``read_entries`` returned them) to
    a temp file beside OUTPUT and moves it into place atomically, so a crash at any moment
    leaves either the old file or the new one, each holding only whole entries (bar, at
    worst, the one being written)."""

    def __init__(self, path: Path, kept: list[Any], title: str) -> None:
        self.path = path
        self.format = path.suffix.lower()
        self.written = len(kept)
        try:
            with atomic_write(path, newline="") as out:
                self._header(out, title)
                for raw in kept:
                    self._raw(out, raw)
            self._file: TextIO = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise self._failed(exc, "nothing was changed in it") from exc

    def _header(self, out: TextIO, title: str) -> None:
        if self.format == ".csv":
            out.write("\ufeff")
            csv.writer(out).writerow(CSV_COLUMNS)
        elif self.format == ".md":
            out.write(f"# {title}\n\n")

    def _raw(self, out: TextIO, raw: Any) -> None:
        if self.format == ".csv":
            csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore").writerow(raw)
        elif self.format == ".jsonl":
            out.write(raw + "\n")
        else:
            out.write(raw)

    def write(self, answer: Answer) -> None:
        if self.format == ".jsonl":
            entry = json.dumps(asdict(answer), ensure_ascii=False) + "\n"
        elif self.format == ".csv":
            buffer = io.StringIO(newline="")
            csv.writer(buffer).writerow(csv_row(answer))
            entry = buffer.getvalue()
        else:
            entry = markdown_entry(answer)
        try:
            self._file.write(entry)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise self._failed(exc, f"the {self.written} entries before it are kept") from exc
        self.written += 1

    def _failed(self, exc: OSError, kept: str) -> OutputError:
        # A disk that fills mid-entry leaves a cut-off last line, which --resume drops and answers again.
        return OutputError(f"cannot write {self.path}: {exc.strerror or exc}; {kept}",
                           "free some space (or choose another -o), then rerun with --resume to go on")

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # every entry was flushed and fsync'd as it was written; closing adds nothing


def csv_row(a: Answer) -> list[str]:
    return [a.id or "", a.question, a.answer, "true" if a.abstained else "false",
            "; ".join(citation_line(c) for c in a.citations), a.error or ""]


def markdown_entry(a: Answer) -> str:
    """One question's section of the .md report, starting with the marker --resume reads."""
    status = "error" if a.error else "abstained" if a.abstained else "answered"
    # ">" escaped so no id can close the HTML comment early.
    head = json.dumps({"id": a.id, "status": status}, ensure_ascii=False).replace(">", "\\u003e")
    lines = [f"<!-- rag-batch {head} -->", f"## {_flat(str(a.id))} · {_flat(a.question)}", ""]
    if a.error:
        lines.append(f"**Error:** {_flat(a.error)}")
    else:
        # No line of an answer (which may echo a document or the question) may pass for a marker.
        lines.append(("*Abstained:* " if a.abstained else "") + a.answer.replace("<!--", "&lt;!--"))
        if a.citations:
            lines.append("")
            for c in a.citations:
                lines.append(f"- [{c.marker}] `{c.file}` {c.location()}: “{_flat(c.quote)}”")
    return "\n".join(lines) + "\n\n"


def _flat(text: str) -> str:
    return " ".join(text.split())
