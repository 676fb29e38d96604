"""Where evidence is chosen: retrieved passages -> the numbered sentences the model sees.

The model is shown sentences, not whole passages, and answers by naming the numbers of
the ones it answers from (rag.generation). Sentences because the local model reads
prompts slowly (compact context is what keeps the first token quick) and because a
sentence is what a citation quotes: the model's choice *is* the citation, so every quote
is an exact substring of its paragraph by construction.

Which sentences: the best one of each of the top passages (so every retrieved document is
heard, which a question spanning documents needs), then the sentences closest to the
question wherever they are, within a character budget. They are shown grouped by passage
in retrieval order and, within a passage, in document order, so a sentence keeps the
neighbours that give it its meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.config import AnswerSettings
from rag.lang import reading_length
from rag.sentences import sentence_spans
from rag.types import Hit, Paragraph


@dataclass(frozen=True)
class Sentence:
    """One evidence sentence: ``number`` is how the prompt names it, ``start``/``end`` its
    offsets in the paragraph's text, ``similarity`` its closeness to the question."""

    number: int
    hit: Hit
    start: int
    end: int
    similarity: float

    @property
    def paragraph(self) -> Paragraph:
        return self.hit.chunk.paragraph

    @property
    def text(self) -> str:
        return self.paragraph.text[self.start : self.end]


@dataclass(frozen=True)
class Evidence:
    """The sentences shown for one question, numbered from 1, and the passages they are from."""

    sentences: tuple[Sentence, ...]
    passages: tuple[Hit, ...]

    def numbered(self, number: int) -> Sentence | None:
        return self.sentences[number - 1] if 0 < number <= len(self.sentences) else None

    def groups(self) -> list[list[Sentence]]:
        """The sentences by passage, in the order they are shown."""
        groups: list[list[Sentence]] = []
        for sentence in self.sentences:
            if groups and groups[-1][0].hit is sentence.hit:
                groups[-1].append(sentence)
            else:
                groups.append([sentence])
        return groups


def select_evidence(hits: list[Hit], relevance: Callable[[list[str]], np.ndarray],
                    budget: AnswerSettings = AnswerSettings(), *, per_file: int = 0) -> Evidence:
    """The evidence for a question from its ranked HITS; RELEVANCE scores texts against the
    question (the retriever's own score: rag.retrieval.Retrieved.relevance).

    With PER_FILE, no file gives more than that many passages: a question across documents
    must hear each one that holds a part, and the best-ranked file would otherwise fill
    every place."""
    passages = _diversified(hits, per_file)[: budget.evidence_passages]
    candidates: list[tuple[int, int, int]] = []  # (passage rank, start, end) in the paragraph
    for rank, hit in enumerate(passages):
        paragraph = hit.chunk.paragraph.text
        offset = max(paragraph.find(hit.chunk.text), 0)
        for a, b in sentence_spans(hit.chunk.text, budget.sentence_chars):
            candidates.append((rank, offset + a, offset + b))
    if not candidates:
        return Evidence((), tuple(passages))
    texts = [passages[r].chunk.paragraph.text[a:b] for r, a, b in candidates]
    similarity = relevance(texts)
    order = sorted(range(len(candidates)), key=lambda i: -similarity[i])
    best_of_passage = {}
    for i in order:
        best_of_passage.setdefault(candidates[i][0], i)
    chosen: list[int] = []
    used = 0
    for i in [*best_of_passage.values(), *order]:
        if i in chosen or len(chosen) >= budget.evidence_sentences:
            continue
        cost = reading_length(texts[i])
        if chosen and used + cost > budget.evidence_chars:
            continue
        chosen.append(i)
        used += cost
    chosen.sort(key=lambda i: candidates[i])
    sentences = tuple(
        Sentence(n, passages[candidates[i][0]], candidates[i][1], candidates[i][2], float(similarity[i]))
        for n, i in enumerate(chosen, start=1)
    )
    return Evidence(sentences, tuple(passages))


def _diversified(hits: list[Hit], per_file: int) -> list[Hit]:
    if not per_file:
        return hits
    taken: dict[str, int] = {}
    kept = []
    for hit in hits:
        if taken.get(hit.chunk.file, 0) < per_file:
            taken[hit.chunk.file] = taken.get(hit.chunk.file, 0) + 1
            kept.append(hit)
    return kept
