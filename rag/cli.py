"""The ``rag`` command line: parse, resolve Settings, call one library function, render.

Nothing heavy is imported at module level: chromadb, llama-index and the models load
inside the command that needs them, so ``rag --help`` answers at once. Results go to
stdout; progress and errors go to stderr. Only RagError is caught: it prints one line
(plus a hint) and exits 1, or 2 for bad usage; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from rag.config import DEFAULT_EMBED, DEFAULT_INDEX, DEFAULT_LLM, DEFAULT_TOP_K, Settings
from rag.errors import RagError

app = typer.Typer(
    help="Answer questions over a folder of documents (Arabic, Chinese, English) with "
    "citations to file and paragraph.\n\nExample: rag ingest examples/corpus && rag ask \"Where was the foundry forum held?\"",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[Path, typer.Option("--index", envvar="RAG_INDEX", help="Index folder.")]
ChromaOpt = Annotated[
    str | None,
    typer.Option("--chroma-url", envvar="RAG_CHROMA_URL", help="Use a Chroma server (http://host:port) instead of the embedded store."),
]
EmbedOpt = Annotated[
    str, typer.Option("--embed", envvar="RAG_EMBED", help="Embedding model: e5, use, e5+use, or openai:MODEL.")
]
LlmOpt = Annotated[
    str, typer.Option("--llm", envvar="RAG_LLM", help="local (embedded model), gguf:PATH, openai:MODEL, or none (extractive).")
]
TopKOpt = Annotated[int, typer.Option("--top-k", min=1, max=50, help="Passages retrieved per question.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]

T = TypeVar("T")


@contextmanager
def _errors(debug: bool) -> Iterator[None]:
    """RagError -> one line on stderr and its exit code; anything else is a bug."""
    try:
        yield
    except RagError as exc:
        if debug:
            raise
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
        typer.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)", err=True)
        raise typer.Exit(1) from None


def _progress_bar() -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A rich progress bar with counts and ETA on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("ingest", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
    index: IndexOpt = DEFAULT_INDEX,
    chroma_url: ChromaOpt = None,
    embed: EmbedOpt = DEFAULT_EMBED,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop the index and embed everything again.")] = False,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Make the index match PATHs: add new files, re-embed changed ones, remove vanished ones.

    Example: rag ingest examples/corpus --json
    """
    from rag.ingest import ingest as run_ingest
    from rag.render import ingest_text, to_json

    settings = Settings(index_dir=index, chroma_url=chroma_url, embed=embed)
    with _errors(debug):
        update, stop = _progress_bar()
        try:
            report = run_ingest(paths, settings, rebuild=rebuild, progress=update)
        finally:
            stop()
    if json_out:
        typer.echo(to_json(report))
    else:
        typer.echo(ingest_text(report))
    if report.skipped and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)  # nothing usable was given


@app.command()
def status(
    index: IndexOpt = DEFAULT_INDEX,
    chroma_url: ChromaOpt = None,
    json_out: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show what is indexed: files, paragraphs, chunks, embedding model, store location.

    Example: rag status --index .rag
    """
    from rag.index import index_status, open_index
    from rag.render import status_text, to_json

    with _errors(debug):
        st = index_status(open_index(index, chroma_url))
    typer.echo(to_json(st) if json_out else status_text(st))


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb must never phone home
    app()
