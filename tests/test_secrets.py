"""The API key never reaches a person's screen or a file, on any command, with or without --debug.

OPENAI_API_KEY holds a distinctive fake key and OPENAI_BASE_URL points at a closed port on
127.0.0.1 (or at a small server that echoes the key back in its error replies). Then `rag ask`,
`rag batch` (.jsonl, .csv, .md), `rag eval` (scoring an answers file, and answering) and
`rag ingest --embed openai:MODEL` run through CliRunner and, for the tracebacks --debug
prints, through real processes. Each must fail or record the failure naming the server's URL,
and the key must appear in no stdout, stderr, traceback, output file or eval report.

tests/test_llms_openai.py covers the masking of one OpenAILLM error at a time; this file covers
what the commands show and write. Answers use the fake embedder (conftest.py); no model loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from conftest import SAMPLE_CORPUS, FakeEmbedder, free_port
from rag.cli import app
from rag.config import ModelSettings, Settings, StoreSettings
from rag.embeddings import load_embedder as REAL_LOADER  # taken before any test replaces it

KEY = "sk-test-SECRET-1234567890"
TESTS = Path(__file__).resolve().parent
QUESTIONS = [
    "Where was the 10th foundry forum held?",
    "有多少家上合組織國家的企業已經落戶重慶？",
]
EVALSET = [
    {"id": "e1", "question": QUESTIONS[0], "language": "en", "kind": "same-language",
     "gold": [{"file": "003_3e9024b6c632520f.txt", "paragraph": 26}], "facts": [["Ningbo"]]},
    {"id": "e2", "question": "How many moons does the forum have?", "language": "en", "kind": "unanswerable",
     "gold": [], "facts": []},
]


def closed_url() -> str:
    """A /v1 URL on a 127.0.0.1 port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/v1"


def assert_no_key(*texts: str | bytes) -> None:
    for text in texts:
        blob = text if isinstance(text, str) else text.decode("utf-8", "replace")
        assert KEY not in blob and "SECRET-1234567890" not in blob, blob[-3000:]


def assert_no_key_in_files(folder: Path) -> None:
    """No file under FOLDER (outputs, reports, the index itself) holds the key."""
    for path in folder.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def shown(result: Result) -> str:
    """Everything a person could see: stdout, stderr, and the traceback --debug prints."""
    parts = [result.stdout, result.stderr]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        parts.append("".join(traceback.format_exception(result.exception)))  # with every cause
    return "\n".join(parts)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def url(monkeypatch: pytest.MonkeyPatch) -> str:
    address = closed_url()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", address)
    return address


@pytest.fixture(scope="module")
def built_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, FakeEmbedder]:
    """The sample corpus indexed once with the fake embedder; the tests only read it."""
    import rag.ingest

    fake = FakeEmbedder()
    patch = pytest.MonkeyPatch()
    patch.setenv("ANONYMIZED_TELEMETRY", "False")
    try:
        folder = tmp_path_factory.mktemp("secrets") / "idx"
        rag.ingest.ingest([SAMPLE_CORPUS], Settings(store=StoreSettings(index_dir=folder),
                                                    models=ModelSettings(embed="fake")), embedder=fake)
    finally:
        patch.undo()
    return str(folder), fake


