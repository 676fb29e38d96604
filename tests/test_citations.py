"""Unit tests of citation checking, with a tiny deterministic embedder.

The fake embedding puts each text on one of a few axes by the words it contains, so
"support" is decided by content the test controls; numbers are checked for real.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag.citations import Source, attach_citations, covered, figures, numbers, split_sentences
from rag.types import Chunk, Hit, Paragraph

TOPICS = ["forum", "cars", "digital"]


def fake_embed(texts: list[str]) -> np.ndarray:
    rows = []
    for t in texts:
        v = np.array([1.0 if topic in t.lower() else 0.0 for topic in TOPICS] + [0.05])
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def source(file: str, number: int, text: str) -> Source:
    p = Paragraph(file, number, number, number, text)
    return Source(Hit(Chunk(f"{file}::{number}::0", p, 0, text), 1.0), text, fake_embed([text])[0])


def given(file: str, number: int, text: str, *context: str) -> Source:
    """A source whose document states the question's CONTEXT numbers elsewhere."""
    s = source(file, number, text)
    return Source(s.hit, s.quote, s.vector, frozenset(context))


SOURCES = [
    source("a.txt", 3, "The forum was held in Ningbo on 25 September 2025. About 700 people came."),
    source("b.txt", 7, "Henan has more than 600 companies making cars."),
]


def test_numbers_normalise_arabic_indic_digits_and_separators() -> None:
    assert numbers("٧٠٠ ممثل و1,200 شركة و 3.50") == {"700", "1200", "3.5"}


@pytest.mark.parametrize(("claim", "stated", "supported"), [
    ("增加值837億元", "باستثمار قدره 83.7 مليار يوان صيني", True),  # the corpus's own figure, moved to Chinese
    ("added value of 33.6 billion yuan", "數字產業化實現增加值336億元", True),
    ("حوالي 1.2 مليون سيارة", "about 1,200,000 cars", True),
    ("1.2万家企业", "some 12,000 companies", True),
    ("增加值837元", "83.7 مليار يوان", False),  # the digits moved, the value did not
    ("83.8 billion yuan", "83.7 مليار يوان", False),
])
def test_a_figure_is_supported_by_its_value_in_another_language(claim: str, stated: str, supported: bool) -> None:
    assert covered(figures(claim), numbers(stated)) is supported


def test_a_translated_figure_keeps_its_citation() -> None:
    sources = [source("c.txt", 2, "Chongqing's digital economy: the forum added value of 33.6 billion yuan.")]
    text, cites = attach_citations("论坛 forum 增加值336億元 [1]。", sources, fake_embed, 0.5)
    assert "336億元" in text and [c.file for c in cites] == ["c.txt"]


def test_sentences_split_in_three_scripts() -> None:
    assert split_sentences("A b. 中文句子。 هل هذا سؤال؟ end") == ["A b.", "中文句子。", "هل هذا سؤال؟", "end"]


@pytest.mark.parametrize("marker", ["[1]", "Source 1", "【1】", "(source 1)", "المصدر 1", "来源1"])
def test_any_marker_form_becomes_a_checked_bracket_marker(marker: str) -> None:
    text, cites = attach_citations(f"About 700 people came to the forum {marker}.", SOURCES, fake_embed, 0.5)
    assert text == "About 700 people came to the forum. [1]"
    assert [(c.marker, c.file, c.paragraph) for c in cites] == [(1, "a.txt", 3)]


def test_wrong_marker_is_repointed_to_the_supporting_source() -> None:
    text, cites = attach_citations("Henan has 600 companies making cars [1].", SOURCES, fake_embed, 0.5)
    assert text == "Henan has 600 companies making cars. [1]"
    assert cites[0].file == "b.txt" and cites[0].paragraph == 7


def test_out_of_range_marker_is_dropped_and_no_marker_is_attached() -> None:
    text, cites = attach_citations("The forum met in Ningbo [9].", SOURCES, fake_embed, 0.5)
    assert "[9]" not in text and text.endswith("[1]")
    assert cites[0].file == "a.txt"


def test_sentence_with_a_figure_no_source_states_is_dropped() -> None:
    text, cites = attach_citations(
        "About 700 people came to the forum [1]. BYD exported 9,999 cars [2].", SOURCES, fake_embed, 0.5
    )
    assert "9999" not in text and "9,999" not in text
    assert [c.file for c in cites] == ["a.txt"]


