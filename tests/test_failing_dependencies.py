"""What breaks underneath: a Chroma server restarted mid-batch, a disk that fills while the
index or the batch output is being written. Each gives a clear error, keeps what was
already written, and a re-run finishes the job. Real processes, real Chroma, the real
`use` embedder, `--llm none`; the model-server failures (down, slow, garbage, wrong key)
are in test_llms_openai.py and test_secrets.py.

A full disk is made with RLIMIT_FSIZE in the child process: a write past the limit fails
with EFBIG exactly where ENOSPC would, in whichever file grows, and needs no privileges.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from conftest import RAG_BIN, REPO, SAMPLE_CORPUS, assert_matches_files, assert_store_consistent, chroma_server_at, free_port
from rag.config import ModelSettings, Settings, StoreSettings
from rag.documents import read_document


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(RAG_EMBED="use", RAG_LLM="none", ANONYMIZED_TELEMETRY="False", **extra)
    return env


def _rag(*args: str, env: dict[str, str], limit: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAG_BIN), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          preexec_fn=_file_size_limit(limit) if limit else None)


def _file_size_limit(limit: int) -> Callable[[], None]:
    """Run in the child before exec: files may not grow past LIMIT bytes (a full disk)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _questions(path: Path, n: int) -> list[str]:
    """N dev-set questions as a batch JSONL input; returns their ids."""
    rows = [json.loads(line) for line in (REPO / "eval" / "dev.jsonl").read_text("utf-8").splitlines() if line.strip()]
    rows = rows[:n]
    path.write_text("".join(json.dumps({"id": r["id"], "question": r["question"]}, ensure_ascii=False) + "\n"
                            for r in rows), "utf-8")
    return [r["id"] for r in rows]


def _entries(path: Path) -> list[str]:
    """OUTPUT's lines; a line cut by a full disk may end inside a character."""
    return [line.decode("utf-8", "replace") for line in path.read_bytes().split(b"\n") if line]


def _assert_cited_from(entry: dict, root: Path) -> None:
    for c in entry["citations"]:
        paragraph = read_document(root / c["file"], c["file"]).paragraphs[c["paragraph"] - 1]
        assert c["quote"] in paragraph.text, c


def test_batch_through_a_restarted_chroma_server_loses_nothing(tmp_path: Path) -> None:
    data, port = tmp_path / "server", free_port()
    questions, output = tmp_path / "q.jsonl", tmp_path / "answers.jsonl"
    ids = _questions(questions, 40)
    with ExitStack() as stack:
        url = stack.enter_context(chroma_server_at(data, port))
        env = _env(RAG_CHROMA_URL=url)
        ingest = _rag("ingest", str(SAMPLE_CORPUS), "--index", str(tmp_path / "lock"), env=env)
        assert ingest.returncode == 0, ingest.stderr

        batch = subprocess.Popen([str(RAG_BIN), "batch", str(questions), "-o", str(output)],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for(lambda: output.exists() and len(_entries(output)) >= 5, batch, "5 answers")
            stack.close()  # the server goes down mid-batch ...
            _wait_for(lambda: any('"error": "' in e for e in _entries(output)), batch, "an error entry")
            before_restart = _entries(output)
            stack.enter_context(chroma_server_at(data, port))  # ... and comes back on the same store
            out, err = batch.communicate(timeout=600)
        finally:
            if batch.poll() is None:
                batch.kill()
                batch.wait()
        assert batch.returncode == 1 and "Traceback" not in err, err[-2000:]
        first = _entries(output)
        assert first[: len(before_restart)] == before_restart  # nothing written was rewritten
        entries = [json.loads(e) for e in first]
        assert [e["id"] for e in entries] == ids
        failed = [e for e in entries if e["error"]]
        assert failed and all(url in e["error"] for e in failed), failed[:2]
        assert all(e["answer"] and not e["error"] for e in entries[:5])
        assert f"failed {len(failed)}" in err, err[-500:]

        again = _rag("batch", str(questions), "-o", str(output), "--resume", env=env)
        assert again.returncode == 0, again.stderr[-2000:]
    final = [json.loads(e) for e in _entries(output)]
    assert sorted(e["id"] for e in final) == sorted(ids)
    assert not any(e["error"] for e in final)
    answered_first = {json.dumps(e, ensure_ascii=False) for e in entries if not e["error"]}
    assert answered_first <= {json.dumps(e, ensure_ascii=False) for e in final}  # kept, not re-asked
    for e in final:
        _assert_cited_from(e, SAMPLE_CORPUS)


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"the batch ended before {what}: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"no {what} in {seconds} s"
        time.sleep(0.05)


def _indexed(tmp_path: Path) -> tuple[Path, Path]:
    """The sample corpus in a writable folder, ingested into an embedded index."""
    root, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SAMPLE_CORPUS, root)
    run = _rag("ingest", str(root), "--index", str(index_dir), env=_env())
    assert run.returncode == 0, run.stderr
    return root, index_dir


