"""rag's retrieval and verified answers as llama-index components, and llama-index LLMs in rag.

    RagRetriever(retriever, k)     a llama-index BaseRetriever: question -> NodeWithScore per chunk
    RagQueryEngine(assistant)      a llama-index query engine: Response whose source_nodes are the
                                   verified citations, metadata["abstained"] says if it abstained
    LlamaIndexLLM(llm)             any llama-index LLM as a rag.llms.LLM: Assistant(settings, llm=...)

Usage (after ``rag ingest docs/ --index .rag``)::

    from pathlib import Path
    from rag.answer import Assistant
    from rag.config import ModelSettings, Settings, StoreSettings
    from rag.llama_index import LlamaIndexLLM, RagQueryEngine, RagRetriever

    settings = Settings(store=StoreSettings(index_dir=Path(".rag")), models=ModelSettings(llm="local"))
    for hit in RagRetriever.from_settings(settings).retrieve("重慶企業的總投資是多少？"):
        print(hit.score, hit.node.metadata["file"], hit.node.metadata["location"], hit.node.text[:60])
    response = RagQueryEngine(Assistant(settings)).query("How much did Chongqing companies invest in SCO countries?")
    print(response.response, [(n.node.metadata["file"], n.node.metadata["paragraph"]) for n in response.source_nodes])
    # your own model: Assistant(settings, llm=LlamaIndexLLM(Ollama(model="qwen2.5:7b")))

Nodes. A retrieved node is one chunk: ``id_`` is the chunk id (``file::paragraph::part``,
stable across re-ingests of unchanged text), ``text`` the chunk's exact text (a slice of
its paragraph, so a quote from it can be checked), ``metadata`` the file (relative to the
ingested folder), paragraph, start_line, end_line, page and page_paragraph (PDF only),
part, ``location`` as a person reads it (``¶24 (line 51)``) and ``via`` (dense, keyword);
its SOURCE relationship is the file, so ``ref_doc_id`` groups nodes per document.
Nodes come in rag's ranking (centred per-model dense scores and a gated keyword bonus,
rag.retrieval); their ``score`` is left None, as that ranking is not one similarity, so
keep their order rather than re-sorting. A
citation node's text is the verified quote, and its metadata the marker, file, paragraph
and lines. Any llama-index pipeline can take ``RagRetriever`` (``RetrieverQueryEngine``,
``CitationQueryEngine``, a chat engine); only ``RagQueryEngine`` gives checked citations.

What is llama-index here and what is not, and why (measured with
``python bench/llama_index_parts.py``):

- Retrieval and the answer stage stay rag's own and are *offered* as llama-index pieces.
  Paragraph numbers: llama-index's ``SentenceSplitter`` strips every chunk (its text
  stops being a slice of the file, so a line number can't be derived), its default
  paragraph separator is three newlines, and its sentence regex knows no Arabic sentence
  end (؟ ، ؛); rag.chunks splits at sentence ends itself and records the paragraph of
  every chunk. Citations: no llama-index engine checks that a marker names a retrieved
  passage, that a quote is in the paragraph, or that the numbers in a sentence are in
  its source; ``CitationQueryEngine`` over the same models cited a gold paragraph for 5%
  of dev questions where rag, in the same run, cited one for 67% (README, "Against a plain
  llama-index pipeline").
- Reader: ``SimpleDirectoryReader`` vs ``rag.documents``, both through the SPEC 2
  paragraph rule. On the sample corpus (UTF-8, LF) the two give the same paragraphs,
  line numbers and text in all 5 files (95 paragraphs). On what real folders also hold
  they part: a BOM stays in the first paragraph's text; CRLF leaves a ``\\r`` at the end
  of every line; CR-only line ends make the file one paragraph (rag: 2); a Latin-1 file
  loses its accented letters without a word (``errors="ignore"``: "Café" -> "Caf"; rag
  names the file and line and skips it); a binary file is read as text; HTML is
  indexed with its tags (rag cites each block by its source line). So rag.documents
  stays; SPEC 2 asks for exactly the BOM/CRLF/CR handling the reader lacks.
- Chat memory: ``ChatMemoryBuffer`` (deprecated in llama-index-core 0.14 in favour of
  ``Memory``) vs rag/chat.py's ``deque(maxlen=3)`` of turns. The buffer trims by
  OpenAI cl100k tokens, in which the same conversation costs about twice as many tokens
  in Arabic and Chinese as in English (a turn: 15-22 tokens in English, 39-49 in Arabic,
  27-41 in Chinese), so at ``token_limit=60`` it kept 3 turns of the English conversation
  and 1 of the Arabic and of the Chinese. The rewriter wants the last 3 turns in every
  language, and importing the buffer costs a fresh ``rag chat`` 1.6 s. The deque stays.
- LLM adapters: rag keeps its own llama-cpp and OpenAI-compatible backends (they map
  every failure to a one-line ModelError that never shows the key, tested against a
  real server); not measured against llama-index's integrations, which would be new
  dependencies. The other way round is offered: ``LlamaIndexLLM`` lets a llama-index
  user bring the LLM they already have.

This module imports llama-index at import time; nothing in the CLI imports it, so
``rag --help`` stays free of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import ChatMessage
from llama_index.core.prompts.mixin import PromptMixinType
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from rag.config import RetrievalSettings, Settings
from rag.errors import ModelError, RagError
from rag.types import Answer, Citation, Hit

if TYPE_CHECKING:
    from llama_index.core.base.llms.types import ChatResponse
    from llama_index.core.llms import LLM as LlamaLLM
    from llama_index.core.callbacks import CallbackManager

    from rag.answer import Assistant
    from rag.retrieval import Retriever

# Kept out of what a llama-index synthesizer shows its LLM and embeds: bookkeeping, and
# numbers that ``location`` already says the way a person reads them.
_NOT_FOR_LLM = ["part", "via", "paragraph", "start_line", "end_line", "page", "page_paragraph"]


def hit_node(hit: Hit) -> NodeWithScore:
    """One retrieved chunk as a llama-index node with its fused score."""
    p = hit.chunk.paragraph
    metadata: dict[str, Any] = {
        "file": p.file, "paragraph": p.number, "start_line": p.start_line, "end_line": p.end_line,
        "part": hit.chunk.part, "location": p.location(), "via": "+".join(hit.via),
    }
    if p.page is not None:
        metadata["page"], metadata["page_paragraph"] = p.page, p.page_paragraph
    node = TextNode(
        id_=hit.chunk.id, text=hit.chunk.text, metadata=metadata,
        excluded_llm_metadata_keys=_NOT_FOR_LLM, excluded_embed_metadata_keys=_NOT_FOR_LLM,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=p.file)},
    )
    return NodeWithScore(node=node, score=hit.score)


def citation_node(citation: Citation) -> NodeWithScore:
    """One verified citation as a node: the text is its quote, an exact substring of the
    paragraph it names. No score: a citation is checked, not ranked."""
    c = citation
    lines = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
    node = TextNode(
        id_=f"{c.file}::{c.paragraph}::[{c.marker}]", text=c.quote,
        metadata={"marker": c.marker, "file": c.file, "paragraph": c.paragraph, "start_line": c.start_line,
                  "end_line": c.end_line, "location": f"¶{c.paragraph} ({lines})"},
        excluded_llm_metadata_keys=["marker", "paragraph", "start_line", "end_line"],
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=c.file)},
    )
    return NodeWithScore(node=node, score=None)


class RagRetriever(BaseRetriever):
    """rag's hybrid multilingual retrieval (centred dense e5+USE, gated keyword boost;
    see rag.retrieval) as a llama-index retriever."""

    def __init__(self, retriever: Retriever, k: int = RetrievalSettings.top_k,
                 callback_manager: CallbackManager | None = None) -> None:
        super().__init__(callback_manager=callback_manager)
        self._retriever = retriever
        self.k = k

    @classmethod
    def from_settings(cls, settings: Settings) -> RagRetriever:
        """Open the index SETTINGS names with the embedder that built it (no LLM is loaded)."""
        from rag.answer import Assistant

        return cls(Assistant(settings, llm=None).retriever, settings.retrieval.top_k)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [hit_node(h) for h in self._retriever.retrieve(query_bundle.query_str, self.k).hits]


def _ask(assistant: Assistant, question: str) -> Answer:
    """The one call of Assistant.ask in this module."""
    return assistant.ask(question).answer


def answer_response(answer: Answer) -> Response:
    """A rag Answer as a llama-index Response: the checked text, one source node per
    verified citation, and what else the answer object says in ``metadata``."""
    return Response(
        response=answer.answer,
        source_nodes=[citation_node(c) for c in answer.citations],
        metadata={"abstained": answer.abstained, "language": answer.language, "question": answer.question,
                  "timings_ms": answer.timings_ms, "error": answer.error},
    )


class RagQueryEngine(BaseQueryEngine):
    """rag's answer stage as a llama-index query engine.

    ``query`` retrieves, answers in the question's language, checks every citation and
    decides abstention from evidence, exactly as ``rag ask`` does; an abstention is a
    Response saying so plainly, with ``metadata["abstained"]`` true.
    """

    def __init__(self, assistant: Assistant, callback_manager: CallbackManager | None = None) -> None:
        super().__init__(callback_manager)
        self.assistant = assistant

    def _query(self, query_bundle: QueryBundle) -> Response:
        return answer_response(_ask(self.assistant, query_bundle.query_str))

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        # Synchronous on purpose: the embedded model runs one generation at a time, and a
        # thread per query would have two share it.
        return self._query(query_bundle)

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}  # rag's prompts are files in prompts/, checked at load time


class LlamaIndexLLM:
    """A llama-index LLM (OpenAI, Ollama, LlamaCPP, vLLM, ...) as a ``rag.llms.LLM``.

    rag's answer stage and chat rewriter then use it like a built-in backend:
    ``Assistant(settings, llm=LlamaIndexLLM(Ollama(model="qwen2.5:7b")))``.

    ``max_tokens`` and ``temperature`` are passed to ``stream_chat`` (OpenAI-style
    integrations and LlamaCPP take them; a CustomLLM ignores them); give
    ``forward_options=False`` for one that rejects them, and its own settings apply.
    Stop sequences are applied here, because integrations name them differently (stop,
    stop_sequences) or not at all. Any failure of the wrapped LLM becomes a ModelError
    naming it, so chat and batch report it as they report a built-in backend's.
    """

    def __init__(self, llm: LlamaLLM, *, forward_options: bool = True) -> None:
        self._llm = llm
        self.forward_options = forward_options
        self.id = f"llama-index:{llm.metadata.model_name}"

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        options = {"max_tokens": max_tokens, "temperature": temperature} if self.forward_options else {}
        responses = None
        try:
            responses = self._llm.stream_chat(chat, **options)
            yield from _until_stop(_pieces(responses), stop or [])
        except RagError:
            raise
        except Exception as exc:  # the wrapped LLM's own errors: it owns that dependency, we report it
            raise ModelError(f"{self.id} failed: {type(exc).__name__}: {exc}",
                             "check the llama-index LLM's settings (model name, server URL, key)") from exc
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                close()  # stop a generation the caller no longer reads


def _pieces(responses: Iterable[ChatResponse]) -> Iterator[str]:
    """The new text of each streamed response: ``delta``, or when an integration leaves it
    unset, what its cumulative ``message.content`` added."""
    text = ""
    for r in responses:
        piece = r.delta if r.delta is not None else (r.message.content or "")[len(text):]
        text += piece
        if piece:
            yield piece


def _until_stop(pieces: Iterable[str], stops: list[str]) -> Iterator[str]:
    """PIECES up to the first stop sequence, which may arrive split across pieces: the
    tail that could still become one is held back until the next piece decides."""
    stops = [s for s in stops if s]
    if not stops:
        yield from pieces
        return
    held = ""
    for piece in pieces:
        held += piece
        cuts = [i for i in (held.find(s) for s in stops) if i >= 0]
        if cuts:
            if held[: min(cuts)]:
                yield held[: min(cuts)]
            return
        keep = max((n for s in stops for n in range(1, len(s)) if held.endswith(s[:n])), default=0)
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held:
        yield held
