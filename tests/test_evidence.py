"""Evidence selection: which sentences of the retrieved passages the model is shown."""

from __future__ import annotations

import numpy as np

from rag.config import AnswerSettings
from rag.evidence import select_evidence
from rag.types import Chunk, Hit, Paragraph

WORDS = ["forum", "ningbo", "visitors", "export", "weather", "river"]


def embed(texts: list[str]) -> np.ndarray:
    """A bag of the WORDS: similarity is shared topic words."""
    rows = np.array([[t.lower().count(w) + 1e-3 for w in WORDS] for t in texts], np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def relevance_to(question: str):  # type: ignore[no-untyped-def]
    query = embed([question])[0]
    return lambda texts: embed(texts) @ query


def hit(file: str, number: int, text: str, part_of: str | None = None) -> Hit:
    paragraph = Paragraph(file, number, number, number, part_of or text)
    return Hit(Chunk(f"{file}::{number}::0", paragraph, 0, text), 0.5)


def test_each_passage_is_heard_and_the_closest_sentences_fill_the_rest() -> None:
    hits = [
        hit("a.txt", 1, "The forum met in Ningbo. Ningbo forum visitors came. The weather was fine."),
        hit("b.txt", 4, "Export grew. The river flooded."),
    ]
    ev = select_evidence(hits, relevance_to("How many visitors came to the Ningbo forum?"),
                         AnswerSettings(evidence_sentences=3))
    texts = [s.text for s in ev.sentences]
    assert len(texts) == 3
    assert "Ningbo forum visitors came." in texts and "The forum met in Ningbo." in texts
    assert any(t in texts for t in ("Export grew.", "The river flooded."))  # b.txt is heard too
    assert [s.number for s in ev.sentences] == [1, 2, 3]
    assert [s.hit.chunk.file for s in ev.sentences] == sorted(s.hit.chunk.file for s in ev.sentences)


def test_sentences_keep_document_order_within_a_passage_and_are_exact_slices() -> None:
    paragraph = "Intro sentence here. The forum opened in Ningbo. Visitors came to the forum."
    chunk_text = paragraph[21:]  # the second part of a long paragraph
    ev = select_evidence([hit("a.txt", 2, chunk_text, part_of=paragraph)], relevance_to("forum"))
    assert [s.text for s in ev.sentences] == ["The forum opened in Ningbo.", "Visitors came to the forum."]
    for s in ev.sentences:
        assert paragraph[s.start : s.end] == s.text


def test_the_budget_counts_chinese_characters_as_the_tokens_they_cost() -> None:
    zh = "寧波論壇" * 20 + "。"
    en = "forum " * 13 + "."
    ev = select_evidence([hit("z.txt", 1, zh + zh), hit("e.txt", 1, en + " " + en)], relevance_to("forum"),
                         AnswerSettings(evidence_chars=330, evidence_sentences=8))
    assert sum(1 for s in ev.sentences if s.hit.chunk.file == "z.txt") == 1  # 81 characters weigh 241
    assert len(ev.sentences) == 2  # counted by characters, all four (320 of 330) would fit


def test_no_passages_no_evidence() -> None:
    assert select_evidence([], relevance_to("x")).sentences == ()