@pytest.fixture
def index(built_index: tuple[str, FakeEmbedder], monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared index, with the fake embedder behind the loader (these tests go through
    the CLI) for answering and for ingest."""
    import rag.embeddings

    folder, fake = built_index
    monkeypatch.setattr(rag.embeddings, "load_embedder", lambda spec, models=None: fake)
    return folder


def write_questions(tmp_path: Path) -> Path:
    path = tmp_path / "q.jsonl"
    lines = [json.dumps({"id": f"q{i}", "question": q}, ensure_ascii=False) for i, q in enumerate(QUESTIONS, 1)]
    path.write_text("\n".join([*lines, "not json"]) + "\n", encoding="utf-8")
    return path


def write_evalset(tmp_path: Path) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in EVALSET), encoding="utf-8")
    return path


def check_failure(result: Result, url: str, debug: bool) -> None:
    """Exit 1, the URL named (one line, or the exception --debug lets through), no key."""
    assert result.exit_code == 1, shown(result)
    if debug:
        assert result.exception is not None and url in str(result.exception), shown(result)
    else:
        assert f"Error: cannot reach the model server at {url}" in result.stderr, result.stderr
        assert "Traceback" not in result.output
    assert_no_key(shown(result))


# -- rag ask ---------------------------------------------------------------------------------


@pytest.mark.parametrize("json_out", [False, True])
@pytest.mark.parametrize("debug", [False, True])
def test_ask_names_the_server_and_never_the_key(runner: CliRunner, url: str, index: str, tmp_path: Path,
                                                debug: bool, json_out: bool) -> None:
    args = ["ask", QUESTIONS[0], "--index", index, "--llm", "openai:some-model"]
    result = runner.invoke(app, args + ["--json"] * json_out + ["--debug"] * debug)
    check_failure(result, url, debug)
    assert_no_key_in_files(tmp_path)


# -- rag batch -------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("fmt", [".jsonl", ".csv", ".md"])
def test_batch_records_the_failure_per_question_without_the_key(runner: CliRunner, url: str, index: str,
                                                               tmp_path: Path, fmt: str, debug: bool,
                                                               workers: int) -> None:
    out = tmp_path / f"answers{fmt}"
    args = ["batch", str(write_questions(tmp_path)), "-o", str(out), "--index", index,
            "--llm", "openai:some-model", "--workers", str(workers)]
    result = runner.invoke(app, args + ["--debug"] * debug)

    assert result.exit_code == 1, shown(result)  # every question failed, the batch did not stop
    assert "failed 3" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count(f"cannot reach the model server at {url}") == 2, text  # one per question
    assert "line 3: not valid JSON" in text
    assert_no_key(shown(result), text)
    assert_no_key_in_files(tmp_path)


# -- rag eval --------------------------------------------------------------------------------


def test_eval_scores_an_answers_file_of_failures_without_the_key(runner: CliRunner, url: str, index: str,
                                                                tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    evalset = write_evalset(tmp_path)
    batch = runner.invoke(app, ["batch", str(evalset), "-o", str(answers), "--index", index,
                                "--llm", "openai:some-model"])
    assert batch.exit_code == 1 and answers.read_text(encoding="utf-8").count(url) == 2

    result = runner.invoke(app, ["eval", str(evalset), "--answers", str(answers), "--out", "report",
                                 "--llm", "openai:some-model", "--index", index])

    assert result.exit_code == 0, shown(result)
    report = json.loads((tmp_path / "report" / f"{evalset.stem}.json").read_text(encoding="utf-8"))
    assert report["overall"]["errors"] == 2
    assert all(url in q["error"] for q in report["questions"])
    assert_no_key(shown(result), batch.stderr)
    assert_no_key_in_files(tmp_path)


@pytest.mark.parametrize("debug", [False, True])
def test_eval_answering_records_each_failure_naming_the_server_without_the_key(
        runner: CliRunner, url: str, index: str, tmp_path: Path, debug: bool) -> None:
    evalset = write_evalset(tmp_path)
    args = ["eval", str(evalset), "--out", str(tmp_path / "report"), "--llm", "openai:some-model", "--index", index]
    result = runner.invoke(app, args + ["--debug"] * debug)
    assert result.exit_code == 1, shown(result)
    assert f"cannot reach the model server at {url}" in result.stderr, result.stderr
    report = json.loads((tmp_path / "report" / f"{evalset.stem}.json").read_text(encoding="utf-8"))
    asked = sum(1 for line in evalset.read_text(encoding="utf-8").splitlines() if line.strip())
    assert report["overall"]["errors"] == asked  # every question recorded, none lost
    assert_no_key(shown(result))
    assert_no_key_in_files(tmp_path)


# -- --embed openai:MODEL --------------------------------------------------------------------


@pytest.mark.parametrize("embed_url", [False, True])
@pytest.mark.parametrize("debug", [False, True])
def test_openai_embedder_down_names_its_url_not_the_key(runner: CliRunner, url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, debug: bool,
                                                        embed_url: bool) -> None:
    where = url
    if embed_url:  # RAG_EMBED_BASE_URL wins over OPENAI_BASE_URL for embeddings
        where = closed_url()
        monkeypatch.setenv("RAG_EMBED_BASE_URL", where)
    args = ["ingest", str(SAMPLE_CORPUS), "--index", "idx", "--embed", "openai:text-embedding-3-small"]
    result = runner.invoke(app, args + ["--debug"] * debug)

    assert result.exit_code == 1, shown(result)
    if debug:
        assert where in str(result.exception)
    else:
        assert f"Error: cannot reach the embedding server at {where}" in result.stderr
    assert_no_key(shown(result))
    assert_no_key_in_files(tmp_path)


def real_embedders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the fake embedder, so --embed openai:MODEL builds the real client."""
    import rag.embeddings

    monkeypatch.setattr(rag.embeddings, "load_embedder", REAL_LOADER)


def test_asking_with_an_openai_embedder_down_never_shows_the_key(runner: CliRunner, url: str, index: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_embedders(monkeypatch)
    result = runner.invoke(app, ["ask", QUESTIONS[0], "--index", index, "--llm", "none",
                                 "--embed", "openai:text-embedding-3-small"])
    assert result.exit_code == 1
    assert f"cannot reach the embedding server at {url}" in result.stderr
    assert_no_key(shown(result))


# -- a server that echoes the key back --------------------------------------------------------


class EchoingServer(BaseHTTPRequestHandler):
    """Refuses every request with STATUS and a message quoting the Authorization header,
    as some proxies and servers do."""

    status = 500

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"message": f"rejected credentials: {self.headers.get('Authorization')}",
                                     "type": "invalid_request_error", "code": "echo"}}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[EchoingServer]]:
    handler = type("Handler", (EchoingServer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_a_key_echoed_by_the_server_is_never_shown_or_written(runner: CliRunner, echoing: type[EchoingServer],
                                                              index: str, tmp_path: Path, status: int,
                                                              debug: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    echoing.status = status
    ask = runner.invoke(app, ["ask", QUESTIONS[0], "--index", index, "--llm", "openai:m"] + ["--debug"] * debug)
    assert ask.exit_code == 1
    assert_no_key(shown(ask))

    out = tmp_path / "a.md"
    batch = runner.invoke(app, ["batch", str(write_questions(tmp_path)), "-o", str(out), "--index", index,
                                "--llm", "openai:m"] + ["--debug"] * debug)
    assert batch.exit_code == 1 and "failed 3" in batch.stderr
    assert out.read_text(encoding="utf-8").count(f"HTTP {status}" if status not in (401, 404) else
                                                 ("refused the API key" if status == 401 else "has no model")) == 2
    assert_no_key(shown(batch))

    real_embedders(monkeypatch)
    ingest = runner.invoke(app, ["ingest", str(SAMPLE_CORPUS), "--index", "idx2", "--embed", "openai:e"]
                           + ["--debug"] * debug)
    assert ingest.exit_code == 1
    assert_no_key(shown(ingest))
    assert_no_key_in_files(tmp_path)


# -- real processes: what --debug prints on a real stderr --------------------------------------

BOOT = """
import sys
sys.path.insert(0, {tests!r})
if {fake!r}:
    from conftest import FakeEmbedder
    import rag.embeddings
    fake = FakeEmbedder()
    rag.embeddings.load_embedder = lambda spec, models=None: fake  # the one loader, as conftest's fake_models
sys.argv = ["rag", *sys.argv[1:]]
from rag.cli import main
main()
"""


def run_rag(args: list[str], cwd: Path, fake: bool = True) -> subprocess.CompletedProcess[str]:
    """`rag ARGS` in a fresh process (with the fake embedder unless FAKE is False)."""
    code = BOOT.format(tests=str(TESTS), fake=fake)
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=120)


def test_debug_tracebacks_of_real_processes_never_show_the_key(url: str, index: str, tmp_path: Path) -> None:
    runs = {
        "ask": run_rag(["ask", QUESTIONS[0], "--index", index, "--llm", "openai:some-model", "--debug"], tmp_path),
        "batch": run_rag(["batch", str(write_questions(tmp_path)), "-o", "a.csv", "--index", index,
                          "--llm", "openai:some-model", "--debug"], tmp_path),
        "embed": run_rag(["ingest", str(SAMPLE_CORPUS), "--index", "idx2", "--embed", "openai:e", "--debug"],
                         tmp_path, fake=False),
    }
    for name, run in runs.items():
        assert run.returncode == 1, (name, run.stderr[-3000:])
        assert_no_key(run.stdout, run.stderr)
    assert url in runs["ask"].stderr and url in runs["embed"].stderr
    assert "failed 3" in runs["batch"].stderr and (tmp_path / "a.csv").read_text(encoding="utf-8").count(url) == 2
    assert "Traceback" in runs["ask"].stderr and "Traceback" in runs["embed"].stderr  # --debug shows them,
    assert "openai.APIConnectionError" in runs["ask"].stderr  # with their causes when those hold no key
    assert_no_key_in_files(tmp_path)
