"""The app's own options and help, as a person meets them: --version, shell completion,
help that reads like other tools', and `status --json` keeping stdout JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag
from conftest import RAG_BIN
from rag.cli import app

COMMANDS = ["ingest", "status", "ask", "chat", "batch", "eval"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_no_python_types(runner: CliRunner, command: str | None) -> None:
    result = runner.invoke(app, [command, "--help"] if command else ["--help"])
    assert result.exit_code == 0
    for noise in ("<bool>", "list[", "<str>", "<path>", "<int"):
        assert noise not in result.stdout, (noise, result.stdout)


def test_help_names_what_each_option_takes(runner: CliRunner) -> None:
    ingest = runner.invoke(app, ["ingest", "--help"]).stdout
    assert "PATH" in ingest and "--index" in ingest and "DIR" in ingest
    ask = " ".join(runner.invoke(app, ["ask", "--help"]).stdout.split())
    for shown in ("QUESTION", "--llm SPEC", "--top-k N", "--chroma-url URL", "- reads it from standard input"):
        assert shown.replace(" ", "") in ask.replace("│", "").replace(" ", ""), shown


def test_version_comes_from_the_package() -> None:
    run = subprocess.run([str(RAG_BIN), "--version"], capture_output=True, text=True, env=_env(), timeout=60)
    assert run.returncode == 0
    assert run.stdout == f"rag {rag.__version__}\n"


def test_shell_completion_is_offered_and_completes_commands_and_options(runner: CliRunner) -> None:
    top = runner.invoke(app, ["--help"]).stdout
    assert "--install-completion" in top and "--show-completion" in top
    script = subprocess.run([str(RAG_BIN), "--show-completion", "bash"], capture_output=True, text=True,
                            env=_env(), timeout=60)
    assert script.returncode == 0 and "_RAG_COMPLETE=complete_bash" in script.stdout
    # What bash runs on <Tab>, per that script: the words so far in the environment.
    for words, cword, expected in (("rag in", "1", "ingest"), ("rag ask --ll", "2", "--llm")):
        tab = subprocess.run([str(RAG_BIN)], capture_output=True, text=True, timeout=60,
                             env={**_env(), "_RAG_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword})
        assert tab.stdout.split() == [expected], tab.stdout + tab.stderr


def test_status_json_without_an_index_prints_a_json_error(tmp_path: Path) -> None:
    run = subprocess.run([str(RAG_BIN), "status", "--json", "--index", str(tmp_path / "none")],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert run.returncode == 1
    error = json.loads(run.stdout)  # stdout stays one JSON object...
    assert list(error) == ["error", "hint"]
    assert error["error"] == f"no index at {tmp_path / 'none'}" and "rag ingest" in error["hint"]
    assert run.stderr.startswith(f"Error: no index at {tmp_path / 'none'}")  # ...and a person still reads stderr