def test_markers_are_renumbered_in_order_of_use_and_quotes_are_exact() -> None:
    text, cites = attach_citations(
        "Henan has 600 companies making cars [2]. The forum had 700 people [1].", SOURCES, fake_embed, 0.5
    )
    assert text == "Henan has 600 companies making cars. [1] The forum had 700 people. [2]"
    for c, src in zip(cites, [SOURCES[1], SOURCES[0]], strict=True):
        assert c.quote and c.quote in src.hit.chunk.paragraph.text


def test_unsupported_answer_gets_no_citation() -> None:
    text, cites = attach_citations("Digital trade grew quickly [1].", SOURCES, fake_embed, 0.5)
    assert cites == [] and "[" not in text


def test_sentence_joining_two_documents_cites_both() -> None:
    sources = [
        source("a.txt", 4, "The delegation visited the cars plant in Russia from 16 to 19 October."),
        source("b.txt", 28, "The truck maker delivered 500 cars to Russia."),
    ]
    text, cites = attach_citations(
        "The cars delegation was in Russia from 16 to 19 October, and 500 cars were delivered [1].",
        sources, fake_embed, 0.5,
    )
    assert text.endswith("[1][2]")
    assert {(c.file, c.paragraph) for c in cites} == {("a.txt", 4), ("b.txt", 28)}
    # but a number neither source states still drops the sentence
    text, cites = attach_citations("The cars delegation stayed 16 days and saw 501 cars [1].", sources, fake_embed, 0.5)
    assert not cites and text == ""


def test_a_year_the_question_gives_may_come_from_the_document() -> None:
    # "this year" in a paragraph of an article dated 2021: the answer repeats the question's 2021
    p = source("c.txt", 26, "This year the cars maker exported 63,000 cars.")
    answer = "In 2021 the cars maker exported 63,000 cars [1]."
    assert attach_citations(answer, [p], fake_embed, 0.5)[1] == []  # the paragraph alone does not state 2021
    dated = given("c.txt", 26, p.quote, "2021")
    text, cites = attach_citations(answer, [dated], fake_embed, 0.5, question="How many cars in 2021?")
    assert [(c.file, c.paragraph) for c in cites] == [("c.txt", 26)] and "63,000" in text


def test_a_question_number_said_again_is_a_claim() -> None:
    # the question's "10th" may come from the document; "10 sub-forums" must be in the paragraph
    p = given("c.txt", 4, "Four parallel cars sub-forums ran beside the main session.", "10")
    question = "How many cars sub-forums ran at the 10th forum?"
    text, cites = attach_citations("Four cars sub-forums ran at the 10th forum [1].", [p], fake_embed, 0.5, question=question)
    assert len(cites) == 1
    text, cites = attach_citations("There were 10 cars sub-forums at the 10th forum [1].", [p], fake_embed, 0.5,
                                   question=question)
    assert cites == [] and text == ""


@pytest.mark.parametrize(("claim", "stated", "supported"), [
    ("grew 5.2%", "exports worth 5.2 billion yuan", False),
    ("grew 5.2%", "exports grew 5.2 percent", True),
    ("نمت بنسبة 143٪", "up 143 percent year-on-year", True),
    ("增長了67%", "بزيادة 67 في المائة", True),
    ("exports worth 5.2 billion", "exports grew 5.2%", True),  # no sign claimed: the bare number
    ("25 percentage points", "25 نقطة مئوية", True),  # points are not a percentage
])
def test_a_percentage_needs_a_percentage(claim: str, stated: str, supported: bool) -> None:
    assert covered(figures(claim), numbers(stated)) is supported


def test_a_given_year_is_no_share_of_a_two_source_answer() -> None:
    # b.txt's document states the question's 2024 but its paragraph gives none of the
    # answer's figures: it cannot be the second source of "63,000 cars in 2024"
    sources = [
        source("a.txt", 26, "The cars maker exported 63,000 cars."),
        given("b.txt", 3, "Henan cars sales rose.", "2024"),
    ]
    text, cites = attach_citations("Henan cars makers sold 63,000 cars in 2024 [1][2].", sources, fake_embed, 0.5)
    assert cites == [] and "[" not in text  # uncited: the caller abstains
