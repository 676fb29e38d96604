"""Question -> Answer, in one straight line:

    retrieve -> select evidence -> generate -> verify citations -> decide abstention -> Answer
    (rag.retrieval) (rag.evidence) (rag.generation) (rag.citations) (rag.abstention)

``Assistant`` loads the index, embedder, retriever and LLM once, so ``rag ask``,
``rag chat``, ``rag batch`` and ``rag eval`` all answer through the same
``Assistant.ask``, which returns the answer together with what it was made from (the
hits, the evidence, the decision), so callers never reach inside.

With ``--llm none`` there is no model: the answer is the evidence sentence closest to
the question, and abstention is decided by the same signals, bar the model's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from rag.abstention import NOT_FOUND, Decision, Signals, about_subject, decide, missing_subject, subject_terms
from rag.citations import check, cite
from rag.config import Settings
from rag import embeddings
from rag.embeddings import Embedder
from rag.errors import RagError
from rag.evidence import Evidence, Sentence, select_evidence
from rag.generation import Part, Reply, generate
from rag.index import Index, open_index
from rag.lang import detect_language
from rag.llms import LLM, load_llm
from rag.questions import spans_documents
from rag.retrieval import Retriever
from rag.types import Answer, Hit

TokenSink = Callable[[str], None]
_FROM_SETTINGS = object()


@dataclass(frozen=True)
class Result:
    """One answered question: the SPEC 4 ``answer`` and what it was made from."""

    answer: Answer
    hits: list[Hit]
    evidence: Evidence
    reply: Reply
    signals: Signals
    decision: Decision

    def details(self) -> dict[str, Any]:
        """Why it abstained or answered, as plain data (eval reports keep it per question)."""
        return {"why": self.decision.reason, "named": list(self.reply.evidence),
                "structured": self.reply.structured, **asdict(self.signals)}


class Assistant:
    """Everything needed to answer, loaded once per process.

    ``embedder`` and ``llm`` default to what SETTINGS name; pass them to use others (a
    llama-index model, a test's fake). ``llm=None`` answers extractively.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 llm: LLM | None | object = _FROM_SETTINGS) -> None:
        self.settings = settings
        self.index: Index = open_index(settings.store.index_dir, settings.store.chroma_url)
        self.embedder: Embedder = embedder or embeddings.load_embedder(settings.models.embed or self.index.embed_spec,
                                                                settings.models)
        if self.embedder.id != self.index.info.embedder:
            raise RagError(
                f"the index was built with embedder {self.index.info.embedder!r}, but --embed is "
                f"{settings.models.embed!r} ({self.embedder.id!r})",
                "pass the --embed the index was built with, or rebuild: `rag ingest --rebuild PATH`",
            )
        self.retriever = Retriever(self.index, self.embedder, keyword_cache=settings.store.keyword_cache)
        self.llm: LLM | None = (load_llm(settings.models.llm, settings.models) if llm is _FROM_SETTINGS
                                else llm)  # type: ignore[assignment]

    def ask(self, question: str, *, qid: str | None = None, on_token: TokenSink | None = None) -> Result:
        """Answer one question; stream the answer's words to ON_TOKEN as the model writes them.

        A question across documents (rag.questions.spans_documents) is answered in parts:
        more candidates are retrieved, no file gives more than ``per_file`` evidence
        passages, and each part must rest on documents about the question's subject.
        """
        started = time.perf_counter()
        settings = self.settings.answer
        language = detect_language(question)
        across = spans_documents(question)
        retrieved = self.retriever.retrieve(question, self.settings.retrieval.top_k * (2 if across else 1))
        evidence = select_evidence(retrieved.hits,
                                   lambda texts: retrieved.relevance(texts, self.embedder.embed_passages(texts)),
                                   settings, per_file=settings.per_file if across else 0)
        terms = subject_terms(question)
        holds = self.retriever.keywords.file_terms
        generated = time.perf_counter()
        reply = (extract(evidence, lambda file: not missing_subject(terms, [file], holds)) if self.llm is None else
                 generate(self.llm, question, language, evidence, on_token=on_token,
                          max_tokens=settings.max_tokens * (2 if across else 1),
                          parts=settings.max_parts if across else 1))
        generate_ms = (time.perf_counter() - generated) * 1000
        checked = check(question, reply, evidence)
        if across:
            checked = [c for c in checked if about_subject(terms, _files(c.sentences), holds)]
        cited = cite(checked, "\n")
        signals = Signals(
            named_none=not cited.sentences or not cited.text,
            p_none=reply.p_none,
            p_choice=reply.p_choice,
            retrieval=retrieved.best_dense,
            support=max((s.similarity for s in cited.sentences), default=0.0),
            missing_subject=() if across else missing_subject(terms, _files(cited.sentences), holds),
            figures_dropped=not cited.text and any(c.dropped for c in checked),
        )
        decision = decide(signals, settings)
        answer = Answer(qid, question, NOT_FOUND[language] if decision.abstain else cited.text,
                        decision.abstain, language, [] if decision.abstain else cited.citations)
        answer.timings_ms = {"retrieve": round(retrieved.ms, 1), "generate": round(generate_ms, 1)}
        if reply.first_token_ms is not None:  # from the question, as a person waits for it
            answer.timings_ms["first_token"] = round((generated - started) * 1000 + reply.first_token_ms, 1)
        answer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
        return Result(answer, retrieved.hits[: self.settings.retrieval.top_k], evidence, reply, signals, decision)


def _files(sentences: list[Sentence]) -> list[str]:
    return list(dict.fromkeys(s.paragraph.file for s in sentences))


def extract(evidence: Evidence, about: Callable[[str], bool] = lambda file: True) -> Reply:
    """``--llm none``: the sentence of the best-ranked passage closest to the question, as
    the answer; the best-ranked of the passages whose file is ABOUT the question's subject
    (rag.abstention.missing_subject) when there is one.

    The passage is the retriever's choice, which weighs the whole passage and the keywords
    the question names; a sentence's own closeness alone picks a short line that merely
    resembles the question (a heading, a table's other row). The subject comes first
    because without a model nothing else reads the passage: a passage from a document that
    never names what was asked about can only be a neighbouring fact."""
    groups = evidence.groups()  # in retrieval order
    groups = [g for g in groups if about(g[0].paragraph.file)] or groups
    best = max(groups[0], key=lambda s: s.similarity) if groups else None
    if best is None:
        return Reply((), None, True, "")
    return Reply((Part((best.number,), best.text),), None, True, best.text)
