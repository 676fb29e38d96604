"""rag.render: the text and JSON people and scripts read, from hand-made results.

Each expected line is written out here as the README and `--help` describe it, so a change
in wording or in a count's grammar shows; the CLI tests check that commands print these.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.batch import Summary
from rag.config import Setting, Threads
from rag.index import FileRecord, Status
from rag.render import (
    batch_summary_text,
    encodings_line,
    ingest_text,
    interrupted_text,
    ls_json,
    ls_text,
    remove_text,
    settings_json,
    settings_text,
    status_json,
    status_text,
)
from rag.types import IngestReport, RemoveReport, Skipped


def test_ingest_text_counts_then_says_what_was_read_oddly_and_what_was_skipped() -> None:
    report = IngestReport(added=2, updated=1, unchanged=3, paragraphs=1, chunks=4, seconds=1.26,
                          skipped=[Skipped("x.bin", "binary file")], encodings={"a.txt": "cp1256"})
    assert ingest_text(report).splitlines() == [
        "added 2, updated 1, removed 0, unchanged 3, skipped 1 in 1.3 s",
        "index now holds 1 paragraph in 4 chunks",
        "read 1 file not in UTF-8: 1 as cp1256 (a.txt)",
        "skipped x.bin: binary file",
    ]


def test_interrupted_text_agrees_with_its_count() -> None:
    assert "1 file finished before it is kept" in interrupted_text(IngestReport(added=1))
    assert "3 files finished before it are kept" in interrupted_text(IngestReport(added=2, updated=1))


def test_encodings_line_groups_by_encoding_most_files_first_and_shortens_long_lists() -> None:
    encodings = {"a.txt": "big5", "b.txt": "cp1256", "c.txt": "cp1256", "d.txt": "cp1256", "e.txt": "cp1256"}
    assert encodings_line(encodings) == ("read 5 files not in UTF-8: 4 as cp1256 (b.txt, c.txt, d.txt and 1 more), "
                                         "1 as big5 (a.txt)")


def test_remove_text_names_each_file_then_the_totals() -> None:
    text = remove_text(RemoveReport(removed=["a.txt", "b.txt"], paragraphs=7, chunks=9))
    assert text.splitlines() == ["removed a.txt", "removed b.txt",
                                 "removed 2 files; index now holds 7 paragraphs in 9 chunks"]


def _record(name: str, state: str = "done", root: str | None = "/docs") -> FileRecord:
    return FileRecord(name, "0" * 64, state, "text", 3, 4, root, name)


def test_ls_text_counts_only_finished_files_and_says_how_to_finish_the_rest() -> None:
    lines = ls_text([_record("a.txt"), _record("long-name.txt", "pending"), _record("old.txt", root=None)]).splitlines()
    assert lines[0].split() == ["FILE", "PARAGRAPHS", "CHUNKS", "STATE", "FROM"]
    assert lines[1].split() == ["a.txt", "3", "4", "done", "/docs"]
    assert lines[3].endswith("(not recorded: indexed before roots were)")
    assert lines[4] == "2 files, 6 paragraphs, 8 chunks"
    assert lines[5].startswith("1 file left half-written by a stopped run")
    assert ls_text([]) == "no files indexed"
    assert json.loads(ls_json([_record("a.txt")]))["files"][0]["root"] == "/docs"


def test_status_text_shows_the_threads_and_who_chose_them_and_a_pending_repair() -> None:
    status = Status("/ix", "fake", 8, "paragraph-v1:max_chars=700", 2, 5, 6, 6, ("b.txt",))
    text = status_text(status, Threads(2, 2, 1, 2, "defaults for 2 cores"))
    assert "threads:    e5 2, use 2, llm generate 1, llm prompt 2 (defaults for 2 cores)" in text
    assert text.splitlines()[-1].startswith("interrupted: 1 file half-written by a stopped ingest (b.txt)")
    assert json.loads(status_json(status, Threads.same(3, "RAG_THREADS")))["threads"]["source"] == "RAG_THREADS"


def test_batch_summary_names_what_was_kept_from_an_earlier_run() -> None:
    s = Summary(Path("out/answers.jsonl"), answered=3, abstained=1, failed=0, skipped=2, seconds=12.04)
    assert batch_summary_text(s) == ("answered 3, abstained 1, failed 0, 2 already in answers.jsonl in 12.0 s "
                                     "-> out/answers.jsonl")


def test_settings_show_a_key_only_as_set_and_threads_per_component() -> None:
    rows = [Setting("models.api_key", "sk-secret", "OPENAI_API_KEY", "OPENAI_API_KEY", "API key."),
            Setting("models.threads", Threads(2, 2, 1, 2), "default", "RAG_THREADS", "Threads."),
            Setting("store.chroma_url", None, "default", "RAG_CHROMA_URL", "Server."),
            Setting("log", False, "RAG_LOG", "RAG_LOG", "Log.")]
    text = settings_text(rows, None)
    assert text.splitlines() == ["profile: (none)",
                                 "models.api_key    (set)  (OPENAI_API_KEY)",
                                 "models.threads    e5 2, use 2, generate 1, prompt 2  (default)",
                                 "store.chroma_url  (unset)  (default)",
                                 "log               false  (RAG_LOG)"]
    shown = json.loads(settings_json(rows, "/p.toml"))
    assert "sk-secret" not in json.dumps(shown) and shown["profile"] == "/p.toml"
    assert shown["settings"][1]["value"] == {"e5": 2, "use": 2, "generate": 1, "prompt": 2}
