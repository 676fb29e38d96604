"""The log of what was asked (rag.logs, `rag logs`): written after every ask and chat
answer, searched in three scripts, never corrupted by a killed writer, and never the
reason an answer is lost.

The CLI tests answer with `--llm none` over the real sample-corpus index (the answer's
content is not what they test); the crash tests SIGKILL real writer processes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, REPO, RealIndex
from rag.cli import app
from rag.logs import SCHEMA_VERSION, Recorder, latest, log_path
from rag.types import Answer, Citation

QUESTION = "How much investment is involved in Chongqing companies expanding into SCO countries?"
# Hand-checked in examples/corpus with `python -m rag.paragraphs` and `grep -n`: the answer
# ($675 million) is paragraph 24, line 51, of this file.
GOLD_FILE, GOLD_PARAGRAPH, GOLD_LINE = "003_3e9024b6c632520f.txt", 24, 51


def answer(question: str, text: str, *, abstained: bool = False, citations: list[Citation] | None = None) -> Answer:
    return Answer(None, question, text, abstained, "en", citations or [], {"retrieve": 12.5, "total": 40.0})


def recorder(path: Path, warnings: list[str] | None = None, command: str = "ask") -> Recorder:
    return Recorder(command, "local:test-model", "/somewhere/.rag", path=path,
                    warn=(warnings.append if warnings is not None else _fail_on_warning))


def _fail_on_warning(line: str) -> None:
    raise AssertionError(f"unexpected warning: {line}")


# -- the file ------------------------------------------------------------------------------


def test_entries_come_back_newest_first_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    cite = Citation(1, GOLD_FILE, GOLD_PARAGRAPH, GOLD_LINE, GOLD_LINE, "a total investment of $675 million")
    log = recorder(path)
    log(answer("first question", "first answer [1]", citations=[cite]))
    log(answer("مدينة إسطنبول؟", "لا تحتوي المستندات على إجابة لهذا السؤال.", abstained=True), "typed إسطنبول")

    newest, oldest = latest(path)
    assert (newest.id, oldest.id) == (2, 1)
    assert newest.question == "مدينة إسطنبول؟" and newest.asked == "typed إسطنبول" and newest.abstained
    assert oldest.asked == oldest.question == "first question" and not oldest.abstained
    assert oldest.citations == [{"marker": 1, "file": GOLD_FILE, "paragraph": 24, "start_line": 51, "end_line": 51,
                                 "page": None, "quote": "a total investment of $675 million"}]
    assert oldest.timings_ms == {"retrieve": 12.5, "total": 40.0}
    assert (oldest.command, oldest.model, oldest.index, oldest.conversation) == ("ask", "local:test-model",
                                                                                   "/somewhere/.rag", None)
    assert oldest.datetime_utc.endswith("Z") and oldest.datetime_utc[:2] == "20"
    assert [e.id for e in latest(path, n=1)] == [2]
    assert len(latest(path, n=0)) == 2  # 0: everything


def test_the_file_is_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "logs.db"  # folders are made as needed
    recorder(path)(answer("q", "a"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1


def test_no_log_file_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    assert latest(tmp_path / "missing" / "logs.db") == []
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("重庆", ["zh"]),  # simplified finds the traditional 重慶 in the answer
        ("重慶", ["zh"]),
        ("اسطنبول", ["ar"]),  # without the hamza finds إسطنبول
        ("CHONGQING", ["en"]),  # case folded
        ("investment 675", ["en"]),  # every word, anywhere
        ("investment Istanbul", []),
        ("typed-only", ["ar"]),  # what was typed counts too
    ],
)
def test_search_folds_scripts_like_keyword_search(tmp_path: Path, term: str, expected: list[str]) -> None:
    path = tmp_path / "logs.db"
    log = recorder(path)
    log(answer("How much was invested in Chongqing?", "A total investment of $675 million [1]."))  # en
    log(answer("重慶的企業有多少家？", "約40家重慶企業 [1]。"))  # zh
    log(answer("ما هي مدينة إسطنبول؟", "مدينة في تركيا [1]."), "typed-only question")  # ar
    names = {1: "en", 2: "zh", 3: "ar"}
    assert [names[e.id] for e in latest(path, search=term)] == expected


# -- what cannot be written costs the entry, never the answer ------------------------------


def test_a_folder_that_cannot_be_made_costs_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    warnings: list[str] = []
    recorder(blocker / "data" / "logs.db", warnings)(answer("q", "a"))
    assert len(warnings) == 1 and str(blocker / "data" / "logs.db") in warnings[0], warnings
    assert "not logged" in warnings[0] and "RAG_LOG=0" in warnings[0]


def test_a_file_that_is_not_a_log_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    path.write_bytes(b"my notes, not a database" * 100)
    warnings: list[str] = []
    recorder(path, warnings)(answer("q", "a"))
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert path.read_bytes() == b"my notes, not a database" * 100


def test_a_log_from_a_newer_rag_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    recorder(path)(answer("q", "a"))
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    warnings: list[str] = []
    recorder(path, warnings)(answer("q2", "a2"))
    assert len(warnings) == 1 and "schema version 2" in warnings[0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM answers").fetchone()[0] == 1


WRITE_ONE = r"""
import resource, signal, sys
from pathlib import Path
from rag.logs import Recorder
from rag.types import Answer
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the disk is full: no file may grow
Recorder("ask", "m", "i", path=Path(sys.argv[1]))(Answer(None, "q", "the answer", False, "en"))
print("still answering")
"""


def test_a_full_disk_costs_the_entry_and_one_line(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past the file's size fail with EFBIG, as a full disk
    fails with ENOSPC; the log exists already, so only the new entry is at stake."""
    path = tmp_path / "logs.db"
    recorder(path)(answer("before", "kept"))
    run = subprocess.run([sys.executable, "-c", WRITE_ONE, str(path)], capture_output=True, text=True, timeout=60,
                         env=_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout == "still answering\n"
    assert run.stderr.count("\n") == 1 and "not logged" in run.stderr and str(path) in run.stderr, run.stderr
    assert [e.question for e in latest(path, n=0)] == ["before"]


# -- a killed writer -----------------------------------------------------------------------

WRITER = r"""
import sys
from pathlib import Path
from rag.logs import Recorder
from rag.types import Answer, Citation
path, tag = Path(sys.argv[1]), sys.argv[2]
log = Recorder("ask", "m", "i", path=path)
i = 0
while True:
    i += 1
    # ~40 KB an answer: each transaction spans several pages, so a kill can land mid-write
    text = f"{tag} answer {i} " + "重慶 إسطنبول words " * 2000
    log(Answer(None, f"{tag} question {i}", text, False, "en", [Citation(i, "f.txt", i, i, i, "q")]))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM answers").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def test_killed_writers_never_corrupt_the_log(tmp_path: Path) -> None:
    """Two real processes append at once; one is SIGKILLed at a random moment, round after
    round. After every kill the file is intact and every row is whole."""
    path = tmp_path / "logs.db"
    seed = int(os.environ.get("RAG_TEST_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    for round_ in range(12):
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{round_}{n}"], env=_env(),
                                  stderr=subprocess.PIPE) for n in range(2)]
        try:
            start = _count(path)
            deadline = time.monotonic() + 60
            target = start + rng.randrange(5, 40)
            while _count(path) < target:
                assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-2000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, f"no {target} rows in 60 s (seed {seed})"
                time.sleep(rng.random() * 0.02)
            procs[0].send_signal(signal.SIGKILL)
            time.sleep(rng.random() * 0.2)  # the other goes on writing beside the dead one
        finally:
            for p in procs:
                p.kill()
                p.wait()
                p.stderr.close()  # type: ignore[union-attr]  # or it is a ResourceWarning, an error here
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"seed {seed}"
        entries = latest(path, n=0)
        assert len(entries) >= target, f"seed {seed}"
        for e in entries:  # whole rows only: question, answer and citation of the same step
            tag, _, i = e.question.rpartition(" question ")
            assert e.answer.startswith(f"{tag} answer {i} ") and e.answer.endswith("words "), f"seed {seed}"
            assert len(e.answer) == len(f"{tag} answer {i} ") + 2000 * len("重慶 إسطنبول words ")
            assert e.citations[0]["marker"] == int(i), f"seed {seed}"
        assert sorted(e.id for e in entries) == list(range(1, len(entries) + 1))


# -- the commands ---------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _ask(runner: CliRunner, real_index: RealIndex, question: str, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["ask", question, "--index", str(real_index.settings.store.index_dir), "--llm", "none",  # type: ignore[attr-defined]
                               *args], env=env)


def test_ask_is_logged_and_rag_logs_shows_it(runner: CliRunner, real_index: RealIndex, tmp_path: Path) -> None:
    run = _ask(runner, real_index, QUESTION)
    assert run.exit_code == 0, run.output
    assert log_path() == tmp_path / "data" / "logs.db"  # RAG_DATA_DIR, set per test by conftest

    listed = runner.invoke(app, ["logs", "--json"])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert entry["question"] == entry["asked"] == QUESTION
    assert entry["command"] == "ask" and entry["model"] == "none" and not entry["abstained"]
    assert entry["index"] == str(real_index.settings.store.index_dir.resolve())  # type: ignore[attr-defined]
    assert (GOLD_FILE, GOLD_PARAGRAPH, GOLD_LINE) in {(c["file"], c["paragraph"], c["start_line"])
                                                     for c in entry["citations"]}
    assert entry["answer"] in run.stdout and entry["timings_ms"]["total"] > 0

    text = runner.invoke(app, ["logs"])
    assert text.exit_code == 0
    assert f"Q: {QUESTION}" in text.stdout and f"[1] {GOLD_FILE} ¶24 (line 51)" in text.stdout


def test_no_log_and_rag_log_0_turn_it_off(runner: CliRunner, real_index: RealIndex) -> None:
    assert _ask(runner, real_index, QUESTION, "--no-log").exit_code == 0
    assert _ask(runner, real_index, QUESTION, env={"RAG_LOG": "0"}).exit_code == 0
    assert not log_path().exists()
    assert _ask(runner, real_index, QUESTION, env={"RAG_LOG": "1"}).exit_code == 0
    assert len(latest(log_path())) == 1


def test_rag_logs_n_and_search_in_chinese(runner: CliRunner, real_index: RealIndex) -> None:
    for q in (QUESTION, "重慶企業的總投資是多少？", "Where was the foundry forum held?"):
        assert _ask(runner, real_index, q).exit_code == 0
    newest = json.loads(runner.invoke(app, ["logs", "-n", "1", "--json"]).stdout)
    assert [e["question"] for e in newest] == ["Where was the foundry forum held?"]
    found = json.loads(runner.invoke(app, ["logs", "-q", "重庆企业", "--json"]).stdout)
    assert [e["question"] for e in found] == ["重慶企業的總投資是多少？"]
    none = runner.invoke(app, ["logs", "-q", "nothing-like-this"])
    assert none.exit_code == 0 and none.stdout == "" and "no logged answers matching" in none.stderr


def test_rag_logs_path(runner: CliRunner, tmp_path: Path) -> None:
    run = runner.invoke(app, ["logs", "path"])
    assert run.exit_code == 0 and run.stdout.strip() == str(tmp_path / "data" / "logs.db")


def test_chat_answers_are_logged_as_one_conversation(runner: CliRunner, real_index: RealIndex) -> None:
    run = runner.invoke(app, ["chat", "--index", str(real_index.settings.store.index_dir), "--llm", "none"],  # type: ignore[attr-defined]
                        input=f"{QUESTION}\n/sources\n重慶企業的總投資是多少？\n/quit\n")
    assert run.exit_code == 0, run.output
    second, first = latest(log_path())
    assert (first.question, second.question) == (QUESTION, "重慶企業的總投資是多少？")
    assert first.command == second.command == "chat"
    assert first.conversation and first.conversation == second.conversation
    assert _ask(runner, real_index, QUESTION).exit_code == 0
    assert latest(log_path(), n=1)[0].conversation is None


def test_an_unwritable_log_still_prints_the_answer(real_index: RealIndex, tmp_path: Path) -> None:
    """The real `rag` binary, its data folder under a regular file: the answer, exit 0,
    and one line on stderr naming the log."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    env = {**_env(RAG_DATA_DIR=str(blocker / "data"), RAG_THREADS=os.environ.get("RAG_THREADS", "1")),
           "ANONYMIZED_TELEMETRY": "False"}
    run = subprocess.run([str(RAG_BIN), "ask", QUESTION, "--index", str(real_index.settings.store.index_dir),  # type: ignore[attr-defined]
                          "--llm", "none", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert any(c["paragraph"] == GOLD_PARAGRAPH and c["file"] == GOLD_FILE for c in got["citations"])
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not logged" in lines[0] and str(blocker / "data" / "logs.db") in lines[0], run.stderr


def test_rag_logs_over_a_broken_file_says_which_and_what_to_do(runner: CliRunner) -> None:
    log_path().parent.mkdir(parents=True)
    log_path().write_bytes(b"not sqlite" * 100)
    run = runner.invoke(app, ["logs"])
    assert run.exit_code == 1
    assert f"Error: cannot use the log {log_path()}" in run.stderr and "move the file aside" in run.stderr
    assert "Traceback" not in run.output
