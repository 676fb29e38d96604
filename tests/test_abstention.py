"""Abstention from general signals: is what the question is about in the cited text?"""

from __future__ import annotations

import pytest

from rag.abstention import Signals, about_subject, decide, missing_subject, subject_terms
from rag.config import AnswerSettings
from rag.lang import tokenize


@pytest.mark.parametrize(("question", "terms"), [
    ("How much investment is involved in Chongqing companies expanding into SCO countries?", ["Chongqing", "SCO"]),
    ("What was BYD's export figure in 2023?", ["BYD", "2023"]),
    ("Who was Frédéric Chopin's mother?", ["Frédéric", "Chopin"]),
    ("What did the 11th forum discuss?", ["#11"]),
    ("ما حجم صادرات BYD عام ٢٠٢٣؟", ["BYD", "2023"]),
    ("第十一屆論壇在哪裡舉行？", ["#11"]),
    ("When was it built?", []),
])
def test_the_subject_is_names_numbers_and_ordinals(question: str, terms: list[str]) -> None:
    assert [t.text for t in subject_terms(question)] == terms


def holds(texts: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda file: frozenset(tokenize(texts[file]))


DOCS = {
    "forum.txt": "The 10th Foundry Forum opened in Ningbo on 25 September 2025.",
    "منتدى.txt": "افتتح المنتدى العاشر لصناعة السبك في نينغبو.",
    "論壇.txt": "第十屆鑄造論壇在寧波開幕。",
    "chongqing.txt": "Chongqing hosts 40 SCO companies. 重慶有40家上合組織企業。",
    "chopin.txt": "Frédéric Chopin left Warsaw in 1830.",
}


@pytest.mark.parametrize(("question", "file", "missing"), [
    ("Where was the 10th forum held?", "forum.txt", ()),
    ("Where will the 11th forum be held?", "forum.txt", ("#11",)),
    ("Where will the 11th forum be held?", "منتدى.txt", ("#11",)),  # by value, across scripts
    ("Where was the tenth forum held?", "論壇.txt", ()),
    ("How many SCO companies are in Chengdu?", "chongqing.txt", ("Chengdu",)),
    ("How many SCO companies are in Chongqing?", "chongqing.txt", ()),
    ("When did Frederic Chopin leave Warsaw?", "chopin.txt", ()),  # typed without the accents it has
    ("When did Frédéric Chopin leave Krakow?", "chopin.txt", ("Krakow",)),
    ("How many BYD cars went to Ningbo?", "منتدى.txt", ()),  # Latin names can't be matched in Arabic text
    ("成都有多少家上合組織企業？", "chongqing.txt", ()),  # no mark tells a Chinese name: left to other signals
])
def test_a_term_no_cited_document_holds_is_missing(question: str, file: str, missing: tuple[str, ...]) -> None:
    assert missing_subject(subject_terms(question), [file], holds(DOCS)) == missing


def signals(**changes: object) -> Signals:
    base = dict(named_none=False, p_none=0.01, p_choice=0.9, retrieval=0.8, support=0.8,
                missing_subject=(), figures_dropped=False)
    return Signals(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "abstain"), [
    ({}, False),
    ({"named_none": True}, True),
    ({"missing_subject": ("BYD",)}, True),
    ({"figures_dropped": True}, True),
    ({"p_none": 0.9}, True),
    ({"p_none": None}, False),  # a backend with no log-probabilities: the other signals decide
    ({"support": 0.1}, True),
    ({"retrieval": 0.1}, True),
])
def test_any_signal_can_decide(changes: dict[str, object], abstain: bool) -> None:
    settings = AnswerSettings(abstain_p_none=0.5, abstain_support=0.3, abstain_retrieval=0.3)
    decision = decide(signals(**changes), settings)
    assert decision.abstain is abstain
    assert bool(decision.reason) is abstain


def test_a_name_is_not_missing_when_one_cited_document_could_hold_it_in_its_own_script() -> None:
    terms = subject_terms("Where will Henan concentrate its car production?")
    assert missing_subject(terms, ["chongqing.txt", "منتدى.txt"], holds(DOCS)) == ()
    assert missing_subject(terms, ["chongqing.txt", "forum.txt"], holds(DOCS)) == ("Henan",)


def test_each_part_across_documents_must_be_about_some_of_the_subject() -> None:
    terms = subject_terms("How many SCO companies are in Chongqing and how many forums met in Ningbo?")
    assert about_subject(terms, ["chongqing.txt"], holds(DOCS))  # names Chongqing, not Ningbo: fine
    assert about_subject(terms, ["forum.txt"], holds(DOCS))
    assert not about_subject(subject_terms("What did the Lyon festival cost?"), ["forum.txt"], holds(DOCS))
    assert about_subject(subject_terms("What did Lyon's festival cost?"), ["منتدى.txt"], holds(DOCS))  # unmatchable
