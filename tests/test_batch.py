"""rag batch, end to end as a person runs it: files in, the console script, files out.

One test answers with the embedded model (a few questions; slow). The rest use ``--llm
none`` (extractive, no LLM) or a small OpenAI-compatible server in a thread, since what
they check (ids, errors, formats, resume, crash safety, workers) does not depend on
which model writes the answer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, SAMPLE_CORPUS, RealIndex
from rag.batch import worker_count
from rag.batch_in import read_entries
from rag.cli import app
from test_answer import assert_contract

SPEC4_KEYS = ["id", "question", "answer", "abstained", "language", "citations", "timings_ms", "error"]
QUESTIONS = {  # id -> question; each answered by a paragraph of the sample corpus
    "zh-chongqing": "有多少家上合組織國家的企業已經落戶重慶？",
    "ar-henan": "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟",
    "en-ningbo": "Where was the 10th foundry forum held?",
}


def rag(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RAG_BIN), *args], capture_output=True, text=True, timeout=timeout)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def index_dir(real_index: RealIndex) -> str:
    return str(real_index.settings.store.index_dir)  # type: ignore[attr-defined]


# -- the embedded model ----------------------------------------------------------------------


def test_csv_questions_answered_by_the_embedded_model_into_jsonl(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "questions.csv"
    with questions.open("w", encoding="utf-8-sig", newline="") as f:  # with a BOM, as Excel saves it
        csv.writer(f).writerows([("id", "question"), *QUESTIONS.items()])
    out = tmp_path / "answers.jsonl"

    run = rag("batch", str(questions), "-o", str(out), "--index", index_dir, "--llm", "local")

    assert run.returncode == 0, run.stderr
    raw = out.read_text(encoding="utf-8")
    assert "خنان" in raw and "重慶" in raw  # ensure_ascii=False: the file is readable as written
    answers = jsonl(out)
    assert sorted(a["id"] for a in answers) == sorted(QUESTIONS)
    languages = {"zh-chongqing": "zh", "ar-henan": "ar", "en-ningbo": "en"}
    for a in answers:
        assert list(a) == SPEC4_KEYS
        assert a["question"] == QUESTIONS[a["id"]] and a["language"] == languages[a["id"]]
        assert a["error"] is None and a["timings_ms"]["total"] > 0
        from rag.types import Answer, Citation

        assert_contract(Answer(**{**a, "citations": [Citation(**c) for c in a["citations"]]}), SAMPLE_CORPUS)
    assert sum(not a["abstained"] and bool(a["citations"]) for a in answers) >= 2
    summary = run.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"answered \d, abstained \d, failed 0 in [\d.]+ s -> {re.escape(str(out))}", summary)
    assert "━" not in run.stderr  # no progress bar when stderr is not a terminal


# -- ids, malformed input, formats -----------------------------------------------------------


def test_malformed_lines_and_repeated_ids_become_error_entries(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_bytes(
        b'{"id": "a", "question": "Where was the 10th foundry forum held?"}\n'
        b"this is not json\n"
        b'{"question": "How many SCO companies have settled in Chongqing?"}\n'
        b'{"id": "a", "question": "asked again under the same id"}\n'
        b"\n"
        b'{"id": 7, "question": ""}\n'
        b'{"id": "bytes", "question": "\xff\xfe"}\n'
        b'["a list"]\n'
        b'{"id": 8, "question": "\xd9\x83\xd9\x85 \xd8\xb4\xd8\xb1\xd9\x83\xd8\xa9 \xd9\x81\xd9\x8a \xd8\xae\xd9\x86\xd8\xa7\xd9\x86\xd8\x9f"}\n'
    )
    out = tmp_path / "out.jsonl"

    run = rag("batch", str(questions), "-o", str(out), "--index", index_dir, "--llm", "none")

    assert run.returncode == 1  # some entries failed
    by_id = {a["id"]: a for a in jsonl(out)}
    assert list(by_id) == ["a", "line-2", "line-3", "line-4", "7", "bytes", "line-8", "8"]  # input order, workers=1
    assert by_id["a"]["error"] is None and by_id["a"]["citations"]
    assert by_id["line-3"]["error"] is None  # a missing id is line-N, and the question is answered
    assert by_id["8"]["error"] is None and by_id["8"]["language"] == "ar"  # integer ids become strings
    assert by_id["line-2"]["error"].startswith("line 2: not valid JSON")
    assert by_id["line-4"]["error"] == "line 4: duplicate id 'a' (first at line 1)"
    assert by_id["line-4"]["answer"] == ""  # not answered
    assert "no question" in by_id["7"]["error"]
    assert by_id["bytes"]["error"] == "line 7: not UTF-8 text"
    assert "expected an object" in by_id["line-8"]["error"]
    assert re.match(r"answered \d, abstained \d, failed 5 in ", run.stderr.strip().splitlines()[-1])


def test_txt_ids_name_lines_and_md_resume_answers_only_new_lines(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    questions.write_text("Where was the 10th foundry forum held?\n\n有多少家上合組織國家的企業已經落戶重慶？\n", encoding="utf-8")
    report = tmp_path / "report.md"

    assert rag("batch", str(questions), "-o", str(report), "--index", index_dir, "--llm", "none").returncode == 0
    first = report.read_text(encoding="utf-8")
    assert [e[0] for e in read_entries(report)] == ["line-1", "line-3"]  # the blank line 2 is passed over
    assert "## line-3 · 有多少家上合組織國家的企業已經落戶重慶？" in first and "003_3e9024b6c632520f.txt" in first

    with questions.open("a", encoding="utf-8") as f:
        f.write("كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟\n")
    run = rag("batch", str(questions), "-o", str(report), "--index", index_dir, "--llm", "none", "--resume")

    assert run.returncode == 0, run.stderr
    assert re.match(r"answered 1, abstained 0, failed 0, 2 already in report\.md in ", run.stderr.splitlines()[-1])
    after = report.read_text(encoding="utf-8")
    assert after.startswith(first)  # what was there is kept as it was
    assert [e[0] for e in read_entries(report)] == ["line-1", "line-3", "line-4"]


def test_resume_keeps_answers_and_retries_failures_and_cut_off_lines(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(json.dumps({"id": i, "question": q}, ensure_ascii=False) + "\n" for i, q in [
            ("kept", "Where was the 10th foundry forum held?"),
            ("failed", "How many SCO companies have settled in Chongqing?"),
            ("cut", "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟"),
            ("new", "Which German companies did the Liaoning delegation visit?"),
        ]),
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    kept = {"id": "kept", "question": "q", "answer": "KEPT FROM BEFORE", "abstained": False, "language": "en",
            "citations": [], "timings_ms": {}, "error": None}
    failed = {**kept, "id": "failed", "answer": "", "error": "the model server at http://x broke off"}
    out.write_text(json.dumps(kept) + "\n" + json.dumps(failed) + "\n" + '{"id": "cut", "question": "كم', encoding="utf-8")
    out.chmod(0o640)

    run = rag("batch", str(questions), "-o", str(out), "--index", index_dir, "--llm", "none", "--resume")

    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # rewritten through a temp file, mode kept
    answers = jsonl(out)  # every line parses: the cut-off line is gone
    assert [a["id"] for a in answers] == ["kept", "failed", "cut", "new"]
    assert answers[0]["answer"] == "KEPT FROM BEFORE"  # not asked again
    assert all(a["error"] is None and a["citations"] for a in answers[1:])
    assert "1 already in out.jsonl" in run.stderr


def test_csv_output_is_flat_and_csv_input_may_lack_ids(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.csv"
    questions.write_text(
        'question,id\n'
        '"Where was the 10th foundry\nforum held?",forum\n'  # a quoted question spanning two lines
        '有多少家上合組織國家的企業已經落戶重慶？,\n',  # no id: line-N, N where the row starts
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"

    assert rag("batch", str(questions), "-o", str(out), "--index", index_dir, "--llm", "none").returncode == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbfid,")  # a BOM, so Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"), newline="")))
    assert [r["id"] for r in rows] == ["forum", "line-4"]
    assert list(rows[0]) == ["id", "question", "answer", "abstained", "citations", "error"]
    for r in rows:
        assert r["abstained"] == "false" and r["error"] == ""
        cited = r"\[\d+\] \S+\.txt ¶\d+ \((line \d+|lines \d+-\d+)\)"  # as the terminal shows it
        assert re.fullmatch(rf"{cited}(; {cited})*", r["citations"]), r
        assert "[1]" in r["answer"]
    assert "003_3e9024b6c632520f.txt ¶" in rows[1]["citations"]


def test_a_terminal_gets_a_progress_bar_with_an_eta(index_dir: str, tmp_path: Path) -> None:
    import pexpect

    (tmp_path / "q.txt").write_text("Where was the 10th foundry forum held?\nWhen was the SCO founded?\n", encoding="utf-8")
    child = pexpect.spawn(str(RAG_BIN), ["batch", "q.txt", "-o", "a.md", "--index", index_dir, "--llm", "none"],
                          cwd=str(tmp_path), encoding="utf-8", timeout=300, dimensions=(24, 120), use_poll=True)
    child.expect(pexpect.EOF)
    child.close()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)  # drop colours and cursor moves
    assert child.exitstatus == 0
    assert re.search(r"answering .*━.* [12]/2 \d+:\d\d:\d\d", shown), shown  # bar, count, time left
    assert re.search(r"answered \d, abstained \d, failed 0 in ", shown)


# -- a crash loses nothing ---------------------------------------------------------------------


def test_a_killed_batch_keeps_every_answer_it_wrote_and_resume_finishes(index_dir: str, tmp_path: Path) -> None:
    questions = tmp_path / "q.txt"
    lines = ["Where was the 10th foundry forum held?", "How many SCO companies have settled in Chongqing?",
             "كم شركة تعمل في قطاع صناعة السيارات بمقاطعة خنان؟", "有多少家上合組織國家的企業已經落戶重慶？",
             "Which German companies did the Liaoning delegation visit?", "When was the SCO founded?"]
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    command = [str(RAG_BIN), "batch", str(questions), "-o", str(out), "--index", index_dir, "--llm", "none"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and out.read_text(encoding="utf-8").count("\n") >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "batch ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    text = out.read_text(encoding="utf-8")
    whole, _, _cut = text.rpartition("\n")  # at most the line being written is cut short
    written = [json.loads(line) for line in whole.splitlines()]
    assert 2 <= len(written) < len(lines)

    assert subprocess.run([*command, "--resume"], capture_output=True, timeout=600).returncode == 0

    ids = [a["id"] for a in jsonl(out)]
    assert sorted(ids) == [f"line-{n}" for n in range(1, len(lines) + 1)]  # each once, none lost
    assert ids[: len(written)] == [a["id"] for a in written]


# -- usage errors and workers (no model is loaded for these) ----------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["q.txt", "-o", "out.txt"], ["out.txt", ".jsonl, .csv, .md"]),
        (["q.xlsx", "-o", "out.jsonl"], ["q.xlsx", ".txt, .jsonl, .csv"]),
        (["missing.txt", "-o", "out.jsonl"], ["missing.txt", "No such file"]),
        (["bad.csv", "-o", "out.jsonl"], ["bad.csv", "'question' column"]),
        (["q.jsonl", "-o", "q.jsonl"], ["q.jsonl", "is the questions file"]),
    ],
)
def test_usage_errors_exit_2_and_name_the_file(runner: CliRunner, tmp_path: Path, args: list[str], names: list[str]) -> None:
    (tmp_path / "q.txt").write_text("a question?\n", encoding="utf-8")
    (tmp_path / "q.jsonl").write_text('{"question": "a question?"}\n', encoding="utf-8")
    (tmp_path / "q.xlsx").write_bytes(b"PK")
    (tmp_path / "bad.csv").write_text("id,text\n1,hello\n", encoding="utf-8")
    result = runner.invoke(app, ["batch", *args, "--index", str(tmp_path / "no-index")])
    assert result.exit_code == 2, result.output
    line = result.stderr.splitlines()[0]
    for name in names:
        assert name in result.stderr, result.stderr
    assert line.startswith("Error: ")
    assert not (tmp_path / "out.jsonl").exists()  # nothing written, no model loaded


class Backend:
    """Stands in for a loaded LLM: worker_count reads only whether it answers concurrently."""

    def __init__(self, concurrent: bool) -> None:
        self.concurrent = concurrent


def test_workers_follow_what_the_loaded_backend_says() -> None:
    assert worker_count(Backend(concurrent=True), 4, "openai:qwen") == (4, None)
    assert worker_count(Backend(concurrent=False), 1, "local") == (1, None)
    n, note = worker_count(Backend(concurrent=False), 4, "local")
    assert n == 1 and note and "--workers 4 ignored" in note and "--llm local" in note
    n, note = worker_count(None, 2, "none")  # no model at all: one question at a time
    assert n == 1 and note and "--workers 2 ignored: --llm none" in note


def test_more_workers_with_a_local_model_says_so(runner: CliRunner, index_dir: str, tmp_path: Path) -> None:
    (tmp_path / "q.txt").write_text("Where was the 10th foundry forum held?\n", encoding="utf-8")
    result = runner.invoke(app, ["batch", "q.txt", "-o", "a.jsonl", "--index", index_dir, "--llm", "none", "--workers", "3"])
    assert result.exit_code == 0
    assert "--workers 3 ignored: --llm none answers one question at a time" in result.stderr


class FakeModelServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that takes DELAY s, answers with the first evidence
    sentence that states a number (else the first one), naming it in the JSON the answer
    stage asks for, and records how many requests it was serving at once."""

    DELAY = 1.5
    lock = threading.Lock()
    in_flight = 0
    most = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        try:
            time.sleep(cls.DELAY)
            sentences = re.findall(r"^\[([1-9]\d*)\] (.+)$", body["messages"][-1]["content"], re.M)
            number, first = next((ns for ns in sentences if re.search(r"\d", ns[1])), sentences[0] if sentences else ("0", ""))
            reply = json.dumps({"evidence": [int(number)], "answer": first}, ensure_ascii=False)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in (reply[: len(reply) // 2], reply[len(reply) // 2 :]):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[str]:
    FakeModelServer.most = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModelServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_workers_answer_at_once_through_a_model_server(
    runner: CliRunner, index_dir: str, tmp_path: Path, model_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", model_server)
    questions = list(QUESTIONS.values()) + ["Which German companies did the Liaoning delegation visit?"]
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n", encoding="utf-8")

    result = runner.invoke(app, ["batch", "q.txt", "-o", "a.jsonl", "--index", index_dir,
                                 "--llm", "openai:fake", "--workers", "4"])

    assert result.exit_code == 0, result.output
    assert FakeModelServer.most >= 2  # requests overlapped
    answers = jsonl(tmp_path / "a.jsonl")
    assert sorted(a["id"] for a in answers) == ["line-1", "line-2", "line-3", "line-4"]
    assert all(a["error"] is None for a in answers)
    assert sum(bool(a["citations"]) for a in answers) >= 3  # the server's sentences were cited