def test_disk_full_while_writing_batch_output_keeps_the_answers(tmp_path: Path) -> None:
    # Through a Chroma server, so the output is the only file the batch process writes
    # (an embedded store writes its own files on open, and a full disk stops it there).
    questions, output = tmp_path / "q.jsonl", tmp_path / "out" / "answers.jsonl"
    ids = _questions(questions, 8)
    with chroma_server_at(tmp_path / "server", free_port()) as url:
        env = _env(RAG_CHROMA_URL=url)
        ingest = _rag("ingest", str(SAMPLE_CORPUS), "--index", str(tmp_path / "lock"), env=env)
        assert ingest.returncode == 0, ingest.stderr
        args = ("batch", str(questions), "-o", str(output))

        full = _rag(*args, env=env, limit=4_000)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
        errors = [line for line in full.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and str(output) in errors[0] and "File too large" in errors[0], full.stderr
        assert "--resume" in full.stderr
        kept = _entries(output)
        whole = [json.loads(line) for line in kept[:-1]]  # the last line may be cut where the disk filled
        assert whole and len(whole) < len(ids), len(kept)
        assert output.stat().st_size <= 4_000

        again = _rag(*args, "--resume", env=env)
        assert again.returncode == 0, again.stderr[-2000:]
    final = [json.loads(line) for line in _entries(output)]
    assert [e["id"] for e in final] == ids
    assert final[: len(whole)] == whole
    assert not any(e["error"] for e in final)
    for e in final:
        _assert_cited_from(e, SAMPLE_CORPUS)


def test_disk_full_while_ingesting_keeps_the_index_and_a_rerun_finishes(tmp_path: Path) -> None:
    root, index_dir = _indexed(tmp_path)
    before = _rag("status", "--index", str(index_dir), "--json", env=_env())
    assert before.returncode == 0
    for name in sorted(p.name for p in SAMPLE_CORPUS.iterdir()):  # a second copy to add: ~95 more paragraphs
        text = (SAMPLE_CORPUS / name).read_text("utf-8")
        (root / f"copy_{name}").write_text(text.replace("\n\n", " (copy)\n\n"), "utf-8")
    largest = max(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())

    full = _rag("ingest", str(root), "--index", str(index_dir), "--json", env=_env(), limit=largest + 64_000)
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-2000:]
    assert len([line for line in full.stderr.splitlines() if line.startswith("Error:")]) == 1, full.stderr
    assert str(index_dir) in full.stderr and "run `rag ingest` again" in full.stderr, full.stderr

    # The index still reads, and the files it had are still there and still answer.
    status = _rag("status", "--index", str(index_dir), "--json", env=_env())
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    ask = _rag("ask", "How many companies from SCO countries have settled in Chongqing?", "--index",
               str(index_dir), "--json", env=_env())
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert answer["citations"] and not answer["abstained"]
    _assert_cited_from(answer, root)

    again = _rag("ingest", str(root), "--index", str(index_dir), "--json", env=_env())
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["skipped"] == []
    settings = Settings(store=StoreSettings(index_dir=index_dir), models=ModelSettings(embed="use"))
    assert_store_consistent(settings)
    assert_matches_files(settings, root)
    assert json.loads(before.stdout)["files"] == 5 and json.loads(status.stdout)["files"] >= 5
