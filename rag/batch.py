"""``rag batch``: answer a file of questions, writing each answer the moment it is made.

    plan_batch(INPUT, OUTPUT, resume)   read and check everything; no models, no writes
    worker_count(llm, workers, spec)    how many questions the loaded model may answer at once
    run_batch(plan, assistant)          answer what is left; append + flush + fsync each answer

Reading INPUT (formats, the id rule) and OUTPUT for ``--resume`` is ``rag.batch_in``;
writing OUTPUT (.jsonl, .csv, .md) is ``rag.batch_out``. One bad line or one failed
question (a model server down, say) becomes an entry with ``error`` and the batch goes
on; the exit code is 1 when any entry has an error. Entries are written in the order
answers finish.

Resume: ``--resume`` keeps every entry of OUTPUT that has no error and skips those ids.
Entries with an error, and a line cut short by a crash, are dropped and those questions
asked again (OUTPUT is rewritten once, atomically, before the first new answer). Without
``--resume`` OUTPUT is replaced.

Workers: a backend that says it can answer concurrently (``LLM.concurrent``: a model
server, ``--llm openai:MODEL``) answers ``workers`` questions at once. Everything local
(embedding, search, citation checks) still runs one question at a time, under a lock that
a worker lets go only while it waits for the server's next piece of text: the embedders
are not thread-safe, and the local CPU has nothing to share. The embedded model (and
``gguf:``, ``none``) answers one question at a time; more workers are refused with a note.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.batch_in import INPUT_FORMATS, Item, read_entries, read_questions
from rag.batch_out import OUTPUT_FORMATS, Writer
from rag.errors import RagError, UsageError
from rag.lang import detect_language
from rag.types import Answer

if TYPE_CHECKING:
    from rag.answer import Assistant
    from rag.llms import LLM


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

    def ask(self, question: str, *, qid: str | None = None) -> Any: ...


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


def worker_count(llm: LLM | None, workers: int, spec: str) -> tuple[int, str | None]:
    """Workers to use for the loaded LLM (SPEC names it for the note), and a note when the
    request is cut down.

    Only a backend that says it answers concurrently (a model server) gets more than one;
    the embedded model already uses every core for one answer, so a second one would only
    slow both down, and ``--llm none`` has no model to wait for."""
    if workers <= 1 or (llm is not None and llm.concurrent):
        return max(workers, 1), None
    return 1, (f"--workers {workers} ignored: --llm {spec} answers one question at a time "
               f"(only a model server, --llm openai:MODEL, answers several at once)")


def run_batch(plan: Plan, assistant: _Asks | Assistant | None, *, workers: int = 1,
              progress: Callable[[int, int], None] | None = None) -> Summary:
    """Answer ``plan.todo`` into ``plan.output``; one failing question never stops the rest.

    ASSISTANT may be None only when nothing is left to answer."""
    started = time.perf_counter()
    summary = Summary(plan.output, skipped=plan.skipped)
    todo = plan.todo
    writer = Writer(plan.output, [k.raw for k in plan.kept], f"rag batch: {plan.input.name}")
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
        return assistant.ask(item.question, qid=item.id).answer
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

    def __init__(self, llm: LLM, lock: threading.Lock) -> None:
        self._llm = llm
        self._lock = lock
        self.id = llm.id
        self.concurrent = llm.concurrent
        if hasattr(llm, "stream_json"):  # only a backend that can be held to a schema has it
            self.stream_json = lambda messages, schema, **kw: self._unlocked(llm.stream_json(messages, schema, **kw))

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        return self._unlocked(self._llm.stream(messages, **kwargs))

    def _unlocked(self, stream: Iterator[Any]) -> Iterator[Any]:
        pieces = iter(stream)
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
