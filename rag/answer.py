"""Question -> Answer: retrieve, decide whether there is evidence, prompt, stream, cite.

``Assistant`` loads the index, embedder, retriever and LLM once, so ``rag ask``,
``rag chat``, ``rag batch`` and ``rag eval`` all answer through the same
``Assistant.ask``.

Speed: the local model reads prompts at ~64 tokens/s, so the prompt carries only the
sentences of the top passages that are closest to the question (``CONTEXT_CHARS``),
not whole chunks. Trust: whether to abstain is decided from evidence by the program
(retrieval similarity, then the verified citations), not left to the model, which
happily moves a nearby passage's figures onto whatever the question asked about.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.abstention import drop_refusals, drop_source_talk, is_no_answer
from rag.citations import DEFAULT_SUPPORT_FLOOR, Source, attach_citations, numbers, split_sentences
from rag.config import Settings
from rag.embeddings import Embedder, load_embedder
from rag.errors import RagError
from rag.index import Index, open_index
from rag.lang import detect_language
from rag.llms import LLM, load_llm
from rag.prompts import CANNOT_ANSWER, render
from rag.retrieval import Retriever
from rag.types import Answer, Hit

LANGUAGE_NAMES = {"ar": "Arabic", "zh": "Chinese", "en": "English"}
NOT_FOUND = {
    "en": "The documents do not contain the answer to this question.",
    "ar": "لا تحتوي المستندات على إجابة لهذا السؤال.",
    "zh": "文件中沒有這個問題的答案。",
}
_ARABIC_INDIC = str.maketrans("0123456789.", "٠١٢٣٤٥٦٧٨٩٫")
CONTEXT_SOURCES = 3
CONTEXT_CHARS = 420  # per source: ~3 short sentences; keeps time to first token low
MAX_TOKENS = 200


@dataclass(frozen=True)
class Tuning:
    """Evidence thresholds, chosen on eval/dev.jsonl (see eval/README.md)."""

    min_similarity: float = 0.0
    support_floor: float = DEFAULT_SUPPORT_FLOOR
    keyword_weight: float | None = None


TokenSink = Callable[[str], None]


class Assistant:
    """Everything needed to answer, loaded once per process."""

    def __init__(self, settings: Settings, tuning: Tuning = Tuning(), llm: LLM | None | str = "settings") -> None:
        self.settings = settings
        self.tuning = tuning
        self.index: Index = open_index(settings.index_dir, settings.chroma_url)
        self.embedder: Embedder = load_embedder(settings.embed or self.index.embed_spec, settings.threads)
        if self.embedder.id != self.index.info.embedder:
            raise RagError(
                f"the index was built with embedder {self.index.info.embedder!r}, but --embed is "
                f"{settings.embed!r} ({self.embedder.id!r})",
                "pass the --embed the index was built with, or rebuild: `rag ingest --rebuild PATH`",
            )
        retriever_kw = {} if tuning.keyword_weight is None else {"keyword_weight": tuning.keyword_weight}
        self.retriever = Retriever(self.index, self.embedder, keyword_cache=settings.keyword_cache, **retriever_kw)
        self.llm: LLM | None = load_llm(settings.llm, threads=settings.threads) if llm == "settings" else llm  # type: ignore[assignment]

    def ask(self, question: str, *, qid: str | None = None, on_token: TokenSink | None = None) -> Answer:
        """Answer one question; stream model text to ``on_token`` as it is made."""
        started = time.perf_counter()
        language = detect_language(question)
        answer = Answer(qid, question, "", False, language)
        retrieved = self.retriever.retrieve(question, self.settings.top_k)
        timings = {"retrieve": round(retrieved.ms, 1), "generate": 0.0}  # first_token: only once a model wrote one
        hits = retrieved.hits
        if not hits or retrieved.best_dense < self.tuning.min_similarity:
            return self._abstain(answer, timings, started)
        sources = self._sources(question, hits[:CONTEXT_SOURCES])
        gen_started = time.perf_counter()
        if self.llm is None:
            raw = self._extractive(question, sources)
        else:
            raw = self._generate(question, language, sources, on_token, timings, gen_started)
        timings["generate"] = round((time.perf_counter() - gen_started) * 1000, 1)
        found = "" if CANNOT_ANSWER in raw else drop_source_talk(question, drop_refusals(raw))
        if not found:
            return self._abstain(answer, timings, started)
        text, citations = attach_citations(
            found, sources, self.embedder.embed_passages, support_floor=self.tuning.support_floor, question=question
        )
        if not citations or is_no_answer(question, text):
            return self._abstain(answer, timings, started)
        answer.answer, answer.citations = text, citations
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        answer.timings_ms = timings
        return answer

    def _abstain(self, answer: Answer, timings: dict[str, float], started: float) -> Answer:
        answer.abstained = True
        answer.answer = NOT_FOUND[answer.language]
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        answer.timings_ms = timings
        return answer

    def _sources(self, question: str, hits: list[Hit]) -> list[Source]:
        """For each top hit, the sentences closest to the question, in their own order."""
        per_hit = [split_sentences(h.chunk.text) or [h.chunk.text] for h in hits]
        flat = [s for sentences in per_hit for s in sentences]
        vectors = self.embedder.embed_passages(flat)
        q = self.embedder.embed_query(question)
        given = self._given_numbers(question, hits)
        sources: list[Source] = []
        offset = 0
        for hit, sentences in zip(hits, per_hit, strict=True):
            vecs = vectors[offset : offset + len(sentences)]
            offset += len(sentences)
            ranked = np.argsort(-(vecs @ q))
            keep: list[int] = []
            used = 0
            for i in ranked:
                if keep and used + len(sentences[i]) > CONTEXT_CHARS:
                    continue
                keep.append(int(i))
                used += len(sentences[i])
            keep.sort()
            quote = _span(hit.chunk.text, [sentences[i] for i in keep])
            vec = vecs[keep].mean(axis=0)
            sources.append(Source(hit, quote, vec / max(float(np.linalg.norm(vec)), 1e-12),
                                  given.get(hit.chunk.file, frozenset())))
        return sources

    def _given_numbers(self, question: str, hits: list[Hit]) -> dict[str, frozenset[str]]:
        """Per file of HITS, the question's numbers that its document states anywhere.

        A news paragraph says "this year" and its dateline says 2021; a question about
        2021 is answered by that paragraph, and the answer may repeat the 2021. A year the
        whole document never states (a question about 2023 over a 2024 article) stays
        unsupported, and the sentence that claims it is dropped as before.
        """
        asked = numbers(question)
        if not asked:
            return {}
        files = dict.fromkeys(h.chunk.file for h in hits)
        return {f: frozenset(n for n in asked if self._document_states(f, n)) for f in files}

    def _document_states(self, file: str, number: str) -> bool:
        """Whether FILE states NUMBER anywhere, in ASCII or Arabic-Indic digits."""
        for spelling in dict.fromkeys((number, number.translate(_ARABIC_INDIC))):
            if any(number in numbers(text) for text in self.index.texts_containing(file, spelling)):
                return True
        return False

    def _generate(self, question: str, language: str, sources: list[Source], on_token: TokenSink | None,
                  timings: dict[str, float], gen_started: float) -> str:
        assert self.llm is not None
        blocks = "\n".join(
            render("source", marker=str(i), file=s.hit.chunk.file, text=_fence(s.quote))
            for i, s in enumerate(sources, start=1)
        )
        name = LANGUAGE_NAMES[language]
        messages = [
            {"role": "system", "content": render("answer_system", language=name, cannot_answer=CANNOT_ANSWER)},
            {"role": "user", "content": render("answer_user", sources=blocks, question=question, language=name)},
        ]
        pieces: list[str] = []
        for piece in self.llm.stream(messages, max_tokens=MAX_TOKENS, temperature=0.0):
            if not pieces:
                timings["first_token"] = round((time.perf_counter() - gen_started) * 1000, 1)
            pieces.append(piece)
            if on_token:
                on_token(piece)
        return "".join(pieces)

    @staticmethod
    def _extractive(question: str, sources: list[Source]) -> str:
        """``--llm none``: quote the closest sentences of the best-ranked source that
        answers the question by rag.abstention's checks (a headline above the passage with
        the figure answers no "how many"), cited; the top source if none does."""
        marker, best = next(
            ((n, s) for n, s in enumerate(sources, start=1) if not is_no_answer(question, s.quote)), (1, sources[0])
        )
        return f"{best.quote} [{marker}]"


def _span(text: str, sentences: list[str]) -> str:
    """The shortest slice of ``text`` holding the kept sentences, so it stays an exact
    substring of the paragraph (what a quote must be)."""
    starts = [text.find(s) for s in sentences]
    if any(s < 0 for s in starts):
        return text
    first = min(starts)
    last = max(st + len(s) for st, s in zip(starts, sentences, strict=True))
    return text[first:last]


def _fence(text: str) -> str:
    """Keep document text from closing its own <source> block."""
    return text.replace("</source>", "</ source>").replace("<source", "< source")
