"""``rag batch``: answer a file of questions, writing each answer the moment it is made.

    plan_batch(INPUT, OUTPUT, resume)   read and check everything; no models, no writes
    run_batch(plan, assistant)          answer what is left; append + flush + fsync each answer

Input, by suffix:
  ``.txt``    one question a line; the id is the line number ("1", "2", ...); blank lines
              are passed over (they still count, so ids stay the file's line numbers)
  ``.jsonl``  one object a line with ``question`` and optional ``id`` (string or integer;
              other keys are ignored, so an eval set works as input)
  ``.csv``    a header row naming ``question`` and optionally ``id`` (read with the csv
              module, UTF-8 with or without a BOM; quoted fields may span lines)

Ids, the rule:
  - a missing or empty id becomes ``line-N`` (N = the line the question starts on);
  - a repeated id is not answered: that line gets an error entry with id ``line-N`` (``line-N-2``
    if the file itself used ``line-N``) and error "duplicate id X (first at line M)", or its
    own error if the line was malformed anyway, so every id in OUTPUT is unique.

One bad line never stops the batch: a line that is not UTF-8, not JSON, not an object, or
has no question becomes an entry with ``error`` set, as does a question whose answering
failed (a model server down, say). The exit code is 1 when any entry has an error.

Output, by suffix: ``.jsonl`` (SPEC 4 objects, one a line), ``.csv`` (id, question, answer,
abstained, citations as ``file ¶P (Lx-y)`` joined with "; ", error) or ``.md`` (a readable
report; each question's section starts with ``<!-- rag-batch {"id": ..., "status": ...} -->``
so ``--resume`` can find the ids again). Entries are written in the order answers finish.

Resume: ``--resume`` keeps every entry of OUTPUT that has no error and skips those ids.
Entries with an error, and a line cut short by a crash, are dropped and those questions
asked again (OUTPUT is rewritten once, atomically, before the first new answer). Without
``--resume`` OUTPUT is replaced.

Workers: a remote model server (``--llm openai:MODEL``) answers ``workers`` questions at
once. Everything local (embedding, search, citation checks) still runs one question at a
time, under a lock that a worker lets go only while it waits for the server's next piece
of text: the embedders are not thread-safe, and the local CPU has nothing to share.
The embedded model (and ``gguf:``, ``none``) answers one question at a time; more workers
are refused with a note (see ``worker_count``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from rag.errors import OutputError, RagError, UsageError
from rag.files import atomic_write
from rag.lang import detect_language
from rag.types import Answer, Citation

if TYPE_CHECKING:
    from rag.answer import Assistant

INPUT_FORMATS = (".txt", ".jsonl", ".csv")
OUTPUT_FORMATS = (".jsonl", ".csv", ".md")
CSV_COLUMNS = ("id", "question", "answer", "abstained", "citations", "error")
_MD_MARK = re.compile(r"^<!-- rag-batch (\{.*\}) -->$", re.M)
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
_SHOWN = 200  # characters of a malformed line kept as its entry's "question"
_CSV_FIELD_MAX = 2**31 - 1  # csv's default field limit (128 KiB) would refuse a long question we wrote


@dataclass(frozen=True)
class Item:
    """One question from INPUT, or the error that line holds instead."""

    id: str
    question: str
    line: int
    error: str | None = None


@dataclass(frozen=True)
class Kept:
    """An entry already in OUTPUT that --resume keeps: its id and its text as written."""

    id: str
    raw: Any


@dataclass
class Plan:
    """What a batch will do, decided before any model loads."""

    input: Path
    output: Path
    items: list[Item]
    kept: list[Kept] = field(default_factory=list)
    dropped: int = 0  # entries of OUTPUT that --resume drops (errors, cut-off lines)
    replaces: bool = False  # OUTPUT exists and will be replaced (no --resume)

    @property
    def todo(self) -> list[Item]:
        done = {k.id for k in self.kept}
        return [i for i in self.items if i.id not in done]

    @property
    def skipped(self) -> int:
        return len(self.items) - len(self.todo)


@dataclass
class Summary:
    """What a batch did, for the closing line on stderr."""

    output: Path
    answered: int = 0
    abstained: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def count(self, answer: Answer) -> None:
        if answer.error:
            self.failed += 1
        elif answer.abstained:
            self.abstained += 1
        else:
            self.answered += 1


class _Asks(Protocol):
    llm: Any

    def ask(self, question: str, *, qid: str | None = None) -> Answer: ...


def plan_batch(input: Path, output: Path, *, resume: bool = False) -> Plan:
    """Check both paths, read every question and (with RESUME) what OUTPUT already holds.

    Raises UsageError (exit 2) for a suffix we do not read or write, an INPUT that cannot
    be read, or an OUTPUT that is the INPUT.
    """
    _check_suffix(input, INPUT_FORMATS, "questions file")
    _check_suffix(output, OUTPUT_FORMATS, "output file (-o)")
    if output.exists() and output.resolve() == input.resolve():
        raise UsageError(f"the output file {output} is the questions file", "name another file with -o")
    items = read_questions(input)
    plan = Plan(input, output, items)
    if resume:
        entries = read_entries(output)
        plan.kept = [Kept(i, raw) for i, ok, raw in entries if ok]
        plan.dropped = len(entries) - len(plan.kept)
    else:
        plan.replaces = output.exists() and output.stat().st_size > 0
    return plan


def _check_suffix(path: Path, accepted: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in accepted:
        raise UsageError(
            f"{what} {path}: unknown format {path.suffix or '(no suffix)'!r}",
            f"use one of {', '.join(accepted)}",
        )


# -- reading questions ---------------------------------------------------------------------


def read_questions(path: Path) -> list[Item]:
    """Every question in PATH with its id, malformed lines and repeated ids as error items."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the questions file {path}: {exc.strerror}",
                         "check the path and its permissions") from exc
    # Bytes that are not UTF-8 survive as lone surrogates, so only their line fails.
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        items = list(_read_txt(text))
    elif suffix == ".jsonl":
        items = list(_read_jsonl(text))
    else:
        items = list(_read_csv(text, path))
    return _unique(items)


