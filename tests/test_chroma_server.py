"""The same index on a real Chroma server (`chroma run`) through --chroma-url."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RAG_BIN, SAMPLE_CORPUS, assert_store_consistent, chroma_server_at, free_port
from rag.cli import app
from rag.config import ModelSettings, Settings, StoreSettings
from rag.errors import StoreError
from rag.index import index_status, open_index


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server_at(tmp_path_factory.mktemp("chroma_server"), free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def server_index(chroma_server: str, tmp_path_factory: pytest.TempPathFactory):
    """The sample corpus ingested into the server with the real `use` embedder."""
    from rag.ingest import ingest

    settings = Settings(store=StoreSettings(index_dir=tmp_path_factory.mktemp("server_lock"), chroma_url=chroma_server), models=ModelSettings(embed="use"))
    return settings, ingest([SAMPLE_CORPUS], settings)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env["ANONYMIZED_TELEMETRY"] = "False"
    return env


def test_server_index_matches_the_embedded_one(server_index, real_index) -> None:
    settings, report = server_index
    assert (report.added, report.skipped) == (5, [])
    assert (report.paragraphs, report.chunks) == (real_index.report.paragraphs, real_index.report.chunks)
    assert not (settings.store.index_dir / "chroma").exists()  # nothing went to the embedded store
    assert_store_consistent(settings)

    run = subprocess.run([str(RAG_BIN), "status", "--chroma-url", settings.store.chroma_url, "--json"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert run.returncode == 0, run.stderr
    remote = json.loads(run.stdout)
    local = index_status(open_index(real_index.settings.store.index_dir, None))
    assert (remote["files"], remote["paragraphs"], remote["chunks"], remote["chunks_in_store"]) == (
        local.files, local.paragraphs, local.chunks, local.chunks_in_store)
    assert remote["location"] == f"Chroma server {settings.store.chroma_url}"
    assert remote["dim"] == 512 and "use-multilingual-v3" in remote["embedder"]


def test_server_query_with_a_real_query_embedding(server_index) -> None:
    from rag.embeddings import load_embedder

    settings, _ = server_index
    index = open_index(settings.store.index_dir, settings.store.chroma_url)
    vector = load_embedder("use").embed_query("How many cars did Chang'an Auto export in the first half of this year?")
    hits = index.query(vector, 5)
    assert len(hits) == 5
    assert all(-1.0 <= score <= 1.0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    found = {(c.file, c.paragraph.number) for c, _ in hits}
    assert found & {("003_3e9024b6c632520f.txt", 26), ("003_3e9024b6c632520f.txt", 27)}, found
    top = hits[0][0]
    assert top.text in top.paragraph.text


def test_cli_reingest_through_the_server_is_incremental(server_index, tmp_path: Path) -> None:
    settings, first = server_index
    env = {**_env(), "RAG_EMBED": "use", "RAG_CHROMA_URL": settings.store.chroma_url}
    run = subprocess.run([str(RAG_BIN), "ingest", str(SAMPLE_CORPUS), "--index", str(tmp_path / "lock"), "--json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["unchanged"], report["added"], report["chunks"]) == (5, 0, first.chunks)
    listed = subprocess.run([str(RAG_BIN), "ls", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert {f["root"] for f in json.loads(listed.stdout)["files"]} == {str(SAMPLE_CORPUS.resolve())}


@pytest.mark.parametrize("command", [["status"], ["ingest", str(SAMPLE_CORPUS)]])
def test_dead_server_is_named(command: list[str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, [*command, "--chroma-url", url, "--index", str(tmp_path / "i")],
                                env={"RAG_EMBED": "use"})
    assert result.exit_code == 1
    assert url in result.stderr and "Traceback" not in result.output
    with pytest.raises(StoreError) as info:
        open_index(tmp_path / "i", url)
    assert url in info.value.message and "chroma run" in (info.value.hint or "")
