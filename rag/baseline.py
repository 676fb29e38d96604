"""The comparison pipeline for ``rag eval --baseline``: llama-index as its starter docs use it.

``SimpleDirectoryReader`` -> default ``SentenceSplitter`` -> ``VectorStoreIndex`` over a
Chroma collection -> ``CitationQueryEngine`` with its defaults, given the *same*
embedding model and LLM as ``rag`` through two small adapters, so the comparison is
about the pipeline, not the models.

Its answers are turned into SPEC 4 objects so ``rag.evaluate`` scores both the same way.
A baseline ``[n]`` cites a chunk of up to 512 tokens, not a paragraph; it becomes one
citation per paragraph that chunk overlaps, numbered by ``rag``'s own rule
(``rag.documents``), so both cite the same paragraphs (what a person would have to read
to check it), which is generous to citation hit and honest about precision. The
baseline has no abstention logic of its own; it counts as abstaining when its answer is
a refusal (``says_not_found``).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import chromadb
from llama_index.core import Settings as LlamaSettings
from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.query_engine import CitationQueryEngine
from llama_index.core.schema import NodeWithScore
from llama_index.vector_stores.chroma import ChromaVectorStore
from pydantic import PrivateAttr

from rag.config import AnswerSettings, ModelSettings
from rag.documents import read_document
from rag.embeddings import Embedder
from rag.errors import DocumentError
from rag.evaluate import Answered
from rag.lang import detect_language
from rag.llms import LLM
from rag.sentences import split_sentences
from rag.types import Answer, Citation, Paragraph

_SOURCE_PREFIX = re.compile(r"^Source \d+:\n")
_MARKER = re.compile(r"\[(\d+)\]")


class EmbedderAdapter(BaseEmbedding):
    """A ``rag`` Embedder as a llama-index embedding model."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        super().__init__(model_name=embedder.id, embed_batch_size=64, **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed_passages([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_passages(texts).tolist()


class LLMAdapter(CustomLLM):
    """A ``rag`` LLM as a llama-index completion model (the prompt is one user message)."""

    _llm: LLM = PrivateAttr()

    def __init__(self, llm: LLM, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._llm = llm

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=ModelSettings.n_ctx, num_output=AnswerSettings.max_tokens, model_name=self._llm.id)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text="".join(self._pieces(prompt)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = ""
        for piece in self._pieces(prompt):
            text += piece
            yield CompletionResponse(text=text, delta=piece)

    def _pieces(self, prompt: str) -> Any:
        return self._llm.stream([{"role": "user", "content": prompt}], max_tokens=AnswerSettings.max_tokens, temperature=0.0)


class Baseline:
    """The starter-docs pipeline over one folder, built once, asked many times."""

    def __init__(self, docs: Path, embedder: Embedder, llm: LLM) -> None:
        embed_model, llm_model = EmbedderAdapter(embedder), LLMAdapter(llm)
        # Set globally too: llama-index falls back to OpenAI wherever a model is unset.
        LlamaSettings.embed_model, LlamaSettings.llm = embed_model, llm_model
        self._tmp = tempfile.TemporaryDirectory(prefix="rag-baseline-")
        client = chromadb.PersistentClient(path=self._tmp.name)
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
        documents = SimpleDirectoryReader(str(docs), recursive=True, filename_as_id=True).load_data()
        index = VectorStoreIndex.from_documents(
            documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
        )
        self._engine = CitationQueryEngine.from_args(index, llm=llm_model)
        self._docs = docs
        self._flat = {name: _flat_paragraphs(docs / name, name)
                      for name in dict.fromkeys(self._name(docs, d.metadata["file_path"]) for d in documents)}

    @staticmethod
    def _name(root: Path, file_path: str) -> str:
        return Path(file_path).resolve().relative_to(root.resolve()).as_posix()

    def ask(self, question: str, qid: str | None = None) -> Answered:
        """The baseline's answer as SPEC 4, and the paragraphs its retrieved chunks cover."""
        started = time.perf_counter()
        response = self._engine.query(question)
        text = str(response).strip()
        answer = Answer(qid, question, text, says_not_found(text) or not text, detect_language(question))
        nodes = response.source_nodes
        retrieved: list[tuple[str, int]] = []
        for node in nodes:
            for p in self._covered(node):
                if (p.file, p.number) not in retrieved:
                    retrieved.append((p.file, p.number))
        if not answer.abstained:
            for marker in dict.fromkeys(int(m) for m in _MARKER.findall(text)):
                if 1 <= marker <= len(nodes):
                    answer.citations += [Citation.of(marker, p, p.text[:200]) for p in self._covered(nodes[marker - 1])]
        answer.timings_ms = {"total": round((time.perf_counter() - started) * 1000, 1)}
        return Answered(answer, retrieved)

    def _covered(self, node: NodeWithScore) -> list[Paragraph]:
        """The paragraphs (as ``rag`` numbers them) that the node's text overlaps, found by
        locating it, whitespace aside, in the file's paragraphs joined by spaces."""
        flat, spans = self._flat[self._name(self._docs, node.node.metadata["file_path"])]
        chunk = _squeeze(_SOURCE_PREFIX.sub("", node.node.get_content()))
        start = flat.find(chunk)
        if start < 0:  # the splitter may have changed more than whitespace inside; anchor on the opening
            start = flat.find(chunk[:40])
        if start < 0 or not chunk:
            return []
        end = start + len(chunk)
        return [p for a, b, p in spans if a < end and b > start]

    def close(self) -> None:
        self._tmp.cleanup()


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _flat_paragraphs(path: Path, name: str) -> tuple[str, list[tuple[int, int, Paragraph]]]:
    """The file's paragraphs by the one paragraph rule (``rag.documents``), whitespace
    squeezed and joined by single spaces, with each paragraph's span in that text. A
    file ``rag`` cannot read (llama-index reads some that it skips) covers nothing."""
    try:
        paragraphs = read_document(path, name).paragraphs
    except DocumentError:
        return "", []
    spans, at = [], 0
    for p in paragraphs:
        text = _squeeze(p.text)
        spans.append((at, at + len(text), p))
        at += len(text) + 1
    return " ".join(_squeeze(p.text) for p in paragraphs), spans


# How a model says "not in the sources" in its own words; the baseline has no abstention
# of its own, so a reply that opens with one of these counts as abstaining.
REFUSALS = (
    "not in the documents", "not in the sources", "do not contain", "does not contain", "do not mention",
    "does not mention", "do not provide", "does not provide", "do not specify", "does not specify",
    "no information", "not mentioned", "not specified", "not provided", "cannot answer",
    "لا توجد معلومات", "لا تحتوي", "لا تذكر", "لا يذكر", "لم يذكر", "لم تذكر", "غير مذكور", "لا يمكن الإجابة",
    "沒有提到", "没有提到", "未提及", "沒有提及", "没有提及", "無法回答", "无法回答", "未提供", "沒有提供", "没有提供",
)


def says_not_found(text: str) -> bool:
    """Whether the baseline's reply is a refusal: a refusal phrase in its first sentence."""
    first = (split_sentences(text) or [""])[0].casefold()
    return any(phrase in first for phrase in REFUSALS)
