"""A real `rag ingest` of a folder holding one big file and five small ones, stopped as a
user stops it: Ctrl-C in a terminal (a PTY, the real default embedder, whose C engine
holds a signal for as long as one embedding call runs), SIGKILL, and Ctrl-C reaching a
process whose parent ignores SIGINT. Each ends at once and `rag ls` then lists the five
finished files and nothing half-written (the issue: two Ctrl-C presses did nothing for
minutes, and a kill lost the small files too)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from conftest import RAG_BIN

SMALL = {f"small_{k}.txt": k % 3 + 1 for k in range(5)}  # file -> paragraphs


def _folder(root: Path, big: int) -> Path:
    """BIG one-line paragraphs in a_big.txt (first by name) and the five small files."""
    root.mkdir()
    (root / "a_big.txt").write_text(
        "".join(f"Line {i} of the big file, about item {i * 7} and its neighbours.\n" for i in range(big)), "utf-8")
    for name, n in SMALL.items():
        (root / name).write_text("\n\n".join(f"{name}, paragraph {j}." for j in range(n)), "utf-8")
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_INDEX", "RAG_CHROMA", "RAG_EMBED", "OPENAI_"))}
    env["ANONYMIZED_TELEMETRY"] = "False"
    return env


def _listed(index_dir: Path) -> dict[str, tuple[str, int]]:
    """`rag ls --json` in a fresh process: name -> (state, paragraphs)."""
    run = subprocess.run([str(RAG_BIN), "ls", "--index", str(index_dir), "--json"],
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    return {f["name"]: (f["state"], f["paragraphs"]) for f in json.loads(run.stdout)["files"]}


def _status(index_dir: Path) -> dict:
    run = subprocess.run([str(RAG_BIN), "status", "--index", str(index_dir), "--json"],
                         capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _only_the_small_files_are_indexed(index_dir: Path) -> None:
    assert _listed(index_dir) == {name: ("done", n) for name, n in SMALL.items()}
    status = _status(index_dir)
    assert status["pending"] == [] and status["chunks"] == status["chunks_in_store"] == sum(SMALL.values())


def test_ctrl_c_in_a_terminal_stops_within_two_seconds_and_keeps_the_finished_files(tmp_path: Path) -> None:
    docs, index_dir = _folder(tmp_path / "docs", big=6000), tmp_path / "idx"
    child = pexpect.spawn(str(RAG_BIN), ["ingest", str(docs), "--index", str(index_dir)], env=_env(),
                          encoding="utf-8", timeout=300, dimensions=(24, 120), use_poll=True)
    try:
        # The warning comes once the small files are written and the big one begins.
        child.expect(r"a_big\.txt: 6,000 paragraphs \(6,000 chunks\) to embed, about \d+ min at \d+ chunks/s")
        child.expect(r"embedding .*\d+/6009")  # the bar counts chunks, within the file
        time.sleep(1)
        pressed = time.monotonic()
        child.sendintr()  # Ctrl-C, through the terminal, to the foreground process
        child.expect(pexpect.EOF, timeout=30)
        took = time.monotonic() - pressed
    finally:
        child.close(force=True)
    assert child.exitstatus == 130, child.before
    assert took < 2.0, f"{took:.2f} s from Ctrl-C to exit"
    assert "interrupted: 5 files finished before it are kept" in child.before
    assert "added 5, updated 0, removed 0, unchanged 0" in child.before
    _only_the_small_files_are_indexed(index_dir)


# The real CLI in a real process, with an embedder that takes 10 ms a chunk (the index is
# what is tested here, not the model): the big file takes ~2 min, so it is mid-file when
# the signal comes.
LAUNCHER = r"""
import sys, time
import numpy as np
import rag.embeddings

class Slow:
    id, dim = "slow-constant-v1", 8

    def embed_passages(self, texts):
        time.sleep(0.01 * len(texts))
        return np.full((len(texts), 8), 8 ** -0.5, np.float32)

    def embed_query(self, text):
        return np.full(8, 8 ** -0.5, np.float32)

rag.embeddings.load_embedder = lambda spec, models=None: Slow()  # the one loader ingest calls
from rag.cli import app
app(sys.argv[1:], prog_name="rag")
"""


def _start(docs: Path, index_dir: Path, *, ignore_sigint: bool = False) -> subprocess.Popen:
    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as nohup or a background job leaves it

    return subprocess.Popen([sys.executable, "-c", LAUNCHER, "ingest", str(docs), "--index", str(index_dir)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore if ignore_sigint else None)


def _wait_for_the_warning(proc: subprocess.Popen) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if re.match(r"a_big\.txt: 12,000 paragraphs \(12,000 chunks\) to embed, about \d+ min at \d+ chunks/s", line):
            return seen
        assert line or proc.poll() is None, seen
    raise AssertionError(f"no long-file warning in 120 s: {seen}")


def test_sigkill_mid_file_keeps_the_files_finished_before_it(tmp_path: Path) -> None:
    docs, index_dir = _folder(tmp_path / "docs", big=12_000), tmp_path / "idx"
    proc = _start(docs, index_dir)
    try:
        _wait_for_the_warning(proc)
        time.sleep(1)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    _only_the_small_files_are_indexed(index_dir)


def test_ctrl_c_stops_even_when_the_parent_ignores_it(tmp_path: Path) -> None:
    docs, index_dir = _folder(tmp_path / "docs", big=12_000), tmp_path / "idx"
    proc = _start(docs, index_dir, ignore_sigint=True)
    try:
        _wait_for_the_warning(proc)
        pressed = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - pressed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert took < 2.0, f"{took:.2f} s from SIGINT to exit"
    assert "interrupted: 5 files finished before it are kept" in err
    assert out.startswith("added 5, updated 0, removed 0, unchanged 0")
    _only_the_small_files_are_indexed(index_dir)
