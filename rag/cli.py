"""The ``rag`` command line: parse, resolve Settings, call one library function, render.

Nothing heavy is imported at module level: chromadb, llama-index and the models load
inside the command that needs them, so ``rag --help`` answers at once. Results go to
stdout; progress and errors go to stderr. Only RagError is caught: it prints one line
(plus a hint) and exits 1, or 2 for bad usage; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from rag.config import Settings, describe, resolve
from rag.errors import RagError, UsageError


class _PlainHelp(TyperGroup):
    """``--help`` as people read other tools' help: a flag shows no type (it takes no value)
    and an argument shows only its name (``PATH``). Typer 0.29 prints ``<bool>`` beside
    every flag, ``-h`` included, and ``<list[Path]>`` beside PATH; fixed here once, for every
    command, rather than option by option."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_types(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_types(command.get_params(ctx))
        return command


def _plain_types(params: list[Any]) -> list[Any]:
    for p in params:
        if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
            p.metavar = ""
        elif isinstance(p, TyperArgument) and p.metavar:
            p.display_type_rich = lambda ctx: ""  # the metavar names what it takes
    return params


app = typer.Typer(
    cls=_PlainHelp,
    help="Answer questions over a folder of documents (Arabic, Chinese, English) with "
    "citations to file and paragraph.\n\nExample: rag ingest examples/corpus && rag ask \"Where was the foundry forum held?\"",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Flags default to None ("not given"): rag.config.resolve() layers them over the profile and
# the environment, and each help text is the setting's own description (rag.config.describe).
IndexOpt = Annotated[Path | None, typer.Option("--index", metavar="DIR", help=describe("store.index_dir"),
                                               show_default=False)]
ChromaOpt = Annotated[str | None, typer.Option("--chroma-url", metavar="URL", help=describe("store.chroma_url"))]
EmbedOpt = Annotated[str | None, typer.Option("--embed", metavar="SPEC", help=describe("models.embed"))]
LlmOpt = Annotated[str | None, typer.Option("--llm", metavar="SPEC", help=describe("models.llm"))]
TopKOpt = Annotated[int | None, typer.Option("--top-k", min=1, max=50, metavar="N", help=describe("retrieval.top_k"))]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", min=1, metavar="N", help=describe("models.threads"))]
WorkersOpt = Annotated[int | None, typer.Option("--workers", min=1, max=64, metavar="N", help=describe("batch.workers"))]
LogOpt = Annotated[bool | None, typer.Option("--log/--no-log", help=describe("log"), show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


def _show_version(value: bool) -> None:
    if value:
        from rag import __version__

        typer.echo(f"rag {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """The options before a command: --version, and shell completion (Typer's)."""

T = TypeVar("T")


@contextmanager
def _errors(debug: bool, json_out: bool = False) -> Iterator[None]:
    """RagError -> one line on stderr and its exit code; anything else is a bug.

    With JSON_OUT the error is also printed on stdout as ``{"error": ..., "hint": ...}``,
    so a script reading ``--json`` always gets one JSON object, even when there is no index.
    """
    try:
        yield
    except RagError as exc:
        if debug:
            raise
        _error_json(json_out, exc.message, exc.hint)
        typer.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"  hint: {exc.hint}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        message = f"unexpected {type(exc).__name__}: {exc}"
        _error_json(json_out, message, "rerun with --debug for details")
        typer.echo(f"Error: {message} (rerun with --debug for details)", err=True)
        raise typer.Exit(1) from None


def _error_json(json_out: bool, message: str, hint: str | None) -> None:
    if json_out:
        import json

        typer.echo(json.dumps({"error": message, "hint": hint}, ensure_ascii=False))


def _progress_bar(label: str = "embedding") -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A rich progress bar with counts and ETA on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("ingest", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Files or folders (recursive).")],
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    sync: Annotated[bool, typer.Option("--sync", help="Make the index exactly PATHs: also remove every file indexed from elsewhere.")] = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop the index and embed PATHs again.")] = False,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Add and update the documents under PATHs; remove the ones that vanished from under them.

    Files indexed from other folders stay (`rag rm` removes, `--sync` mirrors). Only new or changed files are embedded. Ctrl-C stops within a second or two and keeps every file finished before it.

    Example: rag ingest examples/corpus --json
    """
    from rag.ingest import IngestInterrupted
    from rag.ingest import ingest as run_ingest
    from rag.render import ingest_text, interrupted_text, to_json

    # Ctrl-C is how a long ingest stops. A parent that ignores SIGINT (nohup, a background
    # job) passes that on, and Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupted = False
    with _errors(debug):
        settings = _settings(index, chroma_url, embed, threads=threads)
        update, stop = _progress_bar()
        try:
            report = run_ingest(paths, settings, rebuild=rebuild, sync=sync, progress=update,
                                notify=lambda line: typer.echo(line, err=True))
        except IngestInterrupted as exc:
            report, interrupted = exc.report, True
        finally:
            stop()
    typer.echo(to_json(report) if json_out else ingest_text(report))
    if interrupted:
        typer.echo(interrupted_text(report), err=True)
        raise typer.Exit(130)
    if report.skipped and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)  # nothing usable was given


@app.command("rm")
def remove(
    paths: Annotated[list[str], typer.Argument(help="Files or folders on disk, or names as `rag ls` shows them.")],
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Remove files or folders from the index (the files on disk are not touched).

    A PATH is the place of a file or folder on disk (it may be gone already) or a name as citations and `rag ls` show it. If one PATH matches nothing, nothing is removed.

    Example: rag rm examples/corpus/003_3e9024b6c632520f.txt
    """
    from rag.ingest import remove as run_remove
    from rag.render import remove_text, to_json

    with _errors(debug):
        report = run_remove(paths, _settings(index, chroma_url))
    typer.echo(to_json(report) if json_out else remove_text(report))


@app.command("ls")
def list_files(
    paths: Annotated[list[str] | None, typer.Argument(help="Only these files or folders (as for `rag rm`).")] = None,
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the indexed files: paragraphs, chunks, state, and the folder each was read from.

    Example: rag ls --json
    """
    from rag.index import open_index
    from rag.render import ls_json, ls_text
    from rag.sources import select

    with _errors(debug):
        store = _settings(index, chroma_url).store
        records = list(open_index(store.index_dir, store.chroma_url).files().values())
        records = select(records, paths) if paths else sorted(records, key=lambda r: r.name)
    typer.echo(ls_json(records) if json_out else ls_text(records))


@app.command()
def status(
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show what is indexed (files, paragraphs, chunks, embedding model, store location) and the thread counts the models run with.

    Example: rag status --index .rag
    """
    from rag.index import index_status, open_index
    from rag.render import status_json, status_text

    with _errors(debug, json_out):
        settings = _settings(index, chroma_url)
        threads = settings.models.threads
        st = index_status(open_index(settings.store.index_dir, settings.store.chroma_url))
    typer.echo(status_json(st, threads) if json_out else status_text(st, threads))


@app.command("settings")
def show_settings(
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    llm: LlmOpt = None,
    top_k: TopKOpt = None,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show every setting, its value and where it came from: default < profile < environment < flag.

    The profile is a TOML file (RAG_PROFILE, else profile.toml in the user config folder, ~/.config/rag on Linux) with one table per group: [store], [models], [retrieval], [answer], [batch]; `log` at the top. The flags given here show how a command with the same flags would run.

    Example: rag settings --llm none
    """
    from rag.config import explain, profile_path
    from rag.render import settings_json, settings_text

    with _errors(debug, json_out):
        rows = explain(_flags(index, chroma_url, embed, llm, top_k, threads))
        profile = profile_path()
    shown = str(profile) if profile else None
    typer.echo(settings_json(rows, shown) if json_out else settings_text(rows, shown))


def _flags(index: Path | None = None, chroma_url: str | None = None, embed: str | None = None,
           llm: str | None = None, top_k: int | None = None, threads: int | None = None,
           log: bool | None = None, workers: int | None = None) -> dict[str, object]:
    """The setting each shared flag sets, by rag.config key (None: not given)."""
    return {"store.index_dir": index, "store.chroma_url": chroma_url, "models.embed": embed,
            "models.llm": llm, "retrieval.top_k": top_k, "models.threads": threads, "log": log,
            "batch.workers": workers}


def _settings(*flags: Any, **named: Any) -> Settings:
    """The Settings of a command: its flags (in ``_flags``' order; None: not given) over
    the profile and the environment. Call it inside ``_errors``: a bad RAG_* value or
    profile is a UsageError."""
    return resolve(_flags(*flags, **named))


def _status(message: str) -> None:
    """A status line on stderr, for people only."""
    if sys.stderr.isatty():
        typer.echo(message, err=True)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION",
                                            help="The question, in Arabic, Chinese or English; - reads it from standard input.")],
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    llm: LlmOpt = None,
    top_k: TopKOpt = None,
    threads: ThreadsOpt = None,
    json_out: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show, on stderr, the passages retrieved with their scores, the evidence sentences the model saw, and why it answered or abstained.")] = False,
    log: LogOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Answer one question with citations. On a terminal the answer streams dim, as a draft, and the checked answer replaces it.

    Example: rag ask "How many experts attended the Horgos summit?"  (or: rag ask - < question.txt)
    """
    from rag.answer import Assistant
    from rag.display import Screen
    from rag.questions import checked_question
    from rag.render import to_json

    with _errors(debug):
        question = checked_question(_stdin_question() if question == "-" else question)
        _status("loading models…")
        settings = _settings(index, chroma_url, embed, llm, top_k, threads, log)
        assistant = Assistant(settings)
        screen = Screen()
        if json_out:
            result = assistant.ask(question)
        else:
            with screen.drafting() as draft:
                result = assistant.ask(question, on_token=draft.add)
        answer = result.answer
    if verbose:
        from rag.render import verbose_text

        typer.echo(verbose_text(result), err=True)
    if json_out:
        typer.echo(to_json(answer))
    else:
        screen.show_answer(answer)
    if settings.log:
        from rag.logs import Recorder

        Recorder.for_assistant(assistant, "ask")(answer, question)
    if answer.error:
        raise typer.Exit(1)


def _stdin_question() -> str:
    """``rag ask -``: the question from standard input, as UTF-8, without its trailing newline."""
    if sys.stdin.isatty():
        _status("reading the question from standard input (end it with Ctrl-D)…")
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"standard input is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})") from None
    return text.rstrip("\r\n")


@app.command()
def chat(
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    llm: LlmOpt = None,
    top_k: TopKOpt = None,
    threads: ThreadsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show each follow-up as rewritten, and timings.")] = False,
    log: LogOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Chat: follow-up questions, streamed answers, /sources /reset /help /quit.

    Models load once, before the first prompt. Ctrl-C stops an answer; Ctrl-C again or Ctrl-D leaves. Typed lines are kept in chat_history in the user data folder (~/.local/share/rag on Linux; RAG_DATA_DIR moves it; /help shows the path); answers go to the log `rag logs` shows.

    Example: rag chat --index .rag --llm local
    """
    from rag.answer import Assistant
    from rag.chat import run_chat
    from rag.logs import Recorder

    with _errors(debug):
        _status("loading index and models…")
        settings = _settings(index, chroma_url, embed, llm, top_k, threads, log)
        assistant = Assistant(settings)
        run_chat(assistant, verbose=verbose, on_answer=Recorder.for_assistant(assistant, "chat") if settings.log else None)


@app.command()
def batch(
    input: Annotated[Path, typer.Argument(metavar="INPUT", help="Questions: .txt (one a line), .jsonl (id, question) or .csv (id,question).")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="OUTPUT", help="Answers: .jsonl, .csv or .md, by suffix.")],
    resume: Annotated[bool, typer.Option("--resume", help="Keep the answers already in OUTPUT; ask the rest (and failed ones) again.")] = False,
    workers: WorkersOpt = None,
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    llm: LlmOpt = None,
    top_k: TopKOpt = None,
    threads: ThreadsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Answer every question in INPUT, writing each answer to OUTPUT as soon as it is made.

    A bad line or a failed question gets an entry with "error" and the batch goes on; the exit code is 1 if any did. A missing id becomes "line-N"; a repeated id is not answered.

    Example: rag batch questions.csv -o answers.jsonl --resume
    """
    from rag.batch import plan_batch, run_batch, worker_count
    from rag.render import batch_summary_text

    with _errors(debug):
        plan = plan_batch(input, output, resume=resume)
        if plan.replaces:
            typer.echo(f"replacing {output} (--resume keeps what it holds)", err=True)
        assistant, n = None, 1
        if plan.todo:  # nothing left to answer: no models to load
            from rag.answer import Assistant

            _status("loading index and models…")
            settings = _settings(index, chroma_url, embed, llm, top_k, threads, workers=workers)
            assistant = Assistant(settings)
            n, note = worker_count(assistant.llm, settings.batch.workers, settings.models.llm)  # the backend says
            if note:
                typer.echo(note, err=True)
        update, stop = _progress_bar("answering")
        try:
            summary = run_batch(plan, assistant, workers=n, progress=update)
        except KeyboardInterrupt:
            summary = None
        finally:
            stop()
    if summary is None:
        typer.echo(f"interrupted: the answers made so far are in {output}; add --resume to go on", err=True)
        raise typer.Exit(130)
    typer.echo(batch_summary_text(summary), err=True)
    if summary.failed:
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[SET|FILE]...",
        help="Sets named in eval/sets.json (dev, heldout, wiki) or evaluation JSONL files; none: every set.")] = None,
    answers: Annotated[Path | None, typer.Option("--answers", metavar="FILE", help="Score this SPEC 4 answers JSONL instead of answering.")] = None,
    baseline: Annotated[bool, typer.Option("--baseline", help="Also run a starter-docs llama-index pipeline (same models) and compare.")] = False,
    docs: Annotated[Path, typer.Option("--docs", metavar="DIR", help="The documents folder of a FILE target, for --baseline.")] = Path("examples/corpus"),
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder for NAME.json and NAME.md per set.")] = Path("eval/reports"),
    index: IndexOpt = None,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = None,
    llm: LlmOpt = None,
    top_k: TopKOpt = None,
    threads: ThreadsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run evaluation sets and print the SPEC 5 metrics of each; writes NAME.json and NAME.md.

    A named set is answered over its own corpus, indexed once in the cache folder; a FILE
    over --index. Example: rag eval dev wiki --out /tmp/eval
    """
    from rag import evaluate as ev
    from rag.types import Answer

    failed: list[Any] = []
    with _errors(debug):
        if answers is not None and baseline:
            raise UsageError("--answers scores a file; --baseline answers: choose one")
        chosen = ev.resolve(targets or [], ev.load_sets())
        for target in chosen:
            settings = _settings(index, chroma_url, embed, llm, top_k, threads)
            if answers is not None:
                given = ev.read_answers(answers)
                missing = Answer(None, "", "", False, "en", error="no answer in the answers file")
                rows = ev.run(target.questions, lambda q: ev.Answered(given.get(q.id, missing)))
                base_rep = None
            else:
                if target.corpus is not None:
                    settings = _eval_index(target, settings)
                rows, base_rep = _answer_set(ev, target, settings, baseline, target.corpus or docs)
                failed += [r for r in rows if r.error]  # a scored file's errors are its data
            rep = ev.report(rows)
            table = ev.markdown(rep, f"rag eval {target.name}")
            if base_rep is not None:
                rep["baseline"] = base_rep
                table += "\n" + ev.compare_markdown(rep, base_rep, f"rag vs llama-index baseline, {target.name}")
            typer.echo(table)
            written = ev.write_reports(out, target.name, rep, table)
            typer.echo(f"wrote {written[0]} and {written[1]}", err=True)
    for r in failed:
        typer.echo(f"{r.id}: error: {r.error}", err=True)
    if failed:
        raise typer.Exit(1)


def _eval_index(target: Any, settings: Settings) -> Settings:
    """SETTINGS pointed at the index of a named set's corpus, in the cache folder, brought
    up to date first (an unchanged corpus costs a hash per file)."""
    from dataclasses import replace

    from rag.config import cache_dir
    from rag.ingest import ingest as run_ingest

    settings = replace(settings, store=replace(settings.store, index_dir=cache_dir() / "eval-index" / target.index_name(),
                                               chroma_url=None))
    _status(f"indexing {target.corpus} for {target.name}…")
    run_ingest([target.corpus], settings)
    return settings


def _answer_set(ev: Any, target: Any, settings: Settings, baseline: bool, docs: Path) -> tuple[list[Any], Any]:
    """Answer TARGET's questions with rag (and, with BASELINE, with the llama-index baseline)."""
    from rag.answer import Assistant

    _status("loading models…")
    assistant = Assistant(settings)
    if baseline and assistant.llm is None:
        raise UsageError("--baseline compares answers written by an LLM: use it without --llm none")

    def ours(q: Any) -> Any:
        result = assistant.ask(q.question, qid=q.id)
        return ev.Answered(result.answer, [(h.chunk.file, h.chunk.paragraph.number) for h in result.hits],
                           result.details())

    rows = _run_with_progress(ev, target.questions, ours, f"answering {target.name}")
    base_rep = None
    if baseline:
        from rag.baseline import Baseline

        _status("building the llama-index baseline…")
        base = Baseline(docs, assistant.embedder, assistant.llm)  # type: ignore[arg-type]
        try:
            base_rep = ev.report(_run_with_progress(
                ev, target.questions, lambda q: base.ask(q.question, q.id), "baseline answering"))
        finally:
            base.close()
    return rows, base_rep


logs_app = typer.Typer(no_args_is_help=False)  # help: the docstring of `logs` below
app.add_typer(logs_app, name="logs")


@logs_app.callback(invoke_without_command=True)
def logs(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", "--count", min=0, help="How many, newest first (0: all).")] = 10,
    query: Annotated[str | None, typer.Option("-q", "--query", help="Only answers whose question or answer holds every word (Arabic, Chinese, English; 重庆 finds 重慶).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array of the entries instead of text.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Show the questions asked with `rag ask` and `rag chat`, their answers and citations, newest first.

    Every answer is logged to a SQLite file in the user data folder (`rag logs path`); --no-log on ask/chat or RAG_LOG=0 turns that off.

    Example: rag logs -n 3 -q Chongqing
    """
    if ctx.invoked_subcommand is not None:
        return
    import json
    from dataclasses import asdict

    from rag.logs import latest, log_path
    from rag.render import log_entries_text

    path = log_path()
    with _errors(debug):
        entries = latest(path, count, query)
    if json_out:
        typer.echo(json.dumps([asdict(e) for e in entries], ensure_ascii=False))
    elif entries:
        typer.echo(log_entries_text(entries))
    else:
        typer.echo(f"no logged answers{' matching ' + repr(query) if query else ''} in {path}", err=True)


@logs_app.command("path")
def logs_path() -> None:
    """Print where the log is kept (RAG_DATA_DIR moves it).

    Example: sqlite3 "$(rag logs path)" 'select question from answers'
    """
    from rag.logs import log_path

    typer.echo(str(log_path()))


def _run_with_progress(ev: Any, questions: list[Any], answer: Callable[[Any], Any], label: str) -> list[Any]:
    """``ev.run`` with, on a terminal, a bar counting the questions (its total known from the
    start, so it shows a count and an ETA at once) and one line per question as it is done:
    an answer with the embedded model takes 10-60 s, and a bar alone, which vanishes at the
    end, says nothing about what happened. Nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return ev.run(questions, answer)
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True, highlight=False, markup=False), transient=True)
    task = bar.add_task(label, total=len(questions))
    done = 0

    def answer_and_tell(q: Any) -> Any:
        nonlocal done
        started = time.perf_counter()
        outcome = "error"
        try:
            got = answer(q)
            outcome = "error" if got.answer.error else "abstained" if got.answer.abstained else "answered"
            return got
        finally:
            done += 1
            bar.console.print(f"{done}/{len(questions)} {q.id} ({q.language}, {q.kind}): {outcome} "
                              f"in {time.perf_counter() - started:.1f} s")

    with bar:
        return ev.run(questions, answer_and_tell, lambda n, total: bar.update(task, completed=n))


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb must never phone home
    app()
