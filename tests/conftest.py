"""Shared fixtures for the foundation tests (documents, chunks, index, ingest, CLI).

- Every test runs in its own tmp_path as cwd, with the RAG_* / OPENAI_* settings
  cleared (but RAG_THREADS), no profile file, and RAG_DATA_DIR (chat history, answer log)
  inside tmp_path, so nothing leaks in from the shell or writes into the repository or
  the user's data folder.
  RAG_CACHE_DIR is deliberately left alone: it holds the assembled 1.1 GB LLM.
- ``fake_embedder`` is a tiny deterministic Embedder for unit tests of the index and
  ingest, passed in as ``ingest(..., embedder=)``; it records every call so a test can
  prove nothing was re-embedded. ``fake_models`` puts it behind the loader, for tests
  that go through the CLI.
- ``real_index`` ingests the sample corpus once per session with the real default
  embedder (about 15 s); tests that need real vectors share it read-only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "examples" / "corpus"
SAMPLE_FILES = sorted(p.name for p in SAMPLE_CORPUS.iterdir())
RAG_BIN = Path(sys.executable).with_name("rag")

# Hand-counted with `cat -n` (see tests/test_paragraphs.py): paragraphs per sample file.
SAMPLE_PARAGRAPHS = {
    "000_0f425e83b5bd7ec2.txt": 21,
    "001_2284b7fc3385c695.txt": 9,
    "002_cd0030e963fe94eb.txt": 5,
    "003_3e9024b6c632520f.txt": 55,
    "004_19d5bed1d5b90f32.txt": 5,
}


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("OPENAI_") or (name.startswith("RAG_") and name not in ("RAG_CACHE_DIR", "RAG_THREADS")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no profile.toml of the user's
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))  # chat history and the answer log
    monkeypatch.chdir(tmp_path)  # the default index ./.rag lands in tmp_path, never the repo


class FakeEmbedder:
    """Deterministic bag-of-character-trigram hashing: similar texts get similar
    vectors, so queries through the real Chroma store still find what they should."""

    def __init__(self, id: str = "fake-trigram-v1", dim: int = 32) -> None:
        self.id = id
        self.dim = dim
        self.passage_calls: list[list[str]] = []
        self.query_calls: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        padded = f"  {text.lower()}  "
        for i in range(len(padded) - 2):
            h = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest()
            v[int.from_bytes(h, "little") % self.dim] += 1.0
        v[0] += 1e-3  # never the zero vector
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passage_calls.append(list(texts))
        return np.array([self._vector(t) for t in texts], np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        self.query_calls.append(text)
        return self._vector(text)

    @property
    def embedded(self) -> list[str]:
        return [t for call in self.passage_calls for t in call]


@dataclass
class FakeModels:
    """The embedder a command run through the CLI will load; tests swap ``current`` to
    change models. Library calls take their fake as a parameter instead
    (``ingest(..., embedder=)``, ``Assistant(..., embedder=)``)."""

    current: FakeEmbedder

    def load(self, spec: str, models: object = None) -> FakeEmbedder:
        return self.current


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> FakeModels:
    """For tests through the CLI, where no parameter reaches the loader: the one loader
    (rag.embeddings.load_embedder, which ingest and the answer stage both call) returns
    the fake."""
    import rag.embeddings

    models = FakeModels(FakeEmbedder())
    monkeypatch.setattr(rag.embeddings, "load_embedder", models.load)
    return models


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path):
    from rag.config import ModelSettings, Settings, StoreSettings

    return Settings(store=StoreSettings(index_dir=tmp_path / "index"), models=ModelSettings(embed="fake"))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the sample corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, dest)
    return dest


@dataclass(frozen=True)
class RealIndex:
    settings: object
    report: object


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> RealIndex:
    """The sample corpus ingested with the real default embedder (e5+use), once."""
    from rag.config import DEFAULT_EMBED, ModelSettings, Settings, StoreSettings
    from rag.ingest import ingest

    settings = Settings(store=StoreSettings(index_dir=tmp_path_factory.mktemp("real_index") / "index"), models=ModelSettings(embed=DEFAULT_EMBED))
    return RealIndex(settings, ingest([SAMPLE_CORPUS], settings))


def stop_process(proc, seconds: float = 15) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM, then SIGKILL if it has not ended within SECONDS: a server must not outlive its test."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def chroma_server_at(data: Path, port: int) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1:PORT storing under DATA; yields its URL once its
    heartbeat answers, stops it after. The same DATA and PORT bring the same store back."""
    import subprocess
    import time
    import urllib.request

    data.mkdir(parents=True, exist_ok=True)
    with (data / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(RAG_BIN.with_name("chroma")), "run", "--path", str(data / "db"), "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (data / "server.log").read_text(errors="replace")
                try:
                    with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "chroma run did not answer its heartbeat in 60 s"
                time.sleep(0.1)
            yield url
        finally:
            stop_process(proc)


def bench_module(name: str):  # type: ignore[no-untyped-def]
    """A script of bench/ as a module (bench/ is scripts, not a package), for its corpus builders."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_chunks(root: Path, names, max_chars: int = 700) -> list:
    from rag.chunks import chunk_paragraphs
    from rag.documents import read_document

    return [c for n in names for c in chunk_paragraphs(read_document(root / n, n).paragraphs, max_chars)]


def assert_matches_files(settings, root: Path | None = None) -> None:
    """The store holds exactly the chunks the files on disk give, file by file: each read
    from where its manifest record says (or from ROOT, for a record without a root)."""
    from rag.chunks import chunk_paragraphs
    from rag.documents import read_document
    from rag.index import open_index

    index = open_index(settings.store.index_dir, settings.store.chroma_url)
    want = set()
    for name, record in index.files().items():
        path = record.location or (root / name if root is not None else None)
        assert path is not None, f"{name} has no root and no ROOT was given"
        doc = read_document(path, name)
        want |= {(c.id, c.text, c.paragraph) for c in chunk_paragraphs(doc.paragraphs, settings.store.max_chars)}
    got = {(c.id, c.text, c.paragraph) for c in index.iter_chunks()}
    assert got == want


def store_chunks(settings) -> list:
    """Every chunk the store holds (read through a fresh open, as a new process would)."""
    from rag.index import open_index

    return list(open_index(settings.store.index_dir, settings.store.chroma_url).iter_chunks())


def assert_store_consistent(settings) -> None:
    """No duplicate ids, no orphan chunks, per-file chunk counts equal the manifest's,
    nothing pending, and the status totals agree with what the store holds."""
    from collections import Counter

    from rag.index import index_status, open_index

    index = open_index(settings.store.index_dir, settings.store.chroma_url)
    chunks = list(index.iter_chunks())
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    keys = [(c.file, c.paragraph.number, c.part) for c in chunks]
    assert len(keys) == len(set(keys)), "two chunks claim the same paragraph part"
    manifest = index.files()
    per_file = Counter(c.file for c in chunks)
    orphans = set(per_file) - set(manifest)
    assert not orphans, f"chunks of files not in the manifest: {orphans}"
    for name, record in manifest.items():
        assert record.state == "done", f"{name} left {record.state}"
        assert per_file.get(name, 0) == record.chunks, name
    status = index_status(index)
    assert status.consistent
    assert status.chunks == len(chunks) == index.count()


# -- the embedded LLM, shared by the local and the server tests of rag.llms ------------------

CHAT_QUESTION = [{"role": "user", "content": "Name three colours, separated by commas."}]
EVIDENCE_SCHEMA = {"type": "object", "properties": {"evidence": {"type": "array", "items": {"type": "integer", "enum": [1, 2]}},
                                           "answer": {"type": "string"}},
          "required": ["evidence", "answer"], "additionalProperties": False}
NUMBERED_QUESTION = [{"role": "user", "content": 'Sentences:\n[1] The sky is blue.\n[2] Grass is green.\n'
                                        'Which sentence says what colour grass is? Reply with JSON '
                                        '{"evidence": [numbers], "answer": "..."}'}]


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    """The real embedded GGUF, assembled into the real cache once per machine."""
    from rag.llms import embedded_model_path

    return embedded_model_path()