def _bad(line: int, raw: str, reason: str, qid: str | None = None) -> Item:
    return Item(qid or f"line-{line}", _NOT_UTF8.sub("\ufffd", raw.strip())[:_SHOWN], line, f"line {line}: {reason}")


def _read_txt(text: str) -> Iterator[Item]:
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if _NOT_UTF8.search(line):
            yield _bad(n, line, "not UTF-8 text", str(n))
        else:
            yield Item(str(n), line.strip(), n)


def _read_jsonl(text: str) -> Iterator[Item]:
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _bad(n, line, "not UTF-8 text" if _NOT_UTF8.search(line)
                       else f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:  # "[[[[..." nested deeper than the json module can follow
            yield _bad(n, line, "not valid JSON (nested too deeply)")
            continue
        if not isinstance(obj, dict):
            yield _bad(n, line, 'expected an object like {"id": "q1", "question": "..."}')
            continue
        yield _item(n, line, obj.get("id"), obj.get("question"))


def _read_csv(text: str, path: Path) -> Iterator[Item]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UsageError(f"{path} line 1: cannot read the header row: {exc}") from exc
    names = [h.strip().lower() for h in header]
    if "question" not in names:
        raise UsageError(
            f"{path} line 1: the header row {header!r} has no 'question' column",
            "the first row must name the columns, e.g. id,question",
        )
    q_col, id_col = names.index("question"), (names.index("id") if "id" in names else None)
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _bad(start, "", f"cannot read this CSV row: {exc}")
            start = reader.line_num + 1
            continue
        n, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        qid = row[id_col] if id_col is not None and id_col < len(row) else None
        question = row[q_col] if q_col < len(row) else None
        yield _item(n, raw, qid, question)


def _item(n: int, raw: str, qid: object, question: object) -> Item:
    """An item from an id and a question as read; anything unusable becomes an error item."""
    if isinstance(qid, bool) or not isinstance(qid, str | int | None):
        return _bad(n, raw, f"the id must be a string or an integer, not {json.dumps(qid, ensure_ascii=False)}")
    ident = str(qid).strip() if qid is not None else ""
    if _NOT_UTF8.search(ident):
        return _bad(n, raw, "not UTF-8 text")
    if not isinstance(question, str) or not question.strip():
        return _bad(n, raw, 'no question (a non-empty "question" is needed)', ident or None)
    if _NOT_UTF8.search(question):
        return _bad(n, raw, "not UTF-8 text", ident or None)
    return Item(ident or f"line-{n}", question.strip(), n)


def _unique(items: list[Item]) -> list[Item]:
    """The duplicate rule: the first use of an id is answered; a repeat becomes an error
    item with a fresh id (``line-N``, or ``line-N-2``...), so ids in OUTPUT stay unique."""
    first: dict[str, int] = {}
    out = []
    for item in items:
        if item.id in first:
            # A line that is already an error keeps its own reason; and since a file may
            # itself use ids like "line-N", the new id is made fresh, never assumed free.
            error = item.error or f"line {item.line}: duplicate id {item.id!r} (first at line {first[item.id]})"
            fresh, n = f"line-{item.line}", 1
            while fresh in first:
                n += 1
                fresh = f"line-{item.line}-{n}"
            item = Item(fresh, item.question, item.line, error)
        first.setdefault(item.id, item.line)
        out.append(item)
    return out


# -- writing answers -----------------------------------------------------------------------


def read_entries(path: Path) -> list[tuple[str, bool, Any]]:
    """The entries OUTPUT already holds, as (id, has no error, raw entry); [] if none.

    A line cut short by a crash, or anything else unreadable, counts as an entry with an
    error (so it is dropped and its question asked again)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read the output file {path} to resume: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    entries: list[tuple[str, bool, Any]] = []
    if suffix == ".jsonl":
        # split("\n"), not splitlines(): U+2028 or NEL inside an answer is not a line end.
        for line in text.split("\n"):
            if not line:
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                entries.append(("", False, line))
                continue
            ok = isinstance(obj, dict) and isinstance(obj.get("id"), str) and not obj.get("error")
            entries.append((obj.get("id", "") if isinstance(obj, dict) else "", ok, line))
    elif suffix == ".csv":
        limit = csv.field_size_limit(_CSV_FIELD_MAX)  # what we wrote must read back, however long
        try:
            for row in csv.DictReader(io.StringIO(text, newline="")):
                complete = None not in row.values() and None not in row  # a cut-off row is short
                entries.append((row.get("id") or "", complete and not row.get("error"), row))
        finally:
            csv.field_size_limit(limit)
    else:
        marks = list(_MD_MARK.finditer(text))
        for mark, after in zip(marks, [*marks[1:], None], strict=True):
            section = text[mark.start() : after.start() if after else len(text)]
            try:
                head = json.loads(mark.group(1))
                qid, ok = str(head["id"]), head.get("status") in ("answered", "abstained")
            except (json.JSONDecodeError, KeyError, TypeError):
                qid, ok = "", False
            complete = after is not None or section.endswith("\n\n")  # the last may be cut off
            entries.append((qid, ok and complete, section))
    return entries


class Writer:
    """Appends entries to OUTPUT, each flushed and fsync'd before the next question.

    Opening writes the header and the kept entries to a temp file beside OUTPUT and moves
    it into place atomically, so a crash at any moment leaves either the old file or the
    new one, each holding only whole entries (bar, at worst, the one being written)."""

    def __init__(self, path: Path, kept: list[Kept], title: str) -> None:
        self.path = path
        self.format = path.suffix.lower()
        self.written = len(kept)
        try:
            with atomic_write(path, newline="") as out:
                self._header(out, title)
                for k in kept:
                    self._raw(out, k.raw)
            self._file: TextIO = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise self._failed(exc, "nothing was changed in it") from exc

    def _header(self, out: TextIO, title: str) -> None:
        if self.format == ".csv":
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


def csv_citation(c: Citation) -> str:
    """``003_3e9024b6c632520f.txt ¶26 (L55-55)``: the CSV form of a citation."""
    return f"{c.file} ¶{c.paragraph} (L{c.start_line}-{c.end_line})"


def csv_row(a: Answer) -> list[str]:
    return [a.id or "", a.question, a.answer, "true" if a.abstained else "false",
            "; ".join(csv_citation(c) for c in a.citations), a.error or ""]


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
                where = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
                lines.append(f"- [{c.marker}] `{c.file}` ¶{c.paragraph} ({where}): “{_flat(c.quote)}”")
    return "\n".join(lines) + "\n\n"


def _flat(text: str) -> str:
    return " ".join(text.split())


# -- answering -----------------------------------------------------------------------------


def worker_count(llm: str, workers: int) -> tuple[int, str | None]:
    """Workers to use for LLM spec, and a note when the request is cut down.

    Only a remote server answers in parallel; the embedded model already uses every core
    for one answer, so a second one would only slow both down."""
    if workers <= 1 or llm.strip().startswith("openai:"):
        return max(workers, 1), None
    return 1, (f"--workers {workers} ignored: --llm {llm} answers one question at a time "
               f"(only an openai: server answers several at once)")


def run_batch(plan: Plan, assistant: _Asks | Assistant | None, *, workers: int = 1,
              progress: Callable[[int, int], None] | None = None) -> Summary:
    """Answer ``plan.todo`` into ``plan.output``; one failing question never stops the rest.

    ASSISTANT may be None only when nothing is left to answer."""
    started = time.perf_counter()
    summary = Summary(plan.output, skipped=plan.skipped)
    todo = plan.todo
    writer = Writer(plan.output, plan.kept, f"rag batch: {plan.input.name}")
    done = 0

    def record(answer: Answer) -> None:
        nonlocal done
        writer.write(answer)
        summary.count(answer)
        done += 1
        if progress:
            progress(done, len(todo))

    try:
        if progress:
            progress(0, len(todo))
        if todo and assistant is None:
            raise ValueError("run_batch needs an assistant when questions are left to answer")
        if workers <= 1 or assistant is None or assistant.llm is None:
            for item in todo:
                record(answer_item(assistant, item))  # type: ignore[arg-type]
        else:
            _run_parallel(assistant, todo, workers, record)
    finally:
        writer.close()
        summary.seconds = time.perf_counter() - started
    return summary


def answer_item(assistant: _Asks | Assistant, item: Item) -> Answer:
    """The answer to one item; an input error or a failure becomes an Answer with ``error``."""
    if item.error:
        return Answer(item.id, item.question, "", False, detect_language(item.question), error=item.error)
    try:
        return assistant.ask(item.question, qid=item.id)
    except RagError as exc:
        error = str(exc)
    except Exception as exc:  # one bad question must not stop the batch
        error = f"unexpected {type(exc).__name__}: {exc}"
    return Answer(item.id, item.question, "", False, detect_language(item.question), error=error)


def _run_parallel(assistant: _Asks | Assistant, todo: list[Item], workers: int,
                  record: Callable[[Answer], None]) -> None:
    """Up to WORKERS questions in flight; local work serialised by one lock (module docstring)."""
    lock = threading.Lock()
    model = assistant.llm
    assistant.llm = _WaitsUnlocked(model, lock)

    def work(item: Item) -> Answer:
        with lock:
            return answer_item(assistant, item)

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="rag-batch") as pool:
            pending: set[Future[Answer]] = set()
            queue = iter(todo)
            for item in queue:
                pending.add(pool.submit(work, item))
                if len(pending) >= workers:
                    break
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record(future.result())
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(work, nxt))
    finally:
        assistant.llm = model


class _WaitsUnlocked:
    """An LLM whose ``stream`` lets go of LOCK while it waits for the server's next piece."""

    def __init__(self, llm: Any, lock: threading.Lock) -> None:
        self._llm = llm
        self._lock = lock
        self.id = llm.id

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        pieces = iter(self._llm.stream(messages, **kwargs))
        end = object()
        while True:
            self._lock.release()
            try:
                piece = next(pieces, end)
            finally:
                self._lock.acquire()
            if piece is end:
                return
            yield piece  # type: ignore[misc]
